"""Closed-form critical conditions of deep stacks (THEORY.md section 6).

Everything symbolic here is *derived* from the composed block maps of
:mod:`symsig.blocks` (never typed in) and cached on disk with ``@derived``;
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
numerically (:func:`chi_numeric`, one-sided mpmath differentiation).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mpmath
import sympy as sp

from . import numerics, rem, validate
from .architecture import Architecture
from .blocks import block_map
from .derived import derived
from .results import Result
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


# ---------------------------------------------------------------------- numerics


def bracketed_root(f: Callable[[mpmath.mpf], mpmath.mpf], a: Any, b: Any, digits: int) -> mpmath.mpf:
    """Root of a continuous f in [a, b] (sign change required) by the Illinois method.

    Stops when the bracket is narrower than 10^-digits * max(1, |x|), so the
    returned midpoint is within half that of a root; the caller must evaluate f
    with more than ``digits`` correct digits. Falls back to bisection steps when
    regula falsi stalls.
    """
    a, b = mpmath.mpf(a), mpmath.mpf(b)
    fa, fb = f(a), f(b)
    if fa == 0:
        return a
    if fb == 0:
        return b
    if (fa > 0) == (fb > 0):
        raise validate.InputError(f"no sign change on [{mpmath.nstr(a, 8)}, {mpmath.nstr(b, 8)}]")
    side = 0
    for it in range(100000):
        if abs(b - a) <= mpmath.mpf(10) ** (-digits) * max(1, abs(a), abs(b)):
            return (a + b) / 2
        x = (a * fb - b * fa) / (fb - fa) if it % 4 != 3 else (a + b) / 2  # every 4th step bisects
        if not a < x < b:
            x = (a + b) / 2
        fx = f(x)
        if fx == 0:
            return x
        if (fx > 0) == (fb > 0):
            b, fb = x, fx
            if side == -1:
                fa /= 2
            side = -1
        else:
            a, fa = x, fx
            if side == 1:
                fb /= 2
            side = 1
    raise RuntimeError("root finding did not converge")  # pragma: no cover


def _rho_map_mp(arch: Architecture) -> Callable[[mpmath.mpf], mpmath.mpf]:
    """rho -> rho' at q = 1, evaluated with the compiled mpmath map at the current precision."""
    fn = block_map(arch.block, arch.activation, arch.finite_t).mpmath
    params = [numerics.to_mpf(x) for x in arch.params()]

    def rho_next(rho: mpmath.mpf) -> mpmath.mpf:
        qn, pn, _ = fn(mpmath.mpf(1), rho, *params)
        return pn / qn

    return rho_next


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
    fn = numerics.compile_mp(tuple(PARAMS), (expr,))
    (value,) = numerics.eval_mp(fn, arch.params(), dps)
    return value


def rho_l_mp(arch: Architecture, depth: int, rho0: Any, q0: Any = 1) -> tuple[mpmath.mpf, list[mpmath.mpf]]:
    """(rho_L, [Y2_0..Y2_{L-1}]) by iterating the compiled mpmath map at the current precision."""
    fn = block_map(arch.block, arch.activation, arch.finite_t).mpmath
    params = [numerics.to_mpf(x) for x in arch.params()]
    qq = numerics.to_mpf(q0)
    pp = numerics.to_mpf(rho0) * qq
    y2s = []
    for _ in range(depth):
        qq, pp, y2 = fn(qq, pp, *params)
        y2s.append(y2)
    return pp / qq, y2s


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
    validate.correlation("rho0", rho0)
    dps = validate.integer("dps", dps, 1)
    with mpmath.workdps(dps + numerics.GUARD_DIGITS):  # rho0 = 1 - 1e-30 is < 1, as a float it is not
        if not numerics.to_mpf(eps) < 1 or not numerics.to_mpf(rho0) < 1:
            raise validate.InputError("need eps < 1 and rho0 < 1")
    base = dict(Architecture(**architecture).to_dict())
    with mpmath.workdps(dps + numerics.GUARD_DIGITS):
        target = mpmath.log(numerics.to_mpf(eps))

        def g(a: mpmath.mpf) -> mpmath.mpf:
            rho_l, _ = rho_l_mp(Architecture(**(base | {"alpha_sa": a})), depth, rho0)
            gap = 1 - rho_l
            return (mpmath.log(gap / (1 - numerics.to_mpf(rho0))) if gap > 0 else -mpmath.inf) - target

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
    Exact: evaluated in mpmath at 30 digits, so a strict comparison with 0 is meaningful.
    """
    arch = Architecture(**architecture)
    if arch.finite_t:
        raise validate.InputError("the frozen phase is sharp only as T -> infinity; omit seq_len")
    fn = block_map(arch.block, arch.activation).mpmath
    with mpmath.workdps(30):
        params = [numerics.to_mpf(x) for x in arch.params()]
        qq = numerics.to_mpf(q0)
        pp = numerics.to_mpf(rho0) * qq
        for layer in range(validate.integer("max_depth", max_depth, 0) + 1):
            qn, pn, y2 = fn(qq, pp, *params)
            if y2 == 0:
                return layer
            qq, pp = qn, pn
    return None


@dataclass(frozen=True)
class Conditions(Result):
    """Critical conditions of one architecture (T -> infinity); None where not applicable.

    ``rho_c``: 1 - 2/beta^2; ``chi``, ``xi``: slope at rho = 1 and depth scale (post-LN
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
    layer = None if arch.finite_t else exit_layer(rho0=rho0, max_depth=depth, **architecture)
    return Conditions(rho_c, chi, xi, a_lin, a_exact, layer, gamma, dps=dps)
