"""Critical conditions of deep stacks, evaluated (docs/theory.md §8).

The closed forms (chi, xi, the linearised residual rule, the pre-LN exponent) are
derived in :mod:`symsig.theory.conditions`; here they are evaluated at any precision,
and the conditions without closed forms are solved on the true iterated map:
the exact residual strength needed against rank collapse (bracketed root), the
first unfrozen layer, and the slope chi for any activation or finite T
(one-sided mpmath differentiation).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mpmath
import sympy as sp

from ..core import validate
from ..core.architecture import Architecture
from ..core.results import Result
from ..numerics import compile as numerics
from ..numerics.contexts import MpContext
from ..numerics.iterate import check_start, iterate, steps
from ..numerics.roots import bracketed_root
from ..theory.blocks import block_map
from ..theory.conditions import (CLOSED, DEPTH, EPS, POST_LN, PRE_LN, alpha_sa_linear_expr, chi_expr,
                                 preln_exponent_expr, rho_c_expr)
from ..theory.symbols import PARAMS
from .zones import g_rank

# ---------------------------------------------------------------------- numerics


def _rho_map_mp(arch: Architecture) -> Callable[[mpmath.mpf], mpmath.mpf]:
    """rho -> rho' at q = 1, evaluated with the compiled mpmath map at the current precision."""
    _d_infinity(arch)
    fn = numerics.block_mp(block_map(arch.block, arch.activation, arch.finite_t))
    params = [numerics.to_mpf(x) for x in arch.params()]

    def rho_next(rho: mpmath.mpf) -> mpmath.mpf:
        qn, pn, _ = fn(mpmath.mpf(1), rho, *params)
        return pn / qn

    return rho_next


def _d_infinity(arch: Architecture) -> None:
    if arch.width is not None:
        raise validate.InputError("width: the critical conditions are d -> infinity results (mpmath); omit width")


def chi_numeric(dps: int = 30, **architecture: Any) -> mpmath.mpf:
    """chi = one-sided derivative of rho -> rho' at rho = 1, numerically (any activation, finite T).

    mpmath.diff with direction = -1 only evaluates at rho <= 1 and raises the
    working precision internally; correct to ``dps`` digits for maps that are
    smooth at rho = 1 (erf, tanh, GELU); for ReLU the O(eps^(3/2)) term limits
    it to about half the digits: use :func:`chi_expr` there.
    """
    arch = Architecture(**architecture)
    validate.choice("block", arch.block, POST_LN)
    with mpmath.workdps(validate.integer("dps", dps, 1) + numerics.GUARD_DIGITS):
        return mpmath.diff(_rho_map_mp(arch), mpmath.mpf(1), direction=-1)


def evaluate(expr: sp.Expr, arch: Architecture, dps: int) -> mpmath.mpf:
    """Evaluate a parameter expression at ``arch`` with ``dps`` digits (compiled once, cached)."""
    _d_infinity(arch)
    fn = numerics.compile_mp(tuple(PARAMS), (expr,))
    (value,) = numerics.eval_mp(fn, arch.params(), dps)
    return value


def alpha_sa_required(
    *, depth: int, eps: Any = "0.01", rho0: Any = "0.3", dps: int = 20, **architecture: Any
) -> mpmath.mpf | None:
    """Exact a_SA with 1 - rho_L = eps (1 - rho_0) on the true iterated map (bracketed root).

    Larger a_SA keeps more diversity, so this is the smallest sufficient residual.
    Returns None when even a_SA = 1e6 does not suffice (the MLP alone collapses
    the tokens: L >= log(eps)/log(chi_mlp)). Accurate to ``dps`` digits.
    """
    depth = validate.integer("depth", depth, 1)
    validate.positive("eps", eps)
    dps = validate.integer("dps", dps, 1)
    arch = Architecture(**architecture)
    check_start(1, rho0, arch.seq_len)
    with mpmath.workdps(dps + numerics.GUARD_DIGITS):  # rho0 = 1 - 1e-30 is < 1, as a float it is not
        if not numerics.to_mpf(eps) < 1 or not numerics.to_mpf(rho0) < 1:
            raise validate.InputError("need eps < 1 and rho0 < 1")
    bm = block_map(arch.block, arch.activation, arch.finite_t)
    ctx = MpContext(dps)
    with mpmath.workdps(dps + numerics.GUARD_DIGITS):

        def g(a: mpmath.mpf) -> mpmath.mpf:  # the rank indicator of a diagram, with threshold eps
            rho_l = iterate(bm, arch.replace(alpha_sa=a).params(), 1, rho0, depth, ctx).rho[-1]
            return g_rank(ctx, rho0, rho_l, eps)

        hi = mpmath.mpf(1)
        while g(hi) < 0:
            hi *= 4
            if hi > 1e6:
                return None
        lo = hi / 4 if hi > 1 else mpmath.mpf(0)
        if g(lo) >= 0:
            return lo
        return bracketed_root(g, lo, hi, dps)


def exit_layer(*, rho0: Any = "0.3", q0: Any = 1, max_depth: int = 10000, **architecture: Any) -> int | None:
    """First layer l whose attention is not frozen (Y2_l = 0, T -> infinity), or None.

    Y2_l = 0 exactly when rho_l >= rho_c(beta) = 1 - 2/beta^2 (q = 1); None when the
    trajectory stays frozen for ``max_depth`` layers (entropy collapse throughout).
    Exact: evaluated in mpmath at 30 digits (10 + guard digits), so a strict comparison
    with 0 is meaningful.
    """
    arch = Architecture(**architecture)
    if arch.finite_t:
        raise validate.InputError("the frozen phase is sharp only as T -> infinity; omit seq_len")
    check_start(q0, rho0)
    depth = validate.integer("max_depth", max_depth, 0) + 1
    bm = block_map(arch.block, arch.activation)
    for layer, (_, _, y2) in enumerate(steps(bm, arch.params(), q0, rho0, depth, MpContext(10))):
        if y2 == 0:
            return layer
    return None


@dataclass(frozen=True)
class Conditions(Result):
    """Critical conditions of one architecture (T -> infinity); None where not applicable.

    ``rho_c``: 1 - 2/beta^2 (None when <= 0: nothing frozen, as in :func:`critical`); ``chi``, ``xi``: slope at rho = 1 and depth scale (post-LN
    blocks); ``alpha_sa_linear``/``alpha_sa_exact``: residual needed so that
    1 - rho_L >= eps (1 - rho_0) (post-LN); ``exit_layer``: first unfrozen layer;
    ``gamma``: pre-LN power-law exponent of 1 - rho_l (a_SA = a_MLP = 1).
    """

    rho_c: Any
    chi: Any
    xi: Any
    alpha_sa_linear: Any
    alpha_sa_exact: Any
    exit_layer: int | None
    gamma: Any
    dps: int | None = field(default=None, repr=False)


def conditions(
    *, depth: int = 50, eps: Any = "0.01", rho0: Any = "0.3", dps: int = 20, **architecture: Any
) -> Conditions:
    """All critical conditions of one architecture at ``dps`` digits (see :class:`Conditions`)."""
    arch = Architecture(**architecture)
    closed = arch.activation in CLOSED
    chi = xi = a_lin = a_exact = gamma = None
    if arch.block in POST_LN:
        chi = evaluate(chi_expr(arch.block, arch.activation), arch, dps) if closed else chi_numeric(dps, **architecture)
        xi = -1 / mpmath.log(chi) if 0 < chi < 1 else None
    if arch.block == "post-ln" and not arch.finite_t:
        a_exact = alpha_sa_required(depth=depth, eps=eps, rho0=rho0, dps=dps, **architecture)
        if arch.activation in ("relu", "linear"):  # chi rational in a_SA^2: solved symbolically
            sub = {EPS: sp.Rational(str(eps)), DEPTH: depth}
            a2 = evaluate(alpha_sa_linear_expr(arch.activation).xreplace(sub), arch, dps)
            a_lin = mpmath.sqrt(a2) if a2 >= 0 else None
    if arch.block in PRE_LN and closed and float(arch.alpha_sa) == float(arch.alpha_mlp) == 1:
        gamma = evaluate(preln_exponent_expr(arch.activation, arch.block)[2], arch, dps)
    rho_c = evaluate(rho_c_expr(), arch, dps)
    rho_c = rho_c if rho_c > 0 else None  # as in critical(): no rho >= 0 is frozen (beta <= sqrt(2))
    layer = None if arch.finite_t else exit_layer(rho0=rho0, max_depth=depth, **architecture)
    return Conditions(rho_c, chi, xi, a_lin, a_exact, layer, gamma, dps=dps)
