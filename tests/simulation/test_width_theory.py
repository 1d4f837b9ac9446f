"""The opt-in finite-width theory columns of simulate and crosscheck (docs/finite_width.md §7)."""
from __future__ import annotations

import numpy as np
import pytest

from symsig.analysis.propagate import propagate
from symsig.core.validate import InputError
from symsig.simulation.stack import simulate

SMALL = dict(width=16, seq_len=8, depth=2, seeds=2, seed=0)
KEYS = {"rho", "rho_err", "q", "p", "Y2", "Y2_err", "theory_rho", "theory_Y2", "theory", "settings"}


def test_default_output_keeps_its_keys_and_width_theory_adds_two() -> None:
    plain = simulate(**SMALL)
    assert set(plain.to_dict()) == KEYS and plain.theory_width_rho is None
    wide = simulate(**SMALL, width_theory=True)
    assert set(wide.to_dict()) == KEYS | {"theory_width_rho", "theory_width_Y2"}
    assert wide.to_dict()["theory_rho"] == plain.to_dict()["theory_rho"]
    theory = propagate(depth=2, rho0=float(wide.rho[0]), q0=float(wide.q[0]), seq_len=8, width=16)
    assert np.array_equal(wide.theory_width_rho, theory.rho) and np.array_equal(wide.theory_width_Y2, theory.Y2[:2])


def test_unsupported_block_raises_before_the_monte_carlo() -> None:
    with pytest.raises(InputError, match="multi-head"):
        simulate(**SMALL, block="llama", width_theory=True)


def test_one_post_ln_block_where_the_correction_is_large() -> None:
    """d = 64, T = 256, beta = 0.25, attention alone in the residual (alpha_SA = 0, sigma_v2 = 1): the
    correction multiplies q_S - p_S by about 1 + T/d (docs/finite_width.md §2), so rho after the block
    moves by ~10 standard errors of 32 networks. The finite-width column must agree (|z| < 3.5) and the
    same statistic must reject the d -> infinity column (|z| > 5: with 16 seeds, seeds 0..2 gave
    z = -18, -9, -11 against d -> infinity and +1.4, -1.1, -0.1 against finite width). Costs ~1 s."""
    r = simulate(width=64, seq_len=256, depth=1, seeds=32, seed=0, beta=0.25, sigma_v2=1.0, sigma_b2=0.0,
                 alpha_sa=0.0, width_theory=True)
    z_width = (r.rho[1] - r.theory_width_rho[1]) / r.rho_err[1]
    z_inf = (r.rho[1] - r.theory_rho[1]) / r.rho_err[1]
    assert abs(z_width) < 3.5 and abs(z_inf) > 5, (z_width, z_inf)


def test_crosscheck_width_columns_are_opt_in() -> None:
    from symsig.simulation.hf import crosscheck

    kw = dict(width=32, seq_len=16, depth=2, beta=0.5, seeds=2)
    plain = crosscheck(**kw).to_dict()
    assert not any(k.startswith("theory_width") for k in plain)
    wide = crosscheck(**kw, width_theory=True).to_dict()
    assert {k for k in wide if k.startswith("theory_width")} == {"theory_width_rho", "theory_width_q", "theory_width_Y2"}
    assert wide["theory_rho"] == plain["theory_rho"] and wide["theory_width_rho"] != plain["theory_rho"]
    with pytest.raises(InputError, match="width theory"):
        crosscheck(**(kw | dict(heads=2)), width_theory=True)
    gpt = crosscheck(**(kw | dict(model="gpt2")), width_theory=True).to_dict()
    assert gpt["theory_width_rho"][0] == gpt["theory_rho"][0] and gpt["theory_width_rho"][1:] != gpt["theory_rho"][1:]
