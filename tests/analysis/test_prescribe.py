"""Prescriptions: the safest point is trainable, with positive margins, and explained."""
from __future__ import annotations

import numpy as np
import pytest

from symsig.analysis.prescribe import prescribe
from symsig.analysis.propagate import propagate


def test_prescription_point_is_trainable_and_checked_independently():
    pr = prescribe(depth=40, resolution=48)
    tr = propagate(depth=40, rho0=0.3, beta=pr.beta, alpha_sa=pr.alpha_sa)
    assert abs(tr.rho[-1] - pr.rho_L) < 1e-9
    assert pr.margins["rank"] > 0 and pr.margins["entropy"] > 0 and pr.margins["distance"] > 0
    assert np.mean(tr.Y2[:-1]) < pr.thresholds["entropy"]
    assert any(r["beta_min"] <= pr.beta <= r["beta_max"] and r["alpha_sa"] == pr.alpha_sa for r in pr.region)
    assert "beta" in pr.summary and str(40) in pr.summary
    assert set(pr.to_dict()) >= {"beta", "alpha_sa", "margins", "region", "summary"}


def test_deeper_networks_need_stronger_residuals():
    shallow, deep = prescribe(depth=10, resolution=40), prescribe(depth=200, resolution=40)
    lowest = lambda pr: min(r["alpha_sa"] for r in pr.region)
    assert lowest(deep) > lowest(shallow)


def test_no_trainable_region_is_reported():
    pr = prescribe(depth=60, alpha_max=0.3, resolution=16)
    assert pr.beta is None and "No trainable" in pr.summary


def test_margins_are_the_zone_indicators():
    """rank margin = g_rank, entropy margin = -g_entropy (symsig.analysis.zones), checked against
    the formulas of docs/theory.md §7.3 written out in math."""
    import math

    pr = prescribe(depth=20, resolution=24)
    tr = propagate(depth=20, rho0=0.3, beta=pr.beta, alpha_sa=pr.alpha_sa)
    assert pr.margins["rank"] == pytest.approx(math.log((1 - tr.rho[-1]) / 0.7) - math.log(0.01), rel=1e-9)
    assert pr.margins["entropy"] == pytest.approx(0.1 - float(np.mean(tr.Y2[:-1])), rel=1e-9, abs=1e-12)
