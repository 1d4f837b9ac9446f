"""Closed-form critical conditions of deep stacks (docs/theory.md §8).

Everything here is *derived* from the composed block maps of
:mod:`symsig.theory.blocks` (never typed in) and cached on disk with ``@derived``;
``derivations/critical_conditions.py`` replays the derivation with assertions.

* ``rho_c = 1 - 2/beta^2``: below it the attention (which reads q = 1) is frozen.
* ``chi``: slope of the post-LN cosine map rho -> rho' at its fixed point rho = 1,
  one-sided: 1 - rho' = chi (1 - rho) + O((1 - rho)^(3/2)) for ReLU (the arc-cosine
  kernel has a sqrt(1 - c^2) term; its first derivative is continuous at c = 1,
  its second is not), + O((1 - rho)^2) for smooth activations.
  Post-LN ReLU: chi = chi_att chi_mlp with chi_att = a_SA^2/(s_v + s_b + a_SA^2),
  chi_mlp = (s_w^2/2 + a_MLP^2)/(s_w (s_w + s_b)/2 + s_b + a_MLP^2).
* ``xi = -1/log chi``: depth scale of the exponential approach to rank collapse.
* Residual needed to keep 1 - rho_L >= eps (1 - rho_0) over L layers (linearised):
  a_SA^2 >= (s_v + s_b) k/(1 - k), k = eps^(1/L)/chi_mlp (no solution when
  k >= 1, i.e. L >= log(eps)/log(chi_mlp): the MLP alone then collapses the tokens).
* Pre-LN with a_SA = a_MLP = 1: q grows linearly (q_l ~ A l), the gap q - p by
  B (1 - rho) per block, so 1 - rho_l ~ C l^(-gamma), gamma = 1 - B/A (a power
  law, not an exponential). ReLU: A = s_v + 2 s_b + s_w (s_w + s_b)/2, B = s_w^2/2.

Activations without closed forms (tanh, GELU) and finite T get the same slope
numerically (:func:`symsig.analysis.conditions.chi_numeric`).
"""
from __future__ import annotations

from typing import Any

import sympy as sp

from ..core import validate
from . import rem
from .blocks import block_map
from .cache import derived
from .symbols import PARAMS, alpha_mlp, alpha_sa, p, q

RHO = sp.Symbol("rho", real=True)
EPS = sp.Symbol("epsilon", positive=True)
DEPTH = sp.Symbol("L", positive=True, integer=True)
#: Post-LN-type blocks: q = 1 after every block, so rho -> rho' is a closed 1-D map.
POST_LN = ("post-ln", "gc-post-ln")
PRE_LN = ("pre-ln", "gc-pre-ln")
CLOSED = ("relu", "erf", "linear")
# Positive twins of the parameters: lets SymPy combine sqrt(x/y^2) = sqrt(x)/y, which
# the cancellation of the ReLU kernel's singular terms needs. Results are continuous
# in the parameters, so they hold on the closure (s_b = 0, a = 0) too.
_POS = {s: sp.Symbol(s.name, positive=True) for s in PARAMS}
_UNPOS = {v: k for k, v in _POS.items()}


def branch_at(expr: sp.Expr, var: sp.Symbol, value: sp.Expr) -> sp.Expr:
    """Replace every Piecewise by the branch selected when ``var`` -> ``value``.

    Used at rank collapse (rho -> 1), where beta_c -> infinity and the REM
    condition beta^2 q (q - p) > 2 is false for every beta: a neighbourhood of the
    fixed point lies in one branch, so one-sided limits may be taken there.
    """

    def pick(*args: tuple[sp.Expr, Any]) -> sp.Expr:
        for branch, cond in args:
            at = sp.simplify(sp.sympify(cond).subs(var, value))
            if at == sp.true:
                return branch
            if at != sp.false:
                raise ValueError(f"cannot decide {cond} at {var} = {value}")
        raise ValueError("no Piecewise branch applies")

    return expr.replace(lambda x: isinstance(x, sp.Piecewise), lambda x: pick(*x.args))


def _tidy_sqrt(expr: sp.Expr) -> sp.Expr:
    """Factor square-root arguments and denest them (positive symbols): exposes cancellations."""
    expr = sp.powdenest(expr, force=False)
    return expr.replace(
        lambda x: x.is_Pow and x.exp.is_Rational and x.exp.q == 2,
        lambda x: sp.powdenest(sp.Pow(sp.factor(sp.cancel(x.base)), x.exp)),
    )


def rho_c_expr() -> sp.Expr:
    """rho_c(beta) = 1 - 2/beta^2: rem.rho_c() at q = 1 (the attention of a post-LN block reads LN output)."""
    return rem.rho_c().subs(q, 1)


def _check_closed(block: str, activation: str, blocks: tuple[str, ...]) -> None:
    validate.choice("block", block, blocks)
    validate.choice("activation", activation, CLOSED)


@derived
def chi_expr(block: str = "post-ln", activation: str = "relu") -> sp.Expr:
    """chi = lim_{rho -> 1-} d rho'/d rho of the block's cosine map at q = 1 (post-LN types).

    Derivation: take the Piecewise branch valid near rho = 1 (attention not frozen),
    differentiate, put rho = 1 - eps, simplify with positive parameters (the
    -c/sqrt(1-c^2) terms of the ReLU kernel cancel) and set eps = 0. The limit of
    the derivative equals the one-sided derivative (mean value theorem).
    """
    _check_closed(block, activation, POST_LN)
    r = branch_at(block_map(block, activation).rho_map(), RHO, sp.Integer(1)).xreplace(_POS)
    slope = sp.simplify(_tidy_sqrt(sp.diff(r, RHO).subs(RHO, 1 - EPS)))
    return sp.factor(sp.simplify(slope.subs(EPS, 0))).xreplace(_UNPOS)


@derived
def chi_factors(activation: str = "relu") -> tuple[sp.Expr, sp.Expr]:
    """(chi_att, chi_mlp) of post-LN: chi_mlp = lim_{a_SA -> oo} chi, chi_att = chi / chi_mlp."""
    chi = chi_expr("post-ln", activation)
    chi_mlp = sp.factor(sp.limit(chi.xreplace(_POS), _POS[alpha_sa], sp.oo)).xreplace(_UNPOS)
    return sp.factor(sp.simplify(chi / chi_mlp)), chi_mlp


def depth_scale_expr(block: str = "post-ln", activation: str = "relu") -> sp.Expr:
    """xi = -1/log(chi): 1 - rho_l ~ exp(-l/xi) near rank collapse."""
    return -1 / sp.log(chi_expr(block, activation))


@derived
def alpha_sa_linear_expr(activation: str = "relu") -> sp.Expr:
    """Smallest a_SA^2 with chi^L >= eps (linearised post-LN map): solves chi(a_SA) = eps^(1/L).

    Equals (s_v + s_b) k/(1 - k) with k = eps^(1/L)/chi_mlp (ReLU; proved in the
    derivation script); meaningful only when k < 1. ReLU and linear only (for erf
    chi is not rational in a_SA^2).
    """
    validate.choice("activation", activation, ("relu", "linear"))
    a2 = sp.Symbol("a2", positive=True)
    chi = chi_expr("post-ln", activation).subs(alpha_sa**2, a2)
    (sol,) = sp.solve(sp.Eq(chi, EPS ** (1 / DEPTH)), a2)
    return sp.simplify(sol)


@derived
def preln_exponent_expr(activation: str = "relu", block: str = "pre-ln") -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(A, B, gamma) of the pre-LN power law 1 - rho_l ~ C l^(-gamma), a_SA = a_MLP = 1.

    A = lim_{rho -> 1} (q' - q): growth of q per block (branches read LN(h), so A
    does not depend on q). B = lim_{q -> oo} lim_{eps -> 0} d(gap' - gap)/d eps,
    gap = q - p = q eps. Then eps' = eps (q + B)/(q + A) + o(eps), q ~ A l, so
    eps_l ~ l^(-(A - B)/A): gamma = 1 - B/A.
    """
    _check_closed(block, activation, PRE_LN)
    bm = block_map(block, activation)
    sub = {p: q * (1 - EPS), alpha_sa: sp.Integer(1), alpha_mlp: sp.Integer(1)}
    dq, dgap = (
        branch_at(x.xreplace(sub), EPS, sp.Integer(0)).xreplace(_POS)
        for x in (bm.q_next - q, bm.q_next - bm.p_next - q * EPS)
    )
    a = sp.simplify(dq.subs(EPS, 0))
    b_q = sp.simplify(sp.simplify(_tidy_sqrt(sp.diff(dgap, EPS))).subs(EPS, 0))
    b = sp.limit(b_q, q, sp.oo)
    return tuple(sp.factor(x).xreplace(_UNPOS) for x in (a, b, 1 - b / a))  # type: ignore[return-value]
