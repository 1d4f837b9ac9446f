"""The fast table evaluation (chebpanels.Panels.__call__: grouped by panel, bases in chunks) against
the one-point-at-a-time reference (Panels.pointwise) on the shipped finite-T tables, and the
one-n fast path of the float moments against per-point n."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from symsig.numerics import finite_t as ft
from symsig.numerics.finite_t import tables

KINDS = tables.SHIPPED
EPS = np.finfo(float).eps


@st.composite
def table_points(draw, kind: str, sliced: bool) -> tuple[list[np.ndarray], float | None]:
    """Points of the table's box (each coordinate uniform in [first, last breakpoint], some exactly on
    breakpoints, a few up to 5% of the range outside); with ``sliced`` also a log n inside its range."""
    tab = tables.tables()[kind]
    size = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    pts = []
    for br in tab.breaks[:-1] if sliced else tab.breaks:
        lo, hi = float(br[0]), float(br[-1])
        pad = 0.05 * (hi - lo)
        x = rng.uniform(lo - pad, hi + pad, size)
        on = rng.random(size) < 0.2
        x[on] = rng.choice(br, on.sum())                     # panel edges: the locate rule decides
        pts.append(x)
    last = tab.breaks[-1]
    lg = draw(st.floats(float(last[0]), float(last[-1]))) if sliced else None
    return pts, lg


def _check(tab, pts):
    fast, hit = tab(pts)
    slow, hit_slow = tab.pointwise(pts)
    np.testing.assert_array_equal(hit, hit_slow)
    assert np.isnan(fast[~hit]).all() and np.isnan(slow[~hit]).all()
    if not hit.any():  # every drawn point in the pad outside the box
        return
    # only the order of the sums differs (same bases, same coefficients): each value is a sum of
    # M = prod(m) terms |c_i T_i| <= |c_i|, so the two differ by at most 2 M eps sum_i |c_i|
    pid = tab.locate(pts)[hit]
    size = np.abs(tab.coef[pid]).reshape(pid.size, -1).sum(axis=1)
    assert np.all(np.abs(fast[hit] - slow[hit]) <= 2 * tab.coef[0].size * EPS * size)
    # the located panel contains its point (to the fine-cell lookup's rounding, 1e-9 of a cell)
    for k, x in enumerate(pts):
        width = tab.hi[pid, k] - tab.lo[pid, k]
        assert np.all(x[hit] >= tab.lo[pid, k] - 1e-9 * width) and np.all(x[hit] <= tab.hi[pid, k] + 1e-9 * width)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_fast_evaluation_equals_pointwise(data):
    for kind in KINDS:
        pts, _ = data.draw(table_points(kind, sliced=False))
        _check(tables.tables()[kind], pts)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_fast_evaluation_of_a_slice_equals_pointwise(data):
    """A grid of one n: the table contracted at log n (Panels.at_last), evaluated fast and point by point."""
    for kind in KINDS:
        pts, lg = data.draw(table_points(kind, sliced=True))
        _check(tables.tables()[kind].at_last(lg), pts)


def test_fast_evaluation_over_several_chunks():
    """More points than one chunk of bases (4096), many panels: still the pointwise values."""
    rng = np.random.default_rng(7)
    for kind in ("y2", "x"):
        tab = tables.tables()[kind].at_last(math.log(512.0))
        pts = [rng.uniform(float(b[0]), float(b[-1]), 9000) for b in tab.breaks]
        fast, hit = tab(pts)
        pick = rng.choice(9000, 300, replace=False)
        slow, hit_slow = tab.pointwise([x[pick] for x in pts])
        np.testing.assert_array_equal(hit[pick], hit_slow)
        np.testing.assert_allclose(fast[pick][hit_slow], slow[hit_slow], rtol=1e-13, atol=1e-14)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), log2n=st.integers(1, 21))
def test_one_n_equals_per_point_n(seed, log2n):
    """n given once (a grid of one T) and n repeated per point give the same floats (and the same
    exact shortcuts at s2 = 0, rho = 0, 1)."""
    rng = np.random.default_rng(seed)
    n = 2.0**log2n
    s2 = rng.uniform(0.0, 30.0, 50) * math.log(n)
    rho = rng.uniform(-1.0, 1.0, 50)
    s2[:3], rho[3:6] = 0.0, (0.0, 1.0, -1.0)
    per_point = np.full(50, n)
    for f, args in ((ft.y_moment_np, (2,)), (ft.y_moment_np, (3,)), (ft.y2_squared_np, ())):
        np.testing.assert_array_equal(f(*args, s2[6:20], n), f(*args, s2[6:20], per_point[6:20]))
        np.testing.assert_array_equal(f(*args, s2[:6], n), f(*args, s2[:6], per_point[:6]))
    np.testing.assert_array_equal(ft.overlap_np(s2[:20], rho[:20], n), ft.overlap_np(s2[:20], rho[:20], per_point[:20]))
