"""Input checks shared by the finite-T functions (scalars for mpmath, arrays for numpy)."""
from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_DPS = 15
GUARD = 10  #: extra working digits in the mpmath functions


def check_k(k: Any) -> int:
    if isinstance(k, bool) or int(k) != k or int(k) < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    return int(k)


def check_n(n: Any) -> int:
    if isinstance(n, bool) or int(n) != n or int(n) < 1:
        raise ValueError(f"n (number of states) must be an integer >= 1, got {n!r}")
    return int(n)


def check_s2(s2: Any) -> None:
    if not s2 >= 0:
        raise ValueError(f"logit variance s2 must be >= 0, got {s2!r}")


def check_rho(rho: Any) -> None:
    if not -1 <= rho <= 1:
        raise ValueError(f"correlation rho must be in [-1, 1], got {rho!r}")


def check_dps(dps: int | None) -> int:
    dps = DEFAULT_DPS if dps is None else dps
    if isinstance(dps, bool) or int(dps) != dps or not 5 <= int(dps) <= 200:
        raise ValueError(f"dps must be an integer in [5, 200], got {dps!r}")
    return int(dps)


def flat_s2_n(s2: Any, n: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """(s2, n, common shape): s2 broadcast and flattened; n likewise, or of shape (1,) when it is one
    number (a grid of one T: it broadcasts in every use). Checks s2 >= 0 finite, n integer >= 1."""
    s2a, na = np.asarray(s2, dtype=float), np.asarray(n, dtype=float)
    shape = np.broadcast_shapes(s2a.shape, na.shape)
    if np.any(~(s2a >= 0)) or np.any(~np.isfinite(s2a)):
        raise ValueError("logit variance s2 must be finite and >= 0")
    if np.any(~(na >= 1)) or np.any(na != np.floor(na)) or np.any(~np.isfinite(na)):
        raise ValueError("n (number of states) must be an integer >= 1")
    nf = na.reshape(1) if na.size == 1 else np.broadcast_to(na, shape).ravel()
    return np.broadcast_to(s2a, shape).ravel(), nf, shape


def flat_s2_rho_n(s2: Any, rho: Any, n: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
    """(s2, rho, n, common shape) as in :func:`flat_s2_n` (rho like s2); checks as there and |rho| <= 1."""
    s2a, ra = np.broadcast_arrays(np.asarray(s2, float), np.asarray(rho, float))
    na = np.asarray(n, float)
    s2f, nf, shape = flat_s2_n(np.broadcast_to(s2a, np.broadcast_shapes(s2a.shape, na.shape)), na)
    if np.any(~((ra >= -1) & (ra <= 1))):
        raise ValueError("correlation rho must be in [-1, 1]")
    return s2f, np.broadcast_to(ra, shape).ravel(), nf, shape


def n_at(n: np.ndarray, where: np.ndarray) -> np.ndarray:
    """n at the points ``where`` (index or mask array); an n of shape (1,) (one n for all) stays so."""
    return n if n.size == 1 else n[where]


def n_per_point(n: np.ndarray, size: int) -> np.ndarray:
    """n as an array of ``size`` points (for the direct method, which reads n point by point)."""
    return np.broadcast_to(n, (size,)) if n.size == 1 else n


def unflatten(out: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | float:
    out = out.reshape(shape)
    return float(out) if out.ndim == 0 else out
