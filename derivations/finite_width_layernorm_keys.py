"""The logit law of LayerNorm-output keys at first order in 1/d (docs/finite_width.md §6).

Keys x_s = sqrt(d) v_s / |v_s| with v_s = c + n_s: a common vector c (|c|^2 = rho d) plus n_s iid
N(0, (1 - rho) I_d). Fix the query direction w (a unit vector, independent of the keys). Split
n_s = sqrt(1 - rho) (eps_s w + zeta_s) with zeta_s orthogonal to w, and c = sqrt(rho) (g w + c_perp),
g ~ N(0, 1) one number per row. Then r_s^2 = |v_s|^2 / d = 1 + A_s h + B_s h^2 with h = 1/sqrt(d),

    A_s = (1 - rho) chi_s + 2 sqrt(rho (1 - rho)) xi_s      (chi_s ~ N(0, 2): |zeta_s|^2; xi_s ~ N(0, 1): c_perp . zeta_s),
    B_s = (1 - rho) (eps_s^2 - 1) + 2 sqrt(rho (1 - rho)) g eps_s,

A_s independent of eps_s and of the other keys. The key-dependent logit is proportional to
(G + eps_s) / r_s with G = sqrt(rho / (1 - rho)) g, a row constant that no longer cancels.

Steps, each asserted:
1. Var A_s = 2 (1 - rho^2).
2. The standardised logit eps_s + delta_s (the row constant G dropped) has, to order h^2,
   E_A delta = h^2 (G + eps) (3 Var A / 8 - B / 2) and E_A delta^2 = h^2 (G + eps)^2 Var A / 4.
3. The state the theory reads is the empirical one: p = E cos(x_s, x_u) = rho + rho (1 - rho)(3 rho - 1) h^2 / 2,
   so the theory's logit variance s2 (with q - p = 1 - p) is that of (G + eps)/r times
   (1 - rho)/(1 - p): a relative h^2 rho (3 rho - 1) / 2 to add to the scale.
4. For any F of the logits, E F changes by h^2 sum_s E[F w(eps_s)] with w = adj(a) + adj(adj(b))/2,
   adj(f) = eps f - f' (Gaussian integration by parts, E[F' f] = E[F adj(f)]), a = E_g E_A delta / h^2 plus
   the scale term, b = E_g E_A delta^2 / h^2. Result: w = -(1 - rho)^2 He4(eps) / 4.
5. At rho = 0 the keys are uniform on the sphere of radius sqrt(d), whose projection has density
   proportional to (1 - eps^2/d)^((d - 3)/2): to first order phi (1 - He4 / (4 d)), the same.

Run: python derivations/finite_width_layernorm_keys.py [out.tex]
"""
from __future__ import annotations

import sympy as sp

from _common import RHO as rho, mean_gauss, prove_zero_on_unit_rho as check, write_latex

eps, g, chi, xi, h = sp.symbols("epsilon g chi xi h", real=True)
chi_var = 2  # (|zeta|^2 - (d - 1)) / sqrt(d) -> N(0, 2)


# 1. the orthogonal part of the norm
a_s = (1 - rho) * chi + 2 * sp.sqrt(rho * (1 - rho)) * xi
var_a = mean_gauss(mean_gauss(a_s**2, chi, chi_var), xi, 1)
check("Var A = 2 (1 - rho^2)", var_a - 2 * (1 - rho**2))

# 2. the perturbed logit to order h^2
big_a = sp.Symbol("A", real=True)
b_s = (1 - rho) * (eps**2 - 1) + 2 * sp.sqrt(rho * (1 - rho)) * g * eps
big_g = sp.sqrt(rho / (1 - rho)) * g
inv_r = sp.series(1 / sp.sqrt(1 + big_a * h + b_s * h**2), h, 0, 3).removeO()
delta = sp.expand((big_g + eps) * inv_r - big_g - eps)
delta1, delta2 = delta.coeff(h, 1), delta.coeff(h, 2)
check("E_A delta at order h", mean_gauss(delta1, big_a, var_a))
mean_delta = mean_gauss(delta2, big_a, var_a)
check("E_A delta = (G + eps)(3 Var A / 8 - B / 2) h^2", mean_delta - (big_g + eps) * (3 * var_a / 8 - b_s / 2))
mean_delta_sq = mean_gauss(delta1**2, big_a, var_a)

# 3. the empirical cosine of two keys: numerator rho + sqrt(rho (1 - rho)) (xi_s + xi_u) h + (mean-zero terms) h^2
xi2, chi2 = sp.symbols("xi_2 chi_2", real=True)
a_u = a_s.subs({xi: xi2, chi: chi2})
inv = lambda a: sp.series(1 / sp.sqrt(1 + a * h), h, 0, 3).removeO()  # noqa: E731 (E B = 0 at order h^2)
cos = sp.expand((rho + sp.sqrt(rho * (1 - rho)) * (xi + xi2) * h) * inv(a_s) * inv(a_u))
cos = sp.series(cos, h, 0, 3).removeO()
mean_cos = cos
for x, v in ((chi, chi_var), (chi2, chi_var), (xi, 1), (xi2, 1)):
    mean_cos = mean_gauss(mean_cos, x, v)
p_shift = sp.simplify(mean_cos.coeff(h, 2))
check("p - rho = rho (1 - rho)(3 rho - 1) h^2 / 2", p_shift - rho * (1 - rho) * (3 * rho - 1) / 2)
scale = sp.simplify(p_shift / (1 - rho))  # relative change of the logit variance the theory reads

# 4. the weight of the first-order law
adj = lambda f: sp.expand(eps * f - sp.diff(f, eps))  # noqa: E731
a_weight = mean_gauss(mean_delta, g, 1) + eps * scale / 2
b_weight = mean_gauss(mean_delta_sq, g, 1)
w = sp.expand(adj(a_weight) + adj(adj(b_weight)) / 2)
he4 = eps**4 - 6 * eps**2 + 3
check("w = -(1 - rho)^2 He4 / 4", w + (1 - rho) ** 2 * he4 / 4)

# 5. rho = 0: the uniform sphere
dd = sp.Symbol("d", positive=True)
log_density = (dd - 3) / 2 * sp.log(1 - eps**2 / dd) + eps**2 / 2
first = sp.limit(dd * log_density, dd, sp.oo)                     # d (log f - log phi), up to a constant
norm_const = mean_gauss(first, eps, 1)                            # normalisation (E of the weight is 0)
check("sphere: phi (1 - He4 / (4 d))", sp.expand(first - norm_const) + he4 / 4)
check("the weight at rho = 0 is the sphere's", w.subs(rho, 0) + he4 / 4)

# the library's weight: E[Y2] + c K4 with c = key_law_weight("normalized") (r = p/q is the keys' cosine)
from symsig.theory.finite_width import key_law_weight, r  # noqa: E402
from symsig.theory.symbols import d as width  # noqa: E402

check("library: c d = (1 - rho)^2", (key_law_weight("normalized") * width).subs(r, rho) - (-4 * w / he4))

write_latex([
    ("law", r"f(\varepsilon)=\phi(\varepsilon)\Big(1-\frac{(1-\rho)^2}{4d}\,\mathrm{He}_4(\varepsilon)\Big),\qquad "
            r"\mathrm{He}_4(\varepsilon)=\varepsilon^4-6\varepsilon^2+3"),
    ("y2", r"\mathbb E_{\mathrm{LN}}[Y_2]=\mathbb E[Y_2]+\frac{(1-\rho)^2}{d}K_4,\qquad "
           r"K_4=-\tfrac14\,\mathbb E\Big[Y_2\sum_s\mathrm{He}_4(\varepsilon_s)\Big]"),
])
