"""Zones of a trainability diagram: thresholds, the two zone indicators, classification
(docs/theory.md §7.2-7.3).

The indicators are written once (:func:`indicators`) against an arithmetic context of
:mod:`symsig.numerics.contexts` and used everywhere: the numpy grid (:func:`classify`,
boundary brackets), the mpmath boundary refinement, the arb certificates and the
margins of prescriptions:

    g_rank    = log((1 - rho_L)/(1 - rho_0)) - log(thr_rank)      (< 0: rank collapse)
    g_entropy = mean_{l<L} Y2_l - thr_entropy                       (> 0: entropy collapse)

    g_rescue  = log((1 - rho_L)/(1 - rho_0)) - log(thr_rescue)    (>= 0: entropy collapse rescued)

g_rescue is g_rank at another threshold: the rescue curve is a rank-type level set.

* ``"entropy"`` (entropy collapse): g_entropy > 0, the mean IPR exceeds thresholds["entropy"],
  and, when the definition has a "rescue" threshold, g_rescue < 0: the stream keeps less than
  that fraction of its diversity (where it keeps more, a strong residual carries the tokens
  past the frozen attention and the models train: docs/training.md, "Calibrated zones").
  Takes precedence over rank (a larger residual does not unfreeze the attention).
* ``"rank"`` (rank collapse): g_rank < 0, i.e. 1 - rho_L < thresholds["rank"] (1 - rho0).
* ``"vanishing"`` (optional, off by default): otherwise trainable points whose first
  attention layer's scaled query gradient is below thresholds["gradient"].
* ``"trainable"`` otherwise.

The thresholds come from a named definition (:data:`ZONE_DEFINITIONS`), by default
``"calibrated"``: where training actually fails (docs/training.md, "Calibrated zones").
``"collapse"`` keeps the earlier convention: the collapse itself (1% of the initial
diversity left; a mean IPR of 0.1; no rescue).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import validate
from ..core.architecture import Architecture
from ..core.names import DEFAULT_ZONES, ZONE_DEFINITIONS
from ..numerics.contexts import NUMPY
from ..numerics.iterate import iterate
from ..theory.blocks import block_map

DEFAULT_THRESHOLDS: dict[str, float] = dict(ZONE_DEFINITIONS[DEFAULT_ZONES])  # a copy: callers may not change the definitions
ZONES = ("rank", "entropy", "vanishing", "trainable")
#: The thresholds that name a zone definition (:func:`definition_of`). A definition may lack
#: "rescue" (then nothing is rescued). "gradient" is optional in any definition and off by
#: default: the zone "vanishing" marks otherwise trainable points where the first attention
#: layer's scaled query gradient (T/(d^2 sqrt(log T))) E||dL/dW_Q||^2 (symsig.gradients,
#: Result 2 corrected) at (q0, p0 = rho0 q0) is below it. Asymptotically it is 0 for
#: beta <= beta_c(rho0); with seq_len it is the exact finite-T value.
DEFINING_THRESHOLDS = ("rank", "entropy", "rescue")


#: Domains of the thresholds: rank, the fraction of the initial diversity 1 - rho_0 kept, in
#: (0, 1) (1 or more asks the stack to create diversity: log(1/thr) <= 0 in every rule derived
#: from it); entropy, a mean IPR, in (0, 1]; rescue, a fraction kept, above the rank threshold
#: (at or below it the entropy zone would be empty); gradient, any positive value.
THRESHOLD_RANGES: dict[str, tuple[Any, Any, tuple[bool, bool]]] = {
    "rank": (0, 1, (False, False)), "entropy": (0, 1, (False, True)), "rescue": (0, None, (False, False)),
    "gradient": (0, None, (False, False))}


def thresholds_from(user: dict[str, Any] | str | None) -> dict[str, float]:
    """Thresholds from ``user``: None (the default definition, :data:`DEFAULT_ZONES`), the name
    of a definition in :data:`ZONE_DEFINITIONS`, or a mapping of known names to values in
    :data:`THRESHOLD_RANGES` (validated). A mapping with both "rank" and "entropy" is a whole
    definition (a rescue only if it gives one); a mapping without them updates the default one."""
    from collections.abc import Mapping

    if isinstance(user, str):
        return dict(ZONE_DEFINITIONS[validate.choice("zone definition", user, tuple(ZONE_DEFINITIONS))])
    if user is not None and not isinstance(user, Mapping):
        raise validate.InputError(f"thresholds must be a zone definition ({', '.join(ZONE_DEFINITIONS)}) or a "
                                  f"mapping such as {{'rank': 0.01}}, got {user!r}")
    whole = user is not None and "rank" in user and "entropy" in user
    out = {} if whole else dict(DEFAULT_THRESHOLDS)
    for key, value in (user or {}).items():
        if key not in THRESHOLD_RANGES:
            raise validate.InputError(f"unknown threshold {key!r}; choose from {', '.join(THRESHOLD_RANGES)}")
        lo, hi, closed = THRESHOLD_RANGES[key]
        out[key] = validate.interval(f"threshold {key}", value, lo, hi, closed=closed)
    if "rescue" in out and not out["rescue"] > out["rank"]:
        raise validate.InputError(f"threshold rescue ({out['rescue']:g}) must be above the rank threshold "
                                  f"({out['rank']:g}): otherwise nothing is ever entropy-collapsed")
    return out


def definition_of(thresholds: dict[str, float]) -> str:
    """The name of the zone definition whose defining thresholds (rank, entropy, rescue)
    ``thresholds`` are, or "custom"; :data:`symsig.core.names.ZONE_DESCRIPTIONS` says what each means."""
    mine = {k: v for k, v in thresholds.items() if k in DEFINING_THRESHOLDS}
    for name, values in ZONE_DEFINITIONS.items():
        if mine == values:
            return name
    return "custom"


def rescue_thresholds(thresholds: dict[str, Any]) -> dict[str, Any] | None:
    """The thresholds whose rank indicator is g_rescue (the rank threshold replaced by the rescue
    one), or None when the definition has no rescue."""
    return None if "rescue" not in thresholds else thresholds | {"rank": thresholds["rescue"]}


#: The level sets a boundary can be: rank and rescue are zeros in alpha_SA, entropy in beta.
LEVEL_SETS = ("rank", "entropy", "rescue")


def level_set(kind: str, thresholds: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(indicator, thresholds) whose zero is the ``kind`` curve: "rescue" is the rank indicator at
    the rescue threshold (:func:`rescue_thresholds`); "rank" and "entropy" are themselves."""
    validate.choice("boundary", kind, LEVEL_SETS)
    if kind != "rescue":
        return kind, thresholds
    rescue = rescue_thresholds(thresholds)
    if rescue is None:
        raise validate.InputError("these zones have no rescue threshold (the calibrated ones do)")
    return "rank", rescue


def g_rank(ctx: Any, rho0: Any, rho_l: Any, threshold: Any) -> Any:
    """log((1 - rho_L)/(1 - rho_0)) - log(threshold); zero on the rank boundary (docs/theory.md §7.3)."""
    with ctx.working():
        return ctx.log((1 - rho_l) / (1 - ctx.number(rho0))) - ctx.log(ctx.number(threshold))


def g_entropy(ctx: Any, mean_y2: Any, threshold: Any) -> Any:
    """mean_{l<L} Y2_l - threshold; zero on the entropy boundary (docs/theory.md §7.3)."""
    with ctx.working():
        return mean_y2 - ctx.number(threshold)


def indicators(ctx: Any, rho0: Any, rho_l: Any, mean_y2: Any, thresholds: dict[str, Any]) -> tuple[Any, Any]:
    """(g_rank, g_entropy) from rho_L and the mean IPR over the L attentions, in context ``ctx``."""
    return g_rank(ctx, rho0, rho_l, thresholds["rank"]), g_entropy(ctx, mean_y2, thresholds["entropy"])


def indicators_at(arch: Architecture, depth: int, rho0: Any, q0: Any, thresholds: dict[str, Any], ctx: Any) -> tuple[Any, Any]:
    """(g_rank, g_entropy) of one architecture: ``depth`` blocks from (q0, rho0 q0), iterated in ``ctx``."""
    bm = block_map(arch.block, arch.activation, arch.finite_t)
    it = iterate(bm, arch.params(), q0, rho0, depth, ctx)
    with ctx.working():
        rho_l = it.p[-1] / it.q[-1]
    return indicators(ctx, rho0, rho_l, it.mean_y2, thresholds)


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
    rank, entropy = indicators(NUMPY, rho0, rho_l, mean_y2, thresholds)
    zone[rank < 0] = "rank"
    rescue = rescue_thresholds(thresholds)
    if rescue is not None:
        entropy = np.where(indicators(NUMPY, rho0, rho_l, mean_y2, rescue)[0] >= 0, -1.0, entropy)
    zone[entropy > 0] = "entropy"
    return zone
