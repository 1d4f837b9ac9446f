"""The theory against Monte Carlo of random transformers (docs/theory.md §4-§6), with its power shown.

Every comparison is paired (tests/helpers.py): seed k's theory starts from seed k's measured
input geometry, the statistic is the mean over seeds of measured - theory with its standard
error (SE), and the right theory must lie within the Bonferroni/Student-t bound t* of
:func:`tests.helpers.accept_threshold` in every component, while each named wrong theory -- built
from the library's layers: T -> infinity moments, the two-query overlap X dropped, sigma_v2 off
by 10% -- must be off by at least t* + 3 SE in some component, with the same statistic.

* One attention layer (q_S, p_S, Y2): the sharpest test of the attention map. The right theory
  includes the first-order finite-width correction (symsig.theory.finite_width; at d = T = 256
  the d -> infinity map is itself rejected, z ~ 7 on q_S), so no allowance is needed.
* Stacks (rho and Y2 per layer): the T -> infinity moments are rejected through Y2 at every
  depth; in the frozen phase the X term accumulates in rho over layers and is rejected too
  (ten layers). Allowance: on the Y2 of attention that reads LayerNorm'd tokens (every layer
  but the first in post-LN), the O(1/d) effect of their lighter-tailed logits, computed by
  :func:`tests.helpers.layernorm_key_allowance` (<= 1 SE here); none on rho.
"""
from __future__ import annotations

import numpy as np
import pytest

from symsig.simulation.stack import simulate_stack
from symsig.theory.layers import Attention
from tests.helpers import (FIG1, SV2_OFF, T_INF, X_DROPPED, attention_layer_theories, check_theories,
                           stack_theories)

SV2, SB2 = FIG1["sigma_v2"], FIG1["sigma_b2"]


def one_layer(*, width: int, seq_len: int, beta: float, rho0: float, seeds: int, seed: int) -> tuple:
    """Measured (q_S, p_S, Y2) per seed of one attention layer and the named theories for them."""
    sim = simulate_stack(block=Attention(finite_t=True), beta=beta, depth=1, width=width, seq_len=seq_len,
                         rho0=rho0, seeds=seeds, seed=seed, **FIG1)
    ps = sim.per_seed
    measured = np.stack([ps["q_branch"][:, 0], ps["p_branch"][:, 0], ps["Y2"][:, 0]], axis=1)
    theories = attention_layer_theories(ps["q_att"][:, 0], ps["p_att"][:, 0], beta=beta, sigma_v2=SV2,
                                        sigma_b2=SB2, seq_len=seq_len, width=width)
    return measured, theories


@pytest.mark.parametrize("width,seq_len,beta,rho0,seeds,reject", [
    # frozen, uncorrelated tokens: p_S is the X term alone; the tokens a query picks are nearly
    # orthogonal, so q_S averages W_V over ~T directions (relative SE 0.5%)
    (256, 256, 3.0, 0.0, 16, (X_DROPPED, SV2_OFF, T_INF)),
    # T = 512: the measured IPR is the exact finite-T E_T[Y2] (0.425 at q = 1, p = 0), not the
    # Poisson-Dirichlet 1 - m (0.293)
    (256, 512, 2.0, 0.0, 12, (X_DROPPED, T_INF)),
    # liquid, correlated tokens: here X is a small part of p_S (reported, not claimed)
    # (W_V's noise on the common direction, relative sqrt(2/d) per seed, hides a 10% sigma_v2 error)
    (512, 64, 1.0, 0.5, 16, (T_INF,)),
])
def test_attention_layer(width, seq_len, beta, rho0, seeds, reject) -> None:
    """q_S = sigma_v2 [p + (q - p) Y2_eff] + sigma_b2, p_S = sigma_v2 [p + (q - p) X_eff] + sigma_b2
    and the IPR (docs/finite_width.md §1), per seed at its measured input state."""
    measured, theories = one_layer(width=width, seq_len=seq_len, beta=beta, rho0=rho0, seeds=seeds, seed=5)
    check_theories(measured, theories, reject=reject, label=f"(q_S, p_S, Y2) d={width} T={seq_len} beta={beta}")


def test_post_ln_stack() -> None:
    """Post-LN (Figure-1 variances), beta = 3, d = 256, T = 64, 4 layers, 16 networks."""
    measured, theories, allowance = stack_theories("post-ln", beta=3.0, depth=4, width=256, seq_len=64, seeds=16, seed=11)
    check_theories(measured, theories, allowance=allowance, reject=(T_INF,), label="post-LN (rho_1..4, Y2_1..4)")


@pytest.mark.slow
@pytest.mark.parametrize("beta,reject", [(0.5, (T_INF,)), (3.0, (T_INF, X_DROPPED))])
def test_post_ln_stack_deep(beta: float, reject: tuple[str, ...]) -> None:
    """Ten layers, 32 networks: in the frozen phase the X term of every layer's p_S adds up in rho."""
    measured, theories, allowance = stack_theories("post-ln", beta=beta, depth=10, width=256, seq_len=64, seeds=32, seed=12)
    check_theories(measured, theories, allowance=allowance, reject=reject, label=f"post-LN beta={beta} (rho_1..10, Y2_1..10)")


def test_simulate_command_puts_theory_beside_the_network() -> None:
    """symsig.simulate: contract keys; the theory starts at the measured rho_0 and tracks the
    network's Y2 (mean over 12 networks, |z| <= t* over the 4 layers), where the T -> infinity
    theory started from the same point is rejected."""
    from symsig import propagate, simulate
    from tests.helpers import REJECT_MARGIN, accept_threshold

    seeds, depth = 12, 4
    res = simulate(width=256, seq_len=32, depth=depth, seeds=seeds, seed=2, beta=3, rho0=0.3)
    d = res.to_dict()
    assert {"rho", "rho_err", "Y2", "theory_rho"} <= set(d)
    assert len(d["rho"]) == len(d["theory_rho"]) == depth + 1 and len(d["Y2"]) == depth
    assert d["theory_rho"][0] == d["rho"][0]
    t_star = accept_threshold(seeds, depth)
    y2, err = np.array(res.Y2), np.array(res.Y2_err)
    assert np.all(np.abs(y2 - np.array(res.theory_Y2)) <= t_star * err), (res.Y2, res.theory_Y2, res.Y2_err)
    asym = propagate(depth=depth, rho0=res.rho[0], q0=res.q[0], beta=3)
    assert np.max(np.abs(y2 - np.array(asym.Y2[:depth])) / err) >= t_star + REJECT_MARGIN
