"""Two-query overlap X at ``dps`` significant digits (mpmath; docs/theory.md §4.2).

The factorisation of :func:`.direct.overlap_point` at working precision,

    X = n h^2 sum_{i,j} B_ij L2_ij^(n-1),   B = G1 W G1'^T,   1 - L2 = (1 - L_i) + G0 W GO'^T,

with every sum an exact integer computation in fixed point (P bits, absolute error 2^-P,
P from the digits, n and the size of X):

* one lattice x0 + j delta carries the u-nodes (trapezoid in u, step and range from the
  precision as in :mod:`.moments_mp`), the points u + a c (trapezoid in c, aligned) and
  x = y + s z; e^{x - e^x}, e^{-e^x}, 1 - e^{-e^x} are evaluated once per lattice point
  (exactly 0 or 1 in fixed point outside a window of ~P ln 2 around x = 0);
* the Gaussian smoothings G(y) = E_z[g(y + s_i z)] (trapezoid in z) and 1 - L(u) are
  Toeplitz products, the (u, u') matrices B, G0 W GO'^T ordinary ones: the integers are
  split into k-bit chunks whose float64 products and sums are exact (every partial sum is
  an integer below 2^53), multiplied by BLAS and recombined as Python integers;
* the nodes where (n-1)(1 - L) < e^s_t, s_t = -(dps + 10) ln(10) / 3, are summed into one
  row (exact to first order, see :func:`_overlap`);
* the N^2 terms L2^(n-1) = exp((n-1) log(1 - (1 - L2))) are evaluated with mpmath's raw
  arithmetic, except those whose float estimate is below 10^-(dps+6) of the total (dropped)
  or below 10^-(dps+6-13) of it (summed in float); f is symmetric in (u, u'): half of them.

Cost at dps 30: 3-6 s of CPU for moderate sigma (about half in the N^2 terms); for tiny
|rho| the aligned lattice would be too fine and the rows u + a c are computed one by one
with :class:`.gauss_mp.MPInner` instead (slower). Tests: dps 30 against dps 45, and the
float method.
"""
from __future__ import annotations

import math
from typing import Any

import mpmath
import numpy as np
from mpmath.libmp import from_man_exp, mpf_add, mpf_exp, mpf_log, mpf_lt, mpf_mul, mpf_shift, mpf_sub, mpf_sum
from mpmath.libmp.libmpf import fone

from ..precision import to_mpf
from .direct import c_step, overlap_direct
from .gauss import u_range
from .gauss_mp import MPInner
from .inputs import GUARD, check_dps, check_n, check_rho, check_s2
from .moments_mp import mp_u_range, n_outer, y_moment

RIDGE = 0.5                  # outer step <= 0.5 sqrt(1 + 2 s_i^2) at 1e-16, scaled with the digits
_MAX_LATTICE = 400_000       # lattice points (u and the aligned c-grid) before the row-wise fallback


def overlap(s2: Any, rho: Any, n: Any, *, dps: int | None = None) -> mpmath.mpf:
    """X = E[sum_s A_s A'_s] = n int du du' B(u,u') L2(u,u')^(n-1) at ``dps`` digits.

    Same model as :func:`.floats.overlap_np` (correlated logit pairs, correlation rho). Exact
    shortcuts: n = 1 gives 1, s2 = 0 or rho = 0 gives 1/n, rho = 1 gives E[Y_2].
    """
    dps, n = check_dps(dps), check_n(n)
    with mpmath.workdps(dps + GUARD):
        s2m, rhom = to_mpf(s2), to_mpf(rho)
        check_s2(s2m)
        check_rho(rhom)
        if n == 1:
            return mpmath.mpf(1)
        if s2m == 0 or rhom == 0:
            return mpmath.mpf(1) / n
        if rhom == 1:
            return y_moment(2, s2m, n, dps=dps + 2)
        return +_overlap(s2m, rhom, n, dps)


def _fixed(values: list, bits: int) -> np.ndarray:
    """floor(v 2^bits) as Python integers (object array); negative rounding noise -> 0."""
    return np.array([max(int(mpmath.floor(mpmath.ldexp(v, bits))), 0) for v in values], dtype=object)


def _digit_bits(bits: int, inner: int) -> int:
    """The largest digit size k such that the chunk products of :class:`_Product` are exact: numbers
    below 2^bits have c = ceil(bits / k) digits, a level of the product sums at most c inner
    products of ``inner`` terms each below 2^2k, and c inner 2^2k must stay below 2^53."""
    k = 26
    while k > 1 and -(-bits // k) * inner * 4**k >= 2**53:
        k -= 1
    return k


def _chunks(x: np.ndarray, k: int) -> list[np.ndarray]:
    """Nonnegative integers x as float64 arrays of k-bit digits, least significant first: as many
    digits as the largest entry needs (an entry equal to 2^bits, the fixed-point 1, has bits + 1)."""
    top = int(np.max(x)).bit_length() if x.size else 0
    mask = (1 << k) - 1
    return [((x >> (k * j)) & mask).astype(np.float64) for j in range(max(1, -(-top // k)))]


def _view(chunk: np.ndarray, first: int, rows: int, row_step: int, cols: int, col_step: int) -> np.ndarray:
    """The strided (Toeplitz) matrix chunk[first + i row_step + j col_step] (a view)."""
    st = chunk.strides[0]
    return np.lib.stride_tricks.as_strided(chunk[first:], (rows, cols), (row_step * st, col_step * st))


class _Product:
    """The exact integer matrix (sum_a 2^(ka) L_a) (sum_b 2^(kb) R_b)^T, kept as float64 levels
    (sums of chunk products with equal a + b, exact: every entry is an integer below 2^53)."""

    def __init__(self, left: list[np.ndarray], right: list[np.ndarray], k: int, drop: int = 0):
        """``drop``: omit the levels a + b < drop (each contributes below 2^(k (a + b + 2)) M)."""
        self.k, self.levels = k, {}
        nr = right[0].shape[0]
        stacked = np.concatenate(right, axis=0)
        for a, la in enumerate(left):
            b0 = max(0, drop - a)
            if b0 >= len(right):
                continue
            p = la @ stacked[b0 * nr:].T
            for b in range(b0, len(right)):
                blk = p[:, (b - b0) * nr:(b - b0 + 1) * nr]
                self.levels[a + b] = self.levels[a + b] + blk if a + b in self.levels else blk

    def approx(self) -> np.ndarray:
        return sum(lev * 2.0 ** (self.k * s) for s, lev in self.levels.items())

    def exact(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """The exact entries (i, j) as Python integers."""
        return sum(lev[i, j].astype(np.int64).astype(object) * (1 << (self.k * s)) for s, lev in self.levels.items())


def _steps(log_eps: float) -> tuple[float, float]:
    """(largest x-step, largest z-step) of a trapezoid for phi(z) g(y + s z), g = e^{x - e^x},
    e^{-e^x} or 1 - e^{-e^x}, to absolute error e^-log_eps: g is analytic and bounded by
    1 for |Im x| <= pi/3 (s dz <= 2 pi (pi/3) / log_eps), phi alone caps dz."""
    return 2.0 * math.pi**2 / (3.0 * log_eps), math.pi / math.sqrt(0.5 * log_eps)


class _Lattice:
    """Fixed-point values (integers, scale 2^bits) of the functions of x = x0 + j delta."""

    def __init__(self, x0: mpmath.mpf, delta: mpmath.mpf, count: int, bits: int):
        self.x0, self.delta, self.count, self.bits = x0, delta, count, bits
        one = 1 << bits
        lo, hi = -(bits + 20) * math.log(2.0), math.log((bits + 20) * math.log(2.0))
        g1, g0, o = ([0] * count for _ in range(3))
        j_lo = max(0, math.floor((lo - float(x0)) / float(delta)))
        j_hi = min(count, math.ceil((hi - float(x0)) / float(delta)) + 1)
        for j in range(count):
            if j >= j_hi:                       # e^{-e^x} < 2^-(bits+20): 1 - e^{-e^x} = 1
                o[j] = one
            elif j < j_lo:                      # e^x < 2^-(bits+20): g0 = 1, g1 = o = e^x = 0
                g0[j] = one
        for j in range(j_lo, j_hi):
            e = mpmath.exp(x0 + j * delta)
            g = mpmath.exp(-e)
            g1[j], g0[j], o[j] = (int(mpmath.ldexp(v, bits)) for v in (e * g, g, -mpmath.expm1(-e)))
        self.values = {1: np.array(g1, dtype=object), "L": np.array(g0, dtype=object), "om": np.array(o, dtype=object)}


def _smooth(lat: _Lattice, key, first: int, rows: int, row_step: int, sig: mpmath.mpf, log_eps: float) -> np.ndarray:
    """E_z[g(y + sig z)] in fixed point at y = x0 + (first + i row_step) delta, i < rows (trapezoid in z)."""
    vals = lat.values[key]
    if sig == 0:
        return vals[first: first + rows * row_step: row_step].copy()
    hx, hz_max = _steps(log_eps)
    q = max(1, math.floor(min(hx, float(sig) * hz_max) / float(lat.delta)))
    hz = q * lat.delta / sig
    j0 = math.ceil(math.sqrt(2.0 * log_eps) / float(hz))
    w = _fixed([hz * mpmath.npdf(hz * j) for j in range(-j0, j0 + 1)], lat.bits)
    k = _digit_bits(lat.bits + 1, 2 * j0 + 1)
    left = [_view(c, first - q * j0, rows, row_step, 2 * j0 + 1, q) for c in _chunks(vals, k)]
    prod = _Product(left, _chunks(w[None, :], k), k)
    return prod.exact(np.arange(rows), np.zeros(rows, int)) >> lat.bits


def _overlap(s2: mpmath.mpf, rho: mpmath.mpf, n: int, dps: int) -> mpmath.mpf:
    """X for s2 > 0, 0 < |rho| < 1 or rho = -1, n >= 2 at the working precision (module docstring)."""
    sig, ar = mpmath.sqrt(s2), abs(rho)
    a, si = sig * mpmath.sqrt(ar), sig * mpmath.sqrt(1 - ar)
    sig_f, a_f, si_f, ar_f = float(sig), float(a), float(si), float(ar)
    x_float = float(overlap_direct(np.array([float(s2)]), np.array([float(rho)]), np.array([float(n)]))[0])
    # outer lattice: trapezoid step as in moments_mp, and the ridge along u = u'
    u_lo, u_hi = mp_u_range(sig_f, n, dps)
    m_u = n_outer(sig_f, u_lo, u_hi, dps)
    ridge = RIDGE * math.sqrt(1.0 + 2.0 * si_f * si_f) * 40.0 / ((dps + 6) * math.log(10.0))
    m_u = max(m_u, math.ceil((u_hi - u_lo) / ridge))
    h = (mpmath.mpf(u_hi) - u_lo) / m_u
    nu = m_u + 1
    # fixed point with P bits: entries below 1, absolute error ~2^-P per entry and product
    pbits = int(3.33 * (dps + GUARD) + math.log2(n) + math.log2(max(n * (u_hi - u_lo) ** 2 / max(x_float, 1e-300), 1.0))
                + 30)
    log_eps = (pbits + 10) * math.log(2.0)
    width = math.sqrt(2.0 * log_eps)
    # one lattice of step delta = h / Q carries u, u + a c and every x = y + s z
    hx, _ = _steps(log_eps)
    hc_max = c_step(a_f, ar_f, log_eps)
    qq = math.ceil(float(h) / min(hx, a_f * hc_max))
    aligned = qq * nu < _MAX_LATTICE      # else (tiny |rho|): the lattice without the c-part
    if not aligned:
        qq = math.ceil(float(h) / hx)
    delta = h / qq
    q_c = math.floor(a_f * hc_max / float(delta)) if aligned else 0
    hc = q_c * delta / a if aligned else mpmath.mpf(hc_max)
    m0 = math.ceil(width / float(hc))
    reach = max(float(a) * float(hc) * m0 + float(si) * width, sig_f * width) + 2.0
    pad = math.ceil(reach / float(delta))
    lat = _Lattice(u_lo - pad * delta, delta, (nu - 1) * qq + 2 * pad + 1, pbits)
    om_int = _smooth(lat, "om", pad, nu, qq, sig, log_eps)               # 1 - L at the u nodes
    m = 2 * m0 + 1
    if aligned:    # G at y = u_lo + k delta for k = -m0 q_c .. (nu - 1) qq + m0 q_c, then rows u_i + a c_m
        k_lo = pad - m0 * q_c
        n_y = (nu - 1) * qq + 2 * m0 * q_c + 1
        idx = np.arange(nu)[:, None] * qq + q_c * np.arange(m)[None, :]
        grid = {key: _smooth(lat, key, k_lo, n_y, 1, si, log_eps)[idx] for key in (1, "L", "om")}
    else:          # each row u_i + a c_m by the 1-D quadrature of gauss_mp (slow: tiny |rho| only)
        inner = MPInner(si * si, (1,), dps + 5)
        vals = [v for i in range(nu) for v in inner.sweep(u_lo + i * h - m0 * a * hc, a * hc, m)]
        grid = {key: _fixed([v[key] for v in vals], pbits).reshape(nu, m) for key in (1, "L", "om")}
    w_int = _fixed([hc * mpmath.npdf(hc * j) for j in range(-m0, m0 + 1)], pbits)
    k = _digit_bits(pbits + nu.bit_length() + 1, m)     # the summed row below holds up to nu rows
    # rows i < i_t, where (n-1)(1 - L) < e^s_t, are summed into one row: there
    # L2^(n-1) = L'^(n-1) (1 - D/L')^(n-1), L' = L(u'), D = L' - L2 = E_c[GO(u + a c) G0(u' +- a c)]
    # = O(e^s_t); B is linear in the row, so the order 0 is exact through the summed row, the
    # order 1, -(n-1) B D / L' = O(e^(2 s_t)), is added in float (below 10^-(dps+10) of it is
    # needed), and the order 2 is O(e^(3 s_t)) = 10^-(dps+10)
    s_t = -(dps + 10) * math.log(10.0) / 3.0 - 3.0
    u_t = float(u_range(np.array([[sig_f]]), np.array([float(n)]), s_t, 0.0)[0][0])
    i_t = min(max(0, math.floor((u_t - float(u_lo)) / float(h))), nu - 2)
    tail = {key: (v[:i_t].sum(axis=0) if i_t else np.zeros(m, dtype=object)) for key, v in grid.items()}
    mats = {key: np.concatenate([tail[key][None, :], v[i_t:]]) for key, v in grid.items()}
    right = mats if rho > 0 else {key: v[:, ::-1] for key, v in mats.items()}     # x' = u' - a c

    def weighted(key, sl=slice(None)):       # rows u_i + a c_m times the c-weights
        return _chunks((mats[key][sl] * w_int[None, :]) >> pbits, k)

    def plain(key, sl=slice(None)):
        return [np.ascontiguousarray(c) for c in _chunks(right[key][sl], k)]

    # the products are needed to 2^P (of 2^2P): levels below 2^(P - 30) M^-1 are dropped
    drop = max(0, (pbits - 30 - math.ceil(math.log2(m + 1))) // k - 2)
    bulk = slice(1, None)
    lw0 = weighted("L", bulk)
    prod_b = _Product(weighted(1), plain(1), k, drop)
    prod_d = _Product(lw0, plain("om", bulk), k, drop)
    scale = 2.0 ** (-2 * pbits)
    om_int = np.concatenate([np.zeros(1, dtype=object), om_int[i_t:]])    # the summed row: 1 - L := 0
    om_u = [mpmath.mpf(from_man_exp(int(v), -pbits)) for v in om_int]
    om_f = np.array([float(v) for v in om_u])
    d_f = np.zeros((len(om_u), len(om_u)))
    d_f[1:, 1:] = prod_d.approx() * scale
    d_f[0, 1:] = om_f[1:]                    # 1 - L2 = 1 - L(u') against the summed row
    om2_f = om_f[:, None] + d_f
    with np.errstate(divide="ignore", invalid="ignore"):
        log_f = math.log(n) + np.log(prod_b.approx() * scale) + (n - 1) * np.log1p(-np.minimum(om2_f, 1.0))
    f_f = np.where(np.isfinite(log_f), np.exp(log_f), 0.0)
    # terms below 10^-(dps+6) X / (h^2 N^2) are dropped, those below 10^-(dps+6-13) X / (h^2 N^2)
    # summed in float (relative error < 1e-13); f is symmetric in (u, u') (c -> -c): i <= j
    nr = len(om_u)
    unit = max(x_float, 1e-300) / (float(h) ** 2 * nr * nr)
    upper = np.triu(np.ones(f_f.shape, bool))
    in_float = upper & (f_f <= 10.0 ** -(dps + 6 - 13) * unit) & (om2_f < 0.5)
    keep = upper & (f_f > 10.0 ** -(dps + 6) * unit) & ~in_float
    far = keep & (om2_f >= 0.5)
    if n >= 80:                       # L2 <= 1/2: L2^(n-1) < 1e-23 n^-1, no contribution
        keep &= ~far
    float_part = float(np.sum(np.where(in_float, f_f, 0.0) * (2.0 - np.eye(nr)))) / n
    ii, jj = np.nonzero(keep)
    b_ex = prod_b.exact(ii, jj)
    rest = ii > 0                     # pairs of two (not summed) rows
    d_ex = np.empty(ii.size, dtype=object)
    d_ex[rest] = prod_d.exact(ii[rest] - 1, jj[rest] - 1)
    d_ex[~rest] = om_int[jj[~rest]] << pbits
    l2_ex = None
    if (far & keep).any():
        l2_ex = np.empty(ii.size, dtype=object)
        l2_ex[rest] = _Product(lw0, plain("L", bulk), k, drop).exact(ii[rest] - 1, jj[rest] - 1)
        l2_ex[~rest] = ((1 << pbits) - om_int[jj[~rest]]) << pbits
    total = _sum_terms(ii, jj, b_ex, d_ex, l2_ex, om_u, n, 2 * pbits) + mpmath.mpf(float_part)
    if i_t:                           # order 1 of the summed rows against the others, in float
        g1_t, go_t = (np.array([float(v) for v in grid[key][:i_t].ravel()]).reshape(i_t, m) * 2.0 ** -pbits
                      for key in (1, "om"))
        w_f = np.array([float(v) for v in w_int]) * 2.0 ** -pbits
        wmat = (g1_t * w_f).T @ (go_t * w_f)                      # sum_i w_c G1(u_i + a c) w_c' GO(u_i + a c')
        g1_r, g0_r = (np.array([float(v) for v in right[key][1:].ravel()]).reshape(nr - 1, m) * 2.0 ** -pbits
                      for key in (1, "L"))
        lu = 1.0 - om_f[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.nan_to_num(-(n - 1) * np.exp((n - 2) * np.log(lu)) * np.einsum("jc,cd,jd->j", g1_r, wmat, g0_r))
        total += 2 * mpmath.mpf(float(corr.sum()))
    return n * h * h * total


def _sum_terms(ii, jj, b_ex, d_ex, l2_ex, om_u, n, shift) -> mpmath.mpf:
    """sum over the kept (i <= j) of (2 - [i = j]) B_ij L2_ij^(n-1), with libmp raw arithmetic.

    L2^(n-1) = exp((n-1) log(1 - om2)) at log2(n) extra bits (the logarithm is multiplied by n-1).
    """
    prec = mpmath.mp.prec + int(math.log2(n)) + 10
    one, half, nm1 = fone, mpmath.mpf(0.5)._mpf_, mpmath.mpf(n - 1)._mpf_
    om_raw = [v._mpf_ for v in om_u]
    terms = []
    for t in range(len(ii)):
        b = from_man_exp(int(b_ex[t]), -shift)
        if int(b_ex[t]) <= 0:
            continue
        om2 = mpf_add(om_raw[ii[t]], from_man_exp(int(d_ex[t]), -shift), prec)
        if mpf_lt(om2, half):
            ll = mpf_log(mpf_sub(one, om2, prec), prec)
        else:
            ll = mpf_log(from_man_exp(int(l2_ex[t]), -shift), prec)
        term = mpf_mul(b, mpf_exp(mpf_mul(nm1, ll, prec), prec), prec)
        terms.append(term if ii[t] == jj[t] else mpf_shift(term, 1))
    return mpmath.mpf(mpf_sum(terms, mpmath.mp.prec))
