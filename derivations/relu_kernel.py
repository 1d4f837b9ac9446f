"""Derivation: the ReLU (arc-cosine) Gaussian kernel (erf: ``erf_kernel.py``).

Assumptions: pre-activations (u, v) centred jointly Gaussian, E u^2 = E v^2 = q,
E uv = p = q c, |c| <= 1. We want K(q, p) = E[phi(u) phi(v)].

ReLU: write (u, v) = sqrt(q) (x, c x + s y), s = sqrt(1 - c^2), x, y iid N(0,1);
in polar coordinates x = r cos t, y = r sin t, and with c = cos(theta),
c x + s y = r cos(t - theta). Both ReLUs are active for t in (theta - pi/2, pi/2).

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

# Independent check by 1-D quadrature at 30 digits: condition on x, with the inner Gaussian
# expectation in closed form, E_y relu(a + b y) = a Phi(a/b) + b phi(a/b).
with mpmath.workdps(30):
    qv, pv = mpmath.mpf(3) / 5, mpmath.mpf(1) / 5
    cv = pv / qv
    sv = mpmath.sqrt(1 - cv**2)
    bv = mpmath.sqrt(qv) * sv

    def integrand(z):
        u = mpmath.sqrt(qv) * z
        a = cv * u
        return max(u, 0) * (a * mpmath.ncdf(a / bv) + bv * mpmath.npdf(a / bv)) * mpmath.npdf(z)

    quad = mpmath.quad(integrand, [-mpmath.inf, 0, mpmath.inf])
    closed = mpmath.mpf(str(sp.N(k_relu.subs({q: sp.Rational(3, 5), p: sp.Rational(1, 5)}), 40)))
    assert abs(quad - closed) < mpmath.mpf("1e-25"), (quad, closed)
    print("  [checked] relu kernel = 1-D quadrature to 1e-25 at q = 3/5, p = 1/5")

if __name__ == "__main__":
    write_latex(
        [
            ("ReLU kernel", sp.Eq(sp.Symbol(r"K^{\mathrm{ReLU}}_{qp}"), k_relu)),
        ]
    )
