"""The query-weight gradient at initialisation, evaluated (Result 2 corrected, docs/theory.md §9).

(T / (d^2 sqrt(log T))) E||dL/dW_Q||_F^2 = beta sigma_v2 q (q - p)^2 E[Y2 - 2 Y3 + Y2^2]
(:mod:`symsig.theory.gradient`), at T -> infinity (Poisson-Dirichlet bracket m (1 - m)/3)
or with the exact finite-T moments, and the beta at which it reaches a threshold.

Precision: the asymptotic value is a closed form, evaluated to ``dps`` digits
(double precision when ``dps`` is None). The finite-T value multiplies the compiled
prefactor by the moments of :func:`symsig.numerics.finite_t.rem_moments` and
inherits their precision (see that module).
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..core import validate
from ..core.results import Result
from ..numerics.precision import GUARD_DIGITS, to_mpf
from ..theory import rem
from ..theory.gradient import (Y2, Y2SQ, Y3, bracket_expr, bracket_pd_m, grad_wq_moments_expr, grad_wq_pd_expr,
                               large_beta_limit_expr, prefactor_expr, vanishing_beta_pd_expr)
from ..theory.symbols import beta, m, p, q, sigma_v2


# ----------------------------------------------------------------------- evaluators
@cache
def _pd_evaluator(module: str) -> Callable[..., Any]:
    """Lambdified asymptotic scaled gradient and its parts, args (beta, q, p, sigma_v2)."""
    m_expr = rem.parisi_m()
    parts = [
        grad_wq_pd_expr(),
        prefactor_expr(),
        bracket_pd_m().subs(m, m_expr),
        rem.y_moment_pd(2).subs(m, m_expr),
        rem.y_moment_pd(3).subs(m, m_expr),
        rem.y2_squared_pd().subs(m, m_expr),
        m_expr,
    ]
    return sp.lambdify((beta, q, p, sigma_v2), parts, modules=module)


@cache
def _moments_evaluator(module: str) -> Callable[..., Any]:
    """Lambdified (scaled gradient, prefactor, bracket) in terms of the moments,
    args (beta, q, p, sigma_v2, Y2, Y3, Y2sq)."""
    return sp.lambdify((beta, q, p, sigma_v2, Y2, Y3, Y2SQ), [grad_wq_moments_expr(), prefactor_expr(), bracket_expr()],
                       modules=module)


@dataclass(frozen=True)
class GradientResult(Result):
    """Scaled E||dL/dW_Q||^2 = prefactor * bracket, bracket = Y2 - 2 Y3 + Y2sq.

    ``m`` is the Parisi parameter (asymptotic) or None (finite T); ``T`` None means
    T -> infinity. Numbers are mpmath mpf when ``dps`` was given, floats otherwise.
    """

    grad_wq_scaled: Any
    prefactor: Any
    bracket: Any
    Y2: Any
    Y3: Any
    Y2sq: Any
    m: Any
    T: int | None
    dps: int | None = field(default=None, repr=False)


def validate_point(b: Any, qq: Any, pp: Any, sv2: Any, T: Any, dps: Any) -> None:
    """Raise ValueError (validate.InputError) on parameters outside the model's domain."""
    validate.positive("beta", b)
    validate.positive("q", qq)
    validate.overlap(qq, pp)
    validate.nonnegative("sigma_v2", sv2)
    if T is not None:
        validate.integer("T", T, 2, limit="seq_len")  # the finite-T moments are exact up to LIMITS["seq_len"]
    if validate.dps(dps) is None:
        for name, x in (("beta", b), ("q", qq), ("sigma_v2", sv2)):
            validate.double(name, x, divisor=name != "sigma_v2")


def _finite_t_moments(b: Any, qq: Any, pp: Any, T: int, dps: int | None) -> tuple[Any, Any, Any]:
    """E[Y2], E[Y3], E[Y2^2] at finite T from symsig.finite_t (float: ~1e-12 relative; mpmath: dps digits)."""
    from ..numerics.finite_t import rem_moments, rem_moments_np

    if dps is None:
        mom = rem_moments_np(float(b), float(qq), float(pp), T)
        return float(mom.Y2), float(mom.Y3), float(mom.Y2sq)
    mom = rem_moments(b, qq, pp, T, dps=dps)
    return mom.Y2, mom.Y3, mom.Y2sq


def grad_wq_scaled(
    beta: float,
    q: float,
    p: float,
    sigma_v2: float = 1.0,
    T: int | None = None,
    dps: int | None = None,
    width: int | None = None,
) -> GradientResult:
    """(T / (d^2 sqrt(log T))) E||dL/dW_Q||_F^2 = beta sigma_v2 q (q - p)^2 E[Y2 - 2 Y3 + Y2^2].

    T None: Poisson–Dirichlet limit, bracket m (1 - m)/3, m = min(1, beta_c / beta).
    T given: exact finite-T moments of the REM with logit variance beta^2 log(T) q (q - p).
    ``dps`` selects mpmath at that many digits (results are mpf); None gives floats.
    ``width`` d (needs T; floats only): the first-order finite-width value (docs/finite_width.md §4,
    :func:`symsig.theory.finite_width.grad_wq_width_expr`, Gaussian tokens); ``bracket`` is then
    grad / prefactor = (1 - 1/d) <tr J^2>_d + (E(1 - Y2)^2 + 2 G)/d, while Y2, Y3, Y2sq stay the
    exact finite-T moments.
    """
    validate_point(beta, q, p, sigma_v2, T, dps)
    if width is not None:
        return _grad_wq_width(beta, q, p, sigma_v2, T, dps, width)
    work = None if dps is None else dps + GUARD_DIGITS  # the bracket Y2 - 2 Y3 + Y2^2 cancels digits
    ctx = mpmath.workdps(work) if dps is not None else contextlib.nullcontext()
    with ctx:
        conv = to_mpf if dps is not None else float  # inputs exactly as written (never through float)
        b, qq, pp, sv2 = (conv(x) for x in (beta, q, p, sigma_v2))
        if T is None:
            g, pref, br, y2, y3, y2sq, mm = _pd_evaluator("mpmath" if dps else "math")(b, qq, pp, sv2)
            vals = [conv(x) for x in (g, pref, br, y2, y3, y2sq, mm)]
            return GradientResult(*vals, T=None, dps=dps)
        if pp == qq:  # uniform attention: Y_k = T^(1-k) exactly, prefactor 0
            y2, y3 = conv(1) / T, conv(1) / T**2
            y2sq = y2 * y2
        else:
            y2, y3, y2sq = (conv(x) for x in _finite_t_moments(b, qq, pp, int(T), work))
        g, pref, br = (conv(x) for x in _moments_evaluator("mpmath" if dps else "math")(b, qq, pp, sv2, y2, y3, y2sq))
        return GradientResult(g, pref, br, y2, y3, y2sq, None, int(T), dps)


@cache
def _width_evaluator(tokens: str = "gaussian") -> Callable[..., Any]:
    """Compiled (scaled gradient at finite width, prefactor), args (beta, q, p, sigma_v2, T, d)."""
    from ..numerics.compile import compile_np
    from ..theory.finite_width import grad_wq_width_expr
    from ..theory.symbols import T, d

    return compile_np((beta, q, p, sigma_v2, T, d), (grad_wq_width_expr(tokens), prefactor_expr()))


def _grad_wq_width(b: Any, qq: Any, pp: Any, sv2: Any, T: Any, dps: Any, width: Any) -> GradientResult:
    """:func:`grad_wq_scaled` at finite width d (floats)."""
    from ..numerics.compile import eval_np

    width = validate.width(width, T, dps)
    b, qq, pp, sv2 = (float(x) for x in (b, qq, pp, sv2))
    g, pref = (float(x) for x in eval_np(_width_evaluator(), b, qq, pp, sv2, float(T), float(width)))
    if pp == qq:
        y2, y3 = 1.0 / T, 1.0 / T**2
        y2sq = y2 * y2
    else:
        y2, y3, y2sq = (float(x) for x in _finite_t_moments(b, qq, pp, int(T), None))
    return GradientResult(g, pref, g / pref if pref else 0.0, y2, y3, y2sq, None, int(T), None)


def grad_wk_scaled(
    beta: float,
    q: float,
    p: float,
    sigma_v2: float = 1.0,
    T: int | None = None,
    dps: int | None = None,
) -> GradientResult:
    """Scaled E||dL/dW_K||_F^2: identical to ``grad_wq_scaled`` at leading order in d.

    ||dL/dW_K||^2 = (1/d) sum G^x_ss' (W_Q x_t).(W_Q x_t') delta_ts delta_t's' has the
    same structure as dW_Q with the roles of query and key Grams swapped; both are
    sigma_a d G, so the expectation is the same formula (checked by Monte Carlo).
    """
    return grad_wq_scaled(beta, q, p, sigma_v2, T, dps)


def gradient(
    beta: float,
    rho: float,
    q: float = 1.0,
    seq_len: int | None = None,
    sigma_v2: float = 1.0,
    dps: int | None = None,
    width: int | None = None,
) -> GradientResult:
    """CLI-shaped ``symsig gradient``: ``grad_wq_scaled(beta, q, rho q, sigma_v2, T=seq_len, dps, width)``."""
    validate.correlation("rho", rho)
    validate.positive("q", q)
    p_ = float(rho) * float(q) if dps is None else validate.exact("rho", rho) * validate.exact("q", q)  # exact at dps
    return grad_wq_scaled(beta, q, p_, sigma_v2, T=seq_len, dps=dps, width=width)


# ------------------------------------------------------------------- root finding
def gradient_vanishing_beta(
    threshold: float,
    q: float,
    p: float,
    sigma_v2: float = 1.0,
    T: int | None = None,
    dps: int | None = None,
) -> Any:
    """Smallest beta at which the scaled gradient reaches ``threshold`` (below it, smaller).

    Asymptotic (T None): closed form of beta sigma_v2 q (q-p)^2 m(1-m)/3 = threshold,
    beta = beta_c / (1 - 3 threshold / (sigma_v2 q (q-p)^2 beta_c)); returns inf when
    threshold >= the beta -> infinity limit sigma_v2 q (q-p)^2 beta_c / 3 (never reached).
    Finite T: first sign change on a log grid of beta in [1e-3, 1e3] (121 points; a
    crossing between grid points and back is missed), refined by brentq to ~1e-15
    relative in floats (moments ~1e-12), then by an mpmath secant at ``dps`` digits
    (each mpmath evaluation costs 10-50 s); inf if there is no crossing.
    """
    validate.positive("threshold", threshold)
    validate_point(1.0, q, p, sigma_v2, T, dps)
    if p == q or sigma_v2 == 0:
        return math.inf
    if T is None:
        return _vanishing_beta_pd(threshold, q, p, sigma_v2, dps)
    return _vanishing_beta_finite(threshold, q, p, sigma_v2, int(T), dps)


def _vanishing_beta_pd(threshold: float, qq: float, pp: float, sv2: float, dps: int | None) -> Any:
    """Closed-form asymptotic root; inf if threshold >= the large-beta limit."""
    sol, thr = vanishing_beta_pd_expr()
    limit = large_beta_limit_expr()
    subs = {q: qq, p: pp, sigma_v2: sv2}
    digits = dps or 17
    if float(limit.subs(subs)) <= threshold:
        return math.inf
    val = sp.N(sol.subs(subs).subs(thr, sp.nsimplify(threshold)), digits)
    return mpmath.mpf(str(val)) if dps else float(val)


def _vanishing_beta_finite(threshold: float, qq: float, pp: float, sv2: float, T: int, dps: int | None) -> Any:
    """Root of grad(beta) - threshold at finite T: float grid + brentq, then mpmath secant if dps."""
    from scipy.optimize import brentq

    grid = np.geomspace(1e-3, 1e3, 121)
    vals = grad_wq_scaled_np(grid, qq, pp, sv2, T=T) - threshold
    above = np.nonzero(vals >= 0)[0]
    if above.size == 0:
        return math.inf
    i = int(above[0])
    if i == 0:
        return mpmath.mpf(grid[0]) if dps else float(grid[0])
    f = lambda b: grad_wq_scaled(b, qq, pp, sv2, T=T).grad_wq_scaled - threshold  # noqa: E731
    root = brentq(f, grid[i - 1], grid[i], xtol=1e-15, rtol=1e-15)
    if dps is None:
        return float(root)
    with mpmath.workdps(dps):
        fm = lambda b: grad_wq_scaled(b, qq, pp, sv2, T=T, dps=dps).grad_wq_scaled - threshold  # noqa: E731
        return mpmath.findroot(fm, (mpmath.mpf(root), mpmath.mpf(root) * (1 + mpmath.mpf(10) ** -9)),
                               solver="secant", tol=mpmath.mpf(10) ** (-2 * dps))


def grad_wq_scaled_np(beta: Any, q: Any, p: Any, sigma_v2: Any = 1.0, T: int | None = None,
                      width: int | None = None) -> np.ndarray:
    """Vectorised float ``grad_wq_scaled(...).grad_wq_scaled`` (arrays broadcast), for grids.

    T None: the lambdified PD Piecewise; T given: prefactor times the bracket of
    ``finite_t.rem_moments_np`` (about 1e-12 relative); ``width`` d: the finite-width value
    (about 1e-8 relative).
    """
    b, qq, pp, sv2 = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (beta, q, p, sigma_v2)))
    if np.any(~(b > 0)) or np.any(~(qq > 0)) or np.any(~(np.abs(pp) <= qq)) or np.any(~(sv2 >= 0)):
        raise validate.InputError("need beta > 0, q > 0, |p| <= q and sigma_v2 >= 0")
    if T is None:
        return np.asarray(_pd_np()(b, qq, pp, sv2), dtype=float) * np.ones_like(b)
    from ..numerics.finite_t import rem_moments_np

    validate.integer("T", T, 2)
    live = pp < qq  # q = p: prefactor 0 and logit variance 0
    out = np.zeros_like(b)
    if width is not None and np.any(live):
        from ..numerics.compile import eval_np

        d_ = float(validate.width(width, T))
        out[live] = eval_np(_width_evaluator(), b[live], qq[live], pp[live], sv2[live], float(T), d_)[0]
    elif np.any(live):
        mom = rem_moments_np(b[live], qq[live], pp[live], int(T))
        out[live] = _moments_evaluator("numpy")(b[live], qq[live], pp[live], sv2[live], mom.Y2, mom.Y3, mom.Y2sq)[0]
    return out


@cache
def _pd_np() -> Callable[..., Any]:
    """numpy-lambdified asymptotic scaled gradient (Piecewise -> numpy.select)."""
    return sp.lambdify((beta, q, p, sigma_v2), grad_wq_pd_expr(), modules="numpy")
