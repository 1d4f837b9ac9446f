"""The two-query overlap X at working precision (symsig.numerics.finite_t.overlap_mp).

Digits are checked by recomputing at higher precision (dps 30 against dps 45), and the
float direct method (~1e-12 of E[Y2]) against the mpmath value."""
from __future__ import annotations

import mpmath
import pytest

from symsig.numerics import finite_t as ft


def test_exact_cases():
    assert ft.overlap("0.3", "0.5", 1) == 1
    with mpmath.workdps(40):
        for x in (ft.overlap(0, "0.5", 7, dps=30), ft.overlap("2", 0, 7, dps=30)):
            assert abs(x - mpmath.mpf(1) / 7) < mpmath.mpf(10) ** -35     # exact at the working precision
    assert ft.overlap("2", 1, 7, dps=20) == ft.y_moment(2, "2", 7, dps=22)
    before = mpmath.mp.dps
    ft.overlap("2", "0.5", 7, dps=12)
    assert mpmath.mp.dps == before            # the global precision is untouched


@pytest.mark.parametrize("s2, rho, n", [("10", "0.6", 64), ("3", "-0.5", 2)])
def test_matches_float_method(s2, rho, n):
    x = ft.overlap(s2, rho, n, dps=16)
    xf = ft.overlap_np(float(s2), float(rho), n, fast=False)
    assert abs(float(x) - xf) <= 2e-12 * ft.y_moment_np(2, float(s2), n, fast=False)


@pytest.mark.slow
@pytest.mark.parametrize("s2, rho, n", [("10", "0.6", 64), ("2.5", "-0.8", 512), ("40", "0.95", 2**20)])
def test_dps30_digits(s2, rho, n):
    # 30 digits (3-6 s of CPU each), checked against 45 digits (~30 s of CPU each)
    a = ft.overlap(s2, rho, n, dps=30)
    with mpmath.workdps(60):
        b = ft.overlap(s2, rho, n, dps=45)
        assert abs(a / b - 1) < mpmath.mpf(10) ** -30
    assert abs(float(a) - ft.overlap_np(float(s2), float(rho), n, fast=False)) <= 2e-12


@pytest.mark.parametrize("s2, rho, n, dps", [("4", "0.5", 7, 29), pytest.param("4", "0.5", 512, 40, marks=pytest.mark.slow)])
def test_digits_where_the_fixed_point_one_needed_an_extra_chunk(s2, rho, n, dps):
    # at these precisions the fixed-point 1 (= 2^bits, bits + 1 binary digits) once filled
    # exactly one more k-bit chunk than 2^bits - 1 does and was dropped: X was off by 5e-3
    # (n = 7) and 3e-7 (n = 512) relative. Checked against dps + 6.
    a = ft.overlap(s2, rho, n, dps=dps)
    with mpmath.workdps(dps + 20):
        b = ft.overlap(s2, rho, n, dps=dps + 6)
        assert abs(a / b - 1) < mpmath.mpf(10) ** -dps
