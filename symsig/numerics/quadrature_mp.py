"""Gaussian kernels at any precision (mpmath): closed forms, fixed-point and mpmath trapezoids.

(K_qq, K_qp) and (dK_qq/dq1, dK_qp/dp1) as in :mod:`symsig.numerics.quadrature` (definitions,
grids and the float engine), to ``dps`` correct digits:

* closed forms (linear, relu, erf, gelu): the compiled exact expressions;
* tanh, sigmoid, swish (phi a polynomial psi(x, t) in t = tanh(kappa x)): the trapezoid on
  the tensor grid in fixed-point integers. On the lattice x = a_i + b_j the addition formula
  t = (A_i + B_j) / (1 + A_i B_j) needs tanh only on 3n points, and psi is evaluated by
  integer multiplications and shifts generated from its SymPy form
  (:func:`symsig.numerics.activations.fixed_point`);
* other named activations (GPT-2's gelu_tanh: tanh of a cubic, no addition formula): the
  same a priori grid in plain mpmath (n^2 evaluations of phi);
* user callables: the adaptive mpmath trapezoid (halve h until two sums agree).

Precision: |error| <= 10^-dps * max(|K_qp|, 1e-8 K_qq) for named activations (discretisation
target 10^-(dps+8) K_qq, rounding below that); user callables: two successive halvings
agree to 10^-(dps+2) K_qq.
"""
from __future__ import annotations

from functools import lru_cache
from math import ceil, log, sqrt
from typing import Any, Callable

import mpmath
import numpy as np

from .activations import (CLOSED_FORMS, ActivationLike, ConvergenceError, activation_mp, check_name,
                          closed_mp, fixed_point, smooth)

MP_GUARD = 8  # extra decimal digits of the discretisation target
_ADAPT_M0, _ADAPT_LEVELS = 18, 9  # user callables: m = 18 * 2^k half-width nodes


def check_mp(q1: Any, p1: Any) -> tuple[Any, Any]:
    """(q1, p1) as mpf at the working precision; q1 > 0, |p1| <= q1 up to rounding (then clipped)."""
    q, p = mpmath.mpf(q1), mpmath.mpf(p1)
    if not (mpmath.isfinite(q) and mpmath.isfinite(p)):
        raise ValueError("q1 and p1 must be finite")
    if q <= 0:
        raise ValueError("q1 (pre-activation variance) must be positive")
    if abs(p) > q * (1 + mpmath.ldexp(1, 8 - mpmath.mp.prec)):
        raise ValueError("|p1| must not exceed q1 (correlation outside [-1, 1])")
    return q, max(-q, min(q, p))


def check_dps(dps: Any) -> int:
    if not isinstance(dps, (int, np.integer)) or isinstance(dps, bool) or dps < 1:
        raise ValueError("dps must be a positive integer")
    return int(dps)


@lru_cache(maxsize=32)
def grid_mp(dps: int, m: int, half_width: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Nodes k L/m (|k| <= m) and normalised Gaussian weights at working precision dps (cached)."""
    with mpmath.workdps(dps):
        h = mpmath.mpf(half_width) / m
        z = [k * h for k in range(-m, m + 1)]
        w = [mpmath.exp(-x * x / 2) for x in z]
        tot = mpmath.fsum(w)
        return tuple(z), tuple(x / tot for x in w)


def _half_width(log_eps: float) -> int:
    """L with the Gaussian tail of z^2 phi(z)^2 beyond L below eps = e^-log_eps."""
    return ceil(sqrt(2 * log_eps + 4 * log(2 * log_eps))) + 1


def mp_plan(dps: int, sigma: Any, strip: float) -> tuple[int, str]:
    """Grid (m, L) for discretisation error ~ 10^-(dps + guard) relative to K_qq: the step is
    h = min(pi sqrt(2 / log(1/eps)) (Gaussian factor), 2 pi strip / (sigma log(1/eps)) (poles))."""
    log_eps = (dps + MP_GUARD) * log(10)
    half = _half_width(log_eps)
    h = min(np.pi * sqrt(2 / (log_eps + 5)), 2 * np.pi * strip / (float(sigma) * (log_eps + 7)))
    return int(ceil(half / h)), str(half)


def _obj(values: Any) -> np.ndarray:
    return np.array(list(values), dtype=object)


def _fixed_mp(name: str, q: Any, c: Any, dps: int, deriv: bool) -> tuple[Any, Any]:
    """tanh/sigmoid/swish at precision dps by the trapezoid in fixed-point integers.

    phi(a_i + b_j) = psi(x, T), T = tanh(kappa (a_i + b_j)) = (A_i + B_j) / (1 + A_i B_j), so only
    3n tanh evaluations are in mpmath and the n^2 lattice is integer arithmetic. Cancellation
    in 1 + A B when a ~ -b is why the fixed point carries 2 kappa max|a| log2(e) extra bits."""
    spec = smooth(name)
    work = dps + MP_GUARD + 5
    with mpmath.workdps(work):
        sigma = mpmath.sqrt(q)
        s = mpmath.sqrt((1 - c) * (1 + c))
        m, half = mp_plan(dps, sigma, spec.strip)
        z, w = grid_mp(work, m, half)
        amax = float(sigma) * float(half) * (abs(float(c)) + float(s)) * spec.kappa
        bits = mpmath.mp.prec + 30 + int(2 * amax * 1.4427) + max(0, int(-log(float(q), 2)))
        one = 1 << bits

        def fix(x: Any) -> int:
            return int(mpmath.nint(mpmath.ldexp(x, bits)))

        kap = mpmath.mpf(spec.kappa)
        xa = _obj(fix(sigma * c * x) for x in z)
        xb = _obj(fix(sigma * s * x) for x in z)
        ta = _obj(fix(mpmath.tanh(kap * sigma * c * x)) for x in z)
        tb = _obj(fix(mpmath.tanh(kap * sigma * s * x)) for x in z)
        xu = _obj(fix(sigma * x) for x in z)
        tu = _obj(fix(mpmath.tanh(kap * sigma * x)) for x in z)
        wf = _obj(fix(x) for x in w)
        t = ((ta[:, None] + tb[None, :]) << bits) // (one + ((ta[:, None] * tb[None, :]) >> bits))
        f, fx = fixed_point(name, deriv), fixed_point(name)
        lattice = f(xa[:, None] + xb[None, :], t, bits)
        row = (lattice * wf[None, :]).sum(axis=1)
        k_qp = mpmath.ldexp(mpmath.mpf(int(((wf * f(xu, tu, bits)) * row).sum())), -4 * bits)
        pu = fx(xu, tu, bits)
        if deriv:  # score form of dK_qq/dq1
            zz = _obj(fix(x * x - 1) for x in z)
            k_qq = mpmath.ldexp(mpmath.mpf(int((wf * pu * pu * zz).sum())), -4 * bits) / (2 * q)
        else:
            k_qq = mpmath.ldexp(mpmath.mpf(int((wf * pu * pu).sum())), -3 * bits)
        return k_qq, k_qp


def _trap_mp(phi: Callable, q: Any, c: Any, m: int, half: str, work: int,
             moments: bool) -> tuple[Any, Any, Any]:
    """mpmath trapezoid: (sum w phi^2 [(z^2-1) if moments], sum w phi^2, K_qp sum)."""
    z, w = grid_mp(work, m, half)
    sigma, s = mpmath.sqrt(q), mpmath.sqrt((1 - c) * (1 + c))
    a = [phi(sigma * x) for x in z]
    plain = mpmath.fdot(w, [x * x for x in a])
    diag = mpmath.fdot(w, [x * x * (y * y - 1) for x, y in zip(a, z)]) if moments else plain
    col = [sigma * s * y for y in z]
    rows = [mpmath.fdot(w, [phi(row + y) for y in col]) for row in (sigma * c * x for x in z)]
    return diag, plain, mpmath.fdot([wi * ai for wi, ai in zip(w, a)], rows)


def _planned_mp(name: str, q: Any, c: Any, dps: int, deriv: bool) -> tuple[Any, Any]:
    """A named activation without tanh form on the a priori grid of :func:`mp_plan`, in mpmath."""
    work = dps + MP_GUARD + 5
    with mpmath.workdps(work):
        m, half = mp_plan(dps, mpmath.sqrt(q), smooth(name).strip)
        d, _, k = _trap_mp(activation_mp(name), q, c, m, half, work, deriv)
        if not deriv:
            return d, k
        return d / (2 * q), _trap_mp(activation_mp(name, True), q, c, m, half, work, False)[2]


def _adaptive_mp(phi: Callable, q: Any, c: Any, dps: int, moments: bool) -> tuple[Any, Any]:
    """Halve h until both sums change by <= 10^-(dps+2) K_qq; raise if that never happens."""
    work = dps + 10
    with mpmath.workdps(work):
        half = str(_half_width((dps + 4) * log(10)))
        prev = None
        for level in range(_ADAPT_LEVELS):
            d, plain, k = _trap_mp(phi, q, c, _ADAPT_M0 << level, half, work, moments)
            if prev is not None and max(abs(d - prev[0]), abs(k - prev[1])) <= \
                    mpmath.mpf(10) ** (-dps - 2) * abs(plain):
                return d, k
            prev = (d, k)
    raise ConvergenceError(f"quadrature did not converge to {dps} digits for the user activation "
                           "(is phi smooth? non-smooth phi need a closed form)")


def _kernel_mp(act: ActivationLike, q1: Any, p1: Any, dps: int, deriv: bool,
               dact: Callable | None) -> tuple[Any, Any]:
    dps = check_dps(dps)
    with mpmath.workdps(dps + 10):
        q, p = check_mp(q1, p1)
        c = p / q
        if callable(act):
            if deriv and dact is None:
                raise ValueError("dkernel_mp needs dact=phi' for a user activation")
            d, k = _adaptive_mp(act, q, c, dps, deriv)
            res = (d / (2 * q), _adaptive_mp(dact, q, c, dps, False)[1]) if deriv else (d, k)
        elif check_name(act) in CLOSED_FORMS:
            res = closed_mp(act, deriv)(q, p)
        elif smooth(act).kappa is not None:
            res = _fixed_mp(act, q, c, dps, deriv)
        else:
            res = _planned_mp(act, q, c, dps, deriv)
    with mpmath.workdps(dps + 3):  # 3 guard digits beyond the promised dps
        return +mpmath.mpf(res[0]), +mpmath.mpf(res[1])


def kernel_mp(act: ActivationLike, q1: Any, p1: Any, *, dps: int) -> tuple[Any, Any]:
    """(K_qq, K_qp) = (E[phi(u)^2], E[phi(u) phi(v)]) as mpf, correct to ``dps`` digits.

    Scalars only (int, float, str or mpf; strings are read at working precision).
    Works inside ``mpmath.workdps(dps + 10)``; the global precision is unchanged.
    Results carry dps + 3 digits (print them with ``mpmath.nstr(x, dps)``).
    A user callable takes and returns mpf.
    """
    return _kernel_mp(act, q1, p1, dps, False, None)


def dkernel_mp(act: ActivationLike, q1: Any, p1: Any, *, dps: int,
               dact: Callable | None = None) -> tuple[Any, Any]:
    """(dK_qq/dq1, dK_qp/dp1) as mpf to ``dps`` digits: dK_qp/dp1 = E[phi'(u) phi'(v)] (Price),
    dK_qq/dq1 = E[phi(u)^2 (u^2/q1 - 1)] / (2 q1); a user callable needs ``dact`` = phi'."""
    return _kernel_mp(act, q1, p1, dps, True, dact)
