"""Numeric twins of the finite-width functions of :mod:`symsig.theory.special` (docs/finite_width.md).

Two softmax rows over the same n keys, logits x_s (row 1) and x'_s (row 2) jointly
Gaussian, independent across s, with Var x = v1, Var x' = v2, Cov(x, x') = c. With
1/(Z^J Z'^K) = int int t^(J-1) t'^(K-1) e^(-t Z - t' Z') dt dt' / (Gamma(J) Gamma(K)) and
t = e^u, t' = e^u', every moment below is a two-dimensional integral over (u, u') of the
one-state expectations (x = u + logit, x' = u' + logit')

    B_jk(u, u') = E[exp(j x + k x' - e^x - e^x')],   L2(u, u') = B_00,

one factor B per distinct key and L2^(n - #keys) for the others (docs/finite_width.md §2):

    X      = E sum_s A_s A'_s            = n      int B_11 L2^(n-1)
    A2A    = E sum_s A_s^2 A'_s          = n      int B_21 L2^(n-1)
    XX     = E (sum_s A_s A'_s)^2        = n      int B_22 L2^(n-1) + n(n-1)   int B_11^2 L2^(n-2)
    Y2X    = E Y2 sum_s A_s A'_s         = n/2    int B_31 L2^(n-1) + n(n-1)/2 int B_20 B_11 L2^(n-2)
    Y2Y2   = E Y2 Y2'                    = n      int B_22 L2^(n-1) + n(n-1)   int B_20 B_02 L2^(n-2)
    A3A    = E sum_s A_s^3 A'_s          = n/2    int B_31 L2^(n-1)
    A2A2   = E sum_s A_s^2 A'_s^2        = n      int B_22 L2^(n-1)

Causal rows (:func:`nested_overlap`): row 1 sees keys 1..n1, row 2 keys 1..n2 >= n1; each of row 2's
extra keys adds a factor L'(u') = E exp(-e^(u' + x')):  X = n1 int B_11 L2^(n1-1) L'^(n2-n1).

Numerics. Conditioning on the row-1 logit z (x = u + sqrt(v1) z) makes x' Gaussian with mean
u' + (c / sqrt v1) z and variance v_perp = v2 - c^2 / v1, so B_jk = E_z[g_j(u + sqrt(v1) z)
H_k(u' + (c/sqrt v1) z)] with g_j(x) = e^(j x - e^x) and H_k its smoothing at variance v_perp.
The z-expectation is a trapezoid rule (step 0.2 / max(1, sqrt v1, |c|/sqrt v1), |z| <= sqrt(2 (log n
+ 30))), which makes every B a matrix product; H_k and its derivative are tabulated on a uniform grid
(step 0.01) by a trapezoid rule in the conditional variable, on nodes commensurate with the grid (one
exponential per grid point, not per pair), and interpolated by cubic Hermite polynomials (these
two choices, made for speed, moved every moment by at most 2e-14 relative from the earlier
per-pair rule with cubic splines); the (u, u') integral
is a trapezoid rule on 120 x 120 nodes over the range where (n-1)(-log L) runs from e^-30 to 45.
All integrands are analytic and Gaussian-damped, so the trapezoid rules converge spectrally.
Precision: about 1e-8 relative for s2 <= 25 (tests compare with the exact library X, E[Y2],
E[Y3], E[Y2^2] in the limits c = 0 and c = v1 = v2, and with refined grids); beyond, at n <= 3,
it degrades: 4e-8 at s2 = 30, 5e-7 at s2 = 40 (n = 2), and doubling the outer nodes does not
help (the inner z/interpolation resolution does). Float only: there is no mpmath twin.

The Gaussian smearings (Gauss–Hermite in the fluctuation, clipped to the valid domain) are
described at :func:`smeared_np` and :func:`x_smeared_np`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from ..core.validate import InputError
from . import finite_t

#: The moments returned by :func:`pair_moments` (names as in the module docstring).
PAIR_MOMENTS = ("X", "A2A", "XX", "Y2X", "Y2Y2", "A3A", "A2A2")

_N_U = 120          # outer trapezoid nodes per axis
_S_LO, _S_HI = -30.0, math.log(45.0)
_Z_TAIL = 30.0
_DY = 0.01          # interpolation step of the smoothed functions H_k
_N_GH = 8           # Gauss-Hermite nodes of the smearings (exact to degree 15)


def _z_grid(scale: float, n: float, step: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid nodes and weights of E over a standard normal, resolving functions of scale*z."""
    zmax = math.sqrt(2.0 * (math.log(n) + _Z_TAIL))
    hz = step / max(1.0, scale)
    m = int(math.ceil(zmax / hz))
    z = hz * np.arange(-m, m + 1)
    return z, hz * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _g(j: int, x: np.ndarray) -> np.ndarray:
    """g_j(x) = exp(j x - e^x); j = -1 stands for 1 - exp(-e^x) (computed without cancellation)."""
    if j < 0:
        return -np.expm1(-np.exp(x))
    return np.exp(j * x - np.exp(x))


def _g_family(js: tuple[int, ...], x: np.ndarray) -> dict[int, np.ndarray]:
    """{j: g_j(x)} for j <= 4 from two exponentials, g_j = exp(-e^x) (e^x)^j (the hot loop of
    :func:`pair_moments`; equal to :func:`_g` up to rounding). e^x is capped at 1e70, where
    exp(-e^x) = 0 already, so that (e^x)^4 stays finite and 0 * inf never occurs."""
    if max(js) > 4:
        raise ValueError("g_j from the family needs j <= 4 ((e^x)^j must stay finite)")
    ex = np.exp(x)
    np.minimum(ex, 1e70, out=ex)
    power = np.exp(-ex)                                # g_0, then g_1, g_2, ... by products
    out = {0: power}
    for j in range(1, max(js) + 1):
        power = power * ex
        out[j] = power
    if -1 in js:
        np.negative(ex, out=ex)
        out[-1] = -np.expm1(ex, out=ex)
    return {j: out[j] for j in js}


def _hermite(y0: float, h: float, f: np.ndarray, df: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The cubic Hermite interpolant of values ``f`` and exact derivatives ``df`` on the grid y0 + i h.

    Error at most h^4 max|H''''| / 384 between nodes (a tenth of a not-a-knot spline's 5 h^4 / 384)."""

    def at(y: np.ndarray) -> np.ndarray:
        t = (np.asarray(y, float) - y0) / h
        i = np.clip(np.floor(t).astype(np.intp), 0, f.size - 2)
        s = t - i
        s2, r = s * s, 1.0 - s
        r2 = r * r
        return ((1.0 + 2.0 * s) * r2 * f[i] + s * r2 * h * df[i] + s2 * (3.0 - 2.0 * s) * f[i + 1]
                - s2 * r * h * df[i + 1])

    return at


def _smoothed(ks: tuple[int, ...], var: float, n: float, y_lo: float, y_hi: float) -> dict[int, Callable]:
    """y -> H_k(y) = E g_k(y + sqrt(var) w), w ~ N(0, 1), k <= 3, as cubic Hermite interpolants on
    [y_lo, y_hi] (step _DY) of H_k and of its derivative E g_k'(y + sqrt(var) w), where
    g_-1' = g_1, g_0' = -g_1 and g_k' = k g_k - g_(k+1) (trapezoid rule in w for both).

    The trapezoid step in w is the largest <= 0.2 / max(1, sd) with sd times it a multiple K of _DY:
    then every argument y_i + sd w_m lies on one grid of step _DY, g_k is evaluated once per point
    of it, and H_k is a strided sum over m (no exponential per (i, m) pair). Below sd = _DY / 0.2
    (K = 0) the w nodes of :func:`_z_grid` are used with one evaluation per pair."""
    if var <= 1e-14:
        return {k: (lambda y, k=k: _g(k, y)) for k in ks}
    sd = math.sqrt(var)
    y = np.arange(y_lo - 1.0, y_hi + 1.0 + _DY, _DY)
    js = tuple(sorted(set(ks) | {1} | {k + 1 for k in ks if k >= 1}))
    stride = int(math.floor(0.2 * min(1.0, sd) / _DY + 1e-9))
    if stride >= 1:
        hz = stride * _DY / sd
        m = int(math.ceil(math.sqrt(2.0 * (math.log(n) + _Z_TAIL)) / hz))
        ww = hz * np.exp(-0.5 * (hz * np.arange(-m, m + 1)) ** 2) / math.sqrt(2.0 * math.pi)
        fine = y[0] + _DY * np.arange(-m * stride, y.size + m * stride)   # y_i + sd w_j = fine[i + j stride]
        family = _g_family(js, fine)
        vals = {}
        for j in js:
            g = family[j]
            rows = np.lib.stride_tricks.as_strided(g, shape=(2 * m + 1, y.size), strides=(stride * g.strides[0], g.strides[0]))
            vals[j] = ww @ rows
    else:
        w, ww = _z_grid(sd, n)
        vals = {j: np.empty(y.size) for j in js}
        for lo in range(0, y.size, 2048):
            family = _g_family(js, y[lo:lo + 2048, None] + sd * w)
            for j in js:
                vals[j][lo:lo + 2048] = family[j] @ ww
    slope = {k: vals[1] if k < 0 else -vals[1] if k == 0 else k * vals[k] - vals[k + 1] for k in ks}
    return {k: _hermite(float(y[0]), _DY, vals[k], slope[k]) for k in ks}


@lru_cache(maxsize=4096)
@lru_cache(maxsize=4096)
def _u_range(var: float, n: float) -> tuple[float, float]:
    """Range of u where (n - 1)(-log L(u)) runs from e^-30 to 45, L(u) = E exp(-e^(u + logit))."""
    z, wz = _z_grid(math.sqrt(var), n)
    sd = math.sqrt(var)
    u = np.linspace(-(math.log(n) + 0.5 * var + 45.0), 8.0 + 12.0 * sd, 750)
    family = _g_family((-1, 0), u[:, None] + sd * z)
    om = family[-1] @ wz
    with np.errstate(divide="ignore"):
        ll = np.where(om < 0.5, np.log1p(-np.minimum(om, 0.5)), np.log(np.maximum(family[0] @ wz, 1e-300)))
        s = math.log(n - 1.0) + np.log(-ll)
    i_lo = max(int(np.searchsorted(s, _S_LO)) - 1, 0)
    i_hi = min(int(np.searchsorted(s, _S_HI)) + 1, u.size - 1)
    return float(u[i_lo]), float(u[i_hi])


def _pair_grid(v1: float, v2: float, c: float, n1: int, n2: int,
               pairs: tuple[tuple[int, int], ...]) -> tuple[dict, np.ndarray, np.ndarray, float]:
    """The (u, u') grid of the two-row integrals: ({(j, k): B_jk}, log L2, 1 - L of row 2, cell area).

    Row 1 has n1 keys, row 2 n2 >= n1 (the u and u' ranges follow each row's key count); v1 > 0.
    """
    s1 = math.sqrt(v1)
    a = c / s1
    vperp = max(v2 - a * a, 0.0)
    n = max(n1, n2)
    z, wz = _z_grid(max(s1, abs(a)), n)
    u1 = np.linspace(*_u_range(v1, n1), _N_U)
    u2 = np.linspace(*_u_range(v2, n2), _N_U)
    y = u2[:, None] + a * z                                   # (N_u, M) conditional means of x'
    ks = tuple(sorted({k for _, k in pairs} | {-1}))
    hk = _smoothed(ks, vperp, n, float(y.min()), float(y.max()))
    hmat = {k: hk[k](y) * wz for k in hk}                   # weights folded into the row-2 side
    x1 = u1[:, None] + s1 * z
    gmat = _g_family(tuple(sorted({j for j, _ in pairs} | {-1})), x1)
    b = {(j, k): gmat[j] @ hmat[k].T for j, k in pairs}
    om1 = gmat[-1] @ wz
    om2 = hmat[-1].sum(axis=1)
    om = om1[:, None] + om2[None, :] - gmat[-1] @ hmat[-1].T   # 1 - L2 without cancellation
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.where(om < 0.5, np.log1p(-np.minimum(om, 0.5)), np.log(np.maximum(b[(0, 0)], 1e-300)))
    return b, ll, om2, (u1[1] - u1[0]) * (u2[1] - u2[0])


@lru_cache(maxsize=4096)
def pair_moments(v1: float, v2: float, c: float, n: int) -> dict[str, float]:
    """The two-row moments of the module docstring at logit covariance [[v1, c], [c, v2]], n keys.

    ``A2A`` puts the square on row 1; the mirror moments follow by exchanging (v1, v2).
    """
    if not (v1 >= 0 and v2 >= 0 and c * c <= v1 * v2 * (1 + 1e-12) and n >= 1 and int(n) == n):
        raise InputError(f"need a covariance matrix and n >= 1, got v1={v1}, v2={v2}, c={c}, n={n}")
    n = int(n)
    if n == 1:
        return dict.fromkeys(PAIR_MOMENTS, 1.0)
    if v1 == 0 or v2 == 0:  # a uniform row (A_s = 1/n): every moment factorises
        y2a = float(finite_t.y_moment_np(2, v1, n))
        y2b = float(finite_t.y_moment_np(2, v2, n))
        y3a = float(finite_t.y_moment_np(3, v1, n))
        return {"X": 1.0 / n, "A2A": y2a / n if v2 == 0 else 1.0 / n**2, "XX": 1.0 / n**2,
                "Y2X": y2a / n, "Y2Y2": y2a * y2b, "A3A": y3a / n if v2 == 0 else 1.0 / n**3,
                "A2A2": y2a * y2b / n}
    b, ll, _, area = _pair_grid(v1, v2, c, n, n, ((1, 1), (2, 1), (2, 2), (3, 1), (2, 0), (0, 2), (0, 0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = np.exp((n - 1.0) * ll), np.exp((n - 2.0) * ll)

    def integral(f: np.ndarray) -> float:
        return float(np.nan_to_num(f).sum()) * area

    xx1 = integral(n * b[(1, 1)] * p1)
    a3a, a2a2 = integral(0.5 * n * b[(3, 1)] * p1), integral(n * b[(2, 2)] * p1)
    return {
        "A3A": a3a, "A2A2": a2a2,
        "X": xx1,
        "A2A": integral(n * b[(2, 1)] * p1),
        "XX": a2a2 + integral(n * (n - 1.0) * b[(1, 1)] ** 2 * p2),
        "Y2X": a3a + integral(0.5 * n * (n - 1.0) * b[(2, 0)] * b[(1, 1)] * p2),
        "Y2Y2": a2a2 + integral(n * (n - 1.0) * b[(2, 0)] * b[(0, 2)] * p2),
    }


@lru_cache(maxsize=4096)
def nested_overlap(v1: float, v2: float, c: float, n1: int, n2: int) -> float:
    """X = E sum_{s <= n1} A_s A'_s for two causal rows: row 1 attends to keys 1..n1, row 2 to keys
    1..n2 (n2 >= n1, its first n1 keys shared); logit covariance [[v1, c], [c, v2]] on a shared key,
    row 2's other keys independent of row 1 (variance v2). With one more Laplace factor per extra key,

        X = n1 int B_11 L2^(n1 - 1) L'^(n2 - n1),   L'(u') = E exp(-e^(u' + x')),

    on the grid of :func:`pair_moments` (the same precision; n2 = n1 is its ``X``).
    """
    if not (v1 >= 0 and v2 >= 0 and c * c <= v1 * v2 * (1 + 1e-12) and 1 <= n1 <= n2
            and int(n1) == n1 and int(n2) == n2):
        raise InputError(f"need a covariance matrix and 1 <= n1 <= n2, got v1={v1}, v2={v2}, c={c}, n1={n1}, n2={n2}")
    n1, n2 = int(n1), int(n2)
    if v1 == 0 or v2 == 0 or n1 == 1:  # A_1 = 1 or a uniform row: E A'_s = 1/n2 (row 2 is exchangeable)
        return 1.0 / n2
    b, ll, om2, area = _pair_grid(v1, v2, c, n1, n2, ((1, 1), (0, 0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = (n2 - n1) * np.log1p(-np.minimum(om2, 1.0))
        f = n1 * b[(1, 1)] * np.exp((n1 - 1.0) * ll + extra[None, :])
    return float(np.nan_to_num(f).sum()) * area


@lru_cache(maxsize=4096)
def row_moments(s2: float, n: int) -> dict[str, float]:
    """One row (A = softmax(sigma eps), eps_s iid N(0, 1), s2 = sigma^2) with S = sum_s A_s eps_s:

        S1 = E S,  S2 = E S^2,  G = E sum_s A_s^2 (eps_s - S)^2,  A2E2 = E sum_s A_s^2 eps_s^2,
        K4 = -(1/4) E[Y2 sum_s He4(eps_s)],  He4(e) = e^4 - 6 e^2 + 3,

    K4 is the first-order change of E[Y2] when every key's logit law becomes phi (1 - c He4 / 4)
    (excess kurtosis -6 c; LayerNorm-output keys, docs/finite_width.md §6): E[Y2] + c K4.
    Same Laplace representation with C_jk(u) = E[eps^k exp(j x - e^x)] per distinct key:
    E sum A^2 eps^2 = n int C_22 L^(n-1); E sum_s A_s^2 eps_s S = (1/2) int [n C_32 L^(n-1)
    + n(n-1) C_21 C_11 L^(n-2)]; E Y2 S^2 = (1/6) int [n C_42 L^(n-1) + n(n-1)(C_20 C_22
    + 2 C_31 C_11) L^(n-2) + n(n-1)(n-2) C_20 C_11^2 L^(n-3)]; S1 = n int C_11 L^(n-1);
    S2 = n int C_22 L^(n-1) + n(n-1) int C_11^2 L^(n-2); K4 = -(1/4) [n int C_2[He4] L^(n-1)
    + n(n-1) int C_20 C_0[He4] L^(n-2)] with C_j[h] = E[h(eps) exp(j x - e^x)] (C_0[He4] =
    -E[He4 (1 - exp(-e^x))], as E He4 = 0). About 1e-9 relative (K4: see the tests).
    """
    if not (s2 > 0 and n >= 2 and int(n) == n):
        raise InputError(f"row moments need s2 > 0 and n >= 2, got s2={s2}, n={n}")
    n = int(n)
    sig = math.sqrt(s2)
    z, wz = _z_grid(sig, n)
    u = np.linspace(*_u_range(s2, n), 4 * _N_U)
    h = u[1] - u[0]
    x = u[:, None] + sig * z
    g = _g_family((-1, 0, 1, 2, 3, 4), x)              # each g_j once (the hot loop of this function)
    cjk = {(j, k): g[j] @ (wz * z**k) for j, k in ((1, 1), (2, 2), (3, 2), (2, 1), (4, 2), (2, 0), (3, 1))}
    om = g[-1] @ wz
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.where(om < 0.5, np.log1p(-np.minimum(om, 0.5)), np.log(np.maximum(g[0] @ wz, 1e-300)))
    pw = {k: np.exp((n - k) * ll) for k in (1, 2, 3)}
    c = cjk

    def integral(f: np.ndarray) -> float:
        return float(np.nan_to_num(f).sum()) * h

    a2e2 = integral(n * c[(2, 2)] * pw[1])
    a2es = integral(0.5 * (n * c[(3, 2)] * pw[1] + n * (n - 1.0) * c[(2, 1)] * c[(1, 1)] * pw[2]))
    y2s2 = integral((n * c[(4, 2)] * pw[1] + n * (n - 1.0) * (c[(2, 0)] * c[(2, 2)] + 2 * c[(3, 1)] * c[(1, 1)]) * pw[2]
                     + n * (n - 1.0) * (n - 2.0) * c[(2, 0)] * c[(1, 1)] ** 2 * pw[3]) / 6.0)
    he4 = z**4 - 6.0 * z**2 + 3.0
    c2h, c0h = g[2] @ (wz * he4), -(g[-1] @ (wz * he4))
    return {"S1": integral(n * c[(1, 1)] * pw[1]),
            "S2": integral(n * c[(2, 2)] * pw[1] + n * (n - 1.0) * c[(1, 1)] ** 2 * pw[2]),
            "G": a2e2 - 2.0 * a2es + y2s2, "A2E2": a2e2,
            "K4": -0.25 * integral(n * c2h * pw[1] + n * (n - 1.0) * c[(2, 0)] * c0h * pw[2])}


def row_moment_np(kind: str) -> Callable[..., Any]:
    """Vectorised float twin (s2, n) -> ``kind`` of :func:`row_moments` (0 at s2 = 0... see below).

    At s2 = 0 the row is uniform: S1 = 0, S2 = 1/n, G = (n - 1)/n^3 (sum_s (eps_s - mean)^2 / n^2),
    A2E2 = 1/n, K4 = 0 (Y2 = 1/n whatever the logits).
    """

    def fn(s2, n):
        s2, n = np.broadcast_arrays(np.asarray(s2, float), np.asarray(n, float))
        out = np.empty(s2.shape)
        for i in np.ndindex(s2.shape):
            nn = int(round(float(n[i])))
            if s2[i] <= 0 or nn < 2:
                out[i] = {"S1": 0.0, "S2": 1.0 / nn, "G": (nn - 1.0) / nn**3, "A2E2": 1.0 / nn, "K4": 0.0}[kind]
            else:
                out[i] = row_moments(float(s2[i]), nn)[kind]
        return float(out) if out.ndim == 0 else out

    return fn


def pair_moment_np(kind: str) -> Callable[..., Any]:
    """Vectorised float twin (v1, v2, c, n) -> moment ``kind`` of :func:`pair_moments`."""
    if kind not in PAIR_MOMENTS:
        raise ValueError(f"unknown pair moment {kind!r}")

    def fn(v1, v2, c, n):
        v1, v2, c, n = np.broadcast_arrays(*(np.asarray(t, float) for t in (v1, v2, c, n)))
        out = np.empty(v1.shape)
        for i in np.ndindex(v1.shape):
            vv1, vv2 = max(float(v1[i]), 0.0), max(float(v2[i]), 0.0)
            lim = math.sqrt(vv1 * vv2)
            out[i] = pair_moments(vv1, vv2, min(max(float(c[i]), -lim), lim), int(round(float(n[i]))))[kind]
        return float(out) if out.ndim == 0 else out

    return fn


def _gh() -> tuple[np.ndarray, np.ndarray]:
    z, w = np.polynomial.hermite_e.hermegauss(_N_GH)
    return z, w / w.sum()


def smeared_np(moment: str) -> Callable[..., Any]:
    """Float twin (s2, var, cov, n) -> E[(1 + delta) M(s2 + xi, n)], M = E[Y2], E[Y3] or E[Y2^2].

    Gauss–Hermite (8 nodes) in xi ~ N(0, var), s2 + xi clipped at 0, with E[delta | xi] =
    (cov / var) xi. Exact for a polynomial of degree 15 in xi (8 and 12 nodes agree to 1e-9 at
    d = 128); the clip only acts when var is not small against s2^2.
    """
    if moment == "Y2sq":
        base = finite_t.y2_squared_np
    else:
        k = {"Y2": 2, "Y3": 3}[moment]

        def base(s2, n):
            return finite_t.y_moment_np(k, s2, n)

    def fn(s2, var, cov, n):
        z, w = _gh()
        s2, var, cov, n = np.broadcast_arrays(*(np.asarray(t, float) for t in (s2, var, cov, n)))
        sd = np.sqrt(np.maximum(var, 0.0))
        pts = np.maximum(s2[..., None] + sd[..., None] * z, 0.0)
        vals = base(pts, np.broadcast_to(n[..., None], pts.shape))
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(sd > 0, cov / np.where(sd > 0, sd, 1.0), 0.0)
        out = (vals * (1.0 + slope[..., None] * z)) @ w
        return float(out) if np.ndim(out) == 0 else out

    return fn


def x_smeared_np(s2: Any, r: Any, var_s2: Any, var_r: Any, cov: Any, n: Any) -> Any:
    """E X(s2 + xi, r + eta, n), (xi, eta) bivariate normal with the given (co)variances.

    Tensor Gauss–Hermite (8 x 8) in the eigenbasis of the 2 x 2 covariance; r + eta is
    clipped to [-1, 1] and s2 + xi at 0. X is the exact finite-T overlap of
    :func:`symsig.numerics.finite_t.overlap_np`.
    """
    z, w = _gh()
    args = np.broadcast_arrays(*(np.asarray(t, float) for t in (s2, r, var_s2, var_r, cov, n)))
    out = np.empty(args[0].shape)
    for i in np.ndindex(out.shape):
        a, rr, vs, vr, cv, nn = (float(t[i]) for t in args)
        lam, vec = np.linalg.eigh(np.array([[max(vs, 0.0), cv], [cv, max(vr, 0.0)]]))
        sd = np.sqrt(np.maximum(lam, 0.0))
        g1, g2 = np.meshgrid(z, z, indexing="ij")
        d_s2 = vec[0, 0] * sd[0] * g1 + vec[0, 1] * sd[1] * g2
        d_r = vec[1, 0] * sd[0] * g1 + vec[1, 1] * sd[1] * g2
        vals = finite_t.overlap_np(np.maximum(a + d_s2, 0.0), np.clip(rr + d_r, -1.0, 1.0), nn)
        out[i] = float(np.sum(vals * np.outer(w, w)))
    return float(out) if out.ndim == 0 else out


def implementation(func: type, backend: str) -> Callable[..., Any]:
    """Numeric twin of a finite-width function declared in :mod:`symsig.theory.special`.

    Float (``backend="np"``) for all of them; mpmath only for E[Y3] and E[Y2^2] (exact
    finite-T moments at the working precision). The two-row moments and the smearings
    have no mpmath twin yet: asking for one raises.
    """
    kind = func.symsig_kind
    if kind in ("width_y3", "width_y2sq"):
        if backend == "np":
            if kind == "width_y3":
                return lambda s2, n: finite_t.y_moment_np(3, np.maximum(s2, 0.0), n)
            return lambda s2, n: finite_t.y2_squared_np(np.maximum(s2, 0.0), n)
        import mpmath

        if kind == "width_y3":
            return lambda s2, n: finite_t.y_moment(3, max(s2, mpmath.mpf(0)), int(n), dps=mpmath.mp.dps)
        return lambda s2, n: finite_t.y2_squared(max(s2, mpmath.mpf(0)), int(n), dps=mpmath.mp.dps)
    if backend != "np":
        raise InputError(f"{func.__name__} has no mpmath twin (finite-width two-row moments are float only)")
    if kind == "width_pair":
        moment = pair_moment_np(func.moment)
        return lambda s2, r, n: moment(s2, s2, np.asarray(s2, float) * np.clip(r, -1.0, 1.0), n)
    if kind == "width_smeared":
        return smeared_np(func.moment)
    if kind == "width_x_smeared":
        return x_smeared_np
    if kind == "width_row":
        return row_moment_np(func.moment)
    raise ValueError(f"no numeric implementation for the function {func.__name__}")
