"""Rigorous enclosure (python-flint arb ball) of the two-query overlap X = rem_x(s2, r, n) (docs/theory.md §4.2, §7.4).

With sigma^2 = s2 > 0, 0 < |r| < 1, f_1(x) = exp(x - e^x), a = sigma sqrt|r|, s_i^2 = s2 (1 - |r|)
and c ~ N(0, 1) the common part of the logit pair (as in :func:`.finite_t.direct.overlap_point`):

    X = n I,   I = int int F(u, u') du du',   F = B L2^(n-1),
    B(u, u')  = int phi(c) G1(u + a c) G1(u' +- a c) dc,    G1 = A_1 at variance s_i^2,
    L2(u, u') = int phi(c) G0(u + a c) G0(u' +- a c) dc,    G0 = 1 - GO, GO = 1 - L at s_i^2

(sign of r in +-). G1 and GO on the lattice y = m h_x are the inner sums of
:mod:`.finite_t_balls` (:class:`.finite_t_balls.Smoothed`, its items 1-3); the c-step is
aligned, a h_c = p_c h_x, and the outer step h = p_u h_x, so every u_i + a c_m is a lattice
point. The c-sums are arb matrix products (C speed), the (u, u') sum runs over i <= j (F is
symmetric: the law of (x - u, x' - u') is exchangeable), the rows far left are summed
into one (bound 5). Bounds (all evaluated in arb; the
finite_t_balls item numbers refer to its docstring, whose functions are reused):

1. Outer trapezoid in (u, u') (two-dimensional strip bound). For |y| < b < pi/2, c_b = cos b:
   |f_1(x + iy)| <= f_1(x + ln c_b)/c_b and |exp(-e^(x + iy))| <= exp(-e^(x + ln c_b)), hence
   |F(u, u' + iy)| <= F(u, u' + ln c_b)/c_b and, with g(u) = int F(u, t) dt, |g(u + iy)| <= g(u + ln c_b)/c_b.
   The rows: |h sum_j F(u_i, u_j) - g(u_i)| <= 2 E g(u_i)/c_b, E = 1/(e^(2 pi b/h) - 1) (item 1
   with M = g(u_i)/c_b); the column sum: |h sum_i g(u_i) - I| <= 2 E I/c_b. Adding,
   |h^2 sum_ij F - I| <= (4 E I/c_b)(1 + E/c_b) with I = X/n <= 1/n (X = E sum_s A_s A'_s <= 1).
2. c-trapezoid. For |Im c| < eta: |phi(c)| grows by e^(eta^2/2); with v = a eta, each factor
   obeys either (strip, a eta < pi/2, kappa = cos v) |G1| <= 1/(e kappa), |G0| <= 1 (the bounds of
   1 under the expectation over the independent part), or (Gaussian) |G(y + iv)| <= e^(v^2/2 s_i^2) G(y)
   (|phi_s(x - y - iv)| = phi_s(x - y) e^(v^2/2 s^2)), G1 <= 1/e, G0 <= 1. So item 1 applies to
   B and L2 with M = e^(eta^2/2) beta^2, beta the smaller bound of the factor; eta and h_c are
   chosen (in floats) to maximise h_c at the tolerance, the bound is then evaluated rigorously.
3. c-truncation |c_m| > C = M0 h_c: the products are <= 1/e^2 (B) and 1 (L2), and
   h_c sum phi(c_m) there <= erfc(C/sqrt 2) (item 2, :func:`.finite_t_balls.gauss_tail`).
4. Outer tails. h sum_j B(u_i, u_j) <= (1 + h/e) A_1(u_i) (f_1 is unimodal with maximum 1/e:
   h sum_j f_1(t + u_j) <= int f_1 + h/e = 1 + h/e). Left (u_i below the box, any u_j):
   A_1(u) <= e^(u + s2/2) and L2 <= 1, the geometric sum of item 4 (:func:`.finite_t_balls.left_tail`).
   Right (u_i above it): A_1 <= 1/e and L2 <= L(u) <= l(u) at variance s2, the bound of item 4
   (:func:`.finite_t_balls.right_tail`) with (k/e)^k replaced by (1 + h/e)/e. The pairs with u_j
   outside are the same by symmetry: the tail of I is at most twice left + right.
5. Left block. The rows u_i <= u_t are not paired one by one: with L(u') = E exp(-e^(x')) at
   variance s2, L2 = L(u') - E[(1 - exp(-e^x)) exp(-e^(x'))] lies in [L(u') - omega(u), L(u')],
   omega(u) = 1 - L(u) <= e^(u + s2/2) <= omega_t = e^(u_t + s2/2). As B >= 0,
   sum_{i <= t} B_ij L2_ij^(n-1) lies in (sum_{i <= t} B_ij) [L(u_j) - [0, omega_t]]^(n-1), and
   sum_{i <= t} B_ij is one row vector times a matrix (error <= (number of rows) x the entry
   error). The width costs about n omega_t e^(u_t + s2/2) in I, so u_t = (ln(eps/16 n) - s2)/2:
   the pairs left are those of the upper half of the box (L(u_j) from a second
   :class:`.finite_t_balls.Smoothed` at variance s2).

Every matrix entry is a ball, so the propagation of the inner and c errors through
L2^(n-1) is done by arb. Tolerances: I to 10^-D/n^2 (X to 10^-D/n), D = :func:`.finite_t_balls.target_digits`;
the inner and c tolerances are that over max(W^2, n), W the width of the box, since an
entry error dB costs W^2 dB and dL2 costs n dL2 (h^2 sum B <= (1 + h/e)^2). The rounding of
arb is multiplied by about n in L2^(n-1): work at log10(n) + 3 digits more than D. Cost at
T = 512 (s2 from 0.2 to 12, r from -0.4 to 0.9): 0.2-0.4 s at 16 digits, 1-3 s at 30 (the
matrix products and the i <= j sum, both ~ (ln 1/eps)^4).
n = 1, s2 = 0 and r = 0 are exact (1, 1/n, 1/n), r = 1 is E[Y2] (:func:`.finite_t_balls.rem_y2_ball`).
A ball of r that is not certainly in (0, 1) or (-1, 0), or of s2 not certainly > 0, raises Uncertain.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .balls import Uncertain, flint
from .finite_t_balls import (MAX_NODES, Smoothed, ball_around, gauss_tail, inner_step, left_tail, rem_y2_ball,
                             right_tail, state_count, target_digits, trapezoid_error)

#: Strip half-widths b tried for the outer (u, u') trapezoid (item 1): the one giving the longest step is used.
OUTER_STRIPS = (1.2, 1.3, 1.4, 1.5, 1.55)
#: Largest (u, u') lattice per axis.
MAX_OUTER = 4000


def _c_step(a: float, si: float, ln_tol: float) -> tuple[float, float]:
    """(eta, h_c): the strip and the longest c-step with item 1 of bound 2 below e^ln_tol (floats: a choice)."""
    best = (0.0, 0.0)
    for eta in np.linspace(0.05, 20.0, 400):
        v = a * eta
        gauss = v * v / (2 * si * si)
        ln_b1 = -1.0 + min(gauss, -math.log(math.cos(v)) if v < 1.5 else math.inf)
        ln_b0 = min(gauss, 0.0 if v < 1.5 else math.inf)
        ln_m = eta * eta / 2 + 2 * max(ln_b0, ln_b1)
        h_c = 2 * math.pi * eta / (ln_m + math.log(2) - ln_tol + 1)
        best = max(best, (h_c, float(eta)))
    return best[1], best[0]


def _outer_strip(ln_eps: float, n: int) -> tuple[float, float]:
    """(b, h): item 1 of the module docstring below e^ln_eps / 4 (floats: a choice)."""
    options = []
    for b in OUTER_STRIPS:
        c = math.cos(b)
        options.append((2 * math.pi * b / (math.log(32 / (n * c)) - ln_eps + 1), b))
    h, b = max(options)
    return b, h


def rem_x_ball(s2: Any, r: Any, n: Any) -> Any:
    """X = rem_x(s2, r, n) enclosed in an arb ball (module docstring)."""
    arb = flint().arb
    n = state_count(n)
    s2, r = arb(s2), arb(r)
    if n == 1:
        return arb(1)
    if s2.is_zero() or r.is_zero():
        return 1 / arb(n)
    if r == 1:
        return rem_y2_ball(s2, n)
    if not s2 > 0:
        raise Uncertain("logit variance not certainly > 0")
    if not ((r > 0 and r < 1) or (r < 0 and r > -1)):
        raise Uncertain("logit correlation not certainly in (0, 1) or (-1, 0)")
    return _overlap(s2, r, n)


def _overlap(s2: Any, r: Any, n: int) -> Any:
    fl = flint()
    arb = fl.arb
    positive = bool(r > 0)
    ar = abs(r)
    sig, a = s2.sqrt(), (s2 * ar).sqrt()
    si2 = s2 * (1 - ar)
    sig_f, a_f, si_f = (float(v.mid()) for v in (sig, a, si2.sqrt()))
    digits = target_digits()
    ln_eps = -digits * math.log(10) - 2 * math.log(n)   # |error of I| <= eps/4 per item
    b_out, h_out = _outer_strip(ln_eps, n)
    # box [u_lo, u_hi]: the left tail 2 (1 + h/e) e^(u + s2/2) h/(1 - e^-h) below eps/16
    u_lo = ln_eps - math.log(32 * (1 + h_out)) - sig_f ** 2 / 2
    u_hi = 3.0
    width = u_hi - u_lo + 2 * sig_f
    ln_c = ln_eps - math.log(16 * max(width ** 2, 2.0 * n))   # per-entry tolerance of B and L2
    ln_tau = ln_c - math.log(64)                              # inner: errors <= 16 tau, twice, times 2
    eta, hc_max = _c_step(a_f, si_f, ln_c - math.log(4))
    h_x, b_x = inner_step(1, si_f, ln_tau)
    b_full = inner_step(1, sig_f, ln_tau)[1]
    h_x = min(h_x, h_out, a_f * hc_max)
    p_u, p_c = max(1, int(h_out / h_x)), max(1, int(a_f * hc_max / h_x))
    hx = arb(h_x)
    h = hx * p_u
    h_c = hx * p_c / a
    c_max = math.sqrt(2 * (math.log(8) - ln_c)) + 1
    m0 = math.ceil(c_max / float(h_c.mid()))
    h_f = float(h.mid())
    i_lo, i_hi = math.floor(u_lo / h_f), math.ceil(u_hi / h_f)
    u_t = (ln_eps - math.log(16 * n) - sig_f ** 2) / 2
    # right tail (item 4) below eps/16: longer box if needed (few states)
    kk = (1 + h / arb(1).exp()) / arb(1).exp()
    eps = arb(math.exp(ln_eps))
    right = right_tail(kk, sig, n, h * i_hi)
    while not right < eps / 16:
        i_hi = math.ceil(i_hi * 1.5) + 1
        right = right_tail(kk, sig, n, h * i_hi)
        if i_hi - i_lo > MAX_OUTER:
            raise Uncertain("internal: right outer tail of X does not converge")
    nu, nc = i_hi - i_lo + 1, 2 * m0 + 1
    if nu > MAX_OUTER or nc > MAX_OUTER:
        raise Uncertain(f"X at logit variance {sig_f ** 2:.3g}, r = {float(r.mid()):.6g} needs a {nu} x {nc} grid")
    inner = Smoothed(1, si2, ln_tau, h_x, b_x)
    values = {}
    for i in range(nu):
        for m in range(nc):
            k = (i_lo + i) * p_u + (m - m0) * p_c
            if k not in values:
                g1, go = inner.at(k)
                values[k] = (g1, (1 - go).intersection(inner.unit))
    rows1, rows0 = ([[values[(i_lo + i) * p_u + (m - m0) * p_c][which] for m in range(nc)] for i in range(nu)]
                    for which in (0, 1))
    w = [h_c * (-(h_c * m) ** 2 / 2).exp() / (2 * arb.pi()).sqrt() for m in range(-m0, m0 + 1)]
    # left block (bound 5): rows u_i <= u_t, omega_t = e^(u_t + s2/2) >= 1 - L(u_i) there
    cut = min(max(math.floor(u_t / h_f) - i_lo + 1, 0), nu - 1)
    omega_t = (h * (i_lo + cut - 1) + s2 / 2).exp()

    def weighted(rows: list) -> Any:
        return fl.arb_mat([[v * w[m] for m, v in enumerate(row)] for row in rows])

    def mirrored(rows: list) -> Any:          # x' = u' - a c for r < 0: the c-grid reversed
        return fl.arb_mat(rows if positive else [row[::-1] for row in rows])

    right1 = mirrored(rows1)
    mat_b = weighted(rows1[cut:]) * mirrored(rows1[cut:]).transpose()
    mat_l = weighted(rows0[cut:]) * mirrored(rows0[cut:]).transpose()
    left_rows = [sum((row[m] for row in rows1[:cut]), arb(0)) for m in range(nc)]
    mat_left = weighted([left_rows]) * right1.transpose()      # sum_{i < cut} B(u_i, u_j)
    # ---- c errors (items 2, 3)
    v = a * eta
    gauss = (v ** 2 / (2 * si2)).exp()
    beta0, beta1 = gauss, gauss / arb(1).exp()
    if v < arb(math.pi) / 2:
        kappa = v.cos()
        beta0, beta1 = arb(1).min(gauss), (1 / kappa).min(gauss) / arb(1).exp()
    grow = (arb(eta) ** 2 / 2).exp()
    tail_c = gauss_tail(h_c * m0)
    err_b = trapezoid_error(grow * beta1 ** 2, eta, h_c) + tail_c / arb(1).exp() ** 2
    err_l = trapezoid_error(grow * beta0 ** 2, eta, h_c) + tail_c
    rad_b, rad_l, rad_left = (arb(0, e.upper()) for e in (err_b, err_l, err_b * cut))
    range_b, unit = arb(0).union(1 / arb(1).exp() ** 2), inner.unit
    # ---- the (u, u') sum: right block over i <= j, then the left block against every column
    total = arb(0)
    n1 = n - 1
    for i in range(nu - cut):
        row = arb(0)
        for j in range(i + 1, nu - cut):
            row += (mat_b[i, j] + rad_b).intersection(range_b) * (mat_l[i, j] + rad_l).intersection(unit) ** n1
        total += 2 * row + (mat_b[i, i] + rad_b).intersection(range_b) * (mat_l[i, i] + rad_l).intersection(unit) ** n1
    if cut:
        full = Smoothed(1, s2, ln_tau, h_x, b_full)            # 1 - L(u_j) at variance s2
        spread = omega_t.union(arb(0))
        for j in range(nu):
            big_l = (1 - full.at((i_lo + j) * p_u)[1]).intersection(unit)
            encl = (big_l - spread).intersection(unit) ** n1     # L2 in [L(u_j) - omega_t, L(u_j)]
            total += (1 if j < cut else 2) * (mat_left[0, j] + rad_left).max(arb(0)) * encl
    # ---- outer errors (items 1, 4)
    c_b = arb(b_out).cos()
    trap = trapezoid_error(2 / (n * c_b), b_out, h) * (1 + trapezoid_error(1 / (2 * c_b), b_out, h))
    left = (1 + h / arb(1).exp()) * left_tail(1, s2, h, h * (i_lo - 1))
    integral = ball_around(h * h * total, trap + 2 * (left + right))
    return (integral * n).intersection(arb(0).union(arb(1)))


__all__ = ["MAX_OUTER", "OUTER_STRIPS", "rem_x_ball"]
