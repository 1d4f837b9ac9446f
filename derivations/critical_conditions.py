"""Derivation: critical conditions of deep post-LN / pre-LN stacks (docs/theory.md §8).

Assumptions: T -> infinity (Poisson–Dirichlet attention), d -> infinity, the block
maps of symsig.blocks (residual h <- a h + f(h)); post-LN: q = 1 after each block,
so rho -> rho' is a 1-D map with fixed point rho = 1.

Steps (each asserted against symsig.conditions, which derives from the block maps):
1. rho_c = 1 - 2/beta^2 from beta_c(1, rho) = beta.
2. Near rho = 1 the REM condition beta^2 (1 - rho) > 2 fails: attention is not frozen
   there, the map is the Y2 = 0 branch. Its derivative has the ReLU terms
   -c/sqrt(1-c^2) + c/sqrt(1-c^2) which cancel; the limit rho -> 1- gives chi.
3. chi = chi_att chi_mlp (docs/theory.md §8.2), xi = -1/log chi = 5.46 (Figure 1).
4. chi^L = eps solved for a_SA^2: (s_v + s_b) k/(1 - k), k = eps^(1/L)/chi_mlp.
5. Pre-LN (a = 1): A, B, gamma = 1 - B/A.

Run: python derivations/critical_conditions.py [out.tex]
"""
from __future__ import annotations

import mpmath
import sympy as sp

from _common import prove_equal, write_latex
from symsig.analysis import conditions as C
from symsig.theory import conditions as S
from symsig.core.architecture import Architecture
from symsig.analysis.propagate import propagate
from symsig.theory.symbols import alpha_mlp, alpha_sa, beta, sigma_b2, sigma_v2, sigma_w2

rho = S.RHO
# 1. rho_c by hand: beta^2 = 2/(1 - rho)
(rho_c,) = sp.solve(sp.Eq(beta**2, 2 / (1 - rho)), rho)
prove_equal("rho_c = 1 - 2/beta^2", rho_c, S.rho_c_expr())

# 2.-3. slope at rho = 1: by hand from the layer maps (attention unfrozen, ReLU f'(1) = 1)
chi_att = alpha_sa**2 / (sigma_v2 + sigma_b2 + alpha_sa**2)
c = sp.Symbol("c", real=True)
f = (sp.sqrt(1 - c**2) + c * (sp.pi - sp.acos(c))) / sp.pi
f_prime = sp.simplify(sp.diff(f, c))
assert sp.simplify(f_prime - (sp.pi - sp.acos(c)) / sp.pi) == 0 and f_prime.subs(c, 1) == 1
print("  [proved] ReLU arc-cosine kernel: f'(c) = (pi - acos c)/pi, f'(1) = 1 (singular terms cancel)")
q_mlp = sigma_w2 * (sigma_w2 + sigma_b2) / 2 + sigma_b2 + alpha_mlp**2
chi_mlp = (sigma_w2 * (sigma_w2 + sigma_b2) / 2 * sigma_w2 / (sigma_w2 + sigma_b2) + alpha_mlp**2) / q_mlp
prove_equal("chi (library, from block map) = chi_att chi_mlp", S.chi_expr("post-ln", "relu"), chi_att * chi_mlp)
fig1 = {sigma_w2: sp.Rational(1, 5), sigma_v2: sp.Rational(1, 5), sigma_b2: sp.Rational(1, 2500), alpha_sa: 1, alpha_mlp: 1}
xi = sp.N(S.depth_scale_expr("post-ln", "relu").xreplace(fig1), 20)
assert abs(xi - sp.Float("5.4619106687230508", 20)) < 1e-15
print(f"  [checked] xi(Figure 1) = {xi}")
# brute force: slope of the true map at 1 - rho = 1e-24, 40 digits
tr = propagate(depth=1, rho0="0." + "9" * 24, dps=40, beta=2)
slope = (1 - tr.rho[1]) / mpmath.mpf("1e-24")
assert abs(slope - mpmath.mpf(str(sp.N(S.chi_expr("post-ln", "relu").xreplace(fig1), 30)))) < 1e-10
print("  [checked] chi = iterated-map slope at 1 - rho = 1e-24 to 1e-10 (correction O(eps^(1/2)))")

# 4. residual strength
k = S.EPS ** (1 / S.DEPTH) / chi_mlp
prove_equal("a_SA^2 >= (s_v + s_b) k/(1 - k)", S.alpha_sa_linear_expr("relu"), (sigma_v2 + sigma_b2) * k / (1 - k))

# 5. pre-LN power law
a_pre, b_pre, gamma = S.preln_exponent_expr("relu", "pre-ln")
prove_equal("A = s_v + 2 s_b + s_w (s_w + s_b)/2", a_pre, sigma_v2 + 2 * sigma_b2 + sigma_w2 * (sigma_w2 + sigma_b2) / 2)
prove_equal("B = s_w^2/2", b_pre, sigma_w2**2 / 2)
print(f"  [checked] gamma(Figure 4) = {sp.N(gamma.xreplace(fig1), 10)}")
print(f"  [checked] alpha_SA exact (L = 60, eps = 0.01, rho0 = 0.3) = "
      f"{mpmath.nstr(C.alpha_sa_required(depth=60, dps=15), 15)}; linearised = "
      f"{mpmath.nstr(C.conditions(depth=60, dps=15).alpha_sa_linear, 15)}")

if __name__ == "__main__":
    write_latex([
        ("rho_c", sp.Eq(sp.Symbol(r"\rho_c"), S.rho_c_expr())),
        ("chi post-LN ReLU", sp.Eq(sp.Symbol(r"\chi"), S.chi_expr("post-ln", "relu"))),
        ("alpha_SA linear", sp.Eq(sp.Symbol(r"\alpha_{SA}^2"), S.alpha_sa_linear_expr("relu"))),
        ("pre-LN exponent", sp.Eq(sp.Symbol(r"\gamma"), gamma)),
    ])
