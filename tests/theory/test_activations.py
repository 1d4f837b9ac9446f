"""Closed-form Gaussian kernels against 1-D quadrature at 30 digits and Monte Carlo."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

from symsig.theory import activations
from symsig.theory.symbols import p, q

# E_y phi(a + b y) in closed form (standard Gaussian identities), so K_qp = E_x[phi(u) g(x)]
INNER = {
    "relu": lambda a, b: a * mpmath.ncdf(a / b) + b * mpmath.npdf(a / b),
    "erf": lambda a, b: mpmath.erf(a / mpmath.sqrt(1 + 2 * b**2)),
    "linear": lambda a, b: a,
    # E[(a + bY) Phi(a + bY)] = a Phi(a/r) + b^2 phi(a/r)/r, r = sqrt(1 + b^2) (Stein's lemma)
    "gelu": lambda a, b: a * mpmath.ncdf(a / mpmath.sqrt(1 + b**2))
    + b**2 * mpmath.npdf(a / mpmath.sqrt(1 + b**2)) / mpmath.sqrt(1 + b**2),
}
OUTER = {"relu": lambda z: max(z, 0), "erf": mpmath.erf, "linear": lambda z: z, "gelu": lambda z: z * mpmath.ncdf(z)}


def quad_kernel(name: str, qv: mpmath.mpf, cv: mpmath.mpf) -> mpmath.mpf:
    sv = mpmath.sqrt(1 - cv**2)
    if sv == 0:
        return mpmath.quad(lambda x: OUTER[name](mpmath.sqrt(qv) * x) ** 2 * mpmath.npdf(x), [-mpmath.inf, 0, mpmath.inf])
    f = lambda x: OUTER[name](mpmath.sqrt(qv) * x) * INNER[name](cv * mpmath.sqrt(qv) * x, mpmath.sqrt(qv) * sv) * mpmath.npdf(x)
    return mpmath.quad(f, [-mpmath.inf, 0, mpmath.inf])


@pytest.mark.parametrize("name", ["relu", "erf", "linear", "gelu"])
@pytest.mark.parametrize("c", ["0", "0.5", "-0.7", "0.99", "0.999999", "1"])
@pytest.mark.parametrize("qv", ["0.3", "2.5"])
def test_kernel_against_quadrature(name: str, c: str, qv: str) -> None:
    kern = activations.CLOSED_FORMS[name]()
    with mpmath.workdps(30):
        qm, cm = mpmath.mpf(qv), mpmath.mpf(c)
        expected = quad_kernel(name, qm, cm)
        f = sp.lambdify((q, p), kern.k_qp, "mpmath")
        got = f(qm, qm * cm)
        assert abs(got - expected) < mpmath.mpf("1e-25") * max(1, abs(expected))
        if c == "1":
            assert abs(sp.lambdify(q, kern.k_qq, "mpmath")(qm) - expected) < mpmath.mpf("1e-25")


@pytest.mark.parametrize("name", ["relu", "erf", "gelu"])
def test_kernel_monte_carlo(name: str) -> None:
    rng = np.random.default_rng(0)
    n, qv, c = 400_000, 1.3, 0.6
    x, y = rng.standard_normal((2, n))
    u, v = np.sqrt(qv) * x, np.sqrt(qv) * (c * x + np.sqrt(1 - c * c) * y)
    from scipy.special import erf, ndtr

    phi = {"relu": lambda z: np.maximum(z, 0), "erf": erf, "gelu": lambda z: z * ndtr(z)}[name]
    samples = phi(u) * phi(v)
    exact = float(activations.CLOSED_FORMS[name]().k_qp.subs({q: qv, p: c * qv}))
    assert abs(samples.mean() - exact) < 5 * samples.std() / np.sqrt(n)
