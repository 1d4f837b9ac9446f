"""Monte Carlo statistics: the one definition of a mean and its standard error."""
from __future__ import annotations

import math

import numpy as np


def mean_err(samples: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean over ``axis`` and its standard error std(ddof=1) / sqrt(n).

    The standard error needs n >= 2 independent samples; with n = 1 it is
    undefined and returned as NaN (reported as null / "n/a", never as a number).
    """
    samples = np.asarray(samples, dtype=float)
    n = samples.shape[axis]
    mean = samples.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, samples.std(axis=axis, ddof=1) / math.sqrt(n)
