"""Certified boundary points of trainability diagrams (ball arithmetic, python-flint arb).

What is certified. For the T -> infinity, d -> infinity block map of a block with a
closed-form activation (relu, erf, linear, gelu), the zone indicators of
:mod:`symsig.analysis.zones` (docs/theory.md §7.3),

    g_rank(beta, alpha_SA)    = log((1 - rho_L)/(1 - rho_0)) - log(threshold_rank),
    g_entropy(beta, alpha_SA) = mean_{l < L} Y2_l - threshold_entropy,

are continuous (Y2 = max(0, 1 - beta_c/beta) is continuous across the REM switch).
A boundary value x* (alpha_SA at fixed beta for "rank", beta at fixed alpha_SA for
"entropy") is certified to lie in [lo, hi] when the whole L-layer iteration
(:func:`symsig.numerics.iterate.iterate` in the arb context of
:mod:`symsig.numerics.contexts`), evaluated in ball arithmetic from the exact decimal
inputs, gives indicator balls of certainly opposite strict signs at lo and at hi; by
the intermediate value theorem the level set crosses the segment. Every Piecewise
branch choice is itself certified, and a ball leaving a function's domain (a square
root, acos, a denominator that may be 0, the log of a ball not certainly > 0) makes the
point "not certified" rather than guessed (:mod:`symsig.numerics.balls`). Trust rests
on FLINT/Arb's rigorous error bounds and on the SymPy expression of the map.

Finite T (``seq_len``) is covered too: the moments E[Y2] and X of the map are enclosed by
quadratures with rigorous error bounds (:mod:`symsig.numerics.finite_t_balls`,
:mod:`symsig.numerics.overlap_balls`). They aim at :func:`quadrature_digits` digits, the
relative width of the segment plus FINITE_T_GUARD: their error, carried through the L
layers, must stay below the change of the indicator across the segment (if it does not,
the point is "not certified", never wrongly certified). Quadrature kernels (activations
without a closed form) are not covered.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..core import validate
from ..core.architecture import Architecture
from ..numerics.balls import Uncertain, flint
from ..numerics.contexts import ArbContext
from ..numerics.iterate import check_start
from .zones import indicators_at, level_set, thresholds_from

CERTIFIABLE_ACTIVATIONS = ("relu", "erf", "linear", "gelu")
#: Digits beyond the segment's that the finite-T quadratures aim at.
FINITE_T_GUARD = 6

__all__ = ["CERTIFIABLE_ACTIVATIONS", "FINITE_T_GUARD", "Certificate", "Uncertain", "certify_boundary",
           "check_certifiable", "indicators_arb", "quadrature_digits"]


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


def check_certifiable(arch: Architecture) -> None:
    """Raise InputError unless the architecture's map is one this module can certify."""
    flint()
    if arch.activation not in CERTIFIABLE_ACTIVATIONS:
        raise validate.InputError(
            f"certification covers maps (T -> infinity or finite seq_len) with activation in "
            f"{', '.join(CERTIFIABLE_ACTIVATIONS)}"
        )


def quadrature_digits(lo: Any, hi: Any) -> float:
    """Digits of the finite-T quadratures for the segment [lo, hi]: -log10 of its relative width + FINITE_T_GUARD."""
    a, b = (float(v if isinstance(v, Fraction) else Fraction(str(v))) for v in (lo, hi))
    width = abs(b - a) / max(1.0, abs(a), abs(b))
    return -math.log10(max(width, 1e-300)) + FINITE_T_GUARD


def indicators_arb(arch: Architecture, depth: int, rho0: Any, q0: Any, thresholds: dict[str, Any], prec: int,
                   digits: float | None = None) -> tuple[Any, Any]:
    """(g_rank, g_entropy) as arb balls at ``prec`` bits, iterating the block map ``depth`` times
    (finite-T moments to ``digits`` digits, default the working precision)."""
    check_certifiable(arch)
    return indicators_at(arch, depth, rho0, q0, thresholds, ArbContext(prec, digits))


def certify_boundary(
    kind: str,
    *,
    fixed: Any,
    lo: Any,
    hi: Any,
    depth: int,
    rho0: Any = "0.3",
    q0: Any = 1,
    thresholds: dict[str, Any] | str | None = None,
    prec: int = 256,
    **architecture: Any,
) -> Certificate:
    """Certify that the ``kind`` boundary crosses [lo, hi] (module docstring)."""
    curve = kind
    kind, thr = level_set(kind, thresholds_from(thresholds))  # "rescue": the rank indicator at the rescue threshold
    base = Architecture(**architecture).to_dict()
    depth = validate.integer("depth", depth, 1)
    check_start(q0, rho0)
    which = 0 if kind == "rank" else 1
    digits = quadrature_digits(lo, hi) if Architecture(**base).finite_t else None
    balls = []
    try:
        for x in (lo, hi):
            point = {"beta": fixed, "alpha_sa": x} if kind == "rank" else {"beta": x, "alpha_sa": fixed}
            arch = Architecture(**(base | {k: v if isinstance(v, Fraction) else str(v) for k, v in point.items()}))
            balls.append(indicators_arb(arch, depth, rho0, q0, thr, prec, digits)[which])
    except Uncertain as exc:
        return Certificate(curve, str(fixed), str(lo), str(hi), "", "", False, str(exc))
    g_lo, g_hi = balls
    opposite = (g_lo < 0 and g_hi > 0) or (g_lo > 0 and g_hi < 0)
    reason = "indicator certainly changes sign" if opposite else "signs not certainly opposite"
    return Certificate(curve, str(fixed), str(lo), str(hi), g_lo.str(10), g_hi.str(10), bool(opposite), reason)
