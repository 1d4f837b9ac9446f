"""Self-attention as Derrida's Random Energy Model (docs/theory.md §3).

A row of the attention matrix is a Boltzmann distribution over T = e^N states
whose energies are Gaussian with variance beta^2 N v, v = q (q - p). Everything
here is *derived* from the microcanonical entropy density

    s(e) = 1 - e^2 / (2 v)

by SymPy (once, then cached): the free-energy saddle point, the freezing
(critical) inverse temperature beta_c, the Parisi parameter m, and the
Poisson–Dirichlet participation moments of the frozen phase. The derivation is
replayed step by step, with assertions, in ``derivations/rem_saddle_point.py``.
"""
from __future__ import annotations

from functools import cache

import sympy as sp

from .symbols import beta, e, m, p, q, v


def entropy_density() -> sp.Expr:
    """Microcanonical entropy per log T of energy density e: s(e) = 1 - e^2/(2v)."""
    return 1 - e**2 / (2 * v)


@cache
def saddle_point() -> tuple[sp.Expr, sp.Expr]:
    """Stationary point e* of s(e) + beta e and the edge e_max where s(e_max) = 0.

    Returns ``(e_star, e_max)`` = (beta v, sqrt(2 v)).
    """
    s = entropy_density()
    (e_star,) = sp.solve(sp.diff(s + beta * e, e), e)
    e_max = max(sp.solve(sp.Eq(s, 0), e), key=lambda r: r.subs(v, 1))
    return e_star, e_max


@cache
def free_energy() -> sp.Piecewise:
    """Free-energy density phi(beta) = max_{s(e) >= 0} [s(e) + beta e] as a Piecewise.

    phi = 1 + beta^2 v / 2 while the saddle point is inside the support
    (s(e*) >= 0, i.e. beta^2 v <= 2), else beta sqrt(2 v) (frozen phase).
    """
    s = entropy_density()
    e_star, e_max = saddle_point()
    condition = _beta2_v() <= 2
    return sp.Piecewise(
        (sp.simplify((s + beta * e).subs(e, e_star)), condition),
        (sp.simplify((s + beta * e).subs(e, e_max)), True),
    )


def _beta2_v() -> sp.Expr:
    """2 (1 - s(e*)) = beta^2 v: s(e*) >= 0 iff this is <= 2 (no division by v)."""
    e_star, _ = saddle_point()
    return sp.expand(2 * (1 - entropy_density().subs(e, e_star)))


@cache
def beta_c_v() -> sp.Expr:
    """Critical inverse temperature in terms of v: the beta at which s(e*) = 0, sqrt(2/v)."""
    e_star, _ = saddle_point()
    roots = sp.solve(sp.Eq(entropy_density().subs(e, e_star), 0), beta)
    (positive,) = [r for r in roots if r.subs(v, 1).is_positive]
    return positive


def energy_variance() -> sp.Expr:
    """Per-(log T) variance of the key-dependent logits: v = q (q - p)."""
    return q * (q - p)


@cache
def beta_c() -> sp.Expr:
    """Freezing inverse temperature beta_c(q, p) = sqrt(2 / (q (q - p)))."""
    return beta_c_v().subs(v, energy_variance())


@cache
def frozen_condition() -> sp.Rel:
    """Division-free form of beta > beta_c(q, p): beta^2 q (q - p) > 2."""
    # s(e*) < 0  <=>  beta^2 v > 2; written without dividing by v so that the
    # evaluators never divide by zero at q = p (rank collapse).
    return sp.StrictGreaterThan(_beta2_v().subs(v, energy_variance()), 2)


@cache
def parisi_m_frozen() -> sp.Expr:
    """Parisi parameter in the frozen phase, m = |s'(e_max)| / beta = beta_c / beta.

    Near the maximal energy the number of states within x of the edge grows as
    exp(|s'(e_max)| x): a Poisson process whose Boltzmann weights e^{beta E}
    are Poisson–Dirichlet PD(m, 0) with m = |s'(e_max)| / beta.
    """
    _, e_max = saddle_point()
    slope = -sp.diff(entropy_density(), e).subs(e, e_max)
    return sp.simplify(slope / beta).subs(v, energy_variance())


@cache
def parisi_m() -> sp.Piecewise:
    """m(beta, q, p) = 1 for beta <= beta_c, beta_c / beta above (Piecewise)."""
    return sp.Piecewise((parisi_m_frozen(), frozen_condition()), (1, True))


def pd_moment(*ks: int, m: sp.Expr = m) -> sp.Expr:
    """Poisson–Dirichlet PD(m, 0) moment E[sum over distinct i_1..i_r of prod_j w_{i_j}^{k_j}].

    Campbell's formula for the stable Poisson process gives

        Gamma(r) m^(r-1) prod_j Gamma(k_j - m) / (Gamma(K) Gamma(1 - m)^r),  K = sum k_j;

    ``pd_moment(k)`` = E[Y_k] = Gamma(k - m) / (Gamma(k) Gamma(1 - m)) and
    ``pd_moment(4) + pd_moment(2, 2)`` = E[Y_2^2]. The derivation script proves
    the formula by doing the Campbell integrals with SymPy.
    """
    if not ks or any(int(k) != k or k < 1 for k in ks):
        raise ValueError("pd_moment needs positive integer exponents")
    r, big_k = len(ks), sum(ks)
    num = sp.gamma(r) * m ** (r - 1) * sp.Mul(*[sp.gamma(k - m) for k in ks])
    return sp.gammasimp(num / (sp.gamma(big_k) * sp.gamma(1 - m) ** r))


@cache
def y_moment_pd(k: int) -> sp.Expr:
    """E[Y_k] = Gamma(k - m)/(Gamma(k) Gamma(1 - m)) as a polynomial in m (Y2 = 1 - m)."""
    return sp.factor(sp.expand_func(pd_moment(k)))


@cache
def y2_squared_pd() -> sp.Expr:
    """E[Y_2^2] = E[Y_4] + E[sum_{i != j} w_i^2 w_j^2] = (1 - m)(3 - 2m)/3."""
    return sp.factor(sp.expand_func(pd_moment(4) + pd_moment(2, 2)))


@cache
def y_moment(k: int) -> sp.Piecewise:
    """E[Y_k](beta, q, p) as T -> infinity: 0 for beta <= beta_c, PD value above."""
    frozen = y_moment_pd(k).subs(m, parisi_m_frozen())
    return sp.Piecewise((frozen, frozen_condition()), (0, True))


def rho_c() -> sp.Expr:
    """Cosine similarity below which attention at (beta, q) is frozen: 1 - 2/(beta^2 q^2).

    Solves beta = beta_c(q, q rho) for rho.
    """
    rho_ = sp.Symbol("rho", real=True)
    (sol,) = sp.solve(sp.Eq(beta_c().subs(p, q * rho_) ** 2, beta**2), rho_)
    return sp.expand(sol)
