"""Derivation: the erf (arcsine) Gaussian kernel, by Price's theorem.

Assumptions: pre-activations (u, v) centred jointly Gaussian with covariance
S = [[q, p], [p, q]], q > 0, |p| < q. We want K(q, p) = E[erf(u) erf(v)].

Price's theorem: dK/dp = E[phi'(u) phi'(v)] with phi'(x) = (2/sqrt(pi)) exp(-x^2), a Gaussian
integral: E exp(-u^2 - v^2) = det(I + 2 S)^(-1/2). erf is odd, so K(p = 0) = (E erf(u))^2 = 0,
and K = int_0^p dK/dp (done by :func:`symsig.theory.activations.erf_kernel_price`).

Run: python derivations/erf_kernel.py [out.tex]
"""
from __future__ import annotations

import mpmath
import sympy as sp

from _common import prove_equal, write_latex
from symsig.theory import activations
from symsig.theory.symbols import p, q

x = activations.X
phi = activations.phi("erf")
assert sp.simplify(sp.diff(phi, x) - 2 / sp.sqrt(sp.pi) * sp.exp(-(x**2))) == 0
print("  [proved] phi'(x) = (2/sqrt(pi)) exp(-x^2) (registry's phi)")
assert sp.simplify(phi.subs(x, -x) + phi) == 0
print("  [proved] erf odd: K(p = 0) = (E erf(u))^2 = 0")

# E exp(-u^2 - v^2) = det(I + 2 S)^(-1/2) for covariance S: check the Gaussian integral lemma
# by direct integration at a rational point.
S = sp.Matrix([[q, p], [p, q]])
lemma = 1 / sp.sqrt((sp.eye(2) + 2 * S).det())
point = {q: sp.Rational(3, 5), p: sp.Rational(1, 5)}
a, b = sp.symbols("a b", real=True)
cov = S.subs(point)
density = sp.exp(-(sp.Matrix([a, b]).T * cov.inv() * sp.Matrix([a, b]))[0] / 2) / (2 * sp.pi * sp.sqrt(cov.det()))
direct = sp.integrate(sp.exp(-(a**2) - b**2) * density, (a, -sp.oo, sp.oo), (b, -sp.oo, sp.oo))
assert sp.simplify(direct - lemma.subs(point)) == 0
print("  [proved] E exp(-u^2 - v^2) = det(I + 2S)^(-1/2) at q = 3/5, p = 1/5")
k_erf = activations.erf_kernel_price()
prove_equal("erf K_qp = (2/pi) asin(2p/(1+2q))", k_erf, 2 / sp.pi * sp.asin(2 * p / (1 + 2 * q)))
prove_equal("Price: dK/dp = (4/pi) E exp(-u^2-v^2)", sp.diff(k_erf, p), 4 / sp.pi * lemma)
prove_equal("K(p = 0) = 0", k_erf.subs(p, 0), 0)
prove_equal("library K_qp", activations.erf().k_qp, k_erf)
prove_equal("library K_qq = K_qp(p = q)", activations.erf().k_qq, k_erf.subs(p, q))

# Independent check by 1-D quadrature at 30 digits: condition on x, with the inner Gaussian
# expectation in closed form, E_y erf(a + b y) = erf(a / sqrt(1 + 2 b^2)).
with mpmath.workdps(30):
    qv, pv = mpmath.mpf(3) / 5, mpmath.mpf(1) / 5
    cv = pv / qv
    bv = mpmath.sqrt(qv * (1 - cv**2))

    def integrand(z):
        u = mpmath.sqrt(qv) * z
        return mpmath.erf(u) * mpmath.erf(cv * u / mpmath.sqrt(1 + 2 * bv**2)) * mpmath.npdf(z)

    quad = mpmath.quad(integrand, [-mpmath.inf, 0, mpmath.inf])
    closed = mpmath.mpf(str(sp.N(k_erf.subs(point), 40)))
    assert abs(quad - closed) < mpmath.mpf("1e-25"), (quad, closed)
    print("  [checked] erf kernel = 1-D quadrature to 1e-25 at q = 3/5, p = 1/5")

if __name__ == "__main__":
    write_latex([("erf kernel", sp.Eq(sp.Symbol(r"K^{\mathrm{erf}}_{qp}"), k_erf))])
