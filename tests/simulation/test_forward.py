"""The shared forward pass (symsig.simulation.forward): pieces not covered by the stack tests."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sps

from symsig.simulation import forward


@pytest.mark.parametrize("shape", [(3, 700), (600, 5), (257, 257), (1, 4)])
def test_softmax_rows_of_rectangular_logits(shape):
    # rows = queries, columns = keys; more rows than ROW_CHUNK exercises several chunks
    logits = 3 * np.random.default_rng(0).standard_normal(shape)
    ref = sps.softmax(logits, axis=1)
    np.testing.assert_allclose(forward.softmax_rows(logits), ref, rtol=1e-12, atol=1e-15)
    buf = logits.copy()
    stats = forward.softmax_inplace(buf)
    np.testing.assert_allclose(stats.Y2_pos, (ref**2).sum(1), rtol=1e-12)
    np.testing.assert_allclose(stats.entropy_pos, -sps.xlogy(ref, ref).sum(1), rtol=1e-11, atol=1e-12)
    n = shape[0]
    if n == 1:  # no pair of rows: X is undefined
        assert math.isnan(stats.X)
    else:
        assert stats.X == pytest.approx(((ref @ ref.T).sum() - (ref**2).sum()) / (n * (n - 1)), rel=1e-12)


def test_draws_are_scaled_standard_normals_in_order():
    rng, ref = np.random.default_rng(4), np.random.default_rng(4)
    w = forward.draw_mlp(rng, 6, 9, weight=0.5, bias=0.1, dtype=np.float32)
    expect = [ref.standard_normal(s, dtype=np.float32) * np.float32(math.sqrt(v))
              for s, v in (((6, 9), 0.5 / 6), (9, 0.1), ((9, 6), 0.5 / 9), (6, 0.1))]
    for got, want in zip(w.values(), expect):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
    assert list(w) == ["W_1", "b_1", "W_2", "b_2"]
    a = forward.draw_attention(np.random.default_rng(0), 4, sigma_a=1.0, value=1.0, bias=1.0)
    assert list(a) == ["W_Q", "W_K", "W_V", "b_V"]
    assert list(forward.draw_attention(np.random.default_rng(0), 4, sigma_a=1.0, value=1.0, bias=1.0,
                                       out_proj=1.0)) == ["W_Q", "W_K", "W_V", "b_V", "W_O"]
