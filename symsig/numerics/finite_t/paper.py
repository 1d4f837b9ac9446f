"""The finite-T moments in the paper's variables: s2 = beta^2 log(T) q (q - p), rho = p / q (docs/theory.md §2, §4)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

from ..precision import to_mpf
from .floats import overlap_np, y2_squared_np, y_moment_np
from .inputs import check_dps, check_n
from .moments_mp import y_moments
from .overlap_mp import overlap


def logit_variance(beta: Any, q: Any, p: Any, seq_len: Any) -> Any:
    """s2 = beta^2 log(T) q (q - p), the variance of the key-dependent logits."""
    return beta**2 * (mpmath.log(seq_len) if isinstance(beta, mpmath.mpf) else np.log(seq_len)) * q * (q - p)


@dataclass(frozen=True)
class REMMoments:
    """Finite-T REM moments of one attention row: E[Y2], E[Y3], E[Y2^2]."""

    Y2: Any
    Y3: Any
    Y2sq: Any


def _mp_paper(beta, q, p, T, n, dps):
    dps = check_dps(dps)
    T = check_n(T)
    n = T if n is None else check_n(n)
    with mpmath.workdps(dps + 20):
        b, qq, pp = to_mpf(beta), to_mpf(q), to_mpf(p)
        if not b > 0:
            raise ValueError(f"beta must be > 0, got {beta!r}")
        if not qq > 0:
            raise ValueError(f"q must be > 0, got {q!r}")
        if not abs(pp) <= qq:
            raise ValueError(f"need |p| <= q, got p={p!r}, q={q!r}")
        return b * b * mpmath.log(T) * qq * (qq - pp), qq, pp, n, dps


def rem_moments(beta: Any, q: Any, p: Any, T: Any, *, n: Any = None, dps: int | None = None) -> REMMoments:
    """E[Y2], E[Y3], E[Y2^2] at s2 = beta^2 log(T) q (q - p) over n (default T) states."""
    s2, _, _, n, dps = _mp_paper(beta, q, p, T, n, dps)
    with mpmath.workdps(dps + 20):
        r = y_moments((2, 3), s2, n, dps=dps, squared=True)
        return REMMoments(r[2], r[3], r["Y2sq"])


def x_overlap(beta: Any, q: Any, p: Any, T: Any, *, n: Any = None, dps: int | None = None) -> mpmath.mpf:
    """Two-query overlap X at s2 = beta^2 log(T) q (q - p), rho = p / q."""
    s2, qq, pp, n, dps = _mp_paper(beta, q, p, T, n, dps)
    with mpmath.workdps(dps + 20):
        return overlap(s2, pp / qq, n, dps=dps)


def _np_paper(beta, q, p, T, n):
    beta, q, p, T = (np.asarray(a, float) for a in (beta, q, p, T))
    if np.any(~(beta > 0)) or np.any(~(q > 0)) or np.any(~(np.abs(p) <= q)):
        raise ValueError("need beta > 0, q > 0 and |p| <= q")
    if np.any(T < 1):
        raise ValueError("sequence length T must be >= 1")
    return beta**2 * np.log(T) * q * (q - p), p / q, (T if n is None else np.asarray(n, float))


def rem_moments_np(beta: Any, q: Any, p: Any, T: Any, *, n: Any = None) -> REMMoments:
    """Float, vectorised :func:`rem_moments` (arrays broadcast together)."""
    s2, _, nn = _np_paper(beta, q, p, T, n)
    return REMMoments(y_moment_np(2, s2, nn), y_moment_np(3, s2, nn), y2_squared_np(s2, nn))


def x_overlap_np(beta: Any, q: Any, p: Any, T: Any, *, n: Any = None) -> np.ndarray | float:
    """Float :func:`x_overlap` (see :func:`.floats.overlap_np`)."""
    s2, rho, nn = _np_paper(beta, q, p, T, n)
    return overlap_np(s2, rho, nn)
