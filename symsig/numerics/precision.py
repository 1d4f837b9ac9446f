"""Exact inputs at any precision: how user numbers become mpf, and the guard digits."""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import sympy as sp

#: Extra digits carried internally beyond the requested ones (evaluators, iterations).
GUARD_DIGITS = 20


def to_mpf(x: Any) -> mpmath.mpf:
    """Convert an input to mpf *exactly as the user wrote it*, at the current precision.

    Floats go through their shortest decimal repr (0.2 means 2/10, not the
    binary double nearest to it); strings, ints, Fractions and SymPy numbers
    are converted exactly.
    """
    if isinstance(x, mpmath.mpf):
        return +x
    if isinstance(x, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(x, (int, np.integer)):
        return mpmath.mpf(int(x))
    if isinstance(x, (float, np.floating)):
        return mpmath.mpf(repr(float(x)))
    if isinstance(x, Fraction):
        return mpmath.mpf(x.numerator) / x.denominator
    if isinstance(x, sp.Basic):
        return mpmath.mpf(sp.N(x, mpmath.mp.dps + 5))
    if isinstance(x, str):
        return mpmath.mpf(x)
    raise ValueError(f"cannot use {x!r} as a number")
