"""Derivation: the ReLU (arc-cosine) and erf Gaussian kernels.

Assumptions: pre-activations (u, v) centred jointly Gaussian, E u^2 = E v^2 = q,
E uv = p = q c, |c| <= 1. We want K(q, p) = E[phi(u) phi(v)].

ReLU: write (u, v) = sqrt(q) (x, c x + s y), s = sqrt(1 - c^2), x, y iid N(0,1);
in polar coordinates x = r cos t, y = r sin t, and with c = cos(theta),
c x + s y = r cos(t - theta). Both ReLUs are active for t in (theta - pi/2, pi/2).
erf: Price's theorem dK/dp = E[phi'(u) phi'(v)] and a Gaussian integral.

Run: python derivations/relu_kernel.py [out.tex]
"""
from __future__ import annotations

import mpmath
import sympy as sp

from _common import prove_equal, write_latex
from symsig.theory import activations
from symsig.theory.symbols import p, q

r, t = sp.symbols("r t", positive=True)
theta = sp.Symbol("theta", positive=True)
x, y = r * sp.cos(t), r * sp.sin(t)
c = sp.cos(theta)
# the rotated coordinate: c x + sqrt(1 - c^2) y = r cos(t - theta)  (0 < theta < pi)
assert sp.simplify(sp.expand_trig(c * x + sp.sin(theta) * y - r * sp.cos(t - theta))) == 0
print("  [proved] c x + s y = r cos(t - theta)")
# radial part: int_0^inf r * r^2 * exp(-r^2/2) dr / (2 pi), the 1/(2 pi) from the density
radial = sp.integrate(r**3 * sp.exp(-(r**2) / 2), (r, 0, sp.oo)) / (2 * sp.pi)
angular = sp.integrate(sp.cos(t) * sp.cos(t - theta), (t, theta - sp.pi / 2, sp.pi / 2))
per_q = sp.simplify(radial * angular)
prove_equal("E[relu relu]/q = (sin th + (pi - th) cos th)/(2 pi)", per_q, (sp.sin(theta) + (sp.pi - theta) * sp.cos(theta)) / (2 * sp.pi))
prove_equal("library angular form", per_q, activations.relu_kernel_angle())
k_relu = activations.relu().k_qp
f_c = (sp.sqrt(1 - (p / q) ** 2) + (p / q) * (sp.pi - sp.acos(p / q))) / sp.pi
prove_equal("K_qp = (q/2) f(c), f = arc-cosine kernel", k_relu, q / 2 * f_c)
prove_equal("K_qq = q/2", activations.relu().k_qq, q / 2)

# erf: phi' = 2/sqrt(pi) exp(-x^2); E exp(-u^2 - v^2) = det(I + 2 S)^(-1/2) for covariance S.
# Check the Gaussian integral lemma by direct integration at a rational point.
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

# Independent check of both closed forms by 1-D quadrature at 30 digits: condition on
# x, with the inner Gaussian expectations in closed form,
#   E_y relu(a + b y) = a Phi(a/b) + b phi(a/b),   E_y erf(a + b y) = erf(a / sqrt(1 + 2 b^2)).
with mpmath.workdps(30):
    qv, pv = mpmath.mpf(3) / 5, mpmath.mpf(1) / 5
    cv = pv / qv
    sv = mpmath.sqrt(1 - cv**2)
    inner = {
        "relu": lambda a, b: a * mpmath.ncdf(a / b) + b * mpmath.npdf(a / b),
        "erf": lambda a, b: mpmath.erf(a / mpmath.sqrt(1 + 2 * b**2)),
    }
    outer = {"relu": lambda z: max(z, 0), "erf": mpmath.erf}
    for name, expr in (("relu", k_relu), ("erf", k_erf)):
        def integrand(x, name=name):
            u = mpmath.sqrt(qv) * x
            return outer[name](u) * inner[name](cv * u, mpmath.sqrt(qv) * sv) * mpmath.npdf(x)

        quad = mpmath.quad(integrand, [-mpmath.inf, 0, mpmath.inf])
        closed = mpmath.mpf(str(sp.N(expr.subs({q: sp.Rational(3, 5), p: sp.Rational(1, 5)}), 40)))
        assert abs(quad - closed) < mpmath.mpf("1e-25"), (name, quad, closed)
        print(f"  [checked] {name} kernel = 1-D quadrature to 1e-25 at q = 3/5, p = 1/5")

if __name__ == "__main__":
    write_latex(
        [
            ("ReLU kernel", sp.Eq(sp.Symbol(r"K^{\mathrm{ReLU}}_{qp}"), k_relu)),
            ("erf kernel", sp.Eq(sp.Symbol(r"K^{\mathrm{erf}}_{qp}"), k_erf)),
        ]
    )
