"""Tests of Result 2 (symsig.theory.gradient, symsig.analysis.gradient, derivations/gradient_wq.py)."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import fftconvolve

from symsig.analysis import gradient as ev
from symsig.simulation import gradient_mc as mc
from symsig.theory import gradient as sym
from symsig.theory import rem
from symsig.app.plots import plot_figure3
from symsig.theory.symbols import beta, m, p, q, sigma_v2

ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------- independent check
def reference_moments(b: float, qq: float, pp: float, T: int, h: float = 0.005) -> tuple[float, float, float]:
    """Independent finite-T E[Y2], E[Y3], E[Y2^2] for iid N(0, s2) logits, s2 = b^2 log(T) q (q-p).

    E[Y_k] = T/(k-1)! int du psi_k(u) psi_0(u)^(T-1), psi_k(u) = E[e^{k(u+z)} exp(-e^{u+z})]
    (t = e^u in 1/Z^k = int t^(k-1) e^{-tZ} dt / (k-1)!), psi_k computed as an FFT convolution
    of the bounded e^{ky - e^y} with the Gaussian density on a grid of step h;
    E[Y2^2] = E[Y4] + T(T-1)/6 int psi_2^2 psi_0^(T-2). Accurate to ~1e-10 at h = 0.005.
    """
    s = b * math.sqrt(math.log(T) * qq * (qq - pp))
    half = 10 * s + 40
    y = np.arange(-half, half + h / 2, h)
    kern = np.exp(-0.5 * (y / s) ** 2) / (s * math.sqrt(2 * math.pi)) * h
    ey = np.exp(y)
    one_minus_psi0 = np.clip(fftconvolve(-np.expm1(-ey), kern, mode="same"), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        log_psi0 = np.log1p(-one_minus_psi0)
    psi = {k: np.clip(fftconvolve(np.exp(k * y - ey), kern, mode="same"), 0.0, None) for k in (2, 3, 4)}
    w1, w2 = np.exp((T - 1) * log_psi0), np.exp((T - 2) * log_psi0)
    y2 = T * np.sum(psi[2] * w1) * h
    y3 = T / 2 * np.sum(psi[3] * w1) * h
    y4 = T / 6 * np.sum(psi[4] * w1) * h
    return float(y2), float(y3), float(y4 + T * (T - 1) / 6 * np.sum(psi[2] ** 2 * w2) * h)


def _load_derivation():
    spec = importlib.util.spec_from_file_location("gradient_wq", ROOT / "derivations" / "gradient_wq.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# -------------------------------------------------------------------------- symbolic
def test_derivation_script_runs_and_writes_latex(tmp_path: Path) -> None:
    out = tmp_path / "grad.tex"
    assert _load_derivation().main([str(out)]) == 0
    tex = out.read_text()
    assert r"\|\partial L/\partial W_Q\|_F^2" in tex and "Y_2" in tex and r"\beta" in tex


def test_pd_bracket_is_m_one_minus_m_over_three() -> None:
    assert sp.simplify(sym.bracket_pd_m() - m * (1 - m) / 3) == 0
    moments = {sym.Y2: 1 - m, sym.Y3: (1 - m) * (2 - m) / 2, sym.Y2SQ: (1 - m) * (3 - 2 * m) / 3}
    assert sp.expand(sym.bracket_expr().subs(moments) - m * (1 - m) / 3) == 0


def test_pd_expression_vanishes_below_beta_c_and_matches_formula() -> None:
    expr = sym.grad_wq_pd_expr()
    assert expr.subs({beta: 1, q: 1, p: 0, sigma_v2: 1}) == 0  # beta < sqrt(2)
    b, qq, pp, sv = sp.Integer(3), sp.Integer(1), sp.Rational(1, 5), sp.Rational(1, 2)
    mm = sp.sqrt(2 / (qq * (qq - pp))) / b
    want = b * sv * qq * (qq - pp) ** 2 * mm * (1 - mm) / 3
    assert sp.simplify(expr.subs({beta: b, q: qq, p: pp, sigma_v2: sv}) - want) == 0


def test_large_beta_limit_is_beta_c_over_three() -> None:
    bc = rem.beta_c()
    assert sp.simplify(sym.large_beta_limit_expr() - sigma_v2 * q * (q - p) ** 2 * bc / 3) == 0
    lim = float(sym.large_beta_limit_expr().subs({q: 1, p: 0, sigma_v2: 1}))
    assert lim == pytest.approx(math.sqrt(2) / 3, rel=1e-15)
    # beta m(1-m)/3 = beta_c (1 - beta_c/beta)/3: at beta = 1e6 within beta_c^2/(3 beta) of the limit.
    assert ev.grad_wq_scaled(1e6, 1, 0).grad_wq_scaled == pytest.approx(lim, abs=2 / 3e6 * 1.0001)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.05, 50), st.floats(0.1, 3), st.floats(-0.9, 0.99), st.floats(0, 2))
def test_asymptotic_gradient_between_zero_and_limit_and_increasing(b, qq, rho, sv) -> None:
    res = ev.grad_wq_scaled(b, qq, rho * qq, sv)
    lim = float(sym.large_beta_limit_expr().subs({q: qq, p: rho * qq, sigma_v2: sv}))
    assert -1e-15 <= res.grad_wq_scaled <= lim * (1 + 1e-12) + 1e-15
    assert res.grad_wq_scaled == pytest.approx(res.prefactor * res.bracket, rel=1e-12, abs=1e-300)
    assert ev.grad_wq_scaled(b * 1.1, qq, rho * qq, sv).grad_wq_scaled >= res.grad_wq_scaled - 1e-15


def test_asymptotic_dps_precision() -> None:
    lo = ev.grad_wq_scaled(3, 1, 0.2, 0.7, dps=30)
    hi = ev.grad_wq_scaled(3, 1, 0.2, 0.7, dps=60)
    with mpmath.workdps(60):
        gap, sv = 1 - mpmath.mpf("0.2"), mpmath.mpf("0.7")  # floats are read as written (2/10, not the double)
        mm = mpmath.sqrt(2 / gap) / 3
        exact = 3 * sv * gap**2 * mm * (1 - mm) / 3
    assert isinstance(lo.grad_wq_scaled, mpmath.mpf)
    assert abs(lo.grad_wq_scaled - hi.grad_wq_scaled) < mpmath.mpf(10) ** -28
    assert abs(hi.grad_wq_scaled - exact) < mpmath.mpf(10) ** -58
    assert isinstance(lo.to_dict()["grad_wq_scaled"], str)  # > 15 digits: decimal string


def test_bad_input_raises_value_error() -> None:
    for kwargs in ({"beta": 0, "q": 1, "p": 0}, {"beta": 1, "q": 1, "p": 1.5}, {"beta": 1, "q": -1, "p": 0},
                   {"beta": 1, "q": 1, "p": 0, "sigma_v2": -1}, {"beta": 1, "q": 1, "p": 0, "T": 1},
                   {"beta": 1, "q": 1, "p": 0, "dps": 0}, {"beta": float("nan"), "q": 1, "p": 0}):
        with pytest.raises(ValueError):
            ev.grad_wq_scaled(**kwargs)
    with pytest.raises(ValueError):
        ev.gradient_vanishing_beta(-0.1, 1, 0)
    with pytest.raises(ValueError):
        mc.simulate_grad_wq(1.0, 8, 8, seeds=1)


def test_cli_shaped_gradient_wrapper() -> None:
    res = ev.gradient(beta=3, rho=0.2, q=2, sigma_v2=0.5)
    assert res.grad_wq_scaled == ev.grad_wq_scaled(3, 2, 0.4, 0.5).grad_wq_scaled
    assert set(res.to_dict()) == {"grad_wq_scaled", "prefactor", "bracket", "Y2", "Y3", "Y2sq", "m", "T"}
    with pytest.raises(ValueError):
        ev.gradient(beta=1, rho=1.5)


def test_vanishing_beta_asymptotic() -> None:
    b = ev.gradient_vanishing_beta(0.1, 1, 0)
    assert ev.grad_wq_scaled(b, 1, 0).grad_wq_scaled == pytest.approx(0.1, rel=1e-12)
    assert ev.grad_wq_scaled(0.99 * b, 1, 0).grad_wq_scaled < 0.1
    b30 = ev.gradient_vanishing_beta(0.1, 1, 0, dps=30)
    assert abs(b30 - ev.gradient_vanishing_beta(0.1, 1, 0, dps=50)) < mpmath.mpf(10) ** -28
    assert ev.gradient_vanishing_beta(math.sqrt(2) / 3, 1, 0) == math.inf  # the limit is never reached
    assert ev.gradient_vanishing_beta(0.01, 1, 1) == math.inf  # q = p: no gradient at all


# ------------------------------------------------------------------------- finite T
def test_finite_t_matches_independent_quadrature() -> None:
    for b, T in ((1.0, 256), (1.0, 4096), (1.0, 2**20), (2.0, 512), (0.5, 2048)):
        res = ev.grad_wq_scaled(b, 1, 0, T=T)
        y2, y3, y2sq = reference_moments(b, 1, 0, T)
        assert res.bracket == pytest.approx(y2 - 2 * y3 + y2sq, rel=1e-6)
        assert res.grad_wq_scaled == pytest.approx(b * (y2 - 2 * y3 + y2sq), rel=1e-6)
    # docs/theory.md §9.3: beta = 1 values (bracket = scaled gradient at q = sigma_v2 = 1, p = 0).
    got = [ev.grad_wq_scaled(1, 1, 0, T=2**k).grad_wq_scaled for k in (8, 12, 20)]
    assert [round(x, 3) for x in got] == [0.061, 0.036, 0.014]


@pytest.mark.slow
def test_finite_t_dps_precision() -> None:
    # mpmath path (10-30 s per evaluation): dps = 10 vs dps = 16, and the float path at 1e-10.
    lo = ev.grad_wq_scaled(2, 1, 0.3, T=16, dps=10)
    hi = ev.grad_wq_scaled(2, 1, 0.3, T=16, dps=16)
    assert isinstance(hi.grad_wq_scaled, mpmath.mpf)
    assert abs(lo.grad_wq_scaled - hi.grad_wq_scaled) <= mpmath.mpf(10) ** -9 * abs(hi.grad_wq_scaled)
    assert float(hi.grad_wq_scaled) == pytest.approx(ev.grad_wq_scaled(2, 1, 0.3, T=16).grad_wq_scaled, rel=1e-10)


def test_vectorised_evaluator_matches_scalar() -> None:
    betas = np.array([0.3, 1.0, 1.4, 2.0, 3.0])
    for T in (None, 1024):
        vec = ev.grad_wq_scaled_np(betas, 1.0, 0.2, 0.5, T=T)
        for b, v in zip(betas, vec):
            assert v == pytest.approx(ev.grad_wq_scaled(b, 1.0, 0.2, 0.5, T=T).grad_wq_scaled, rel=1e-12, abs=1e-300)
    assert np.all(ev.grad_wq_scaled_np(betas, 1.0, 1.0, T=64) == 0)  # q = p


def test_vanishing_beta_finite_t() -> None:
    b = ev.gradient_vanishing_beta(0.05, 1, 0, T=4096)
    assert ev.grad_wq_scaled(b, 1, 0, T=4096).grad_wq_scaled == pytest.approx(0.05, rel=1e-8)
    assert b < ev.gradient_vanishing_beta(0.05, 1, 0)  # finite T: gradient switches on earlier


# -------------------------------------------------------------------- Monte Carlo
def test_backward_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    d, T = 6, 5
    x = mc.make_inputs(rng, d, T, 1.0, 0.3)
    wq, wk, wv = (rng.standard_normal((d, d)) * s for s in (0.8, 0.8, 0.5))
    g = rng.standard_normal((T, d))
    dwq, dwk = mc.backward_qk(x, wq, wk, wv, g)
    eps = 1e-6
    for grad, which in ((dwq, 0), (dwk, 1)):
        for _ in range(4):
            direction = rng.standard_normal((d, d))
            plus = [wq, wk]; minus = [wq, wk]  # noqa: E702
            plus[which] = plus[which] + eps * direction
            minus[which] = minus[which] - eps * direction
            fd = (mc.loss(x, *plus, wv, g) - mc.loss(x, *minus, wv, g)) / (2 * eps)
            assert np.sum(grad * direction) == pytest.approx(fd, rel=1e-7, abs=1e-10)


def _width_allowance(b: float, T: int, d: int) -> float:
    """Leading O(1/d) term beta [b_T + E(1 - Y2)^2] / d (q = sigma_v2 = 1, p = 0).

    From E tr(J S J S) with S = X X^T Wishart: (1 + 1/d) tr J^2 + (tr J)^2 / d,
    tr J = 1 - Y2. Measured d * (MC - theory) is 0.9-1.4 times this term (d = 64..1024,
    T = 256, see docs/gradients.md), so 1.5 times it bounds the width error.
    """
    y2, y3, y2sq = reference_moments(b, 1, 0, T)
    return 1.5 * b * ((y2 - 2 * y3 + y2sq) + 1 - 2 * y2 + y2sq) / d


def test_monte_carlo_matches_finite_t_theory_small() -> None:
    # n = 48 seeds per point: |MC - theory| <= 4 SE + width allowance (false alarm ~1e-4 per point).
    T = d = 128
    betas = [0.5, 1.5, 3.0]
    sims = mc.simulate_grad_wq_sweep(betas, d, T, seeds=48, seed=7)
    for b, s in zip(betas, sims):
        y2, y3, y2sq = reference_moments(b, 1, 0, T)
        theory = b * (y2 - 2 * y3 + y2sq)
        assert abs(s.grad_wq_scaled - theory) <= 4 * s.grad_wq_err + _width_allowance(b, T, d)
        assert abs(s.grad_wk_scaled - theory) <= 4 * s.grad_wk_err + _width_allowance(b, T, d)
        # the attention rows themselves: empirical tr J^2 against the exact moments
        assert abs(s.bracket - (y2 - 2 * y3 + y2sq)) <= 4 * s.bracket_err + 0.05 * (y2 - 2 * y3 + y2sq)


def test_monte_carlo_width_gap_is_order_one_over_d() -> None:
    # beta = 0.25, T = 64: the gap MC - theory is ~beta/d (Wishart term); d * gap must not drift with d.
    T, b = 64, 0.25
    y2, y3, y2sq = reference_moments(b, 1, 0, T)
    theory = b * (y2 - 2 * y3 + y2sq)
    gaps = []
    for d in (32, 128):
        s = mc.simulate_grad_wq(b, d, T, seeds=64, seed=d)
        gaps.append((d * (s.grad_wq_scaled - theory), d * s.grad_wq_err))
    (g1, e1), (g2, e2) = gaps
    assert g1 > 4 * e1 and g2 > 4 * e2  # the finite-width excess is real ...
    assert abs(g1 - g2) <= 4 * math.hypot(e1, e2) + 0.15 * b  # ... and scales as 1/d


@pytest.mark.slow
def test_monte_carlo_matches_finite_t_theory_figure3_size() -> None:
    # d = 256, T = 2048 (Figure 3 size), n = 6 seeds: 4 SE + width allowance.
    d, T = 256, 2048
    betas = [1.0, 2.0, 3.0]
    sims = mc.simulate_grad_wq_sweep(betas, d, T, seeds=6, seed=11)
    for b, s in zip(betas, sims):
        y2, y3, y2sq = reference_moments(b, 1, 0, T)
        assert abs(s.grad_wq_scaled - b * (y2 - 2 * y3 + y2sq)) <= 4 * s.grad_wq_err + _width_allowance(b, T, d)


def test_plot_figure3(tmp_path: Path) -> None:
    for suffix in ("png", "svg"):
        fig = plot_figure3(tmp_path / f"fig3.{suffix}", betas=[0.5, 2.0], configs=((16, 32),), seeds=2)
        assert (tmp_path / f"fig3.{suffix}").stat().st_size > 1000 and fig.axes
