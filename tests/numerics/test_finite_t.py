"""Exact finite-T REM moments (symsig.numerics.finite_t): docs/theory.md numbers, limits, precision, Monte Carlo.

The tables of the float fast path are tested in test_finite_t_tables.py, the mpmath overlap in
test_finite_t_overlap_mp.py."""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from symsig.numerics import finite_t as ft
from symsig.numerics.finite_t import direct, gauss

S2_B2_T512 = 4 * math.log(512)  # beta = 2, q = 1, p = 0, T = 512


def _softmax_rows(rng, sig, n, draws, rho=None):
    z = rng.standard_normal((draws, n))
    a = np.exp(sig * (z - z.max(1, keepdims=True)))
    a /= a.sum(1, keepdims=True)
    if rho is None:
        return a
    zp = rho * z + math.sqrt(1 - rho * rho) * rng.standard_normal((draws, n))
    b = np.exp(sig * (zp - zp.max(1, keepdims=True)))
    return a, b / b.sum(1, keepdims=True)


def _mc_check(samples, theory, n_se=4.0):
    """|mean - theory| <= 4 standard errors of the mean (false alarm rate ~6e-5)."""
    se = samples.std(ddof=1) / math.sqrt(samples.size)
    assert abs(samples.mean() - theory) <= n_se * se, (samples.mean(), theory, se)


# ------------------------------------------------------------------ docs/theory.md §4.3 numbers
@pytest.mark.parametrize("beta, ref", [(1, 0.10148), (2, 0.42502), (3, 0.60241)])
def test_theory_y2_t512(beta, ref):
    got = ft.rem_moments_np(beta, 1, 0, 512).Y2
    assert round(float(got), 5) == ref


def test_theory_beta15_large_t():
    assert round(ft.rem_moments_np(1.5, 1, 0, 2.0**20).Y2, 3) == 0.197
    # T = 2^100 is beyond the T <= 2^60 requirement but the float path handles it
    assert round(ft.y_moment_np(2, 2.25 * 100 * math.log(2), 2.0**100), 3) == 0.109


def test_theory_overlap_sizes():
    got = [ft.x_overlap_np(5, 1, 0.8, t) for t in (64, 4096)]
    assert [round(g, 2) for g in got] == [0.27, 0.13]
    # docs/theory.md §4.3: 0.18282 at T = 512 (Monte Carlo 0.1839 +- 0.0017; an earlier note of ours had 0.19)
    assert abs(ft.x_overlap_np(5, 1, 0.8, 512) - 0.1828) < 5e-4


# ------------------------------------------------------------------ limits and edge cases
def test_edge_cases_exact():
    assert ft.y_moment(2, "0.7", 1) == 1 and ft.y2_squared("3", 1) == 1
    assert abs(ft.y_moment(3, 0, 10, dps=30) * 100 - 1) < mpmath.mpf(10) ** -35
    assert ft.y_moment_np(3, 0.0, 10) == pytest.approx(1e-2, rel=1e-15)
    assert ft.y2_squared_np(0.0, 8) == pytest.approx(1 / 64, rel=1e-15)
    assert ft.overlap_np(0.0, 0.3, 8) == pytest.approx(1 / 8, rel=1e-15)
    assert ft.y_moment_np(2, 5.0, 1) == 1.0


@pytest.mark.parametrize("n", [2, 7, 512, 2**40])
def test_small_s2_expansion(n):
    # E[Y2] = 1/n + s2 (n-1)/n^2 + O(s2^2): delta method on n w^2 / (sum w)^2; the O(s2^2)
    # term is below 10 s2^2 relative. Direct method ~1e-12, table 2e-11 relative.
    s2 = 1e-7
    want = 1 / n + s2 * (n - 1) / n**2
    assert ft.y_moment_np(2, s2, n, fast=False) == pytest.approx(want, rel=10 * s2 * s2 + 1e-12)
    assert ft.y_moment_np(2, s2, n) == pytest.approx(want, rel=10 * s2 * s2 + 2e-11)


def test_approaches_poisson_dirichlet_slowly():
    beta = 3.0
    m = math.sqrt(2) / beta
    t = 2.0 ** np.array([10, 20, 40, 60])
    y2 = ft.y_moment_np(2, beta**2 * np.log(t), t)
    gap = y2 - (1 - m)
    assert np.all(gap > 0) and np.all(np.diff(gap) < 0)  # monotone, from above
    assert gap[-1] < 0.06


def test_vectorised_shapes_and_consistency():
    s2 = np.array([[0.1, 3.0], [30.0, 400.0]])
    got = ft.y_moment_np(2, s2, 1000)
    assert got.shape == (2, 2)
    each = [ft.y_moment_np(2, float(v), 1000) for v in s2.ravel()]
    np.testing.assert_allclose(got.ravel(), each, rtol=1e-13)


def test_y_moments_ordered():
    # Y_k is decreasing in k and Y2^2 <= Y2^2... Jensen: E[Y2]^2 <= E[Y2^2] <= E[Y2]
    s2 = np.linspace(0.2, 60, 7)
    y2, y3, y22 = ft.y_moment_np(2, s2, 300), ft.y_moment_np(3, s2, 300), ft.y2_squared_np(s2, 300)
    assert np.all(y3 < y2) and np.all(y2**2 <= y22) and np.all(y22 <= y2)


# ------------------------------------------------------------------ float vs mpmath
@pytest.mark.parametrize("s2, n", [(S2_B2_T512, 512), ("0.3", 100)])
def test_float_matches_mpmath_y2(s2, n):
    before = mpmath.mp.dps
    exact = ft.y_moment(2, s2, n, dps=15)
    assert mpmath.mp.dps == before  # the global precision is never changed
    assert ft.y_moment_np(2, float(s2), n) == pytest.approx(float(exact), rel=1e-10)


@pytest.mark.slow
def test_float_matches_mpmath_y3_y2sq():
    s2 = 2.25 * math.log(16)
    assert ft.y_moment_np(3, s2, 16) == pytest.approx(float(ft.y_moment(3, s2, 16)), rel=1e-10)
    assert ft.y2_squared_np(s2, 16) == pytest.approx(float(ft.y2_squared(s2, 16)), rel=1e-10)


# ------------------------------------------------------------------ Monte Carlo
def test_monte_carlo_y2_y3_y2sq():
    # n = 512, beta = 2: 20000 softmax rows; tolerance 4 standard errors of the mean
    rng = np.random.default_rng(12345)
    sig = math.sqrt(S2_B2_T512)
    rows = np.concatenate([_softmax_rows(rng, sig, 512, 2000) for _ in range(10)])
    y2 = (rows**2).sum(1)
    _mc_check(y2, ft.y_moment_np(2, S2_B2_T512, 512))
    _mc_check((rows**3).sum(1), ft.y_moment_np(3, S2_B2_T512, 512))
    _mc_check(y2**2, ft.y2_squared_np(S2_B2_T512, 512))


def test_monte_carlo_overlap():
    rng = np.random.default_rng(7)
    s2, rho, n = 10.0, 0.6, 64
    a, b = _softmax_rows(rng, math.sqrt(s2), n, 20000, rho)
    _mc_check((a * b).sum(1), ft.overlap_np(s2, rho, n))


def test_overlap_rho_one_is_y2():
    for s2, n in [(2.0, 64), (0.3, 10)]:
        assert ft.overlap_np(s2, 1.0, n) == pytest.approx(ft.y_moment_np(2, s2, n), rel=1e-10)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call", [
    lambda: ft.y_moment(1, 1, 5),
    lambda: ft.y_moment(2, -1, 5),
    lambda: ft.y_moment(2, 1, 0),
    lambda: ft.y_moment(2, 1, 5, dps=2),
    lambda: ft.y_moment_np(2, [-1.0], 5),
    lambda: ft.y_moment_np(2, 1.0, 2.5),
    lambda: ft.overlap_np(1.0, 1.5, 5),
    lambda: ft.overlap(1, "-1.01", 5),
    lambda: ft.rem_moments(0, 1, 0, 512),
    lambda: ft.rem_moments_np(1, 1, 2, 512),
])
def test_bad_input_raises(call):
    with pytest.raises(ValueError):
        call()


# ------------------------------------------------------------------ precision (slow)
@pytest.mark.slow
def test_cli_point_dps30_has_25_digits():
    # symsig critical --beta 2 --rho 0 --seq-len 512 --dps 30
    with mpmath.workdps(60):
        a = ft.y_moment(2, mpmath.mpf(4) * mpmath.log(512), 512, dps=30)
        b = ft.y_moment(2, mpmath.mpf(4) * mpmath.log(512), 512, dps=50)
        assert abs(a / b - 1) < mpmath.mpf(10) ** -29
    assert ft.y_moment_np(2, 4 * math.log(512), 512, fast=False) == pytest.approx(float(b), rel=1e-12)
    assert float(ft.rem_moments_np(2, 1, 0, 512).Y2) == pytest.approx(float(b), rel=2e-11)   # table


@pytest.mark.slow
@pytest.mark.parametrize("k, s2, n", [(3, "40", 2**60)])
def test_mpmath_dps_digits(k, s2, n):
    a = ft.y_moment(k, s2, n, dps=15)
    with mpmath.workdps(40):
        b = ft.y_moment(k, s2, n, dps=35)
        assert abs(a / b - 1) < mpmath.mpf(10) ** -15


# ------------------------------------------------------------------ overlap: direct method (BLAS c-factorisation)
def _overlap_refined(s2, rho, n):
    """The direct algorithm on refined grids: 2x outer nodes, a c-step for e^-80, wider ranges."""
    sig = math.sqrt(s2)
    lo, hi = gauss.u_range(np.array([[sig]]), np.array([float(n)]), direct.S_LO_X - 10, direct.S_HI + 0.3)
    return direct.overlap_point(sig, rho, float(n), float(lo[0]), float(hi[0]), n_u=2 * direct.N_UX,
                                log_eps=2 * direct.LOG_EPS, z_tail=direct.Z_TAIL + 10)


@pytest.mark.parametrize("s2, rho, n", [
    (10.0, 0.6, 64), (2.0, -0.5, 100), (0.3, 0.5, 10), (1e-3, 0.7, 50), (100.0, 0.9, 2**60),
    (40.0, -0.9, 2**30), (5.0, 0.02, 1000), (30.0, 0.999999, 512), (50.0, -0.999, 4096),
    (2000.0, 0.9995, 2**55), (6.0, -1.0, 20),
])
def test_overlap_converged_grids(s2, rho, n):
    # the direct method to ~1e-12 of E[Y2] (X itself can be far smaller, e.g. rho < 0); 2e-12 at
    # the extreme point sigma = 45, rho = 0.9995, n = 2^55
    got = ft.overlap_np(s2, rho, n, fast=False)
    assert abs(got - _overlap_refined(s2, rho, n)) <= 2e-12 * ft.y_moment_np(2, s2, n, fast=False)


def test_overlap_vectorised_and_exact_shortcuts():
    s2 = np.array([0.0, 3.0, 3.0, 3.0, 3.0])
    rho = np.array([0.5, 0.0, 1.0, 0.4, -0.4])
    got = ft.overlap_np(s2, rho, 32)
    assert got[0] == 1 / 32 and got[1] == 1 / 32            # s2 = 0, independent rows
    assert got[2] == ft.y_moment_np(2, 3.0, 32)              # identical rows
    assert got[3] == pytest.approx(ft.overlap_np(3.0, 0.4, 32), rel=1e-14)
    assert 1 / 32 < got[3] < got[2] and got[4] < 1 / 32      # monotone in rho
    # continuity at rho -> 1 and rho -> 0
    assert ft.overlap_np(3.0, 1 - 1e-9, 32) == pytest.approx(got[2], rel=1e-7)
    assert ft.overlap_np(3.0, 1e-6, 32) == pytest.approx(1 / 32, rel=1e-5)


# ------------------------------------------------------------------ mpmath: several moments in one pass
def test_y_moments_one_pass_matches_single():
    r = ft.y_moments((3, 2), "2", 7, dps=10, squared=True)
    assert r[2] == ft.y_moment(2, "2", 7, dps=10) and r[3] == ft.y_moment(3, "2", 7, dps=10)
    assert r["Y2sq"] == ft.y2_squared("2", 7, dps=10)
    assert abs(float(r[2]) / ft.y_moment_np(2, 2.0, 7) - 1) < 1e-9


@pytest.mark.slow
def test_rem_moments_dps30_digits():
    # symsig critical --seq-len 512 --dps 30: Y2, Y3, Y2^2 in one pass, checked against dps 40
    a = ft.rem_moments(2, 1, 0, 512, dps=30)
    with mpmath.workdps(50):
        b = ft.rem_moments(2, 1, 0, 512, dps=40)
        for x, y in zip((a.Y2, a.Y3, a.Y2sq), (b.Y2, b.Y3, b.Y2sq)):
            assert abs(x / y - 1) < mpmath.mpf(10) ** -29
