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
the result encloses E[Y_k] for every s2 in the input ball. Lattice convolutions are arb
polynomial products (C speed). s2 = 0 gives n^(1-k) exactly; a ball of s2 that is not
certainly > 0 raises Uncertain.

Not covered: the two-query overlap X = rem_x (§4.2), a two-dimensional outer integral of
bivariate Gaussian expectations (four nested integrals): see :func:`rem_x_ball`.
"""
from __future__ import annotations

import math
from typing import Any

from .balls import Uncertain, flint

#: Largest lattice (nodes) a single enclosure may use; smaller logit variances are refused.
MAX_NODES = 400_000
#: Strip half-width used when the Gaussian does not limit it (any value < pi/2 is valid).
STRIP = 1.2


def _integer(n: Any) -> int:
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


def _ball(mid: Any, rad: Any) -> Any:
    """The ball mid +- rad (rad an arb upper bound)."""
    arb = flint().arb
    return arb(mid) + arb(0, arb(rad).upper())


def y_moment_ball(k: int, s2: Any, n: Any) -> Any:
    """E[Y_k] for n iid N(0, s2) logits, enclosed in an arb ball (module docstring)."""
    fl = flint()
    arb = fl.arb
    n = _integer(n)
    s2 = arb(s2)
    if s2.is_zero() or n == 1:
        return arb(n) ** (1 - k)
    if not s2 > 0:
        raise Uncertain("logit variance not certainly > 0")
    prec = fl.ctx.prec
    digits = prec * math.log10(2)
    sig = s2.sqrt()
    sig_f = float(sig.mid())
    kf = math.factorial(k - 1)
    # target: |error of the integral I| <= eps, so E[Y_k] = n/(k-1)! I has relative error <= 10^-digits
    ln_eps = -digits * math.log(10) - k * math.log(n) + math.log(kf)
    c_out = math.cos(STRIP)
    # outer step: 2 c^-k (k-1)!/n / e^(2 pi b/h) <= eps/4
    h_out = 2 * math.pi * STRIP / (math.log(8 * kf / n) - k * math.log(c_out) - ln_eps)
    # inner tolerance tau per node: sum_j h dF_j <= width (dA + n dOmega) stays below eps/4
    width = k * sig_f ** 2 / 2 + (-ln_eps) / k + 8
    ln_tau = ln_eps - math.log(16 * n * width)
    # inner step: e^(-2 pi^2 s2/h^2) (Gaussian-limited) or the strip STRIP
    big = -ln_tau + math.log(8 * (k / math.e) ** k / c_out ** k)
    h_x = math.pi * sig_f * math.sqrt(2 / big)
    b_x = 2 * math.pi * sig_f ** 2 / h_x
    if b_x > STRIP:
        b_x = STRIP
        h_x = 2 * math.pi * STRIP / (big + STRIP ** 2 / (2 * sig_f ** 2))
    m_ratio = max(1, int(h_out / h_x))
    h_x = min(h_x, h_out) if m_ratio == 1 else h_x
    h = arb(h_x) * m_ratio
    hx = arb(h_x)
    tau = arb(math.exp(ln_tau))
    # supports of f_k and f_1 (X_lo for k = 1 is the further one)
    phi_max = 1 / (sig * (2 * arb.pi()).sqrt())
    x_lo = ln_tau - 5 + min(0.0, math.log(sig_f))  # left_k, left_1 below tau (phi_max ~ 1/sigma)
    x_hi = math.log(k + 1 - ln_tau) + 1
    m_lo, m_hi = math.floor(x_lo / h_x), math.ceil(x_hi / h_x)
    window = math.ceil((h_x + sig_f * math.sqrt(2 * (-ln_tau + 3))) / h_x)
    u_lo = -(k * sig_f ** 2 / 2) + (ln_eps - 6) / k
    j_lo, j_hi = math.floor(u_lo / (m_ratio * h_x)), math.ceil(3 / (m_ratio * h_x))
    nodes = (m_hi - m_lo) + 2 * window + (j_hi - j_lo)
    if nodes > MAX_NODES:
        raise Uncertain(f"logit variance {sig_f ** 2:.3g} needs {nodes} quadrature nodes (> {MAX_NODES})")
    xs = [hx * m for m in range(m_lo, m_hi + 1)]
    ex = [x.exp() for x in xs]
    fk = [(k * x - e).exp() for x, e in zip(xs, ex)]
    f1 = fk if k == 1 else [(x - e).exp() for x, e in zip(xs, ex)]
    two_s2 = 2 * s2
    gauss = [(-(hx * i) ** 2 / two_s2).exp() * phi_max * hx for i in range(window + 1)]
    kern_a = fl.arb_poly(gauss[:0:-1] + gauss)
    # index i + W holds Phi(i h/sigma) = Phi((u_j - t_m)/sigma) for i = (centre of u_j) - m
    kern_o = fl.arb_poly([(-(hx * i) / (sig * arb(2).sqrt())).erfc() / 2 for i in range(-window, window + 1)])
    conv_a = fl.arb_poly(fk) * kern_a
    conv_o = fl.arb_poly([hx * f for f in f1]) * kern_o
    prefix = [arb(0)]
    for f in f1:
        prefix.append(prefix[-1] + hx * f)
    # ---- error terms (all arb upper bounds)
    c_x = arb(b_x).cos()
    e_gauss = (arb(b_x) ** 2 / two_s2).exp()
    kk = (arb(k) / arb(1).exp()) ** k
    trap_a = 2 * e_gauss * kk / c_x ** k / ((2 * arb.pi() * b_x / hx).exp() - 1)
    trap_o = 2 * e_gauss / c_x / ((2 * arb.pi() * b_x / hx).exp() - 1)
    reach = hx * (window + 1)
    win_a = kk * (hx * window / (sig * arb(2).sqrt())).erfc()
    phi_out = (reach / (sig * arb(2).sqrt())).erfc() / 2  # Phi(-reach/sigma)
    left_k = hx * phi_max * (arb(k) * xs[0]).exp() / (1 - (-arb(k) * hx).exp())
    left_1 = hx * phi_max * xs[0].exp() / (1 - (-hx).exp())
    rho = (arb(k) * hx - ex[-1] * (hx.exp() - 1)).exp()
    rho1 = (hx - ex[-1] * (hx.exp() - 1)).exp()
    if not (rho < 1 and rho1 < 1):
        raise Uncertain("internal: right support bound does not converge")
    right_k = hx * phi_max * fk[-1] / (1 - rho)
    right_1 = hx * phi_max * f1[-1] / (1 - rho1) / phi_max  # with Phi <= 1 instead of phi
    err_a = trap_a + win_a + left_k + right_k
    err_o = trap_o + left_1 / phi_max + right_1 + phi_out * (1 + hx / arb(1).exp())
    if not (err_a < tau * 16 and err_o < tau * 16):
        raise Uncertain("internal: inner quadrature bound too large")
    # ---- outer sum
    total = arb(0)
    keep = arb(0).union(arb(1))  # [0, 1]: L and 1 - L are probabilities
    n1 = n - 1
    phi_keep = 1 - phi_out  # Phi(reach/sigma): the left-of-window factor lies in [that, 1]
    right = _right_tail(kk, sig, n, h * j_hi)
    eps = arb(math.exp(ln_eps))
    while not right < eps:  # few states (small n): the right tail needs a longer range
        j_hi = math.ceil(j_hi * 1.5) + 1
        right = _right_tail(kk, sig, n, h * j_hi)
        if (j_hi - j_lo) > MAX_NODES:
            raise Uncertain("internal: right outer tail does not converge")
    for j in range(j_lo, j_hi + 1):
        centre = j * m_ratio  # lattice index of u_j
        idx = centre - m_lo + window  # coefficient of the window sum in the products
        a_j = conv_a[idx] if 0 <= idx <= conv_a.degree() else arb(0)
        o_j = conv_o[idx] if 0 <= idx <= conv_o.degree() else arb(0)
        cut = min(max(centre - window - m_lo, 0), len(f1))  # nodes strictly left of the window
        o_j = o_j + prefix[cut] * phi_keep.union(arb(1))
        a_j = _ball(a_j, err_a).intersection(arb(0).union(kk))
        o_j = _ball(o_j, err_o).intersection(keep)
        big_l = (1 - o_j).intersection(keep)
        total += a_j * big_l ** n1
    # ---- outer errors
    c = arb(STRIP).cos()
    trap = 2 * (arb(kf) / n) / c ** k / ((2 * arb.pi() * STRIP / h).exp() - 1)
    left = h * (arb(k) ** 2 * s2 / 2 + k * (h * (j_lo - 1))).exp() / (1 - (-arb(k) * h).exp())
    integral = _ball(h * total, trap + left + right)
    out = integral * n / kf
    return out.intersection(arb(n) ** (1 - k) + arb(0).union(1 - arb(n) ** (1 - k)))


def _right_tail(kk: Any, sig: Any, n: int, big_u: Any) -> Any:
    """Bound on h sum_{u_j > U} F(u_j) (module docstring, item 4); U > 0."""
    arb = flint().arb
    w = big_u / (2 * sig)
    ell = (w / arb(2).sqrt()).erfc() / 2 + (-(big_u / 2).exp()).exp()
    if not ell < 1:
        return arb("inf")
    return kk * ell ** (n - 2) * (2 * sig * (-(w ** 2) / 2).exp() / (2 * arb.pi()).sqrt() / (1 + w ** 2)
                                  + 2 * (-(big_u / 2).exp() - big_u / 2).exp())


def rem_y2_ball(s2: Any, n: Any) -> Any:
    """E[Y2] = rem_y2(s2, n) as an arb ball (:func:`y_moment_ball` with k = 2)."""
    return y_moment_ball(2, s2, n)


def rem_x_ball(s2: Any, r: Any, n: Any) -> Any:
    """The two-query overlap X = rem_x(s2, r, n): not enclosed (raises Uncertain), except its exact limits.

    s2 = 0 or r = 0 gives X = 1/n exactly (§4.2). Elsewhere X = n int int B L2^(n-1) du du' is a
    two-dimensional outer integral of bivariate Gaussian expectations, i.e. four nested
    integrals (docs/theory.md §7.4 says why this is not certified).
    """
    arb = flint().arb
    n = _integer(n)
    s2, r = arb(s2), arb(r)
    if s2.is_zero() or r.is_zero() or n == 1:
        return 1 / arb(n)
    raise Uncertain("the finite-T overlap X (rem_x) has no rigorous enclosure (docs/theory.md §7.4)")


__all__ = ["MAX_NODES", "rem_x_ball", "rem_y2_ball", "y_moment_ball"]
