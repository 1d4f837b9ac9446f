"""Derivation: the kernel of a gated MLP unit phi(u) v (SwiGLU, GeGLU; docs/modern_blocks.md §2).

Model: a hidden unit of a gated MLP computes phi(u_t) v_t for token t, with u_t = x_t . w_g (+ b_g)
and v_t = x_t . w_u (+ b_u), w_g and w_u columns of W_g and W_u. Over the weights, (u_t, u_s) is a
centred Gaussian pair with covariance [[q_g, p_g], [p_g, q_g]] (q_g = sigma_g^2 q + b, ...) and
(v_t, v_s) one with [[q_u, p_u], [p_u, q_u]].

Step 1 (independent weights, the initialisation of every stock model): the covariance of the four
variables (u_t, u_s, v_t, v_s) is block diagonal, so their Gaussian density factorises and

    E[phi(u_t) v_t phi(u_s) v_s] = E[phi(u_t) phi(u_s)] E[v_t v_s] = K_qp^phi(q_g, p_g) p_u,

(t = s: K_qq^phi(q_g) q_u); then the down projection multiplies by sigma_d^2 (fan-in m).
Step 2 (correlated gate and up weights, w_u = k w_g + sqrt(1 - k^2) w', equal variances): v = k u +
sqrt(1 - k^2) w with w independent of u, and expanding, the cross terms have a factor E[w] = 0:

    E[phi(u) v phi(u') v'] = k^2 E[u phi(u) u' phi(u')] + (1 - k^2) K_qp^phi(q, p) p,

a mixture of the tied kernel (psi(x) = x phi(x)) and the factorised one (used here at k = 0).
Step 3: the library's GatedKernel is Step 1 (proved for ReLU and GELU closed forms, and for the
declared swish kernel); its numeric value agrees with a Monte Carlo of SwiGLU and GeGLU units, and
the mixture of Step 2 with a Monte Carlo at k = 0.6.

Run: python derivations/gated_mlp.py [out.tex]
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from _common import prove_equal, write_latex
from symsig.numerics import compile as numerics
from symsig.simulation.forward import activation_fn
from symsig.theory import activations
from symsig.theory.layers import GatedMLP, State, symbolic_state
from symsig.theory.symbols import p, q, sigma_w2

qg, pg, qu, pu = sp.symbols("q_g p_g q_u p_u", real=True)
ut, us, vt, vs = sp.symbols("u_t u_s v_t v_s", real=True)

# Step 1: the block-diagonal covariance makes the density a product.
cov = sp.diag(sp.Matrix([[qg, pg], [pg, qg]]), sp.Matrix([[qu, pu], [pu, qu]]))
z = sp.Matrix([ut, us, vt, vs])
density = sp.exp(-(z.T * cov.inv() * z)[0] / 2) / sp.sqrt((2 * sp.pi) ** 4 * cov.det())
zu, zv = sp.Matrix([ut, us]), sp.Matrix([vt, vs])
cu, cv = cov[:2, :2], cov[2:, 2:]
dens_u = sp.exp(-(zu.T * cu.inv() * zu)[0] / 2) / sp.sqrt((2 * sp.pi) ** 2 * cu.det())
dens_v = sp.exp(-(zv.T * cv.inv() * zv)[0] / 2) / sp.sqrt((2 * sp.pi) ** 2 * cv.det())
assert sp.simplify(sp.expand_log(sp.log(density) - sp.log(dens_u) - sp.log(dens_v), force=True)) == 0
print("  [proved] the density of (u_t, u_s, v_t, v_s) is the product of the gate's and the up projection's")

# Step 2: v = k u + sqrt(1 - k^2) w, w independent of u with E w = 0: expand the product.
k = sp.Symbol("k", real=True)
phi_t, phi_s, w_t, w_s = sp.symbols("phi_t phi_s w_t w_s", real=True)
prod = sp.expand(phi_t * (k * ut + sp.sqrt(1 - k**2) * w_t) * phi_s * (k * us + sp.sqrt(1 - k**2) * w_s))
e_tied, e_fact, e_w = sp.symbols("E_tied K_phi E_ww", real=True)  # E[u phi u' phi'], E[phi phi'], E[w w']
# E over w (independent of u): terms linear in w vanish, w_t w_s -> E_ww
expect = prod.subs(w_t * w_s, e_w).subs({w_t: 0, w_s: 0})
expect = expect.subs({phi_t * phi_s * ut * us: e_tied}).subs({phi_t * phi_s: e_fact})
assert sp.simplify(expect - (k**2 * e_tied + (1 - k**2) * e_fact * e_w)) == 0
print("  [proved] correlated gate/up weights: k^2 E[u phi(u) u' phi(u')] + (1 - k^2) K^phi E[w w']")

# Step 3: the library's kernel is Step 1 with k = 0.
for name in ("relu", "gelu", "swish"):
    kern = activations.gated(name)
    k_qq, k_qp = kern(qg, pg, qu, pu)
    g_qq, g_qp = activations.kernel(name)(qg, pg)
    prove_equal(f"{name}: K_qp = K_qp^phi(q_g, p_g) p_u", k_qp, g_qp * pu)
    prove_equal(f"{name}: K_qq = K_qq^phi(q_g) q_u", k_qq, g_qq * qu)
relu_unit = activations.gated("relu")(q, p, q, p)[1]
prove_equal("ReGLU unit at q_g = q_u = q: p (sqrt(q^2-p^2) + p (pi - acos(p/q)))/(2 pi)",
            relu_unit, p * (sp.sqrt(q**2 - p**2) + p * (sp.pi - sp.acos(p / q))) / (2 * sp.pi))
layer = GatedMLP(activations.gated("gelu"), gate=sigma_w2, up=2 * sigma_w2, down=3 * sigma_w2)(symbolic_state())
gelu_qp = activations.kernel("gelu")(sigma_w2 * q, sigma_w2 * p)[1]
prove_equal("GatedMLP layer: p' = sigma_d^2 K_qp^gelu(sigma_g^2 q, sigma_g^2 p) sigma_u^2 p", layer.p,
            3 * sigma_w2 * gelu_qp * 2 * sigma_w2 * p)

# Monte Carlo of one unit over many weight draws: SwiGLU (swish, quadrature kernel) and GeGLU.
rng = np.random.default_rng(1)
n_mc = 2_000_000
point = {"q_g": 1.3, "p_g": 0.5, "q_u": 0.8, "p_u": 0.35}
for name in ("swish", "gelu"):
    kern = activations.gated(name)
    fn = numerics.compile_np((qg, pg, qu, pu), kern(qg, pg, qu, pu))
    want = [float(x) for x in numerics.eval_np(fn, *point.values())]
    c = point["p_g"] / point["q_g"]
    a, b = rng.standard_normal(n_mc), rng.standard_normal(n_mc)
    u_t, u_s = np.sqrt(point["q_g"]) * a, np.sqrt(point["q_g"]) * (c * a + np.sqrt(1 - c**2) * b)
    cu_ = point["p_u"] / point["q_u"]
    a2, b2 = rng.standard_normal(n_mc), rng.standard_normal(n_mc)
    v_t, v_s = np.sqrt(point["q_u"]) * a2, np.sqrt(point["q_u"]) * (cu_ * a2 + np.sqrt(1 - cu_**2) * b2)
    phi = activation_fn(name)
    for label, sample, value in (("K_qq", (phi(u_t) * v_t) ** 2, want[0]),
                                 ("K_qp", phi(u_t) * v_t * phi(u_s) * v_s, want[1])):
        err = sample.std() / np.sqrt(n_mc)
        assert abs(sample.mean() - value) < 4.5 * err, (name, label, sample.mean(), value, err)
        print(f"  [checked] {name} gated {label} = {value:.6f}; Monte Carlo {sample.mean():.6f} +- {err:.6f}")

# The mixture of Step 2 at k = 0.6 (equal variances q, p), by Monte Carlo on both sides.
kv, qv, pv = 0.6, 1.1, 0.4
c = pv / qv
a, b, a2, b2 = (rng.standard_normal(n_mc) for _ in range(4))
u_t, u_s = np.sqrt(qv) * a, np.sqrt(qv) * (c * a + np.sqrt(1 - c**2) * b)
w_t, w_s = np.sqrt(qv) * a2, np.sqrt(qv) * (c * a2 + np.sqrt(1 - c**2) * b2)
phi = activation_fn("swish")
lhs = phi(u_t) * (kv * u_t + np.sqrt(1 - kv**2) * w_t) * phi(u_s) * (kv * u_s + np.sqrt(1 - kv**2) * w_s)
rhs = kv**2 * (u_t * phi(u_t) * u_s * phi(u_s)) + (1 - kv**2) * phi(u_t) * phi(u_s) * pv
diff = lhs - rhs
assert abs(diff.mean()) < 4.5 * diff.std() / np.sqrt(n_mc), diff.mean()
print(f"  [checked] mixture at k = {kv}: E[lhs - rhs] = {diff.mean():.2e} +- {diff.std() / np.sqrt(n_mc):.1e}")

if __name__ == "__main__":
    kq, kp = sp.symbols(r"K^{\phi}_{qq} K^{\phi}_{qp}")
    write_latex([
        ("gated kernel", sp.Eq(sp.Symbol(r"\mathbb{E}[\phi(u)v\,\phi(u')v']"), kp * pu)),
        ("gated layer", sp.Eq(sp.Symbol("p'"), GatedMLP(activations.gated("relu"))(State(q, p)).p)),
    ])
