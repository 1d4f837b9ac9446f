"""GPT-2's pre-LN drift over depth at d = T = 128 is the networks' scatter (docs/finite_width.md §11.2).

``crosscheck(model="gpt2", width=128, seq_len=128, depth=12, seeds=256, seed=1)``, beta = 0.5, Figure-1
parameters, with the width terms, the cross-position Gram and the scatter's drag (about 70 s). The
late window's rho: cross-position theory with width terms 3.9 SE above the networks at layer 12; with the
drag added, within 1.6 SE at every layer; and one network's spread of rho (the seeds' standard
deviation, SE 4.4 %) is the predicted one within 7 %.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from symsig.simulation.hf import crosscheck

pytestmark = pytest.mark.slow


def test_the_drag_closes_gpt2s_drift_at_width_128() -> None:
    res = crosscheck(model="gpt2", width=128, seq_len=128, depth=12, beta=0.5, seeds=256, seed=1, width_theory=True,
                     cross_positions=True, scatter=True)
    rho, se = np.asarray(res.rho), np.asarray(res.rho_err)
    z_cross_width = (rho - np.asarray(res.theory_cross_width_rho)) / se
    z_scatter = (rho - np.asarray(res.theory_cross_scatter_rho)) / se
    assert np.max(np.abs(z_cross_width[1:])) > 3.5, z_cross_width
    assert np.max(np.abs(z_scatter[1:])) < 2.0, z_scatter
    ratio = se * math.sqrt(256) / np.asarray(res.theory_scatter_rho_sd)
    assert np.all(np.abs(ratio[1:] - 1) < 0.1), ratio
