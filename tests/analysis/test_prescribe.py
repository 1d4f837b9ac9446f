"""Prescriptions: the safest point is trainable, with positive margins, and explained."""
from __future__ import annotations

import numpy as np
import pytest

from symsig.analysis.prescribe import prescribe
from symsig.analysis.propagate import propagate
from symsig.core.names import ZONE_DEFINITIONS


def test_prescription_point_is_trainable_and_checked_independently():
    pr = prescribe(depth=40, resolution=48)
    tr = propagate(depth=40, rho0=0.3, beta=pr.beta, alpha_sa=pr.alpha_sa)
    assert abs(tr.rho[-1] - pr.rho_L) < 1e-9
    assert pr.margins["rank"] > 0 and pr.margins["entropy"] > 0 and pr.margins["distance"] > 0
    assert np.mean(tr.Y2[:-1]) < pr.thresholds["entropy"]
    assert any(r["beta_min"] <= pr.beta <= r["beta_max"] and r["alpha_sa"] == pr.alpha_sa for r in pr.region)
    assert "beta" in pr.summary and str(40) in pr.summary
    assert set(pr.to_dict()) >= {"beta", "alpha_sa", "margins", "region", "summary"}


@pytest.mark.parametrize("zones, depths", [("collapse", (10, 200)), ("calibrated", (6, 24))])
def test_deeper_networks_need_stronger_residuals(zones, depths):
    shallow, deep = (prescribe(depth=L, resolution=40, thresholds=zones) for L in depths)
    lowest = lambda pr: min(r["alpha_sa"] for r in pr.region)
    assert lowest(deep) > lowest(shallow)


def test_calibrated_zones_need_strong_residuals_at_depth_60():
    """The calibrated zones ask 40% of the initial diversity to survive: at 60 Figure-1 blocks only
    alpha_SA above about 3.1 keeps it (the MLPs alone, alpha_SA -> infinity, keep 72%)."""
    pr = prescribe(depth=60, resolution=24)
    assert "calibrated zones" in pr.summary and 2.9 < min(r["alpha_sa"] for r in pr.region) < 3.4
    assert 1 - propagate(depth=60, rho0=0.3, beta=0.5, alpha_sa=3.0).rho[-1] < 0.4 * 0.7
    assert 1 - propagate(depth=60, rho0=0.3, beta=0.5, alpha_sa=3.2).rho[-1] > 0.4 * 0.7
    assert 1 - propagate(depth=60, rho0=0.3, beta=0.5, alpha_sa=1000).rho[-1] == pytest.approx(0.72 * 0.7, abs=0.01)


def test_no_trainable_region_is_reported():
    pr = prescribe(depth=60, alpha_max=0.3, resolution=16)
    assert pr.beta is None and "No trainable" in pr.summary


def test_margins_are_the_zone_indicators():
    """rank margin = g_rank, entropy margin = -g_entropy (symsig.analysis.zones), checked against
    the formulas of docs/theory.md §7.3 written out in math."""
    import math

    for zones in ("collapse", "calibrated"):
        rank, entropy = ZONE_DEFINITIONS[zones]["rank"], ZONE_DEFINITIONS[zones]["entropy"]
        pr = prescribe(depth=20, resolution=24, thresholds=zones)
        tr = propagate(depth=20, rho0=0.3, beta=pr.beta, alpha_sa=pr.alpha_sa)
        assert pr.margins["rank"] == pytest.approx(math.log((1 - tr.rho[-1]) / 0.7) - math.log(rank), rel=1e-9)
        assert pr.margins["entropy"] == pytest.approx(entropy - float(np.mean(tr.Y2[:-1])), rel=1e-9, abs=1e-12)


def test_prescription_keeps_the_attention_liquid_where_zones_rescue():
    """The calibrated zones call frozen attention with a strong residual trainable (the rescue); the
    prescription's region excludes those points: every region row ends where the attention freezes."""
    from symsig.analysis.diagram import sweep
    from symsig.analysis.zones import classify, thresholds_from
    from symsig.core.architecture import Architecture

    pr = prescribe(depth=6, resolution=32)
    betas, alphas = np.linspace(0.05, 4.0, 32), np.linspace(0.0, 3.0, 32)
    rho_l, y2 = sweep(Architecture(), betas, alphas, 6, 0.3, 1.0)
    thr = thresholds_from(None)
    rescued = (classify(rho_l, y2, 0.3, thr) == "trainable") & (y2 > thr["entropy"])
    assert rescued.sum() > 20                      # the rescue exists here, so the check below has power
    assert pr.Y2 <= thr["entropy"] and pr.margins["entropy"] >= 0
    for row in pr.region:
        tr = propagate(depth=6, rho0=0.3, beta=row["beta_max"], alpha_sa=row["alpha_sa"])
        assert np.mean(tr.Y2[:-1]) <= thr["entropy"]


@pytest.mark.parametrize("depth", [6, 12])
def test_ties_go_to_the_strongest_residual_and_are_stable(depth):
    """In the calibrated zones the liquid band's width limits the distance, so a column of points ties
    (within one grid step); the prescription is its top: it keeps more than 80% of the diversity
    (the lowest tied point keeps about 75%), and a small change of rho0 does not move alpha_SA."""
    prs = [prescribe(depth=depth, rho0=r) for r in (0.29, 0.296, 0.3)]
    assert len({round(pr.alpha_sa, 9) for pr in prs}) == 1
    for pr, r in zip(prs, (0.29, 0.296, 0.3)):
        assert (1 - pr.rho_L) / (1 - r) > 0.8
        lower = propagate(depth=depth, rho0=r, beta=pr.beta, alpha_sa=pr.alpha_sa - 0.4)  # still in the band
        assert (1 - lower.rho[-1]) / (1 - r) > ZONE_DEFINITIONS["calibrated"]["rank"]
