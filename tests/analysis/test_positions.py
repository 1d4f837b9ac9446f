"""The decoder theory with the cross-position Gram (symsig.analysis.positions, docs/theory.md §6.4)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from symsig.analysis.positions import GridState, PositionKernel, default_grid
from symsig.analysis.propagate import late_tokens
from symsig.core.validate import InputError
from symsig.numerics.compile import compile_np, eval_np
from symsig.numerics.finite_width import nested_overlap
from symsig.theory.layers import Attention, State
from symsig.theory.symbols import T, beta, n, p, q

DECODER = dict(seq_len=256, beta=0.5, alpha_sa=0.5, sigma_v2=1.0, sigma_b2=0.0)


def test_uniform_attention_is_the_exact_average_of_the_keys() -> None:
    """beta = 0: every weight is 1/t, so o_s . o_u / d = (1/(s u)) sum_{v <= s, w <= u} G(v, w) exactly,
    with G the interpolated Gram (q on its diagonal). The kernel's maps must give that to rounding."""
    seq_len, sv, sb = 40, 0.7, 0.01
    grid = np.array([1, 2, 3, 5, 8, 13, 21, 30, 40])
    rng = np.random.default_rng(3)
    base = rng.standard_normal((grid.size, 6))
    gram = base @ base.T / 6
    off = 0.2 + 0.5 * gram / np.abs(gram).max()          # overlaps of distinct tokens, |P| < q
    state = GridState(np.full(grid.size, 1.3), (off + off.T) / 2)
    layer = Attention(value=sp.Float(sv), bias=sp.Float(sb), inverse_temperature=sp.Integer(0), finite_t=True,
                      n_states=n)
    kern = PositionKernel({T: seq_len}, grid, seq_len)
    out, _ = kern(layer, state)
    full = kern.weights @ state.P @ kern.weights.T
    np.fill_diagonal(full, 1.3)
    for i, s in enumerate(grid):
        for j, u in enumerate(grid):
            # i == j: two distinct tokens at position s, each averaging the keys 1..s
            assert out.P[i, j] == pytest.approx(sv * full[:s, :u].sum() / (s * u) + sb, rel=1e-12)
        assert out.Q[i] == pytest.approx(sv * full[:s, :s].sum() / (s * s) + sb, rel=1e-12)


def test_uniform_keys_reduce_to_the_rem_moments() -> None:
    """On a position-free state every key mean is p: the diagonal is the library's finite-T map with
    n = t keys (its exact X), and a pair s < u takes the two-row X of s and u keys at the logit
    variance s2 = beta^2 log T q (q - p) and correlation p / q (covariance (p/q) s2)."""
    seq_len, qv, pv, b, sv, sb = 64, 1.2, 0.5, 1.0, 0.8, 0.02
    grid = np.array([1, 2, 4, 8, 16, 32, 64])
    layer = Attention(value=sp.Float(sv), bias=sp.Float(sb), finite_t=True, n_states=n)
    kern = PositionKernel({T: seq_len, beta: b}, grid, seq_len)
    out, _ = kern(layer, GridState(np.full(grid.size, qv), np.full((grid.size, grid.size), pv)))
    per_position = compile_np((q, p, n, T, beta), (layer(State(q, p)).p,))
    s2 = b**2 * math.log(seq_len) * qv * (qv - pv)
    for i, s in enumerate(grid):
        exact = float(eval_np(per_position, qv, pv, float(s), seq_len, b)[0])
        assert out.P[i, i] == pytest.approx(exact, rel=1e-8)
        for j, u in enumerate(grid[i + 1:], start=i + 1):
            x = nested_overlap(s2, s2, pv / qv * s2, int(s), int(u))
            assert out.P[i, j] == pytest.approx(sv * (pv + (qv - pv) * x) + sb, rel=1e-12)


def test_first_block_is_the_per_position_theory() -> None:
    """The input is position-free, so one block's Y2 is the per-position theory's exactly; q differs
    only by the grid's interpolation in log t."""
    kern = late_tokens(cross_positions=True, window=64, depth=1, **DECODER)
    ref = late_tokens(window=64, depth=1, **DECODER)
    assert kern.Y2[0] == pytest.approx(ref.Y2[0], rel=1e-10)
    assert kern.q[1] == pytest.approx(ref.q[1], rel=1e-5)


def test_grid_refinement() -> None:
    """A grid twice as fine moves rho and Y2 far below the Monte Carlo's resolution."""
    coarse = late_tokens(cross_positions=True, window=64, depth=4, **DECODER)
    grid = default_grid(256, slice(192, 256), per_octave=6, in_window=9)
    fine = late_tokens(cross_positions=True, window=64, depth=4, grid=grid, **DECODER)
    assert np.max(np.abs(np.array(coarse.rho) - fine.rho)) < 1e-4
    assert np.max(np.abs(np.array(coarse.Y2) / fine.Y2 - 1)) < 1e-3


def test_later_blocks_see_less_correlated_keys() -> None:
    """From block 2 on the late window's keys include early, less correlated tokens: rho falls below
    and Y2 rises above the per-position theory (the direction the Monte Carlo shows)."""
    kern = late_tokens(cross_positions=True, window=64, depth=3, **DECODER)
    ref = late_tokens(window=64, depth=3, **DECODER)
    assert kern.rho[3] < ref.rho[3] - 5e-4          # -0.0011
    assert kern.Y2[2] > ref.Y2[2] * 1.02            # +4.6 %


@pytest.mark.parametrize("kwargs,message", [
    (dict(width=64), "d -> infinity"),
    (dict(stride=2), "stride 1"),
    (dict(grid=[2, 8, 256]), "grid must run from 1 to seq_len"),
    (dict(window=300), "window must be"),
    (dict(block="gc-post-ln"), "without gain control"),
])
def test_input_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        late_tokens(cross_positions=True, **({"window": 64, "depth": 1} | DECODER | kwargs))
