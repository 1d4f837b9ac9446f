"""Prescriptions: where to initialise (beta, alpha_SA) for an L-layer transformer.

The recommended region is the trainable zone of :func:`symsig.diagram.diagram`
without its rescued part (the attention stays liquid: mean IPR <= thresholds["entropy"])
on beta in [0.05, beta_max], alpha_SA in [0, alpha_max] (alpha_max covers the
linearised residual needed against rank collapse, docs/theory.md §8.3). The
safest point is the trainable grid point farthest from every non-trainable
point (Euclidean distance transform) in the coordinates (beta/beta_max,
alpha_SA/alpha_max), i.e. distances measured as fractions of the scanned box;
points on the box edge count as bordering the unknown outside. Among points that tie
(within one grid step) it takes the largest alpha_SA.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ..core import validate
from ..core.architecture import Architecture
from ..core.results import Result
from .diagram import sweep
from ..numerics.contexts import NUMPY
from ..numerics.iterate import check_start
from ..core.names import PRESCRIBE_AT_T_INFINITY, ZONE_DESCRIPTIONS, ZONE_VALIDATION
from .zones import classify, definition_of, indicators, thresholds_from


@dataclass(frozen=True)
class Prescription(Result):
    """Recommended (beta, alpha_SA) for ``depth`` blocks.

    ``beta``, ``alpha_sa``: the safest point; ``region``: per scanned alpha_SA, the safe
    (trainable, liquid attention) beta interval [lo, hi] (rows without one are omitted); ``rho_L``,
    ``Y2`` (mean over layers) at the point; ``margins``: ``rank`` = g_rank =
    ln[(1 - rho_L)/(thr (1 - rho0))] and ``entropy`` = -g_entropy = thr - mean Y2, the
    zone indicators of :mod:`symsig.analysis.zones` (> 0 is safe), ``distance`` =
    normalised distance to the nearest failing grid point.
    """

    beta: float | None
    alpha_sa: float | None
    rho_L: float | None
    Y2: float | None
    margins: dict[str, float | None]
    region: list[dict[str, float]]
    thresholds: dict[str, float]
    summary: str
    depth: int
    architecture: dict[str, Any] = field(default_factory=dict)


def prescribe(
    *,
    depth: int,
    seq_len: int | None = None,
    block: str = "post-ln",
    rho0: float = 0.3,
    beta_max: float = 4.0,
    alpha_max: float | None = None,
    resolution: int = 128,
    thresholds: dict[str, float] | str | None = None,
    **architecture: Any,
) -> Prescription:
    """Recommended region and safest (beta, alpha_SA) point (module docstring for the metric)."""
    depth = validate.integer("depth", depth, 1)
    n = validate.integer("resolution", resolution, 8)
    validate.limited("grid points (resolution^2)", n * n, "grid")
    beta_max = validate.positive("beta_max", beta_max)
    arch = Architecture(block=block, seq_len=seq_len, **architecture)
    check_start(1.0, rho0, arch.seq_len)
    if validate.exact("rho0", rho0) >= 1:
        raise validate.InputError("rho0 must be < 1 (rho0 = 1 is already collapsed: nothing to prescribe)")
    rho0 = float(rho0)
    thr = thresholds_from(thresholds)
    if alpha_max is None:  # twice the large-L linearised residual (s_v + s_b) L / ln(1/thr)
        alpha_max = max(2.0, 2 * np.sqrt((float(arch.sigma_v2) + float(arch.sigma_b2)) * depth / np.log(1 / thr["rank"])))
    alpha_max = validate.positive("alpha_max", alpha_max)
    betas, alphas = np.linspace(0.05, beta_max, n), np.linspace(0.0, alpha_max, n)
    rho_l, y2 = sweep(arch, betas, alphas, depth, rho0, 1.0)
    # rescued points (frozen attention, strong residual) are trainable but not safe: the rescue was
    # measured at one learning rate and weakens with depth, so the prescription keeps the attention liquid
    ok = (classify(rho_l, y2, rho0, thr) == "trainable") & (y2 <= thr["entropy"])
    arch_dict = {k: v for k, v in arch.to_dict().items() if k not in ("beta", "alpha_sa")}
    region = [
        {"alpha_sa": float(alphas[i]), "beta_min": float(betas[row].min()), "beta_max": float(betas[row].max())}
        for i, row in ((i, ok[i]) for i in range(n))
        if row.any()
    ]
    if not ok.any():
        summary = (
            f"No trainable (beta, alpha_SA) in beta <= {beta_max:g}, alpha_SA <= {alpha_max:.3g} for {depth} "
            f"{block} blocks: the MLP/attention stack collapses the tokens; reduce depth or increase alpha_MLP "
            f"(judged by the {ZONE_DESCRIPTIONS[definition_of(thr)]})."
        )
        return Prescription(None, None, None, None, {"rank": None, "entropy": None, "distance": None}, [], thr, summary, depth, arch_dict)
    padded = np.pad(ok, 1, constant_values=False)  # outside the box counts as unknown
    dist = ndimage.distance_transform_edt(padded, sampling=(1 / (n - 1), 1 / (n - 1)))[1:-1, 1:-1]
    # the liquid band's width in beta often limits the distance, so a column of points ties; take
    # the strongest residual among them (within one grid step): at L = 12, lr 3e-3 the top of the
    # tied column left the loss plateau earlier for 5 of 6 seeds (docs/training.md, "Calibrated zones")
    tied = np.argwhere(dist >= dist.max() - 1.0 / (n - 1))
    i, j = max(tied, key=lambda ij: (ij[0], -abs(ij[1] - np.median(tied[:, 1]))))
    r, y = float(rho_l[i, j]), float(y2[i, j])
    g_rank, g_entropy = indicators(NUMPY, rho0, r, y, thr)  # the zone indicators at the point
    margins = {"rank": float(g_rank), "entropy": float(-g_entropy), "distance": float(dist[i, j])}
    b, a = float(betas[j]), float(alphas[i])
    summary = (
        f"For {depth} {block} blocks, initialise the query/key scale at beta = {b:.3g} and the attention "
        f"residual at alpha_SA = {a:.3g}. There the tokens keep {100 * (1 - r) / (1 - rho0):.1f}% of their "
        f"initial diversity after the last layer (rank-collapse limit {100 * thr['rank']:g}%) and the attention "
        f"spreads over many tokens (mean IPR {y:.3f}, limit {thr['entropy']:g}). Smaller alpha_SA risks rank "
        f"collapse; {_beta_limit(betas[ok[i]].max(), beta_max)}. Judged by the {ZONE_DESCRIPTIONS[definition_of(thr)]}. "
        f"{PRESCRIBE_AT_T_INFINITY if arch.seq_len is None else ''}{ZONE_VALIDATION[definition_of(thr)]}"
    ).rstrip()
    return Prescription(b, a, r, y, margins, region, thr, summary, depth, arch_dict)


def _beta_limit(top: float, beta_max: float) -> str:
    """What larger beta does at the prescribed alpha_SA (``top``: the largest safe beta in its row)."""
    if top < beta_max:
        return f"larger beta (above about {top:.2g} at this alpha_SA) freezes the attention (entropy collapse)"
    return f"the attention stays liquid up to the largest scanned beta ({beta_max:g}) at this alpha_SA"
