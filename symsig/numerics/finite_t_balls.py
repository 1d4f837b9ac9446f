"""Rigorous enclosures (python-flint arb balls) of the finite-T moment E[Y_k] (docs/theory.md §4.1, §7.4).

The arb twin of ``rem_y2`` (:mod:`symsig.theory.special`), used by the ball evaluator of
:mod:`symsig.numerics.balls` so that finite-T maps can be certified. With sigma^2 = s2 > 0,
f_k(x) = exp(k x - e^x) and Z ~ N(0, 1) (§4.1):

    E[Y_k] = n/(k-1)! int F(u) du,   F = A_k L^(n-1),   A_k(u) = E f_k(u + sigma Z),
    1 - L(u) = E[1 - exp(-e^(u + sigma Z))] = int f_1(t) Phi((u - t)/sigma) dt

(the last since 1 - exp(-e^x) = int_{-inf}^x f_1). Every integral is a trapezoid sum on a
lattice x_m = m h_x (outer nodes u_j = j M h_x), with four kinds of rigorous error terms:

1. Trapezoid rule on the whole line (Trefethen & Weideman 2014, Thm 5.1): for F analytic in
   |Im u| < b with int |F(t + iy)| dt <= M for |y| < b, |h sum_j F(jh) - int F| <= 2M/(e^(2 pi b/h) - 1).
   Bounds on the strip (c = cos b, b < pi/2): |f_k(x + iy)| <= e^(kx - c e^x) = c^-k f_k(x + ln c)
   <= c^-k (k/e)^k and |exp(-e^(x + iy))| <= exp(-c e^x). Hence |A_k(t+iy)| <= c^-k A_k(t + ln c),
   |L(t+iy)| <= L(t + ln c), so int |F(t+iy)| dt <= c^-k int F = c^-k (k-1)! E[Y_k]/n <= c^-k (k-1)!/n.
   Inner integrands (variable x, |Im x| < b_x): |phi_sigma(x + iy - u)| = phi_sigma(x - u) e^(y^2/2s2)
   gives M = e^(b_x^2/2 s2) c^-k (k/e)^k for A_k; for 1 - L, |Phi(w + iv)| <= e^(v^2/2) Phi(w)
   (shift the path of int_{-inf}^w phi) gives M = e^(b_x^2/2 s2)/c.
2. Gaussian windows: inner sums keep |x_m - u_j| <= W h_x; the rest of the A_k sum is
   <= (k/e)^k erfc((W h_x)/(sigma sqrt 2)) (h phi(t_m) <= int_{t_m - h}^{t_m} phi for the
   decreasing tail). For 1 - L the part left of the window is the prefix sum of h f_1(t_m) times
   a factor in [Phi((W+1) h_x/sigma), 1], the part right of it <= Phi(-(W+1) h_x/sigma)(1 + h_x/e).
3. Support of f_k: nodes x < X_lo contribute <= h phi_max e^(k x_m) summed geometrically
   (f_k <= e^(kx)); nodes x > X_hi >= ln k + 1 contribute <= h phi_max f_k(X_hi) / (1 - rho),
   rho = exp(k h - e^(X_hi) (e^h - 1)) (ratio of consecutive f_k there).
4. Outer tails: left, F <= A_k <= E e^(k(u + sigma Z)) = e^(k u + k^2 s2/2) (geometric sum);
   right (u >= U > 0), F <= (k/e)^k l(u)^(n-1) with l(u) = Phi(-u/2 sigma) + exp(-e^(u/2)) >= L(u)
   decreasing, so the sum is <= (k/e)^k l(U)^(n-2) [2 sigma phi(w)/(1 + w^2) + 2 exp(-e^(U/2) - U/2)],
   w = U/(2 sigma) (Mills ratio; Gamma(0, x) <= e^-x/x).

Every bound is evaluated in ball arithmetic at the caller's precision (flint.ctx.prec), so
the result encloses E[Y_k] for every s2 in the input ball. The quadratures aim at
:func:`target_digits` digits: the working precision, or less inside :func:`accuracy` (the
ball is then wider, never wrong). Lattice convolutions are arb polynomial products (C
speed). s2 = 0 gives n^(1-k) exactly; a ball of s2 that is not certainly > 0 raises Uncertain.

The pieces are shared with the enclosure of the two-query overlap X
(:mod:`symsig.numerics.overlap_balls`): one function per bound (:func:`trapezoid_error`,
:func:`gauss_tail`, :func:`left_tail`, :func:`right_tail`) and :class:`Smoothed`, the
inner sums (items 1-3) on a lattice.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .balls import Uncertain, flint

#: Largest lattice (nodes) a single enclosure may use; smaller logit variances are refused.
MAX_NODES = 400_000
#: Strip half-width used when the Gaussian does not limit it (any value < pi/2 is valid).
STRIP = 1.2
_ACCURACY: ContextVar[float | None] = ContextVar("finite_t_balls_accuracy", default=None)


def state_count(n: Any) -> int:
    """n as an exact integer >= 1 (an int, or a ball holding exactly one integer)."""
    arb = flint().arb
    if isinstance(n, int) and not isinstance(n, bool):
        value = n
    else:
        z = arb(n).unique_fmpz() if not isinstance(n, arb) else n.unique_fmpz()
        if z is None:
            raise Uncertain("the number of states is not an exact integer")
        value = int(z)
    if value < 1:
        raise Uncertain(f"n must be >= 1, got {value}")
    return value


def ball_around(mid: Any, rad: Any) -> Any:
    """The ball mid +- rad (rad an arb upper bound)."""
    arb = flint().arb
    return arb(mid) + arb(0, arb(rad).upper())


def target_digits() -> float:
    """Decimal digits the quadratures aim at: :func:`accuracy` if set, else the working precision."""
    digits = _ACCURACY.get()
    return float(digits) if digits is not None else flint().ctx.prec * math.log10(2)


@contextmanager
def accuracy(digits: float | None) -> Iterator[None]:
    """Within the block the enclosures aim at ``digits`` digits (None: the working precision)."""
    token = _ACCURACY.set(digits)
    try:
        yield
    finally:
        _ACCURACY.reset(token)


def trapezoid_error(bound: Any, b: Any, h: Any) -> Any:
    """Item 1: 2M/(e^(2 pi b/h) - 1), M = ``bound`` on int |F(t + iy)| dt for |y| < b."""
    arb = flint().arb
    return 2 * arb(bound) / ((2 * arb.pi() * arb(b) / arb(h)).exp() - 1)


def gauss_tail(w: Any) -> Any:
    """Item 2: erfc(w/sqrt 2) >= h sum phi(t_m) over the lattice nodes |t_m| > w (t_m in h Z)."""
    arb = flint().arb
    return (arb(w) / arb(2).sqrt()).erfc()


def left_tail(k: int, s2: Any, h: Any, u_last: Any) -> Any:
    """Item 4, left: h sum_{u_j <= u_last} e^(k u_j + k^2 s2/2) (u_j = u_last - i h, i >= 0)."""
    arb = flint().arb
    return h * (arb(k) ** 2 * s2 / 2 + k * u_last).exp() / (1 - (-arb(k) * h).exp())


def right_tail(kk: Any, sig: Any, n: int, big_u: Any) -> Any:
    """Item 4, right: bound on h sum_{u_j > U} kk l(u_j)^(n-1); U > 0, n >= 2."""
    arb = flint().arb
    w = big_u / (2 * sig)
    ell = (w / arb(2).sqrt()).erfc() / 2 + (-(big_u / 2).exp()).exp()
    if not ell < 1:
        return arb("inf")
    return kk * ell ** (n - 2) * (2 * sig * (-(w ** 2) / 2).exp() / (2 * arb.pi()).sqrt() / (1 + w ** 2)
                                  + 2 * (-(big_u / 2).exp() - big_u / 2).exp())


def inner_step(k: int, sig_f: float, ln_tau: float) -> tuple[float, float]:
    """(h_x, b_x): the largest inner step whose trapezoid error (item 1) is ~tau, and its strip."""
    c_out = math.cos(STRIP)
    # e^(-2 pi^2 s2/h^2) (Gaussian-limited) or the strip STRIP
    big = -ln_tau + math.log(8 * (k / math.e) ** k / c_out ** k)
    h_x = math.pi * sig_f * math.sqrt(2 / big)
    b_x = 2 * math.pi * sig_f ** 2 / h_x
    if b_x > STRIP:
        b_x = STRIP
        h_x = 2 * math.pi * STRIP / (big + STRIP ** 2 / (2 * sig_f ** 2))
    return h_x, b_x


class Smoothed:
    """A_k(y) and 1 - L(y) at variance s2 for y on the lattice m h_x, enclosed with items 1-3.

    ``at(m)`` gives the two balls at y = m h_x, each within ~16 tau of the truth and
    intersected with its range ([0, (k/e)^k] and [0, 1]).
    """

    def __init__(self, k: int, s2: Any, ln_tau: float, h_x: float, b_x: float) -> None:
        fl = flint()
        arb = fl.arb
        self.k, self.s2 = k, s2
        sig = self.sig = s2.sqrt()
        sig_f = float(sig.mid())
        tau = arb(math.exp(ln_tau))
        phi_max = 1 / (sig * (2 * arb.pi()).sqrt())
        x_lo = ln_tau - 5 + min(0.0, math.log(sig_f))  # left_k, left_1 below tau (phi_max ~ 1/sigma)
        x_hi = math.log(k + 1 - ln_tau) + 1
        self.m_lo, m_hi = math.floor(x_lo / h_x), math.ceil(x_hi / h_x)
        window = self.window = math.ceil((h_x + sig_f * math.sqrt(2 * (-ln_tau + 3))) / h_x)
        self.nodes = (m_hi - self.m_lo) + 2 * window
        if self.nodes > MAX_NODES:
            raise Uncertain(f"logit variance {sig_f ** 2:.3g} needs {self.nodes} quadrature nodes (> {MAX_NODES})")
        hx = self.hx = arb(h_x)
        xs = [hx * m for m in range(self.m_lo, m_hi + 1)]
        ex = [x.exp() for x in xs]
        fk = [(k * x - e).exp() for x, e in zip(xs, ex)]
        f1 = fk if k == 1 else [(x - e).exp() for x, e in zip(xs, ex)]
        two_s2 = 2 * s2
        gauss = [(-(hx * i) ** 2 / two_s2).exp() * phi_max * hx for i in range(window + 1)]
        kern_a = fl.arb_poly(gauss[:0:-1] + gauss)
        # index i + W holds Phi(i h/sigma) = Phi((u_j - t_m)/sigma) for i = (centre of u_j) - m
        kern_o = fl.arb_poly([(-(hx * i) / (sig * arb(2).sqrt())).erfc() / 2 for i in range(-window, window + 1)])
        self.conv_a = fl.arb_poly(fk) * kern_a
        self.conv_o = fl.arb_poly([hx * f for f in f1]) * kern_o
        self.prefix = [arb(0)]
        for f in f1:
            self.prefix.append(self.prefix[-1] + hx * f)
        # ---- error terms (all arb upper bounds)
        c_x = arb(b_x).cos()
        e_gauss = (arb(b_x) ** 2 / two_s2).exp()
        kk = self.kk = (arb(k) / arb(1).exp()) ** k
        trap_a = trapezoid_error(e_gauss * kk / c_x ** k, b_x, hx)
        trap_o = trapezoid_error(e_gauss / c_x, b_x, hx)
        reach = hx * (window + 1)
        win_a = kk * gauss_tail(hx * window / sig)
        phi_out = gauss_tail(reach / sig) / 2  # Phi(-reach/sigma)
        left_k = hx * phi_max * (arb(k) * xs[0]).exp() / (1 - (-arb(k) * hx).exp())
        left_1 = hx * phi_max * xs[0].exp() / (1 - (-hx).exp())
        rho = (arb(k) * hx - ex[-1] * (hx.exp() - 1)).exp()
        rho1 = (hx - ex[-1] * (hx.exp() - 1)).exp()
        if not (rho < 1 and rho1 < 1):
            raise Uncertain("internal: right support bound does not converge")
        right_k = hx * phi_max * fk[-1] / (1 - rho)
        right_1 = hx * f1[-1] / (1 - rho1)  # with Phi <= 1 instead of phi
        self.err_a = trap_a + win_a + left_k + right_k
        self.err_o = trap_o + left_1 / phi_max + right_1 + phi_out * (1 + hx / arb(1).exp())
        if not (self.err_a < tau * 16 and self.err_o < tau * 16):
            raise Uncertain("internal: inner quadrature bound too large")
        self.phi_keep = (1 - phi_out).union(arb(1))  # the left-of-window factor lies in [Phi(reach/sigma), 1]
        self.unit = arb(0).union(arb(1))  # [0, 1]: L and 1 - L are probabilities
        self.range_a = arb(0).union(kk)

    def at(self, centre: int) -> tuple[Any, Any]:
        """(A_k, 1 - L) at y = centre h_x as balls."""
        arb = flint().arb
        idx = centre - self.m_lo + self.window  # coefficient of the window sum in the products
        a_j = self.conv_a[idx] if 0 <= idx <= self.conv_a.degree() else arb(0)
        o_j = self.conv_o[idx] if 0 <= idx <= self.conv_o.degree() else arb(0)
        cut = min(max(centre - self.window - self.m_lo, 0), len(self.prefix) - 1)  # nodes left of the window
        o_j = o_j + self.prefix[cut] * self.phi_keep
        return (ball_around(a_j, self.err_a).intersection(self.range_a),
                ball_around(o_j, self.err_o).intersection(self.unit))


def y_moment_ball(k: int, s2: Any, n: Any) -> Any:
    """E[Y_k] for n iid N(0, s2) logits, enclosed in an arb ball (module docstring)."""
    fl = flint()
    arb = fl.arb
    n = state_count(n)
    s2 = arb(s2)
    if s2.is_zero() or n == 1:
        return arb(n) ** (1 - k)
    if not s2 > 0:
        raise Uncertain("logit variance not certainly > 0")
    digits = target_digits()
    sig_f = float(s2.sqrt().mid())
    kf = math.factorial(k - 1)
    # target: |error of the integral I| <= eps, so E[Y_k] = n/(k-1)! I has relative error <= 10^-digits
    ln_eps = -digits * math.log(10) - k * math.log(n) + math.log(kf)
    c_out = math.cos(STRIP)
    # outer step: 2 c^-k (k-1)!/n / e^(2 pi b/h) <= eps/4
    h_out = 2 * math.pi * STRIP / (math.log(8 * kf / n) - k * math.log(c_out) - ln_eps)
    # inner tolerance tau per node: sum_j h dF_j <= width (dA + n dOmega) stays below eps/4
    width = k * sig_f ** 2 / 2 + (-ln_eps) / k + 8
    ln_tau = ln_eps - math.log(16 * n * width)
    h_x, b_x = inner_step(k, sig_f, ln_tau)
    m_ratio = max(1, int(h_out / h_x))
    h_x = min(h_x, h_out) if m_ratio == 1 else h_x
    u_lo = -(k * sig_f ** 2 / 2) + (ln_eps - 6) / k
    j_lo, j_hi = math.floor(u_lo / (m_ratio * h_x)), math.ceil(3 / (m_ratio * h_x))
    if j_hi - j_lo > MAX_NODES:
        raise Uncertain(f"logit variance {sig_f ** 2:.3g} needs {j_hi - j_lo} outer quadrature nodes (> {MAX_NODES})")
    inner = Smoothed(k, s2, ln_tau, h_x, b_x)
    sig, kk, h = inner.sig, inner.kk, arb(h_x) * m_ratio
    # ---- outer sum
    total = arb(0)
    n1 = n - 1
    right = right_tail(kk, sig, n, h * j_hi)
    eps = arb(math.exp(ln_eps))
    while not right < eps:  # few states (small n): the right tail needs a longer range
        j_hi = math.ceil(j_hi * 1.5) + 1
        right = right_tail(kk, sig, n, h * j_hi)
        if (j_hi - j_lo) > MAX_NODES:
            raise Uncertain("internal: right outer tail does not converge")
    for j in range(j_lo, j_hi + 1):
        a_j, o_j = inner.at(j * m_ratio)
        big_l = (1 - o_j).intersection(inner.unit)
        total += a_j * big_l ** n1
    # ---- outer errors
    c = arb(STRIP).cos()
    trap = trapezoid_error((arb(kf) / n) / c ** k, STRIP, h)
    left = left_tail(k, s2, h, h * (j_lo - 1))
    integral = ball_around(h * total, trap + left + right)
    out = integral * n / kf
    return out.intersection(arb(n) ** (1 - k) + arb(0).union(1 - arb(n) ** (1 - k)))


def rem_y2_ball(s2: Any, n: Any) -> Any:
    """E[Y2] = rem_y2(s2, n) as an arb ball (:func:`y_moment_ball` with k = 2)."""
    return y_moment_ball(2, s2, n)


__all__ = ["MAX_NODES", "STRIP", "Smoothed", "accuracy", "ball_around", "gauss_tail", "inner_step", "left_tail",
           "rem_y2_ball", "right_tail", "state_count", "target_digits", "trapezoid_error", "y_moment_ball"]
