"""Bracketed root finding at any precision (used for boundaries and critical residuals).

mpmath's ``findroot`` stops on |f| small; a boundary point promised to N digits needs
a bracket narrower than 10^-N, so the Illinois method below keeps one.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath

from ..core import validate


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

