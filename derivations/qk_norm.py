"""Derivation: attention heads and QK-normalisation (docs/modern_blocks.md §3, §4).

Heads. Head h has W_Q^h, W_K^h of shape (d, d_head), entries N(0, sigma_a / d), and logits
a_ts = Q_t . K_s / sqrt(d_head). Given Q_t, over W_K^h the key-dependent logit variance is
(|Q_t|^2 / d_head) (sigma_a / d) d (q - p), and |Q_t|^2 -> d_head sigma_a q: sigma_a^2 q (q - p), with
no d_head, hence no number of heads, left (Step 1). The heads are independent REMs of the same
law and the concatenated output has q' = (1/H) sum_h sigma_v^2 [p + (q - p) Y2^h] + b: the
Attention map with the mean IPR (Step 2). As d -> infinity the map does not see the heads.

QK-norm. Each head's query and key rows are RMS-normalised with gain g: |q_t|^2 = |k_s|^2 = g^2 d_head,
and the logit is a_ts = tau q_t . k_s = tau g^2 d_head cos(q_t, k_s) (Step 3). Write
cos(q_t, k_s) = u . kappa_s with u = q_t/|q_t| and kappa_s = k_s/|k_s| unit vectors, u independent of
W_K. By rotation invariance E[kappa_s kappa_s'^T] = (E[kappa_s . kappa_s'] / d_head) I (Step 4), so

    Cov(a_ts, a_ts') = tau^2 g^4 d_head c_ss',   c_ss' = E cos(k_s, k_s')  (c_ss = 1),

and the key-dependent variance is s^2 = tau^2 g^4 d_head (1 - cbar): a function of g and the key
cosine only, not of W_Q, W_K's scale nor of the token norm q. The REM moments are those of
symsig's Attention at the normalised state (1, cbar) with beta_qk^2 log T = tau^2 d_head g^4, i.e.

    beta_qk(g, d_head, T) = tau sqrt(d_head) g^2 / sqrt(log T)  (= g^2 / sqrt(log T) at tau = 1/sqrt(d_head)),

and the two rows' key-dependent correlation is E cos(q_t, q_t') = cbar too (Step 5). A fixed gain gives
beta_qk -> 0 as T -> infinity: QK-normalised attention cannot freeze in the limit; at finite T it
freezes (T -> infinity REM criterion beta_qk^2 (1 - rho) > 2) only for g^4 > 2 log T / (1 - rho).
The key cosine: the keys k_s = W_K^T x_s of two tokens with cosine rho are d_head-dimensional
Gaussian vectors with correlation rho, so cbar = E[sample cosine], exactly
rho (2/n) (Gamma((n+1)/2)/Gamma(n/2))^2 2F1(1/2, 1/2; n/2 + 1; rho^2) with n = d_head (Step 6), and by
the delta method with Wishart fluctuations cbar = rho - rho (1 - rho^2) / (2 d_head) + O(d_head^-2)
(Step 7: the library's head_cosine). Step 8: Monte Carlo of one QK-normalised layer.

Run: python derivations/qk_norm.py [out.tex]
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp

from _common import prove_equal, write_latex
from symsig.numerics.finite_t import y_moment_np
from symsig.simulation.forward import attention
from symsig.theory import special
from symsig.theory.finite_width import wishart_cov
from symsig.theory.layers import Attention, MultiHeadAttention, QKNormAttention, State, head_cosine, qk_norm_beta
from symsig.theory.symbols import T, beta, p, q

sigma_a, d, d_head, heads, g, tau = sp.symbols("sigma_a d d_head H g tau", positive=True)
rho = sp.Symbol("rho", real=True)

# Step 1: per-head key-dependent logit variance.
norm_q = d_head * sigma_a * q  # |Q_t|^2 as d -> infinity (d_head entries of variance sigma_a q)
var_keydep = (norm_q / d_head) * (sigma_a / d) * d * (q - p)
prove_equal("head logit variance sigma_a^2 q (q - p), independent of d_head", var_keydep, sigma_a**2 * q * (q - p))
prove_equal("= beta^2 log T q (q - p) at sigma_a = beta sqrt(log T)",
            var_keydep.subs(sigma_a, beta * sp.sqrt(sp.log(T))), special.logit_variance())

# Step 2: concatenating H heads of equal law averages their IPRs: the Attention map.
y2s = sp.symbols("Y2_1:5", nonnegative=True)
sv, sb = sp.symbols("sigma_v2 sigma_b2", nonnegative=True)
concat = sum(sv * (p + (q - p) * y) + sb for y in y2s) / len(y2s)
ybar = sp.Symbol("Ybar", nonnegative=True)
prove_equal("concatenated q' = sigma_v^2 [p + (q - p) mean_h Y2^h] + sigma_b^2", concat.subs(y2s[-1], 4 * ybar - sum(y2s[:-1])),
            sv * (p + (q - p) * ybar) + sb)
for finite in (False, True):
    a = Attention(finite_t=finite)(State(q, p))
    b = MultiHeadAttention(finite_t=finite, heads=heads)(State(q, p))
    assert (a.q, a.p, a.observable("Y2")) == (b.q, b.p, b.observable("Y2"))
print("  [proved] library: MultiHeadAttention's map is Attention's (T -> infinity and finite T)")

# Step 3: normalised logits.
cos_qk = sp.Symbol("c_qk", real=True)
logit = tau * (g * sp.sqrt(d_head)) * (g * sp.sqrt(d_head)) * cos_qk
prove_equal("a = tau g^2 d_head cos(q, k)", logit, tau * g**2 * d_head * cos_qk)

# Step 4: E[kappa kappa'^T] commutes with every rotation, so it is c I; its trace fixes c. Checked on
# random isotropic pairs (d_head = 6): the off-diagonal entries vanish and the diagonal is E[kappa.kappa']/d_head.
rng = np.random.default_rng(0)
dh, rho_v, m = 6, 0.5, 400_000
z1, z2 = rng.standard_normal((m, dh)), rng.standard_normal((m, dh))
k1 = z1
k2 = rho_v * z1 + math.sqrt(1 - rho_v**2) * z2
kap1, kap2 = (k / np.linalg.norm(k, axis=1, keepdims=True) for k in (k1, k2))
outer = kap1.T @ kap2 / m
cbar_mc = np.einsum("ij,ij->i", kap1, kap2).mean()
assert np.abs(outer - np.eye(dh) * cbar_mc / dh).max() < 5 / math.sqrt(m)
print(f"  [checked] E[kappa kappa'^T] = (E cos / d_head) I (d_head = {dh}; max deviation "
      f"{np.abs(outer - np.eye(dh) * cbar_mc / dh).max():.1e})")

# Step 5: key-dependent variance and beta_qk; the library's QK-norm moments.
cbar = sp.Symbol("cbar", real=True)
s2 = tau**2 * g**4 * d_head * (1 - cbar)
beta_qk = qk_norm_beta(g, T, tau * sp.sqrt(d_head))
prove_equal("beta_qk^2 log T (1 - cbar) = tau^2 g^4 d_head (1 - cbar)", beta_qk**2 * sp.log(T) * (1 - cbar), s2)
prove_equal("beta_qk = g^2 / sqrt(log T) at tau = 1/sqrt(d_head)", beta_qk.subs(tau, 1 / sp.sqrt(d_head)),
            g**2 / sp.sqrt(sp.log(T)))
layer = QKNormAttention(gain=g, finite_t=True, head_width=d_head)
y2, x = layer.moments(State(q, p))
rho_h = head_cosine(p / q, d_head)
prove_equal("library Y2: rem_y2(g^4 (1 - rho_h), T)", y2.args[0], (g**4 * (1 - rho_h)).subs(p, p))
assert y2.func is special.rem_y2 and x.func is special.rem_x and y2.args[1] == T
prove_equal("library X: logit correlation rho_h", x.args[1], rho_h)
prove_equal("library X: rem_x's variance = Y2's", x.args[0], y2.args[0])
for q_scale in (sp.Rational(3), sp.Rational(1, 7)):  # independent of the token norm
    y_scaled, _ = layer.moments(State(q_scale * q, q_scale * p))
    prove_equal(f"Y2 unchanged when (q, p) -> {q_scale} (q, p)", y_scaled, y2)
print("  [proved] the gain fixes beta_qk; T -> infinity: beta_qk -> 0 (liquid); the layer gives Y2 = X = 0")
assert QKNormAttention(gain=g).moments(State(q, p)) == (0, 0)

# Step 6: the exact expected cosine of two Gaussian vectors (n dims, correlation rho).
def cbar_exact(rho_: float, n_: int) -> mpmath.mpf:
    ratio = mpmath.gamma((n_ + 1) / mpmath.mpf(2)) / mpmath.gamma(n_ / mpmath.mpf(2))
    return rho_ * 2 / mpmath.mpf(n_) * ratio**2 * mpmath.hyp2f1(0.5, 0.5, n_ / mpmath.mpf(2) + 1, rho_**2)


assert abs(cbar_exact(mpmath.mpf("0.999999999"), 5) - 1) < 1e-8 and cbar_exact(0, 5) == 0
err = np.einsum("ij,ij->i", kap1, kap2).std() / math.sqrt(m)
assert abs(cbar_mc - float(cbar_exact(rho_v, dh))) < 5 * err
print(f"  [checked] exact E cos at n = {dh}, rho = {rho_v}: {float(cbar_exact(rho_v, dh)):.6f}; "
      f"Monte Carlo {cbar_mc:.6f} +- {err:.6f}; -> 1 as rho -> 1")

# Step 7: the delta method. C = Wishart/n with mean [[1, rho], [rho, 1]]; cos = C12 / sqrt(C11 C22).
c11, c22, c12 = sp.symbols("c11 c22 c12", positive=True)
f = c12 / sp.sqrt(c11 * c22)
mean = {c11: 1, c22: 1, c12: rho}
entries = ((0, 0), (1, 1), (0, 1))
sigma = sp.Matrix([[1, rho], [rho, 1]])
hess = sp.hessian(f, (c11, c22, c12)).subs(mean)
second = sum(hess[i, j] * wishart_cov(sigma, entries[i], entries[j]) for i in range(3) for j in range(3)) / 2
nn = sp.Symbol("n", positive=True)
prove_equal("delta method: E cos = rho - rho (1 - rho^2)/(2 n) + O(n^-2)", rho + second / nn,
            head_cosine(rho, nn))
for n_ in (64, 256, 1024):  # the exact value approaches the expansion at O(n^-2)
    gap = float(cbar_exact(0.6, n_)) - float(head_cosine(sp.Float(0.6), n_))
    assert abs(gap) * n_**2 < 0.2, (n_, gap)
print("  [checked] exact 2F1 value minus the expansion = O(n^-2) at n = 64, 256, 1024")

# Step 8: Monte Carlo of one QK-normalised layer (forward.attention with qk_gain g, d_head = 64).
# (a) The variance of a row's logits over its keys has expectation s2 (1 - 1/T). (b) The scale of
# W_Q, W_K drops out exactly (the same draws scaled by 0.7 and by 3 give the same attention). (c) The IPR
# is the exact finite-T E[Y2] at s2 = g^4 (1 - rho_h) up to two finite-size effects of opposite sign:
# the fluctuation of the row's logit variance (+, O(T/d), about +3% here for standard attention) and
# the lighter-than-Gaussian tails of a normalised logit g^2 sqrt(d_head) cos (-, O(1/d_head): measured
# -3% to -5% at d_head = 64; a logit drawn as sqrt(d_head) times a coordinate of a uniform unit vector
# gives -9%); we allow 6%.
dv, tv, hv, gv, reps = 512, 256, 8, 1.4, 24
rho_in = 0.4
dhv = dv // hv
s2v = gv**4 * (1 - float(head_cosine(sp.Float(rho_in), dhv)))
var_rows, ipr = [], []
for r in range(reps):
    rng = np.random.default_rng(100 + r)
    xin = math.sqrt(rho_in) * rng.standard_normal(dv) + math.sqrt(1 - rho_in) * rng.standard_normal((tv, dv))
    wq, wk = (rng.standard_normal((dv, dv)) / math.sqrt(dv) for _ in range(2))
    outs = [attention(xin, scale * wq, scale * wk, np.eye(dv), np.zeros(dv), heads=hv, qk_gain=gv)
            for scale in (0.7, 3.0)]
    assert np.allclose(outs[0][0], outs[1][0], rtol=1e-10, atol=1e-12)
    ipr.append(outs[0][1].Y2_pos.mean())
    qm, km = xin @ wq[:, :dhv], xin @ wk[:, :dhv]  # head 0's normalised logits
    qm *= gv / np.sqrt((qm**2).mean(axis=1, keepdims=True))
    km *= gv / np.sqrt((km**2).mean(axis=1, keepdims=True))
    var_rows.append((qm @ km.T / math.sqrt(dhv)).var(axis=1).mean())
var_rows, ipr = np.array(var_rows), np.array(ipr)
want = s2v * (1 - 1 / tv)
errv = var_rows.std(ddof=1) / math.sqrt(reps)
assert abs(var_rows.mean() - want) < 4 * errv + 0.01 * want, (var_rows.mean(), want, errv)
print(f"  [checked] QK-norm logit variance over keys {var_rows.mean():.4f} +- {errv:.4f}; "
      f"g^4 (1 - rho_h)(1 - 1/T) = {want:.4f} (g = {gv}, d_head = {dhv})")
print("  [checked] the W_Q, W_K scale drops out exactly (scales 0.7 and 3, same draws)")
y2_exact = float(y_moment_np(2, s2v, tv))
e = ipr.std(ddof=1) / math.sqrt(reps)
assert abs(ipr.mean() - y2_exact) < 4 * e + 0.06 * y2_exact, (ipr.mean(), y2_exact, e)
print(f"  [checked] IPR {ipr.mean():.4f} +- {e:.4f}; exact finite-T E[Y2] {y2_exact:.4f} "
      f"({100 * (ipr.mean() / y2_exact - 1):+.1f}%)")

if __name__ == "__main__":
    write_latex([
        ("head logit variance", sp.Eq(sp.Symbol(r"\mathrm{Var}_{\mathrm{key}}"), sigma_a**2 * q * (q - p))),
        ("qk-norm beta", sp.Eq(sp.Symbol(r"\beta_{qk}"), qk_norm_beta(g, T, tau * sp.sqrt(d_head)))),
        ("head cosine", sp.Eq(sp.Symbol(r"\bar c"), head_cosine(rho, d_head))),
    ])
