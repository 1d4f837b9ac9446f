"""Zones of a trainability diagram: thresholds and classification (docs/theory.md §7.2-7.3).

* ``"entropy"`` (entropy collapse): mean over the L attentions of Y2 > thresholds["entropy"]
  (default 0.1: attention concentrated on O(1) tokens). Takes precedence: a larger
  residual does not unfreeze the attention.
* ``"rank"`` (rank collapse): 1 - rho_L < thresholds["rank"] * (1 - rho0) (default 0.01:
  less than 1% of the initial token diversity survives).
* ``"vanishing"`` (optional, off by default): otherwise trainable points whose first
  attention layer's scaled query gradient is below thresholds["gradient"].
* ``"trainable"`` otherwise.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import validate

DEFAULT_THRESHOLDS: dict[str, float] = {"rank": 0.01, "entropy": 0.1}
ZONES = ("rank", "entropy", "vanishing", "trainable")
#: Optional threshold (off by default): the zone "vanishing" marks otherwise trainable
#: points where the first attention layer's scaled query gradient
#: (T/(d^2 sqrt(log T))) E||dL/dW_Q||^2 (symsig.gradients, Result 2 corrected) at
#: (q0, p0 = rho0 q0) is below it. Asymptotically it is 0 for beta <= beta_c(rho0);
#: with seq_len it is the exact finite-T value.
OPTIONAL_THRESHOLDS = ("gradient",)


def thresholds_from(user: dict[str, Any] | None) -> dict[str, float]:
    """The default thresholds updated by the user's (validated: known names, positive values)."""
    out = dict(DEFAULT_THRESHOLDS)
    for key, value in (user or {}).items():
        if key not in out and key not in OPTIONAL_THRESHOLDS:
            raise validate.InputError(f"unknown threshold {key!r}; choose from rank, entropy, gradient")
        out[key] = validate.positive(f"threshold {key}", value)
    return out


def classify(
    rho_l: np.ndarray, mean_y2: np.ndarray, rho0: float, thresholds: dict[str, float], grad: np.ndarray | None = None
) -> np.ndarray:
    """Zone labels from rho_L and mean Y2 (see module docstring for the rule).

    With ``grad`` (the scaled first-layer gradient per grid point) and a "gradient"
    threshold, trainable points below it become "vanishing".
    """
    zone = np.full(rho_l.shape, "trainable", dtype=object)
    if grad is not None and "gradient" in thresholds:
        zone[np.broadcast_to(grad, rho_l.shape) < thresholds["gradient"]] = "vanishing"
    zone[(1 - rho_l) < thresholds["rank"] * (1 - rho0)] = "rank"
    zone[mean_y2 > thresholds["entropy"]] = "entropy"
    return zone
