"""E[Y_k] and E[Y_2^2] at ``dps`` significant digits (mpmath; docs/theory.md §4.1).

    E[Y_k]   = n/(k-1)! int du A_k(u) L(u)^(n-1)
    E[Y_2^2] = E[Y_4] + n(n-1)/3! int du A_2(u)^2 L(u)^(n-2)

with the one-state expectations of :mod:`.gauss_mp` and a trapezoid rule in u whose step
and range are set from the precision (:func:`mp_outer`). Tests recompute at dps + 20.
"""
from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np

from ...core.validate import limited
from ..precision import to_mpf
from .gauss import inner_np, log_l, u_range
from .gauss_mp import MPInner, mp_log_l
from .inputs import GUARD, check_dps, check_k, check_n, check_s2


def mp_u_range(sig: float, n: int, dps: int) -> tuple[float, float]:
    """Outer range where (n-1)(-log L) is in [10^-(dps+10), (dps+10) ln 10 + 10], widened by 1."""
    s_lo = -(dps + 10) * math.log(10.0)
    s_hi = math.log((dps + 10) * math.log(10.0) + 10)
    a, b = u_range(np.array([[sig]]), np.array([float(n)]), max(s_lo, -700.0), s_hi)
    u_lo, u_hi = float(a[0]) - 1.0, float(b[0]) + 1.0
    if s_lo < -700:
        u_lo -= (-700 - s_lo)
    return u_lo, u_hi


def n_outer(sig: float, u_lo: float, u_hi: float, dps: int) -> int:
    """Trapezoid node count: h_s = pi^2 / ((dps + 6) ln 10) in s, h_u = h_s / max ds/du.

    The integrand is ~exp(-e^s) at the right end, analytic in |Im s| < pi/2, so the
    trapezoid error is ~exp(-pi^2 / h_s) = 10^-(dps+6). ds/du = A_1 / (L (-log L)) is
    measured in float on a coarse grid (times 1.3 for safety, capped at 1).
    """
    uu = np.linspace(u_lo, u_hi, 200)[None, :]
    r = inner_np(uu, np.array([[sig]]), (1,))
    with np.errstate(all="ignore"):
        dsdu = r[1] / (r["L"] * -log_l(r))
    dmax = min(1.0, 1.3 * float(np.nanmax(np.where(np.isfinite(dsdu), dsdu, 0.0))))
    h_s = math.pi**2 / ((dps + 6) * math.log(10.0))
    return max(int(math.ceil((u_hi - u_lo) * max(dmax, 0.02) / h_s)), 16)


def _mp_outer(s2: mpmath.mpf, n: int, dps: int, integrand, n_out: int) -> list:
    """Trapezoid in u over :func:`mp_u_range` with :func:`n_outer` nodes (error ~10^-(dps+6))."""
    sig_f = math.sqrt(float(s2))
    u_lo, u_hi = mp_u_range(sig_f, n, dps)
    m = limited("trapezoid nodes of the mpmath finite-T moments", n_outer(sig_f, u_lo, u_hi, dps), "nodes",
                why=f"logit variance s2 = {float(s2):.3g} at {dps} digits: about 2 ms a node")
    h = (mpmath.mpf(u_hi) - u_lo) / m
    vals = [integrand(u_lo + h * j) for j in range(m + 1)]
    return [h * mpmath.fsum(v[i] for v in vals) for i in range(n_out)]


def y_moment(k: int, s2: Any, n: Any, *, dps: int | None = None) -> mpmath.mpf:
    """E[Y_k] = n/(k-1)! int du A_k(u) L(u)^(n-1) at ``dps`` significant digits.

    Y_k = sum_s A_s^k, A = softmax of n iid N(0, s2) logits; n = 1 gives 1, s2 = 0
    gives n^(1-k). Inputs may be str/int/Rational/mpf; the global precision is untouched.
    """
    k = check_k(k)
    return y_moments((k,), s2, n, dps=dps)[k]


def y2_squared(s2: Any, n: Any, *, dps: int | None = None) -> mpmath.mpf:
    """E[Y_2^2] = E[Y_4] + n(n-1)/3! int du A_2(u)^2 L(u)^(n-2) at ``dps`` digits."""
    return y_moments((), s2, n, dps=dps, squared=True)["Y2sq"]


def y_moments(ks: Any, s2: Any, n: Any, *, dps: int | None = None, squared: bool = False) -> dict:
    """Several finite-T moments in one pass: {k: E[Y_k] for k in ks} (+ 'Y2sq': E[Y_2^2]).

    All integrands share the outer u-nodes and the 1-D expectations L(u), A_k(u) (the
    Gaussian kernel, the dominant cost, is computed once per node), so E[Y2], E[Y3] and
    E[Y2^2] together cost about as much as one of them. Each value has ``dps`` digits:
    the node count is set by the most demanding integrand (see :func:`n_outer`).
    """
    ks = tuple(sorted({check_k(k) for k in ks}))
    dps, n = check_dps(dps), check_n(n)
    with mpmath.workdps(dps + GUARD):
        s2m = to_mpf(s2)
        check_s2(s2m)
        keys = list(ks) + (["Y2sq"] if squared else [])
        if n == 1:
            return {key: mpmath.mpf(1) for key in keys}
        if s2m == 0:
            res = {k: mpmath.mpf(n) ** (1 - k) for k in ks}
            if squared:
                res["Y2sq"] = mpmath.mpf(n) ** -2
            return res
        inner_ks = tuple(sorted(set(ks) | ({2, 4} if squared else set())))
        inner = MPInner(s2m, inner_ks, dps + 5)
        c = {k: mpmath.mpf(n) / mpmath.factorial(k - 1) for k in inner_ks}
        c22 = mpmath.mpf(n) * (n - 1) / 6

        def f(u):
            r = inner(u)
            ll = mp_log_l(r)
            pw = mpmath.exp((n - 1) * ll)
            out = [c[k] * r[k] * pw if r[k] > 0 else mpmath.mpf(0) for k in ks]
            if squared:
                y4 = c[4] * r[4] * pw if r[4] > 0 else mpmath.mpf(0)
                out.append(y4 + (c22 * r[2] ** 2 * mpmath.exp((n - 2) * ll) if r[2] > 0 else 0))
            return out

        vals = _mp_outer(s2m, n, dps, f, len(keys))
        return {key: +v for key, v in zip(keys, vals)}
