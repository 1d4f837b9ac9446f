"""The centred branch covariance of gain-controlled attention (symsig.theory.finite_width_gc,
docs/finite_width.md §9) against a direct Monte Carlo of the d -> infinity REM rows.

Rows' logits sqrt(s2) (sqrt(rho) c_s + sqrt(1 - rho) u_ts) (the d -> infinity logit law of T queries at
cosine rho), A = softmax, X = A A^T, G = X - row means - column means + grand mean (units w = sigma_v2 (q - p)).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from symsig.numerics.compile import compile_np, eval_np
from symsig.theory import finite_width, finite_width_gc
from symsig.theory.symbols import T, beta, p, q


def rem_rows(rng: np.random.Generator, b: float, rho: float, tt: int) -> np.ndarray:
    s = b * math.sqrt(math.log(tt) * (1 - rho))
    a = s * (math.sqrt(rho) * rng.standard_normal(tt)[None, :] + math.sqrt(1 - rho) * rng.standard_normal((tt, tt)))
    a -= a.max(axis=1, keepdims=True)
    e = np.exp(a)
    e /= e.sum(axis=1, keepdims=True)
    return e @ e.T


def measure(b: float, rho: float, tt: int, draws: int, seed: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """The seven overlap covariances (pattern averages within a draw, products of the global means)
    and the direct (Var G_aa, Cov(G_aa, G_bb), Cov(G_ab, G_aa)) with their standard errors."""
    rng = np.random.default_rng(seed)
    n2, n3 = tt * (tt - 1), tt * (tt - 1) * (tt - 2)
    n4 = n3 * (tt - 3)
    rows = []
    for _ in range(draws):
        x = rem_rows(rng, b, rho, tt)
        y = np.diag(x).copy()
        off = x - np.diag(y)
        row, tot, sq = off.sum(axis=1), off.sum(), (off**2).sum()
        three = (row**2).sum() - sq
        g = x - x.mean(axis=0, keepdims=True) - x.mean(axis=1, keepdims=True) + x.mean()
        gd = np.diag(g)
        rows.append([y.mean(), tot / n2, (y**2).mean(), (y.sum()**2 - (y**2).sum()) / n2, (y[:, None] * off).sum() / n2,
                     sq / n2, (y * (tot - 2 * row)).sum() / n3, three / n3, (tot**2 - 2 * sq - 4 * three) / n4,
                     gd.mean(), (gd**2).mean(), (gd.sum()**2 - (gd**2).sum()) / n2,
                     (gd[:, None] * (g - np.diag(gd))).sum() / n2])
    m = np.array(rows)
    y2, x_, g = m[:, 0].mean(), m[:, 1].mean(), m[:, 9].mean()
    cov = dict(zip(finite_width_gc.PATTERNS, (m[:, 2].mean() - y2**2, m[:, 3].mean() - y2**2, m[:, 4].mean() - y2 * x_,
                                               m[:, 5].mean() - x_**2, m[:, 6].mean() - y2 * x_, m[:, 7].mean() - x_**2,
                                               m[:, 8].mean() - x_**2)))
    # E G_ab = -E G_aa / (T - 1): the centred Gram sums to zero
    direct = np.stack([m[:, 10] - g * g, m[:, 11] - g * g, m[:, 12] + g * g / (tt - 1)], axis=1)
    return cov, direct.mean(axis=0), direct.std(axis=0, ddof=1) / math.sqrt(draws)


def test_counting_table_reproduces_the_centred_gram() -> None:
    """With all seven measured covariances the quadratic forms are the direct measurement: an identity of
    the estimators (to rounding), checking the counting table independently of the enumeration proof."""
    cov, direct, _ = measure(2.0, 0.5, 24, 40, seed=0)
    lib = [float(x) for x in finite_width_gc.gain_control_branch_cov(sp.Integer(24), 1, **cov)]
    assert np.allclose(lib, direct, rtol=1e-9, atol=1e-15)


@pytest.fixture(scope="module")
def library_two_row():
    two = finite_width.overlap_covariances(inverse_temperature=beta)
    closed = finite_width_gc.gain_control_branch_cov(T, 1, **two, **finite_width_gc.three_row_closure(
        two["V1"], two["C2"], two["E2"]))
    dropped = finite_width_gc.gain_control_branch_cov(T, 1, **two)
    return compile_np((q, p, beta, T), (*closed, *dropped))


# (beta, rho, closure's measured relative error of Var G_aa at T = 128, 300 draws; docs/finite_width.md §9)
CASES = [(0.5, 0.3, 0.01), (1.5, 0.3, -0.02), (1.5, 0.6, -0.05), (3.0, 0.3, -0.06), (3.0, 0.6, -0.38)]


@pytest.mark.parametrize("b, rho, rel", CASES)
def test_closure_against_the_rem(library_two_row, b: float, rho: float, rel: float) -> None:
    """Var G_aa of the closure, with the library's exact two-row moments, against 300 draws at T = 128:
    within 6% where rho <= 0.6 below the frozen phase and at rho = 0.3 in it; the frozen rho = 0.6 point is
    the closure's worst measured case (-38%). Dropping the three-row terms instead is off by -89% and -75% at
    rho = 0.6, which the same statistic shows. Error budget: 4 SE of the Monte Carlo plus 1.25 times the
    error measured at seed 1. ~0.2 s per case."""
    _, direct, se = measure(b, rho, 128, 300, seed=1)
    out = np.array(eval_np(library_two_row, 1.0, rho, b, 128.0)).ravel()
    closed, dropped = out[:3], out[3:]
    assert abs(closed[0] - direct[0]) <= 4 * se[0] + abs(rel) * 1.25 * direct[0], (closed[0], direct[0], se[0])
    if rho >= 0.6:
        assert abs(closed[0] - direct[0]) < abs(dropped[0] - direct[0]), (closed[0], dropped[0], direct[0])
