"""Derivation: the RMSNorm layer map (docs/modern_blocks.md §1).

RMSNorm divides each token by its own root-mean-square over the d features and multiplies by a
gain g (1 at initialisation in every stock model); unlike LayerNorm it does not subtract the
token's mean over features:

    x_t -> g x_t / sqrt(|x_t|^2 / d + eps).

Step 1 (exact, any d): the Gram matrix per feature G_ts = x_t . x_s / d becomes
G'_ts = g^2 G_ts / sqrt((G_tt + eps)(G_ss + eps)). At eps = 0 the normalised Gram matrix is
g^2 times the matrix of cosines: RMSNorm keeps every pair's cosine exactly.
Step 2 (simplex, d -> infinity): G = p 11^T + (q - p) I gives q' = g^2 q/(q + eps),
p' = g^2 p/(q + eps): the library's RMSNorm; at g = 1, eps = 0 this is (1, p/q), LayerNorm's map.
Step 3 (LayerNorm's centring): LayerNorm first applies the feature projector P = I - 11^T/d. For
features exchangeable with mean zero (the random stream at initialisation) E x_t^T P x_s = G_ts (1 - 1/d),
a common factor that the normalisation removes: at the simplex both norms give p -> p/q, and
the two maps differ only at O(d^-1/2) per token (the token's feature mean). What RMSNorm does not
remove is a shift common to all features (x_t + c 1): LayerNorm is invariant to it, RMSNorm is not.
Step 4: Monte Carlo of Gaussian tokens (d = 4096, T = 16) reproduces the map within its errors.

Run: python derivations/rmsnorm.py [out.tex]
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from _common import prove_equal, write_latex
from symsig.theory.layers import LayerNorm, RMSNorm, State, symbolic_state
from symsig.theory.symbols import p, q

g, eps = sp.symbols("g epsilon", positive=True)
g_tt, g_ss = sp.symbols("G_tt G_ss", positive=True)
g_ts = sp.Symbol("G_ts", real=True)

# Step 1: x_t -> g x_t / sqrt(G_tt + eps), so G'_ts = g^2 G_ts / sqrt((G_tt + eps)(G_ss + eps)).
scale_t, scale_s = g / sp.sqrt(g_tt + eps), g / sp.sqrt(g_ss + eps)
gram_out = scale_t * scale_s * g_ts
cosine = g_ts / sp.sqrt(g_tt * g_ss)
prove_equal("eps = 0: G'_ts = g^2 cos(x_t, x_s)", gram_out.subs(eps, 0), g**2 * cosine)

# Step 2: the simplex.
q_out = gram_out.subs({g_ts: q, g_tt: q, g_ss: q})
p_out = gram_out.subs({g_ts: p, g_tt: q, g_ss: q})
lib = RMSNorm(gain=g, eps=eps)(symbolic_state())
prove_equal("q' = g^2 q/(q + eps) (library)", q_out, lib.q)
prove_equal("p' = g^2 p/(q + eps) (library)", p_out, lib.p)
plain, ln = RMSNorm()(symbolic_state()), LayerNorm()(symbolic_state())
prove_equal("g = 1, eps = 0: q' = LayerNorm's", plain.q, ln.q)
prove_equal("g = 1, eps = 0: p' = LayerNorm's = p/q", plain.p, ln.p)
prove_equal("rho' = rho (eps = 0, any g)", (lib.p / lib.q).subs(eps, 0), p / q)

# Step 3: centring multiplies E x_t^T P x_s by (1 - 1/d) for exchangeable zero-mean features.
n = 3  # the identity E x^T P y = (1 - 1/d) E x.y for i.i.d. features, checked on a symbolic 3-feature example
xs = sp.symbols("x1:4", real=True)
ys = sp.symbols("y1:4", real=True)
proj = sp.eye(n) - sp.ones(n, n) / n
quad = (sp.Matrix([xs]) * proj * sp.Matrix(ys))[0]
# E over i.i.d. features with E x_i y_i = c, E x_i y_j = 0 (i != j): keep only the diagonal terms
c_sym = sp.Symbol("c", real=True)
expectation = sp.expand(quad).subs({xs[i] * ys[j]: (c_sym if i == j else 0) for i in range(n) for j in range(n)})
assert sp.simplify(expectation - (1 - sp.Rational(1, n)) * n * c_sym) == 0
print("  [proved] E x^T P y = (1 - 1/d) E x.y (d = 3, i.i.d. zero-mean features): a common factor")
shift = sp.Symbol("c_shift", real=True)
ones = sp.Matrix([1, 1, 1])
assert sp.simplify((proj * (sp.Matrix(xs) + shift * ones)) - proj * sp.Matrix(xs)) == sp.zeros(3, 1)
print("  [proved] LayerNorm's centring removes a common shift c 1; RMSNorm keeps it")

# Step 4: Monte Carlo, Gaussian simplex tokens x_t = sqrt(p) z + sqrt(q - p) z_t.
rng = np.random.default_rng(0)
qv, pv, gv, ev, dv, tv, reps = 2.5, 1.0, 1.3, 0.4, 4096, 16, 200
stats = []
for _ in range(reps):
    x = np.sqrt(pv) * rng.standard_normal(dv) + np.sqrt(qv - pv) * rng.standard_normal((tv, dv))
    y = gv * x / np.sqrt((x**2).mean(axis=1, keepdims=True) + ev)
    gram = y @ y.T / dv
    stats.append((np.diag(gram).mean(), gram[~np.eye(tv, dtype=bool)].mean()))
stats = np.array(stats)
mean, err = stats.mean(axis=0), stats.std(axis=0, ddof=1) / np.sqrt(reps)
point = {q: qv, p: pv, g: gv, eps: ev}
want = np.array([float(lib.q.subs(point)), float(lib.p.subs(point))])
# O(1/d) bias of the Monte Carlo (norm fluctuations of relative size sqrt(2/d)) is ~1e-4 here
assert np.all(np.abs(mean - want) < 4 * err + 2e-3), (mean, want, err)
print(f"  [checked] Monte Carlo (d = {dv}, {reps} draws): q' = {mean[0]:.4f} +- {err[0]:.4f}, "
      f"p' = {mean[1]:.4f} +- {err[1]:.4f} (map: {want[0]:.4f}, {want[1]:.4f})")

if __name__ == "__main__":
    write_latex([("RMSNorm q", sp.Eq(sp.Symbol("q'"), lib.q)), ("RMSNorm p", sp.Eq(sp.Symbol("p'"), lib.p))])
