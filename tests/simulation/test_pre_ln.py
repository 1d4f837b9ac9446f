"""Pre-LN: which (q, p) sets the attention's REM moments? Theory against Monte Carlo.

Our pre-LN map (``propagate(block="pre-ln")``) evaluates the attention's moments at
LN(h) = (1, p/q); the published notebook evaluates them at the raw stream (q, p)
(:func:`symsig.theory.blocks.pre_ln_published`). The network decides: ``simulate_stack``
with block="pre-ln" (d = T = 256, 20 layers in the slow test). Numbers and the
discussion: docs/pre_ln.md.

Statistics (tests/helpers.py): rho and Y2 per layer, paired per seed (each theory trajectory
starts from the seed's measured input), the right theory within the Student-t/Bonferroni bound
t* over all layers, and the published recipe and the T -> infinity moments rejected by at least
t* + 3 SE with the same statistic. Allowance: the Y2 of attention that reads LayerNorm'd tokens
is below the Gaussian-key theory by an O(1/d) amount (lighter-tailed logits), computed by
:func:`tests.helpers.layernorm_key_allowance` (0.003-0.008 at d = T = 256); none on rho.
"""
from __future__ import annotations

import numpy as np
import pytest

from symsig.core.architecture import Architecture
from symsig.theory.blocks import block_map
from symsig.numerics.compile import block_np
from tests.helpers import FIG1, T_INF, check_theories, stack_theories

PUBLISHED = "published (moments at the raw stream)"


def compare(beta: float, *, width: int, seq_len: int, depth: int, seeds: int, rho0: float, seed: int = 0) -> None:
    measured, theories, allowance = stack_theories("pre-ln", beta=beta, depth=depth, width=width, seq_len=seq_len, seeds=seeds,
                                        seed=seed, rho0=rho0,
                                        extra={PUBLISHED: block_map("pre-ln-published", "relu", finite_t=True)})
    check_theories(measured, theories, allowance=allowance, reject=(PUBLISHED, T_INF),
                   label=f"pre-LN beta={beta} d={width} T={seq_len} (rho_1..{depth}, Y2_1..{depth})")


def test_pre_ln_fast() -> None:
    """Reduced version: d = T = 128, 10 layers, 16 networks, beta = 2, rho0 = 0.3."""
    compare(2.0, width=128, seq_len=128, depth=10, seeds=16, rho0=0.3)


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
    compare(beta, width=256, seq_len=256, depth=20, seeds=24, rho0=0.0)
