"""Pre-LN: which (q, p) sets the attention's REM moments? Theory against Monte Carlo.

Our pre-LN map (``propagate(block="pre-ln")``) evaluates the attention's moments at
LN(h) = (1, p/q); the published notebook evaluates them at the raw stream (q, p)
(:func:`symsig.theory.blocks.pre_ln_published`). The network decides: ``simulate_stack``
with block="pre-ln" (d = T = 256, 20 layers in the slow test). Numbers and the
discussion: docs/pre_ln.md.

Tolerances. The Monte Carlo error is the standard error SE over ``seeds``
independent networks (std(ddof=1)/sqrt(seeds)); we allow 4 SE plus a finite-size
allowance for the d -> infinity theory at d = 256: 0.015 in Y2 (THEORY.md section 4
measured a 0.011 max error of the exact E_T[Y2] at d = 256) and 0.02 in rho
(about 5/d: the O(T/d) Wishart correction of the attention branch is diluted by the
residual stream in pre-LN, whose q grows to ~3-4, and accumulated over 20 layers).
The published variant must be *rejected*: its Y2 is off by more than 6 SE + the
allowance at the last layers.
"""
from __future__ import annotations

import numpy as np
import pytest

from symsig import propagate
from symsig.core.architecture import Architecture
from symsig.theory.blocks import block_map
from symsig.numerics.compile import block_np
from symsig.analysis.propagate import trajectory
from symsig.simulation.stack import simulate_stack
from tests.helpers import FIG1

ALLOW_Y2, ALLOW_RHO = 0.015, 0.02


def compare(beta: float, *, width: int, seq_len: int, depth: int, seeds: int, rho0: float, seed: int = 0) -> dict:
    """Simulation and the three theories (ours asymptotic / finite-T, published) for one beta."""
    sim = simulate_stack(block="pre-ln", activation="relu", beta=beta, depth=depth, width=width, seq_len=seq_len,
                         rho0=rho0, seeds=seeds, seed=seed, **FIG1)
    arch = dict(block="pre-ln", activation="relu", beta=beta, **FIG1)
    asym = propagate(depth=depth, rho0=rho0, **arch)
    fin = propagate(depth=depth, rho0=rho0, seq_len=seq_len, **arch)
    pub = trajectory(block_map("pre-ln-published", "relu"), Architecture(**arch), depth=depth, rho0=rho0)
    out = {"sim": sim}
    for name, tr in (("asym", asym), ("fin", fin), ("pub", pub)):
        rho, y2 = np.array(tr.rho), np.array(tr.Y2[:depth])
        out[name] = dict(rho=rho, Y2=y2, max_drho=float(np.max(np.abs(rho - sim.rho))),
                         max_dY2=float(np.max(np.abs(y2 - sim.Y2))))
    return out


def check(res: dict, *, rho_rank: bool) -> None:
    sim, fin, pub = res["sim"], res["fin"], res["pub"]
    # ours (finite T): every layer within 4 SE + allowance, rho and Y2
    assert np.all(np.abs(fin["rho"] - sim.rho) <= 4 * sim.rho_err + ALLOW_RHO), (fin["rho"], sim.rho, sim.rho_err)
    assert np.all(np.abs(fin["Y2"] - sim.Y2) <= 4 * sim.Y2_err + ALLOW_Y2), (fin["Y2"], sim.Y2, sim.Y2_err)
    # published: rejected at the last layer (Y2 far above the network's, > 6 SE + allowance) ...
    gap = pub["Y2"][-1] - sim.Y2[-1]
    assert gap > 6 * sim.Y2_err[-1] + ALLOW_Y2, (pub["Y2"][-1], sim.Y2[-1], sim.Y2_err[-1])
    assert pub["max_dY2"] > 3 * fin["max_dY2"]
    # ... and, once the trajectories have separated (20 layers), worse for rho too
    if rho_rank:
        assert pub["max_drho"] > 2 * fin["max_drho"]


def test_pre_ln_fast() -> None:
    """Reduced version: d = T = 128, 10 layers, 8 networks, beta = 2, rho0 = 0.3."""
    res = compare(2.0, width=128, seq_len=128, depth=10, seeds=8, rho0=0.3)
    check(res, rho_rank=False)  # after 10 layers the rho curves differ by < 2 SE: Y2 decides


def test_published_equals_ours_at_unit_norm() -> None:
    """The two recipes differ only through q: with q = 1 (first block from LN'd input) they agree."""
    arch = Architecture(block="pre-ln", beta=2.0, **FIG1)
    for finite_t, seq_len in ((False, None), (True, 256)):
        ours = block_np(block_map("pre-ln", "relu", finite_t))
        pub = block_np(block_map("pre-ln-published", "relu", finite_t))
        params = tuple(float(x) for x in Architecture(**(arch.to_dict() | {"seq_len": seq_len})).params())
        a = np.array(ours(1.0, 0.3, *params), dtype=float)
        b = np.array(pub(1.0, 0.3, *params), dtype=float)
        assert np.allclose(a, b, rtol=1e-14, atol=0)
        a = np.array(ours(3.0, 0.9, *params), dtype=float)
        b = np.array(pub(3.0, 0.9, *params), dtype=float)
        assert b[2] > a[2] + 0.1  # raw q = 3: beta_c(q, p) smaller, Y2 larger


@pytest.mark.slow
@pytest.mark.parametrize("beta", [1.5, 2.0, 3.0])
def test_pre_ln_d256_20_layers(beta: float) -> None:
    """The evidence of docs/pre_ln.md: d = T = 256, 20 layers, 24 networks, rho0 = 0."""
    res = compare(beta, width=256, seq_len=256, depth=20, seeds=24, rho0=0.0)
    check(res, rho_rank=True)
    sim = res["sim"]
    print(f"\nbeta={beta}: rho_20 sim {sim.rho[-1]:.4f} +- {sim.rho_err[-1]:.4f}; "
          + "; ".join(f"{k}: rho_20 {res[k]['rho'][-1]:.4f}, max|drho| {res[k]['max_drho']:.4f}, "
                      f"max|dY2| {res[k]['max_dY2']:.4f}" for k in ("asym", "fin", "pub")))
    print("  Y2 sim  ", np.round(sim.Y2, 3).tolist(), "\n  Y2 SE   ", np.round(sim.Y2_err, 3).tolist())
    for k in ("asym", "fin", "pub"):
        print(f"  Y2 {k:5s}", np.round(res[k]["Y2"], 3).tolist())
