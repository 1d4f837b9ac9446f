"""Certified boundary points of trainability diagrams (ball arithmetic, python-flint arb).

What is certified. For the T -> infinity, d -> infinity block map of a block with a
closed-form activation (relu, erf, linear, gelu), the zone indicators

    g_rank(beta, alpha_SA)    = (1 - rho_L)/(1 - rho_0) - threshold_rank,
    g_entropy(beta, alpha_SA) = mean_{l < L} Y2_l - threshold_entropy

are continuous (Y2 = max(0, 1 - beta_c/beta) is continuous across the REM switch).
A boundary value x* (alpha_SA at fixed beta for "rank", beta at fixed alpha_SA for
"entropy") is certified to lie in [lo, hi] when the whole L-layer iteration,
evaluated in arb ball arithmetic from the exact decimal inputs, gives indicator
balls of certainly opposite strict signs at lo and at hi; by the intermediate
value theorem the level set crosses the segment. Every Piecewise branch choice is
itself certified (the ball of beta^2 q (q - p) - 2 must lie on one side of 0);
if any ball straddles a decision or leaves a function's domain, the point is
reported as not certified rather than guessed. Trust rests on FLINT/Arb's
rigorous error bounds and on the SymPy expression of the map; finite-T maps and
quadrature kernels are not covered.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import sympy as sp

from ..core import validate
from ..core.architecture import Architecture
from ..theory.blocks import BlockMap, block_map
from .zones import thresholds_from

CERTIFIABLE_ACTIVATIONS = ("relu", "erf", "linear", "gelu")


class Uncertain(ArithmeticError):
    """A ball straddles a branch decision or leaves a function's domain."""


@dataclass(frozen=True)
class Certificate:
    """A boundary value enclosed in [lo, hi], with the indicator balls at both ends."""

    kind: str
    fixed: str
    lo: str
    hi: str
    g_lo: str
    g_hi: str
    certified: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _arb():
    try:
        import flint
    except ImportError:  # pragma: no cover - optional extra
        raise validate.InputError("certification needs python-flint: pip install 'symsig[cert]'") from None
    return flint


@cache
def _program(bm: BlockMap) -> tuple[tuple[tuple[sp.Symbol, sp.Expr], ...], tuple[sp.Expr, ...]]:
    """Common-subexpression form of (q', p', Y2): evaluated once per layer, no blow-up."""
    replacements, reduced = sp.cse(list(bm.exprs))
    return tuple(replacements), tuple(reduced)


def _eval(expr: sp.Expr, env: dict[sp.Symbol, Any], flint: Any) -> Any:
    """Evaluate a SymPy expression in arb balls (exact rationals, rigorous functions)."""
    arb = flint.arb
    if expr.is_Symbol:
        return env[expr]
    if expr.is_Integer:
        return arb(int(expr))
    if expr.is_Rational:
        return arb(int(expr.p)) / int(expr.q)
    if expr is sp.pi:
        return arb.pi()
    if expr.is_Add:
        out = arb(0)
        for a in expr.args:
            out += _eval(a, env, flint)
        return out
    if expr.is_Mul:
        out = arb(1)
        for a in expr.args:
            out *= _eval(a, env, flint)
        return out
    if expr.is_Pow:
        base, e = _eval(expr.base, env, flint), expr.exp
        if e.is_Integer:
            return base ** int(e)
        if e.is_Rational and e.q == 2:
            if not base > 0 and not base == 0:
                raise Uncertain("square root of a ball that is not certainly >= 0")
            root = base.sqrt() if base > 0 else arb(0)
            return root ** int(e.p)
        raise Uncertain(f"unsupported power {expr}")
    if isinstance(expr, sp.acos | sp.asin):
        x = _eval(expr.args[0], env, flint)
        if not (x >= -1 and x <= 1):
            raise Uncertain(f"{expr.func.__name__} argument not certainly in [-1, 1]")
        return x.acos() if isinstance(expr, sp.acos) else x.asin()
    if isinstance(expr, sp.Piecewise):
        for branch, cond in expr.args:
            if cond is sp.true:
                return _eval(branch, env, flint)
            d = _eval(cond.lhs - cond.rhs, env, flint)
            strict = isinstance(cond, sp.StrictGreaterThan | sp.StrictLessThan)
            positive_side = isinstance(cond, sp.StrictGreaterThan | sp.GreaterThan)
            holds = (d > 0 if strict else d >= 0) if positive_side else (d < 0 if strict else d <= 0)
            fails = (d <= 0 if strict else d < 0) if positive_side else (d >= 0 if strict else d > 0)
            if holds:
                return _eval(branch, env, flint)
            if not fails:
                raise Uncertain(f"branch condition {cond} undecided")
        raise Uncertain("no Piecewise branch applies")
    raise Uncertain(f"cannot evaluate {expr.func.__name__} in ball arithmetic")


def check_certifiable(arch: Architecture) -> None:
    """Raise InputError unless the architecture's map is one this module can certify."""
    _arb()
    if arch.finite_t or arch.activation not in CERTIFIABLE_ACTIVATIONS:
        raise validate.InputError(
            f"certification covers T -> infinity maps with activation in {', '.join(CERTIFIABLE_ACTIVATIONS)}"
        )


def indicators_arb(arch: Architecture, depth: int, rho0: str, q0: str, thresholds: dict[str, Any], prec: int):
    """(g_rank, g_entropy) as arb balls, iterating the block map ``depth`` times."""
    flint = _arb()
    check_certifiable(arch)
    bm = block_map(arch.block, arch.activation, False)
    replacements, (q_next, p_next, y2) = _program(bm)
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        arb = flint.arb
        params = {s: arb(str(v)) for s, v in zip(bm.args[2:], arch.params())}
        q, p = arb(str(q0)), arb(str(rho0)) * arb(str(q0))
        y2_sum = arb(0)
        for _ in range(depth):
            env = dict(params) | {bm.args[0]: q, bm.args[1]: p}
            for sym, sub in replacements:
                env[sym] = _eval(sub, env, flint)
            q, p, y = (_eval(e, env, flint) for e in (q_next, p_next, y2))
            y2_sum += y
        rho_l = p / q
        g_rank = (1 - rho_l) / (1 - arb(str(rho0))) - arb(str(thresholds["rank"]))
        g_entropy = y2_sum / depth - arb(str(thresholds["entropy"]))
        return g_rank, g_entropy
    finally:
        flint.ctx.prec = old


def certify_boundary(
    kind: str,
    *,
    fixed: Any,
    lo: Any,
    hi: Any,
    depth: int,
    rho0: Any = "0.3",
    q0: Any = 1,
    thresholds: dict[str, Any] | None = None,
    prec: int = 256,
    **architecture: Any,
) -> Certificate:
    """Certify that the ``kind`` boundary crosses [lo, hi] (module docstring)."""
    validate.choice("boundary", kind, ("rank", "entropy"))
    thr = thresholds_from(thresholds)
    base = Architecture(**architecture).to_dict()
    which = 0 if kind == "rank" else 1
    balls = []
    try:
        for x in (lo, hi):
            point = {"beta": fixed, "alpha_sa": x} if kind == "rank" else {"beta": x, "alpha_sa": fixed}
            arch = Architecture(**(base | {k: str(v) for k, v in point.items()}))
            balls.append(indicators_arb(arch, depth, str(rho0), str(q0), thr, prec)[which])
    except Uncertain as exc:
        return Certificate(kind, str(fixed), str(lo), str(hi), "", "", False, str(exc))
    g_lo, g_hi = balls
    opposite = (g_lo < 0 and g_hi > 0) or (g_lo > 0 and g_hi < 0)
    reason = "indicator certainly changes sign" if opposite else "signs not certainly opposite"
    return Certificate(kind, str(fixed), str(lo), str(hi), g_lo.str(10), g_hi.str(10), bool(opposite), reason)
