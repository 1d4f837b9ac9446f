"""The shipped finite-T tables (symsig.numerics.finite_t.tables): the build-time verification
reproduced on random points, the domain and fallback rules, and the panel machinery."""
from __future__ import annotations

import math

import numpy as np
import pytest

from symsig.numerics import finite_t as ft
from symsig.numerics.finite_t import chebpanels, direct, tables

KINDS = tables.SHIPPED


def _points(kind: str, size: int, seed: int) -> list[np.ndarray]:
    """Random points of the table's domain; a third near its lower t-edge (s2 -> 0) and, for X, near rho = 1."""
    # the shipped table's own box (the X table covers part of its specified n range: tables.SHIPPED)
    pts = chebpanels.random_points(list(tables.tables()[kind].breaks), size, seed)
    rng = np.random.default_rng(seed + 1)
    pts[0][: size // 3] = rng.uniform(0.0, 1e-3, size // 3)
    if kind == "x":
        pts[1][size // 3: 2 * (size // 3)] = rng.uniform(0.0, 0.02, size // 3)
    return pts


def test_tables_are_shipped_and_verified():
    tabs = tables.tables()
    assert set(tabs) == set(KINDS), "the table file (symsig/numerics/finite_t/finite_t_table.npz) is incomplete"
    assert [float(tabs["x"].breaks[-1][0]), float(tabs["x"].breaks[-1][-1])] == [3.0, 8.0]   # log n range shipped
    for kind, tab in tabs.items():
        assert tab.dim == len(tables.SPECS[kind].breaks)
        # panels that failed their verification at the maximum depth are flagged (direct method there):
        # none for the moments, a few for X (near rho = -1 at n ~ 2 and large s2)
        assert (~tab.ok).sum() <= (0 if kind != "x" else 0.01 * tab.ok.size), (kind, int((~tab.ok).sum()))


@pytest.mark.parametrize("kind", KINDS)
def test_table_matches_direct_method(kind):
    """The build's verification on 300 new random points: |table - direct| * weight <= tol."""
    tab, spec = tables.tables()[kind], tables.SPECS[kind]
    size = 120 if kind == "x" else 300
    pts = _points(kind, size, {k: i for i, k in enumerate(KINDS)}[kind] + 11)
    got, hit = tab(pts)
    assert hit.mean() >= (1.0 if kind != "x" else 0.98)          # flagged panels: see above
    pts = [c[hit] for c in pts]
    want, weight = tables.target(kind, pts)
    err = weight * np.abs(got[hit] - want)
    assert err.max() <= spec.tol, (kind, float(err.max()), [float(c[err.argmax()]) for c in pts])


@pytest.mark.parametrize("k", [2, 3])
def test_public_moments_match_direct_method(k):
    rng = np.random.default_rng(k)
    n = np.round(np.exp(rng.uniform(math.log(2), 42.0, 200)))
    n[:60] = 2.0 ** rng.integers(1, 61, 60)                         # the benchmark's T = 2^j
    s2 = rng.uniform(0.0, 144.0, 200) * np.log(n)
    np.testing.assert_allclose(ft.y_moment_np(k, s2, n), ft.y_moment_np(k, s2, n, fast=False), rtol=2e-11, atol=0)


def test_public_y2_squared_matches_direct_method():
    rng = np.random.default_rng(5)
    n = np.round(np.exp(rng.uniform(math.log(2), 42.0, 200)))
    s2 = rng.uniform(0.0, 144.0, 200) * np.log(n)
    # the sum of two tables each within 2e-11 relative
    np.testing.assert_allclose(ft.y2_squared_np(s2, n), ft.y2_squared_np(s2, n, fast=False), rtol=2e-11, atol=0)


def test_public_overlap_matches_direct_method():
    rng = np.random.default_rng(6)
    n = np.round(np.exp(rng.uniform(math.log(2), tables.X_L_MAX, 60)))
    s2 = rng.uniform(0.0, 36.0, 60) * np.log(n)
    rho = rng.uniform(-1.0, 1.0, 60)
    # X/E[Y2] to 1e-10 absolute times E[Y2], plus E[Y2] to 2e-11 relative times X/E[Y2] (<= 1 for rho >= 0)
    got, want = ft.overlap_np(s2, rho, n), ft.overlap_np(s2, rho, n, fast=False)
    assert np.all(np.abs(got - want) <= 1.2e-10 * ft.y_moment_np(2, s2, n, fast=False))


def test_one_n_slice_equals_general_evaluation():
    """A grid of one n contracts the log n dimension once; same values as point by point."""
    for kind in KINDS:
        tab = tables.tables()[kind]
        pts = _points(kind, 50, 8)
        pts[-1][:] = math.log(512.0)
        general, hit_g = tab(pts)
        sliced, hit_s = tab.at_last(math.log(512.0))(pts[:-1])
        np.testing.assert_array_equal(hit_s, hit_g)
        np.testing.assert_allclose(sliced[hit_g], general[hit_g], rtol=1e-13, atol=1e-15)
    assert tables.tables()["y2"].at_last(50.0) is None                  # outside: no slice


def test_outside_the_domain_uses_direct_method():
    s2 = np.array([150.0 * math.log(64), 4.0, 3.0])
    n = np.array([64.0, 2.0**70, 1.0])
    np.testing.assert_array_equal(ft.y_moment_np(2, s2, n), ft.y_moment_np(2, s2, n, fast=False))
    assert ft.y_moment_np(5, 3.0, 100) == ft.y_moment_np(5, 3.0, 100, fast=False)     # k > 3: direct
    s2x, rhox, nx = np.array([40.0 * math.log(64), 3.0]), np.array([0.5, 0.5]), np.array([64.0, 2.0**21])
    np.testing.assert_array_equal(ft.overlap_np(s2x, rhox, nx), ft.overlap_np(s2x, rhox, nx, fast=False))


def test_direct_method_context_disables_the_tables():
    s2, rho, n = np.array([3.0, 7.0]), np.array([0.4, -0.3]), 512
    with ft.direct_method():
        x_ctx, y_ctx = ft.overlap_np(s2, rho, n), ft.y_moment_np(2, s2, n)
    np.testing.assert_array_equal(x_ctx, ft.overlap_np(s2, rho, n, fast=False))
    np.testing.assert_array_equal(y_ctx, ft.y_moment_np(2, s2, n, fast=False))
    assert not np.array_equal(ft.y_moment_np(2, s2, n), y_ctx)          # the table again after the context


# ------------------------------------------------------------------ the panel machinery on a known function
def _smooth(coords):
    x, y = coords
    return np.exp(np.sin(3.0 * x) * y) / (1.0 + 0.5 * y), np.ones(x.shape)


def test_chebpanels_build_verifies_and_slices():
    tab = chebpanels.build(_smooth, [[0.0, 1.0, 2.0], [0.0, 0.5, 1.0]], [4, 4], 12, 1e-12)
    assert tab.ok.all()
    pts = chebpanels.random_points(tab.breaks, 500, 3)
    got, hit = tab(pts)
    assert hit.all()
    np.testing.assert_allclose(got, _smooth(pts)[0], rtol=0, atol=1e-12)
    sl = tab.at_last(0.7)
    got1, _ = sl([pts[0]])
    np.testing.assert_allclose(got1, _smooth([pts[0], np.full(500, 0.7)])[0], rtol=0, atol=1e-12)
    outside, hit_out = tab([np.array([2.5, 1.0]), np.array([0.5, 1.5])])
    assert not hit_out.any() and np.isnan(outside).all()


def test_chebpanels_flags_a_panel_it_cannot_resolve():
    kink = lambda c: (np.abs(c[0] - 0.3), np.ones(c[0].shape))   # noqa: E731 - not smooth: no polynomial converges
    tab = chebpanels.build(kink, [[0.0, 1.0]], [2], 8, 1e-10)
    assert not tab.ok.all()
    _, hit = tab([np.array([0.3, 0.9])])
    assert not hit[0] and hit[1]                                    # flagged panel: no table value


def test_chebpanels_merge_along_the_last_coordinate():
    parts = [chebpanels.build(_smooth, [[0.0, 1.0], [a, b]], [3, 3], 12, 1e-12) for a, b in ((0.0, 0.5), (0.5, 1.0))]
    joined = chebpanels.merge_last(parts)
    pts = chebpanels.random_points(joined.breaks, 200, 4)
    got, hit = joined(pts)
    assert hit.all()
    np.testing.assert_allclose(got, _smooth(pts)[0], rtol=0, atol=1e-12)


def test_direct_functions_accept_real_n():
    # the tables interpolate in log n: the direct functions take any real n >= 2
    s2, n = np.array([2.0, 2.0]), np.array([100.0, 100.5])
    y = direct.moments_direct(s2, n, 2, False)
    assert y[1] < y[0] and abs(y[1] / y[0] - 1) < 1e-2


def test_repeated_lookup_is_served_fresh_and_equal() -> None:
    """The one-entry memo of moment_table: same inputs give equal copies; changed inputs recompute."""
    s2, n = np.array([1.0, 5.0, 20.0]), np.array([512.0, 512.0, 512.0])
    first, hit = tables.moment_table("y2", s2, n)
    first[:] = -1.0                                    # a caller mutating its result ...
    again, _ = tables.moment_table("y2", s2, n)
    assert hit.all() and np.all(again > 0)              # ... does not reach the memo
    s2b = s2.copy()
    s2b[1] = 6.0
    other, _ = tables.moment_table("y2", s2b, n)
    assert other[1] != again[1] and other[0] == again[0]
