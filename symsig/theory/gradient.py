"""Gradient of the query/key weights at initialisation (Result 2 corrected, docs/theory.md §9).

Model (derived step by step in ``derivations/gradient_wq.py``): one attention
layer, width d -> infinity, tokens with Gram matrix x_t.x_s / d = p + (q - p) delta_ts,
W_Q, W_K entries N(0, sigma_a / d) with sigma_a = beta sqrt(log T), W_V entries
N(0, sigma_v2 / d), logits a_ts = (W_Q x_t).(W_K x_s) / sqrt(d), outputs
y_t = sum_s A_ts W_V x_s and loss L = (1/T) sum_t g_t . y_t with upstream gradients
g_t iid N(0, I_d). Then

    (T / (d^2 sqrt(log T))) E||dL/dW_Q||_F^2 = beta sigma_v2 q (q - p)^2 E[Y2 - 2 Y3 + Y2^2],

Y_k = sum_s A_ts^k, and the same for dL/dW_K. Under Poisson–Dirichlet PD(m, 0)
(T -> infinity) the bracket is m (1 - m) / 3.

Evaluated in :mod:`symsig.analysis.gradient`; Monte Carlo in
:mod:`symsig.simulation.gradient_mc`.
"""
from __future__ import annotations

from functools import cache

import sympy as sp

from . import rem
from .symbols import beta, m, p, q, sigma_v2

#: Moment symbols: E[Y2], E[Y3], E[Y2^2] of one attention row.
Y2, Y3, Y2SQ = sp.symbols("Y_2 Y_3 Y_2sq", nonnegative=True)


# --------------------------------------------------------------------------- symbolic
def bracket_expr() -> sp.Expr:
    """Bracket E[tr J^2] = E[Y2 - 2 Y3 + Y2^2], J = diag(A_t) - A_t A_t^T the softmax Jacobian."""
    return Y2 - 2 * Y3 + Y2SQ


def prefactor_expr() -> sp.Expr:
    """Prefactor beta sigma_v2 q (q - p)^2 of the scaled gradient."""
    return beta * sigma_v2 * q * (q - p) ** 2


def grad_wq_moments_expr() -> sp.Expr:
    """Scaled gradient in terms of the moments: beta sigma_v2 q (q - p)^2 (Y2 - 2 Y3 + Y2^2)."""
    return prefactor_expr() * bracket_expr()


@cache
def bracket_pd_m() -> sp.Expr:
    """PD(m, 0) bracket as a function of m: (1-m) - (1-m)(2-m) + (1-m)(3-2m)/3 = m (1 - m)/3."""
    subs = {Y2: rem.y_moment_pd(2), Y3: rem.y_moment_pd(3), Y2SQ: rem.y2_squared_pd()}
    return sp.factor(bracket_expr().subs(subs))


@cache
def grad_wq_pd_expr() -> sp.Piecewise:
    """Asymptotic (T -> infinity) scaled gradient, Piecewise in beta.

    beta sigma_v2 q (q - p)^2 m (1 - m) / 3 with m = beta_c / beta for beta > beta_c,
    and 0 for beta <= beta_c (m = 1).
    """
    frozen = prefactor_expr() * bracket_pd_m().subs(m, rem.parisi_m_frozen())
    return sp.Piecewise((sp.simplify(frozen), rem.frozen_condition()), (0, True))


@cache
def large_beta_limit_expr() -> sp.Expr:
    """lim_{beta -> oo} of the asymptotic scaled gradient: sigma_v2 q (q - p)^2 beta_c / 3.

    beta m (1 - m) / 3 = beta_c (1 - beta_c / beta) / 3 increases monotonically to beta_c / 3:
    the gradient saturates instead of vanishing.
    """
    frozen = grad_wq_pd_expr().args[0][0]
    return sp.simplify(sp.limit(frozen, beta, sp.oo))


def grad_wq_latex() -> str:
    """LaTeX of the result, moments form = PD form."""
    from .symbols import latex

    lhs = r"\frac{T}{d^2\sqrt{\log T}}\,\mathbb{E}\,\|\partial L/\partial W_Q\|_F^2"
    moments = latex(prefactor_expr()) + r"\,\mathbb{E}\left[Y_2 - 2Y_3 + Y_2^2\right]"
    return f"{lhs} = {moments} \\xrightarrow{{T\\to\\infty}} {latex(prefactor_expr())}\\left({latex(bracket_pd_m())}\\right)"


@cache
def vanishing_beta_pd_expr() -> sp.Expr:
    """(beta*(thr), thr): the frozen-phase formula = thr solved for beta (the unique root above beta_c)."""
    thr = sp.Symbol("thr", positive=True)
    frozen = grad_wq_pd_expr().args[0][0]
    (sol,) = sp.solve(sp.Eq(frozen, thr), beta)
    return sp.simplify(sol), thr
