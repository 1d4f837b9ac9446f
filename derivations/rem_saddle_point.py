"""Derivation: the REM free energy, beta_c, the Parisi parameter and the PD moments.

Assumptions (docs/theory.md §3): one attention row is a Boltzmann distribution
over T = e^N states with iid Gaussian energies E_s, Var E_s = beta^2 N v where
v = q (q - p) is the variance of the key-dependent part of the logits per log T
(the part common to all keys cancels in the softmax). N -> infinity.

Run: python derivations/rem_saddle_point.py [out.tex]
"""
from __future__ import annotations

import sympy as sp

from _common import prove_equal, write_latex
from symsig.theory import rem
from symsig.theory.symbols import beta, e, m, p, q, v

# Step 1. Number of states with energy density e: exp(N s(e)), s(e) = 1 - e^2/(2 v)
# (Gaussian large deviations: T * P(E/N ~ e) = exp(N (1 - e^2 / (2 v)))).
s = 1 - e**2 / (2 * v)
prove_equal("entropy density", s, rem.entropy_density())

# Step 2. Laplace: (1/N) log Z -> max over s(e) >= 0 of s(e) + beta e.
e_star = sp.solve(sp.diff(s + beta * e, e), e)[0]  # stationary point
e_max = sp.sqrt(2 * v)  # s(e_max) = 0, the largest energy present
assert sp.simplify(s.subs(e, e_max)) == 0
lib_star, lib_max = rem.saddle_point()
prove_equal("saddle point e* = beta v", e_star, lib_star)
prove_equal("edge e_max = sqrt(2 v)", e_max, lib_max)

phi_liquid = sp.expand((s + beta * e).subs(e, e_star))
phi_frozen = (s + beta * e).subs(e, e_max)
lib_phi = rem.free_energy()
prove_equal("phi (liquid) = 1 + beta^2 v / 2", phi_liquid, lib_phi.args[0][0])
prove_equal("phi (frozen) = beta sqrt(2 v)", phi_frozen, lib_phi.args[1][0])

# Step 3. Freezing: the saddle point leaves the support when s(e*) = 0.
beta_c_v = [r for r in sp.solve(sp.Eq(s.subs(e, e_star), 0), beta) if r.subs(v, 1) > 0][0]
prove_equal("beta_c = sqrt(2 / v)", beta_c_v, rem.beta_c_v())
beta_c = beta_c_v.subs(v, q * (q - p))
prove_equal("beta_c(q, p) = sqrt(2 / (q (q - p)))", beta_c, sp.sqrt(2 / (q * (q - p))))
prove_equal("library beta_c(q, p)", beta_c, rem.beta_c())
# phi and phi' are continuous at beta_c while phi'' jumps from v (liquid) to 0 (frozen):
# a second-order transition in beta
assert sp.simplify((phi_liquid - phi_frozen).subs(beta, beta_c_v)) == 0
assert sp.simplify(sp.diff(phi_liquid - phi_frozen, beta).subs(beta, beta_c_v)) == 0
assert sp.simplify(sp.diff(phi_liquid, beta, 2) - v) == 0 and sp.diff(phi_frozen, beta, 2) == 0
print("  [proved] phi and phi' continuous at beta_c, phi'' jumps from v to 0 (second order)")

# Step 4. Frozen phase: near e_max the states form a Poisson process with density
# exp(theta x), theta = |s'(e_max)|; weights e^{beta E} are then PD(m) with m = theta / beta.
theta = -sp.diff(s, e).subs(e, e_max)
prove_equal("theta = |s'(e_max)| = beta_c", theta, beta_c_v)
prove_equal("m = beta_c / beta", (theta / beta).subs(v, q * (q - p)), rem.parisi_m_frozen())

# Step 5. PD(m, 0) moments by Campbell's formula. Points xi_i with intensity
# C xi^(-1-m) d xi; Z = sum xi_i; w_i = xi_i / Z; 1/Z^K = int t^(K-1) e^(-tZ) dt / Gamma(K).
t, xi, C, tau = sp.symbols("t xi C tau", positive=True)


def campbell(ks: tuple[int, ...], m_val: sp.Rational) -> sp.Expr:
    """E[sum over distinct i_j of prod_j w_{i_j}^{k_j}] for PD(m_val, 0), Campbell's formula.

    E[e^{-tZ}] = exp(-psi(t)), psi(t) = int (1 - e^{-t xi}) nu(d xi); psi is obtained
    by integrating psi'(t) = int xi e^{-t xi} nu(d xi) from 0 (SymPy mis-evaluates
    the direct integral as divergent).
    """
    nu = C * xi ** (-1 - m_val)
    dpsi = sp.integrate(xi * sp.exp(-tau * xi) * nu, (xi, 0, sp.oo))
    psi = sp.integrate(dpsi, (tau, 0, t))
    big_k = sum(ks)
    factors = [sp.integrate(xi**k * sp.exp(-t * xi) * nu, (xi, 0, sp.oo)) for k in ks]
    integrand = t ** (big_k - 1) * sp.Mul(*factors) * sp.exp(-psi) / sp.gamma(big_k)
    u = sp.Symbol("u", positive=True)  # t = u^(1/m): the integral becomes elementary
    integrand_u = sp.simplify(integrand.subs(t, u ** (1 / m_val)) * sp.diff(u ** (1 / m_val), u))
    return sp.simplify(sp.integrate(integrand_u, (u, 0, sp.oo)))


for ks in [(2,), (3,), (4,), (2, 2)]:
    # exact spot checks at rational m (general m: the same integrals with Gamma identities)
    for m_val in (sp.Rational(1, 3), sp.Rational(3, 4)):
        derived = sp.gammasimp(campbell(ks, m_val))
        library = sp.gammasimp(rem.pd_moment(*ks).subs(m, m_val))
        assert sp.simplify(derived - library) == 0, (ks, m_val, derived, library)
    print(f"  [proved] Campbell moment {ks} at m = 1/3, 3/4")
prove_equal("E[Y2] = 1 - m", rem.y_moment_pd(2), 1 - m)
prove_equal("E[Y3] = (1 - m)(2 - m)/2", rem.y_moment_pd(3), (1 - m) * (2 - m) / 2)
prove_equal("E[Y2^2] = (1 - m)(3 - 2m)/3", rem.y2_squared_pd(), (1 - m) * (3 - 2 * m) / 3)
prove_equal("rho_c = 1 - 2 / (beta^2 q^2)", rem.rho_c(), 1 - 2 / (beta**2 * q**2))

if __name__ == "__main__":
    write_latex(
        [
            ("entropy density", sp.Eq(sp.Symbol("s(e)"), s)),
            ("free energy", sp.Eq(sp.Symbol(r"\phi(\beta)"), lib_phi)),
            ("critical inverse temperature", sp.Eq(sp.Symbol(r"\beta_c"), sp.sqrt(2 / (q * (q - p)), evaluate=False))),
            ("Parisi parameter", sp.Eq(m, rem.parisi_m())),
            ("IPR", sp.Eq(sp.Symbol("Y_2"), rem.y_moment(2))),
            ("E[Y2^2]", sp.Eq(sp.Symbol(r"\mathbb{E}[Y_2^2]"), rem.y2_squared_pd())),
        ]
    )
