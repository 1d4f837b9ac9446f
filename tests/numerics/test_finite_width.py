"""Numerics of the finite-width functions (symsig.numerics.finite_width).

The two-row and one-row moments are checked against the library's exact finite-T moments in
the limits where they reduce to them (independent rows r = 0, identical rows r = 1), against the
Stein identities proved in derivations/finite_width_attention.py (an independent route: the
Laplace integrals never use them), and against brute-force Monte Carlo of small rows.
Tolerances: 1e-8 relative for the quadratures (stated precision), 4 SE for Monte Carlo.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symsig.core.validate import InputError
from symsig.numerics import finite_width as fw
from symsig.numerics.finite_t import overlap_np, y2_squared_np, y_moment_np
from symsig.theory import special

S2 = st.floats(0.05, 40.0)
#: Where pair_moments meets its stated 1e-8 (module docstring: it degrades for s2 > 25 at n <= 3).
S2_PAIR = st.floats(0.05, 25.0)
N = st.integers(2, 600)


@settings(max_examples=4, deadline=None)
@given(S2_PAIR, N)
def test_pair_moments_limits(s2: float, n: int) -> None:
    y2, y3, ysq = y_moment_np(2, s2, n), y_moment_np(3, s2, n), y2_squared_np(s2, n)
    y4 = y_moment_np(4, s2, n, fast=False)
    ind = fw.pair_moments(s2, s2, 0.0, n)
    for got, want in ((ind["X"], 1 / n), (ind["A2A"], y2 / n), (ind["Y2X"], y2 / n), (ind["Y2Y2"], y2 * y2),
                      (ind["A3A"], y3 / n), (ind["A2A2"], y2 * y2 / n)):
        assert got == pytest.approx(want, rel=1e-8)
    same = fw.pair_moments(s2, s2, s2, n)
    for got, want in ((same["X"], y2), (same["A2A"], y3), (same["XX"], ysq), (same["Y2X"], ysq), (same["Y2Y2"], ysq),
                      (same["A3A"], y4), (same["A2A2"], y4)):
        assert got == pytest.approx(want, rel=1e-8)


# |r| >= 0.05: finite_t.overlap_np overflows at subnormal r (its z-step divides by r sigma)
@settings(max_examples=4, deadline=None)
@given(S2_PAIR, st.floats(0.05, 0.95), st.booleans(), N)
def test_pair_x_matches_library_overlap(s2: float, r: float, negative: bool, n: int) -> None:
    r = -r if negative else r
    # abs: the library's X table is verified to 1e-10 in X (finite_t.tables), which is more
    # than 1e-8 relative where X is tiny (e.g. 2.8e-5 at s2 = 22, r = -0.5, n = 216)
    assert fw.pair_moments(s2, s2, s2 * r, n)["X"] == pytest.approx(overlap_np(s2, r, n), rel=1e-8, abs=1e-10)


def test_pair_moments_precision_at_the_edge() -> None:
    """The documented degradation beyond s2 = 25 at n = 2 (and nothing worse than stated)."""
    s2, n = 40.0, 2
    err = abs(fw.pair_moments(s2, s2, s2, n)["XX"] / y2_squared_np(s2, n) - 1)
    assert 1e-8 < err < 1e-6


@settings(max_examples=8, deadline=None)
@given(S2, N)
def test_row_moments_obey_stein_identities(s2: float, n: int) -> None:
    """E S = sigma (1 - Y2), E S^2 = Y2 + s2 (1 - Y2 - 6 Y3 + 6 Y2^2) (derivation step 2)."""
    y2, y3, ysq = y_moment_np(2, s2, n), y_moment_np(3, s2, n), y2_squared_np(s2, n)
    row = fw.row_moments(s2, n)
    assert row["S1"] == pytest.approx(math.sqrt(s2) * (1 - y2), rel=1e-8)
    assert row["S2"] == pytest.approx(y2 + s2 * (1 - y2 - 6 * y3 + 6 * ysq), rel=1e-8)
    # derivations/finite_width_layernorm_dq.py step 3: E sum A^2 eps^2 = Y2 + s2 (4 Y2 - 10 Y3 + 6 Y4)
    y4 = y_moment_np(4, s2, n, fast=False)
    assert row["A2E2"] == pytest.approx(y2 + s2 * (4 * y2 - 10 * y3 + 6 * y4), rel=1e-8)


@pytest.mark.parametrize("s2,r,n", [(1.0, 0.6, 3), (4.0, -0.3, 4)])
def test_moments_against_brute_force(s2: float, r: float, n: int) -> None:
    """Pair moments and G against 400,000 draws of two correlated softmax rows."""
    rng = np.random.default_rng(7)
    m = 400_000
    u = rng.standard_normal((m, n))
    v = r * u + math.sqrt(1 - r * r) * rng.standard_normal((m, n))
    a = np.exp(math.sqrt(s2) * u)
    a /= a.sum(1, keepdims=True)
    b = np.exp(math.sqrt(s2) * v)
    b /= b.sum(1, keepdims=True)
    y2, y2p, xr = (a**2).sum(1), (b**2).sum(1), (a * b).sum(1)
    s = (a * u).sum(1)
    samples = {"X": xr, "A2A": (a**2 * b).sum(1), "XX": xr**2, "Y2X": y2 * xr, "Y2Y2": y2 * y2p,
               "G": (a**2 * (u - s[:, None]) ** 2).sum(1)}
    got = fw.pair_moments(s2, s2, s2 * r, n) | {"G": fw.row_moments(s2, n)["G"]}
    for k, x in samples.items():
        assert abs(got[k] - x.mean()) <= 4 * x.std() / math.sqrt(m), k


def test_smearings_reduce_to_the_moments_without_fluctuation() -> None:
    assert fw.smeared_np("Y2")(3.0, 0.0, 0.0, 64) == pytest.approx(y_moment_np(2, 3.0, 64), rel=1e-12)
    assert fw.x_smeared_np(3.0, 0.4, 0.0, 0.0, 0.0, 64) == pytest.approx(overlap_np(3.0, 0.4, 64), rel=1e-12)
    assert fw.smeared_np("Y2sq")(3.0, 0.0, 0.0, 64) == pytest.approx(y2_squared_np(3.0, 64), rel=1e-12)
    # a weight correlated with the fluctuation: E[(1 + delta) f(s2 + xi)] = E f + (cov/var) E[xi f]
    lin = fw.smeared_np("Y3")(3.0, 0.04, 0.01, 64) - fw.smeared_np("Y3")(3.0, 0.04, 0.0, 64)
    h = 1e-3
    slope = (y_moment_np(3, 3.0 + h, 64) - y_moment_np(3, 3.0 - h, 64)) / (2 * h)
    assert lin == pytest.approx(0.01 * slope, rel=2e-2)


def test_smearing_is_the_taylor_correction_for_small_variance() -> None:
    """E f(s2 + xi) - f = Var f''/2 + O(Var^2): checked against a finite-difference f''."""
    s2, n, var = 5.0, 256, 1e-2
    h = 0.05
    f = [y_moment_np(2, s2 + k * h, n, fast=False) for k in (-1, 0, 1)]
    second = (f[0] - 2 * f[1] + f[2]) / h**2
    assert fw.smeared_np("Y2")(s2, var, 0.0, n) - f[1] == pytest.approx(var * second / 2, rel=2e-2)


def test_implementations_and_their_limits() -> None:
    impl = fw.implementation
    assert impl(special.rem_y3, "np")(2.0, 16) == pytest.approx(y_moment_np(3, 2.0, 16), rel=1e-12)
    assert float(impl(special.rem_y2sq, "mp")(2, 16)) == pytest.approx(y2_squared_np(2.0, 16), rel=1e-9)
    assert impl(special.rem_a2a, "np")(np.array([1.0, 2.0]), 0.0, 8) == pytest.approx(
        [y_moment_np(2, 1.0, 8) / 8, y_moment_np(2, 2.0, 8) / 8], rel=1e-8)
    with pytest.raises(InputError):
        impl(special.rem_xx, "mp")
    with pytest.raises(InputError):
        fw.pair_moments(1.0, 1.0, 2.0, 8)  # not a covariance matrix
    assert fw.row_moment_np("G")(0.0, 4) == pytest.approx(3 / 64)


@pytest.mark.parametrize("s2", [0.5, 4.0, 30.0])
def test_k4_against_quadrature_of_two_keys(s2: float) -> None:
    """K4 at n = 2 by an independent route (no Laplace representation). Y2 depends on e1 - e2 = sqrt(2) u
    only, and the mean of He4(e1) + He4(e2) over e1 + e2 is He4(u)/2, so K4 = -(1/8) E[Y2 He4(u)], u ~ N(0, 1),
    Y2 = (1 + tanh^2(sigma u / sqrt 2)) / 2: one integral, done by mpmath at 30 digits."""
    import mpmath

    with mpmath.workdps(30):
        sig = mpmath.sqrt(2 * mpmath.mpf(s2))
        f = lambda u: (1 + mpmath.tanh(sig * u / 2) ** 2) / 2 * (u**4 - 6 * u**2 + 3) * mpmath.npdf(u)  # noqa: E731
        want = -mpmath.quad(f, [-mpmath.inf, -1, 0, 1, mpmath.inf]) / 8
    assert fw.row_moments(s2, 2)["K4"] == pytest.approx(float(want), rel=1e-8, abs=1e-13)


def test_k4_vanishes_with_the_logits() -> None:
    """At s2 -> 0 the row is uniform whatever the law; the twin returns 0 at s2 = 0 exactly."""
    assert abs(fw.row_moments(1e-6, 64)["K4"]) < 1e-8
    assert special.rem_y2_kurt(0, 64) is not None and fw.row_moment_np("K4")(0.0, 64) == 0.0
    assert fw.row_moment_np("A2E2")(0.0, 64) == 1 / 64 and fw.row_moments(1e-9, 64)["A2E2"] == pytest.approx(1 / 64, rel=1e-7)


# ----------------------------------------------------------------------------- nested overlap (causal rows)


@settings(max_examples=4, deadline=None)
@given(S2_PAIR, st.floats(0.05, 0.95), N)
def test_nested_overlap_limits(s2: float, r: float, n: int) -> None:
    """n2 = n1 is the pair moment X; independent rows, or a row with one key, give 1/n2."""
    assert fw.nested_overlap(s2, s2, r * s2, n, n) == pytest.approx(fw.pair_moments(s2, s2, r * s2, n)["X"], rel=1e-12)
    assert fw.nested_overlap(s2, 0.7 * s2, 0.0, n, 2 * n) == pytest.approx(1 / (2 * n), rel=1e-8)
    assert fw.nested_overlap(s2, s2, r * s2, 1, n) == 1 / n


@pytest.mark.parametrize("v1,v2,r,n1,n2", [(1.5, 1.3, 0.45, 16, 64), (4.0, 3.0, 0.8, 5, 9)])
def test_nested_overlap_against_brute_force(v1: float, v2: float, r: float, n1: int, n2: int) -> None:
    """Two causal rows, 400,000 draws: the extra keys of row 2 lower X below the n1-key pair
    moment, which the same statistic rejects."""
    rng = np.random.default_rng(11)
    m = 400_000
    c = r * math.sqrt(v1 * v2)
    u = rng.standard_normal((m, n1))
    x1 = math.sqrt(v1) * u
    shared = (c / math.sqrt(v1)) * u + math.sqrt(v2 - c * c / v1) * rng.standard_normal((m, n1))
    x2 = np.concatenate([shared, math.sqrt(v2) * rng.standard_normal((m, n2 - n1))], axis=1)
    a = np.exp(x1 - x1.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    b = np.exp(x2 - x2.max(1, keepdims=True))
    b /= b.sum(1, keepdims=True)
    xs = (a * b[:, :n1]).sum(1)
    se = xs.std() / math.sqrt(m)
    assert abs(fw.nested_overlap(v1, v2, c, n1, n2) - xs.mean()) <= 4 * se
    assert abs(fw.pair_moments(v1, v2, c, n1)["X"] - xs.mean()) > 20 * se


def test_nested_overlap_rejects_bad_input() -> None:
    with pytest.raises(InputError):
        fw.nested_overlap(1.0, 1.0, 0.5, 8, 4)
    with pytest.raises(InputError):
        fw.nested_overlap(1.0, 1.0, 2.0, 4, 8)
