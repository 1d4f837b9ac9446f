"""The symbolic activation registry: closed-form kernels against 30-digit quadrature, their
derivatives, K_qq = K_qp(p = q), tanh forms, strips of analyticity and parity."""
from __future__ import annotations

import mpmath
import pytest
import sympy as sp

from symsig.core.names import ACTIVATIONS
from symsig.theory import activations
from symsig.theory.symbols import p, q
from tests.numerics.kernel_reference import reference_kernel

X, T = activations.X, activations.T_TANH


@pytest.mark.parametrize("name", ["relu", "erf", "linear", "gelu"])
@pytest.mark.parametrize("c", ["0", "0.5", "-0.7", "0.99", "0.999999", "1"])
@pytest.mark.parametrize("qv", ["0.3", "2.5"])
def test_kernel_against_quadrature(name: str, c: str, qv: str) -> None:
    """The symbolic K_qp (lambdified as it is, no rewriting) against 1-D quadrature at 30 digits."""
    kern = activations.CLOSED_FORMS[name]()
    with mpmath.workdps(30):
        qm, cm = mpmath.mpf(qv), mpmath.mpf(c)
        ref_qq, expected = reference_kernel(name, qm, cm)
        got = sp.lambdify((q, p), kern.k_qp, "mpmath")(qm, qm * cm)
        assert abs(got - expected) < mpmath.mpf("1e-25") * max(1, abs(expected))
        assert abs(sp.lambdify(q, kern.k_qq, "mpmath")(qm) - ref_qq) < mpmath.mpf("1e-25") * max(1, ref_qq)


@pytest.mark.parametrize("name", sorted(activations.CLOSED_FORMS))
def test_kqq_is_kqp_at_full_correlation(name: str) -> None:
    kern = activations.CLOSED_FORMS[name]()
    assert (kern.k_qp.subs(p, q) - kern.k_qq).equals(0)


@pytest.mark.parametrize("name", sorted(activations.CLOSED_FORMS))
def test_kernel_derivatives_equal_sp_diff(name: str) -> None:
    """The tidied (dK_qq/dq, dK_qp/dp) equal the raw sp.diff (tidy is an identity transformation),
    have no inverse trig function of p in a denominator and stay finite at p = +-q."""
    kern = activations.CLOSED_FORMS[name]()
    d_qq, d_qp = activations.kernel_derivatives(name)
    assert (d_qq - sp.diff(kern.k_qq, q)).equals(0)
    assert (d_qp - sp.diff(kern.k_qp, p)).equals(0)
    for end in (q, -q):  # the raw relu derivative is inf - inf there; the tidied one is finite
        value = d_qp.subs(p, end).subs(q, sp.Rational(3, 7))
        assert value.is_finite and sp.N(value, 30).is_real


def test_gelu_derivative_form() -> None:
    """GELU's dK_qp/dp collapses to 1/4 + asin(p/(1+q))/(2 pi) + p((1+q)(3+2q) - 2p^2)/(2 pi (1+q) S^3)."""
    s = sp.sqrt((1 + q) ** 2 - p**2)
    want = sp.Rational(1, 4) + sp.asin(p / (1 + q)) / (2 * sp.pi) + p * ((1 + q) * (3 + 2 * q) - 2 * p**2) / (2 * sp.pi * (1 + q) * s**3)
    assert (activations.kernel_derivatives("gelu")[1] - want).equals(0)


@pytest.mark.parametrize("name", sorted(activations.KAPPA))
@pytest.mark.parametrize("derivative", [False, True])
def test_tanh_form_reproduces_phi(name: str, derivative: bool) -> None:
    """psi(x, tanh(kappa x)) = phi(x) (and phi'(x)) exactly, psi a polynomial in x and t."""
    psi = activations.tanh_form(name, derivative)
    assert psi.is_polynomial(X, T)
    target = sp.diff(activations.phi(name), X) if derivative else activations.phi(name)
    back = psi.subs(T, sp.tanh(activations.KAPPA[name] * X))
    assert sp.simplify((back - target).rewrite(sp.exp)) == 0


@pytest.mark.parametrize("name", sorted(activations.KAPPA))
def test_strip_is_first_pole_of_tanh_kappa_x(name: str) -> None:
    """tanh(kappa x) has its poles at i pi (n + 1/2) / kappa: cosh(kappa x) vanishes at i strip."""
    d = activations.strip(name)
    assert sp.cosh(activations.KAPPA[name] * sp.I * d) == 0
    assert d == sp.pi / (2 * activations.KAPPA[name])


def test_gelu_tanh_strip_bound() -> None:
    """The bound eta0 = sqrt(b1/(3 b3)): the real-part identity of its proof, and every pole
    (g(x) = i pi (n + 1/2), n < 300, three roots each) has |Im x| >= eta0, the nearest within 1%."""
    d = activations.strip("gelu_tanh")
    arg = next(iter(activations.phi("gelu_tanh").atoms(sp.tanh))).args[0]
    b1, b3 = sp.Poly(arg, X).coeff_monomial(X), sp.Poly(arg, X).coeff_monomial(X**3)
    xi, eta = sp.symbols("xi eta", real=True)
    re_g = sp.re(sp.expand(arg.subs(X, xi + sp.I * eta)))
    assert sp.expand(re_g - xi * (b1 + b3 * xi**2 - 3 * b3 * eta**2)) == 0
    assert sp.simplify(d - sp.sqrt(b1 / (3 * b3))) == 0
    with mpmath.workdps(30):
        c1, c3, bound = (mpmath.mpf(str(sp.N(v, 40))) for v in (b1, b3, d))
        nearest = mpmath.inf
        for n in range(300):
            for sign in (1, -1):
                roots = mpmath.polyroots([c3, 0, c1, -sign * 1j * mpmath.pi * (n + mpmath.mpf(1) / 2)],
                                         maxsteps=200, extraprec=60)
                nearest = min(nearest, *(abs(mpmath.im(r)) for r in roots))
        assert bound <= nearest <= bound * mpmath.mpf("1.01")


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_parity(name: str) -> None:
    expected = {"erf": -1, "linear": -1, "tanh": -1}.get(name, 0)
    assert activations.parity(name) == expected
    f = activations.phi(name)
    if expected:
        assert sp.simplify(f.subs(X, -X) - expected * f) == 0
    else:  # witnessed at x = 1 (exact values)
        assert sp.N(f.subs(X, -1) - f.subs(X, 1), 30) != 0 and sp.N(f.subs(X, -1) + f.subs(X, 1), 30) != 0


@pytest.mark.parametrize("name", sorted(activations.CLOSED_FORMS))
def test_tidy_of_kernel_is_identity(name: str) -> None:
    kern = activations.CLOSED_FORMS[name]()
    for expr in (kern.k_qq, kern.k_qp):
        assert (activations.tidy(expr) - expr).equals(0)
