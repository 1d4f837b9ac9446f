"""One-state Gaussian expectations at working precision (mpmath twin of :mod:`.gauss`).

Same functions, 1 - L(u), L(u), A_k(u) (docs/theory.md §4.1), at ``dps`` digits:
trapezoid in z for sigma < 0.5 (entire, Gaussian-damped integrands); composite
Gauss-Legendre in x on [-6, x_hi] plus the exact left-tail series for sigma >= 0.5,
with x_hi such that exp(-e^x) < 10^-(dps+15) beyond it.
"""
from __future__ import annotations

import math
from functools import lru_cache

import mpmath

from .gauss import SIGMA_GH, X_LEFT


def mp_x_hi(dps: int) -> float:
    """Right end of the x-grid: exp(-e^x) < 10^-(dps+15) beyond it."""
    return math.log(math.log(10.0) * (dps + 15)) + 0.3


@lru_cache(maxsize=32)
def mp_legendre(m: int, prec: int) -> tuple[tuple, tuple]:
    """Gauss-Legendre nodes and weights on [-1, 1] at ``prec`` bits (Newton on P_m)."""
    with mpmath.workprec(prec + 20):
        t, w = [], []
        for i in range(1, m + 1):
            x = mpmath.cos(mpmath.pi * (i - mpmath.mpf(1) / 4) / (m + mpmath.mpf(1) / 2))
            for _ in range(100):
                p0, p1 = mpmath.mpf(1), x
                for j in range(2, m + 1):
                    p0, p1 = p1, ((2 * j - 1) * x * p1 - (j - 1) * p0) / j
                dp = m * (x * p1 - p0) / (x * x - 1)
                dx = p1 / dp
                x -= dx
                if abs(dx) < mpmath.mpf(2) ** (-prec - 10):
                    break
            t.append(x)
            w.append(2 / ((1 - x * x) * dp * dp))
    return tuple(+v for v in t), tuple(+v for v in w)


def _mp_x_nodes(dps: int) -> tuple[list, list]:
    """Composite Gauss-Legendre nodes on [-6, x_hi] at the working precision."""
    cuts = [-X_LEFT, -3.0, 0.0, 1.5, 2.5, mp_x_hi(dps)]
    m = 12 + (3 * dps) // 4
    xs, ws = [], []
    for a, b in zip(cuts[:-1], cuts[1:]):
        t, w = mp_legendre(m, mpmath.mp.prec)
        half, mid = (mpmath.mpf(b) - a) / 2, (mpmath.mpf(b) + a) / 2
        xs += [half * ti + mid for ti in t]
        ws += [half * wi for wi in w]
    return xs, ws


def ncdf(x: mpmath.mpf) -> mpmath.mpf:
    """Standard normal CDF, erfc(-x/sqrt 2)/2 (faster than mpmath.ncdf); exactly 1 where
    1 - Phi(x) < 2^-(prec + 10), i.e. x^2/2 > (prec + 10) ln 2."""
    if x > 0 and x * x > (mpmath.mp.prec + 10) * 1.3862943611198906:
        return mpmath.mpf(1)
    return mpmath.erfc(-x / mpmath.sqrt(2)) / 2


class MPInner:
    """u -> {'om': 1 - L(u), 'L': L(u), k: A_k(u)} at the working precision for one sigma.

    Calls on an increasing uniform sweep u, u + h, u + 2h, ... reuse the Gaussian kernel
    (see :meth:`_kernel`); any other call order is also correct, only slower.
    """

    def __init__(self, s2: mpmath.mpf, ks: tuple[int, ...], dps: int):
        self.s2, self.sig, self.ks = s2, mpmath.sqrt(s2), ks
        self.small = self.sig < SIGMA_GH
        self.tol = mpmath.mpf(10) ** (-(dps + 12))
        self._prev = None
        if self.small:
            # trapezoid in z: the integrands are entire and Gaussian-damped
            zmax = math.sqrt(2 * math.log(10) * (dps + 15)) + 1
            hz = mpmath.mpf(1) / (4 + dps // 6)
            m = int(zmax / hz) + 1
            self.z = [hz * j for j in range(-m, m + 1)]
            self.wz = [hz * mpmath.npdf(zj) for zj in self.z]
        else:
            xs, ws = _mp_x_nodes(dps)
            self.x = xs
            ex = [mpmath.exp(v) for v in xs]
            self.c_om = [w * -mpmath.expm1(-e) for w, e in zip(ws, ex)]
            self.c_l = [w * mpmath.exp(-e) for w, e in zip(ws, ex)]
            self.c_k = {k: [w * mpmath.exp(k * v - e) for w, v, e in zip(ws, xs, ex)] for k in ks}
            self.x_hi = mp_x_hi(dps)
            j = 1
            while mpmath.exp(-X_LEFT * j) / mpmath.factorial(j) > self.tol:
                j += 1
            self.n_terms = j + 1
            self._es2 = mpmath.exp(s2)

    def __call__(self, u: mpmath.mpf) -> dict:
        if self.s2 == 0:
            e = mpmath.exp(u)
            res = {"om": -mpmath.expm1(-e), "L": mpmath.exp(-e)}
            res.update({k: mpmath.exp(k * u - e) for k in self.ks})
            return res
        return self._small(u) if self.small else self._big(u, self._kernel(u))

    def sweep(self, u0: mpmath.mpf, du: mpmath.mpf, count: int) -> list[dict]:
        """The values at u0 + j du, j = 0..count-1 (du > 0), sharing the Gaussian kernel.

        phi(x - u - du) = phi(x - u) D, D(u + du) = D(u) exp(-du^2/s2), D(u) = exp(((x - u) du - du^2/2)/s2):
        two multiplications per node and step; the kernel is recomputed every 128 steps,
        so the relative rounding error stays below 256 * 10^-(working digits).
        """
        if self.s2 == 0 or self.small:
            return [self(u0 + j * du) for j in range(count)]
        c = -1 / (2 * self.s2)
        gg = mpmath.exp(2 * c * du * du)
        out = []
        for j in range(count):
            u = u0 + j * du
            if j % 128 == 0:
                kern = self._kernel(u)
                dd = [mpmath.exp(c * (du * du - 2 * du * (x - u))) for x in self.x]
            else:
                kern = [k * d for k, d in zip(kern, dd)]
                dd = [d * gg for d in dd]
            out.append(self._big(u, kern))
        return out

    def _small(self, u):
        res = {"om": mpmath.mpf(0), "L": mpmath.mpf(0), **{k: mpmath.mpf(0) for k in self.ks}}
        for zj, wj in zip(self.z, self.wz):
            x = u + self.sig * zj
            e = mpmath.exp(x)
            res["om"] += wj * -mpmath.expm1(-e)
            el = mpmath.exp(-e)
            res["L"] += wj * el
            for k in self.ks:
                res[k] += wj * mpmath.exp(k * x) * el
        return res

    def _kernel(self, u):
        """phi_sigma(x_i - u) on the x-nodes (see :meth:`__call__` for increasing sweeps).

        On a uniform sweep u, u + h, u + 2h, ... the exponentials are updated by two
        multiplications per node (as in :meth:`sweep`).
        """
        c = -1 / (2 * self.s2)
        prev = self._prev
        if prev is not None:
            du = u - prev[0]
            if du > 0:
                if prev[2] is None or abs(du - prev[2]) > abs(du) * mpmath.eps * 16:
                    dd = [mpmath.exp(c * (du * du - 2 * du * (x - prev[0]))) for x in self.x]
                    gg = mpmath.exp(2 * c * du * du)
                else:
                    dd, gg = prev[3], prev[4]
                    du = prev[2]
                kern = [k * d for k, d in zip(prev[1], dd)]
                self._prev = (u, kern, du, [d * gg for d in dd], gg)
                return kern
        a = 1 / (self.sig * mpmath.sqrt(2 * mpmath.pi))
        kern = [a * mpmath.exp(c * (x - u) ** 2) for x in self.x]
        self._prev = (u, kern, None, None, None)
        return kern

    def _big(self, u, kern):
        """Legendre part (kernel given) plus the left-tail series E_r = e^{ru + r^2 s2/2} Phi(...).

        e^{ru + r^2 s2/2} = e^{(r-1)u + (r-1)^2 s2/2} e^{u + s2/2} e^{(r-1) s2}: two exponentials per call.
        """
        sig, s2 = self.sig, self.s2
        step, grow = mpmath.exp(u + s2 / 2), self._es2
        e_r, cur, fac = {}, mpmath.mpf(1), mpmath.mpf(1)
        for r in range(1, max(self.ks, default=0) + self.n_terms + 1):
            cur = cur * step * fac
            fac = fac * grow
            e_r[r] = cur * ncdf((-X_LEFT - u - r * s2) / sig)
        tail = mpmath.fsum((-1) ** (j + 1) / mpmath.factorial(j) * e_r[j] for j in range(1, self.n_terms + 1))
        om = mpmath.fdot(self.c_om, kern) + tail + ncdf((u - self.x_hi) / sig)
        # L is only read when om >= 1/2 (see mp_log_l); otherwise 1 - om is exact enough
        lv = mpmath.fdot(self.c_l, kern) + ncdf((-X_LEFT - u) / sig) - tail if om >= 0.5 else 1 - om
        res = {"om": om, "L": lv}
        for k in self.ks:
            tk = mpmath.fsum((-1) ** j / mpmath.factorial(j) * e_r[k + j] for j in range(self.n_terms))
            res[k] = mpmath.fdot(self.c_k[k], kern) + tk
        return res


def mp_log_l(r: dict) -> mpmath.mpf:
    """log L from 1 - L (near L = 1) or from L (L small), as :func:`.gauss.log_l`."""
    return mpmath.log1p(-r["om"]) if r["om"] < 0.5 else mpmath.log(r["L"])
