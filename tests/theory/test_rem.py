"""REM saddle point, beta_c, Parisi m and Poisson-Dirichlet moments."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

from symsig import critical
from symsig.theory import rem
from symsig.theory.symbols import beta, m, p, q


def test_beta_c_is_sqrt_two_over_q_gap() -> None:
    gap = sp.Symbol("gap", positive=True)
    assert sp.simplify((rem.beta_c() - sp.sqrt(2 / (q * (q - p)))).subs(p, q - gap)) == 0
    assert rem.beta_c().subs({q: 1, p: 0}) == sp.sqrt(2)


def test_free_energy_matches_both_phases_numerically() -> None:
    # phi(beta) = max_{s(e) >= 0} s(e) + beta e, brute force over a fine grid of e
    phi = sp.lambdify((beta, sp.Symbol("v", positive=True)), rem.free_energy())
    for b, v in [(0.5, 1.0), (1.4, 1.0), (1.5, 1.0), (3.0, 0.3), (0.2, 7.0)]:
        e = np.linspace(-np.sqrt(2 * v), np.sqrt(2 * v), 200001)
        brute = np.max(1 - e**2 / (2 * v) + b * e)
        assert phi(b, v) == pytest.approx(brute, abs=1e-9)


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_pd_moment_matches_monte_carlo_stick_breaking(k: int) -> None:
    # PD(m, 0) by stick breaking: V_i ~ Beta(1 - m, i m), w_i = V_i prod_{j<i} (1 - V_j)
    rng = np.random.default_rng(1)
    m_val, n, sticks = 0.4, 20000, 300
    i = np.arange(1, sticks + 1)
    v = rng.beta(1 - m_val, i * m_val, size=(n, sticks))
    w = v * np.concatenate([np.ones((n, 1)), np.cumprod(1 - v, axis=1)[:, :-1]], axis=1)
    samples = (w**k).sum(axis=1)
    exact = float(rem.y_moment_pd(k).subs(m, sp.Rational(2, 5)))
    # truncation at 300 sticks leaves mass ~ (tail) << 1e-3 for these moments
    assert abs(samples.mean() - exact) < 5 * samples.std() / np.sqrt(n) + 1e-3


def test_y2_squared_pd() -> None:
    assert sp.expand(rem.y2_squared_pd() - (1 - m) * (3 - 2 * m) / 3) == 0


def test_critical_sixty_digits() -> None:
    res = critical(beta=3, rho=0, dps=60)
    with mpmath.workdps(80):  # the 60-digit values against closed forms at 80 digits
        assert abs(mpmath.mpf(res.beta_c) - mpmath.sqrt(2)) < mpmath.mpf(10) ** -59
        assert abs(mpmath.mpf(res.Y2) - (1 - mpmath.sqrt(2) / 3)) < mpmath.mpf(10) ** -59
        assert abs(mpmath.mpf(res.rho_c) - mpmath.mpf(7) / 9) < mpmath.mpf(10) ** -59
    d = res.to_dict()
    with mpmath.workdps(100):  # correctly rounded to 60 significant digits
        assert d["beta_c"] == mpmath.nstr(mpmath.sqrt(2), 60)
        assert d["Y2"] == mpmath.nstr(1 - mpmath.sqrt(2) / 3, 60)
    assert len(d["Y2"].replace("0.", "", 1)) == 60


def test_critical_global_precision_untouched() -> None:
    before = mpmath.mp.dps
    critical(beta=2, rho="0.25", dps=45)
    assert mpmath.mp.dps == before


def test_critical_liquid_and_collapse() -> None:
    liquid = critical(beta=1, rho=0)
    assert (liquid.m, liquid.Y2, liquid.Y3, liquid.rho_c) == (1.0, 0.0, 0.0, None)
    collapsed = critical(beta=5, rho=1)
    assert collapsed.beta_c is None and collapsed.Y2 == 0.0
    # rho_c with q != 1: frozen iff beta^2 q^2 (1 - rho) > 2
    res = critical(beta=0.9, q=2, p=0)
    assert res.rho_c == pytest.approx(1 - 2 / (0.81 * 4), rel=1e-15)
    assert res.Y2 == pytest.approx(1 - np.sqrt(2 / 4) / 0.9, rel=1e-15)


def test_y3_frozen_closed_form() -> None:
    res = critical(beta=2.5, rho=0.2)
    mm = np.sqrt(2 / 0.8) / 2.5
    assert res.m == pytest.approx(mm, rel=1e-15)
    assert res.Y3 == pytest.approx((1 - mm) * (2 - mm) / 2, rel=1e-14)


@pytest.mark.parametrize("kwargs", [dict(beta=0), dict(beta=1, rho=1.5), dict(beta=1, q=1, p=2), dict(beta=1, q=-1, p=0), dict(beta=1, rho=0.1, p=0.1)])
def test_critical_bad_input(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        critical(**kwargs)
