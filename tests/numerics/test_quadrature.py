"""Tests for the Gaussian kernels (symsig.numerics.quadrature, quadrature_mp, activations):
closed forms vs 30-digit quadrature, float accuracy, mpmath precision, derivatives, Monte Carlo,
and the compiled registry (stable rewrites, fixed-point programs)."""
from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

from symsig.core.names import ACTIVATIONS
from symsig.numerics import activations as A
from symsig.numerics import quadrature as Q
from symsig.theory import activations as theory
from symsig.theory.symbols import p as P, q as QS
from tests.numerics.kernel_reference import reference_kernel

CS = ["0", "0.5", "0.99", "0.999999", "1", "-0.7"]
SMOOTH = ["tanh", "sigmoid", "swish"]


def _close(x, ref, tol, scale):
    return abs(x - ref) <= tol * max(abs(ref), scale)


# ----------------------------------------------------------------- closed forms
@pytest.mark.parametrize("name", ["relu", "erf", "gelu"])
@pytest.mark.parametrize("c", [pytest.param(c, marks=pytest.mark.slow) if c in ("0", "0.5", "0.99")
                               else c for c in CS])
def test_closed_form_vs_quadrature_30_digits(name: str, c: str) -> None:
    with mp.workdps(40):
        q = mp.mpf("0.7")
        ref = reference_kernel(name, q, mp.mpf(c))
        got = Q.kernel_mp(name, q, q * mp.mpf(c), dps=30)
        for g, r in zip(got, ref):
            assert _close(g, r, mp.mpf(10) ** -29, 1e-3 * ref[0]), (g, r)
        flt = Q.kernel_np(name, float(q), float(q * mp.mpf(c)))
        for g, r in zip(flt, ref):
            assert abs(g - float(r)) <= 1e-14 * max(abs(float(r)), float(ref[0]))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["erf", "gelu"])
def test_closed_form_vs_genuine_2d_trapezoid(name: str) -> None:
    """The generic 2-D mpmath trapezoid (user-callable path) reproduces the closed forms."""
    got = Q.kernel_mp(Q.activation_mp(name), "0.7", "-0.49", dps=12)
    ref = Q.kernel_mp(name, "0.7", "-0.49", dps=30)
    for g, r in zip(got, ref):
        assert abs(g - r) <= 1e-12 * abs(ref[0])


@pytest.mark.parametrize("name", sorted(A.CLOSED_FORMS))
@pytest.mark.parametrize("derivative", [False, True])
def test_stable_rewrite_is_the_same_function(name: str, derivative: bool) -> None:
    """The compiled (atan2, factored radicands) kernels equal the symbolic ones at 50 digits,
    on a grid of q and c that includes c = +-1 and c = 1 - 1e-12."""
    raw = theory.kernel_derivatives(name) if derivative else \
        (theory.CLOSED_FORMS[name]().k_qq, theory.CLOSED_FORMS[name]().k_qp)
    plain = sp.lambdify((QS, P), list(raw), "mpmath")
    with mp.workdps(50):
        for qv in ("0.01", "0.7", "40"):
            for cv in ("-1", "-0.3", "0", "0.8", "1e-12", "0.999999999999", "1"):
                qm = mp.mpf(qv)
                pm = qm * mp.mpf(cv)
                got, want = A.closed_mp(name, derivative)(qm, pm), plain(qm, pm)
                for g, w in zip(got, want):
                    assert abs(g - w) <= mp.mpf(10) ** -35 * max(1, abs(w)), (qv, cv, g, w)


# ----------------------------------------------------------------- float accuracy
@pytest.mark.parametrize("name", SMOOTH + ["gelu", "relu", "erf", pytest.param("gelu_tanh", marks=pytest.mark.slow)])
@pytest.mark.parametrize("q", ["0.05", "1.5"])
def test_float_accuracy_1e12(name: str, q: str) -> None:
    """Float kernels and derivatives within 1e-12 relative (absolute at a zero, scaled by K_qq)."""
    qf = float(q)
    for c in CS:
        pf = qf * float(c)
        ref = Q.kernel_mp(name, qf, pf, dps=18)  # the same binary inputs as the float call
        dref = Q.dkernel_mp(name, qf, pf, dps=18)
        got, dgot = Q.kernel_np(name, qf, pf), Q.dkernel_np(name, qf, pf)
        for g, r in zip(got, ref):
            assert _close(g, float(r), 1e-12, 1e-2 * float(ref[0])), (name, q, c, g, r)
        for g, r in zip(dgot, dref):
            assert _close(g, float(r), 1e-12, 1e-2 * abs(float(dref[0]))), (name, q, c, g, r)


# ----------------------------------------------------------------- mpmath precision
@pytest.mark.parametrize("name,q,p", [("tanh", "1", "0.5"), ("sigmoid", "0.5", "-0.4999995"),
                                      ("swish", "2", "-1.4")])
def test_mp_dps30_agrees_with_dps50(name: str, q: str, p: str) -> None:
    lo, hi = Q.kernel_mp(name, q, p, dps=30), Q.kernel_mp(name, q, p, dps=50)
    with mp.workdps(60):
        for a, b in zip(lo, hi):
            assert abs(a - b) <= mp.mpf(10) ** -30 * abs(hi[0])


@pytest.mark.slow
@pytest.mark.parametrize("name,q,p", [("tanh", "0.3", "0.297"), ("tanh", "1.5", "-1.05"),
                                      ("sigmoid", "3", "1.5"), ("swish", "0.05", "0.05"),
                                      ("gelu_tanh", "0.8", "-0.5")])
def test_mp_dps30_agrees_with_dps50_more(name: str, q: str, p: str) -> None:
    for fn in (Q.kernel_mp, Q.dkernel_mp):
        lo, hi = fn(name, q, p, dps=30), fn(name, q, p, dps=50)
        with mp.workdps(60):
            for a, b in zip(lo, hi):
                assert abs(a - b) <= mp.mpf(10) ** -30 * max(abs(b), abs(hi[0]) * 1e-2)


def test_mp_tanh_independent_methods() -> None:
    """tanh at dps 30 vs mp.quad (K_qq, 1-D) and a Mehler series for K_qp:
    K_qp = sum_k a_k^2 c^k / k!, a_k = E[tanh(sqrt(q) z) He_k(z)], terms to c^k < 1e-34."""
    with mp.workdps(40):
        q, c = mp.mpf("0.5"), mp.mpf("0.25")
        sg = mp.sqrt(q)
        k_qq, k_qp = Q.kernel_mp("tanh", q, q * c, dps=30)
        ref_qq = mp.quad(lambda z: mp.npdf(z) * mp.tanh(sg * z) ** 2, [-mp.inf, 0, mp.inf])
        assert abs(k_qq - ref_qq) <= mp.mpf(10) ** -30 * ref_qq
        # all He_k at once on Gauss-Legendre panels of width 1 over [-13, 13]
        gl = mp.calculus.quadrature.GaussLegendre(mp.mp)
        nodes = gl.calc_nodes(6, mp.mp.prec)  # 3 * 2^6 nodes per panel
        kmax = 60
        a = [mp.mpf(0)] * (kmax + 1)
        for left in range(-13, 13):
            for x, w in nodes:
                z = left + (x + 1) / 2
                f = w / 2 * mp.npdf(z) * mp.tanh(sg * z)
                h0, h1 = mp.mpf(1), z
                a[0] += f
                for k in range(1, kmax + 1):
                    a[k] += f * h1
                    h0, h1 = h1, z * h1 - k * h0
        ref_qp = mp.fsum(a[k] ** 2 * c ** k / mp.factorial(k) for k in range(kmax + 1))
        assert abs(k_qp - ref_qp) <= mp.mpf(10) ** -30 * k_qq


def test_mp_leaves_global_precision() -> None:
    before = mp.mp.prec
    Q.kernel_mp("tanh", 1, 0.3, dps=25)
    Q.dkernel_mp("gelu", 1, 0.3, dps=40)
    assert mp.mp.prec == before


# ----------------------------------------------------------------- structure
def test_vectorisation_and_broadcasting() -> None:
    q = np.array([[0.1], [1.0], [7.0]])
    c = np.array([[-1.0, -0.3, 0.0, 0.8, 1.0]])
    for name in Q.NAMES:
        k_qq, k_qp = Q.kernel_np(name, q, q * c)
        d_qq, d_qp = Q.dkernel_np(name, q, q * c)
        assert k_qq.shape == k_qp.shape == d_qq.shape == d_qp.shape == (3, 5)
        for i in range(3):
            for j in range(5):
                one = Q.kernel_np(name, q[i, 0], q[i, 0] * c[0, j])
                assert np.isscalar(one[0]) and np.isscalar(one[1])
                assert one[1] == pytest.approx(k_qp[i, j], rel=1e-14, abs=1e-15 * k_qq[i, j])
                assert one[0] == pytest.approx(k_qq[i, j], rel=1e-14)


@pytest.mark.parametrize("name", Q.NAMES)
def test_full_correlation_gives_kqq(name: str) -> None:
    q = np.array([0.02, 0.9, 4.0])
    k_qq, k_qp = Q.kernel_np(name, q, q)
    np.testing.assert_allclose(k_qp, k_qq, rtol=1e-14)
    m_qq, m_qp = Q.kernel_mp(name, "0.9", "0.9", dps=20)
    assert abs(m_qp - m_qq) <= mp.mpf(10) ** -20 * m_qq


def test_sigmoid_tanh_identity() -> None:
    """sigmoid(x) = (1 + tanh(x/2))/2 and tanh odd give K_sig(q, p) = 1/4 + K_tanh(q/4, p/4)/4."""
    q = np.array([0.2, 1.0, 3.0])
    p = np.array([-0.1, 0.99, 2.0])
    np.testing.assert_allclose(Q.kernel_np("sigmoid", q, p)[1],
                               0.25 + Q.kernel_np("tanh", q / 4, p / 4)[1] / 4, rtol=1e-13)


# ----------------------------------------------------------------- derivatives
@pytest.mark.parametrize("name", Q.NAMES)
def test_price_derivative_vs_finite_differences(name: str) -> None:
    """dK_qp/dp1 and dK_qq/dq1 vs 4-point central differences (step 1e-3: truncation
    ~ h^4 K^(5) ~ 1e-12, rounding ~ 1e-16 / h ~ 1e-13; tolerance 1e-9)."""
    q, p, h = 0.8, 0.3, 1e-3

    def fd(f, x):
        return (8 * (f(x + h) - f(x - h)) - (f(x + 2 * h) - f(x - 2 * h))) / (12 * h)

    d_qq, d_qp = Q.dkernel_np(name, q, p)
    assert d_qp == pytest.approx(fd(lambda x: Q.kernel_np(name, q, x)[1], p), rel=1e-9)
    assert d_qq == pytest.approx(fd(lambda x: Q.kernel_np(name, x, p)[0], q), rel=1e-9)


@pytest.mark.parametrize("name", ["relu", "erf", "gelu", "sigmoid"])
def test_mp_derivative_vs_mp_differences(name: str) -> None:
    """dkernel_mp vs 4-point central differences of kernel_mp. Closed forms: dps 35,
    step 1e-10 (truncation ~1e-40, rounding ~1e-38/1e-10), tolerance 1e-25.
    sigmoid: dps 25, step 1e-5 (truncation ~1e-20, rounding ~1e-20), tolerance 1e-17."""
    closed = name in Q.CLOSED_FORMS
    dps, step, tol = (35, "1e-10", "1e-25") if closed else (25, "1e-5", "1e-17")
    with mp.workdps(dps + 10):
        q, p, h, tol = mp.mpf("1.3"), mp.mpf("0.4"), mp.mpf(step), mp.mpf(tol)

        def fd(f, x):
            return (8 * (f(x + h) - f(x - h)) - (f(x + 2 * h) - f(x - 2 * h))) / (12 * h)

        d_qq, d_qp = Q.dkernel_mp(name, q, p, dps=dps)
        num_qp = fd(lambda x: Q.kernel_mp(name, q, x, dps=dps)[1], p)
        num_qq = fd(lambda x: Q.kernel_mp(name, x, p, dps=dps)[0], q)
        assert abs(d_qp - num_qp) <= tol * abs(num_qp)
        assert abs(d_qq - num_qq) <= tol * abs(num_qq)


# ----------------------------------------------------------------- every activation
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_every_activation_float_and_mp(name: str) -> None:
    """Every registered activation has float and mpmath kernels with K_qq(q) = K_qp(q, q), the
    symmetry of its parity under p -> -p, float = mp to the float contract (1e-14 K_qq), and
    both match Monte Carlo: 1e6 correlated pairs, |mean - K| <= 4 SE + 1e-14 K_qq (the stated
    bias of the float kernels; a false alarm has probability 6e-5 per check)."""
    q, c, dps = 1.3, 0.6, 15
    k_qq, k_qp = Q.kernel_np(name, q, c * q)
    m_qq, m_qp = Q.kernel_mp(name, q, c * q, dps=dps)
    assert abs(k_qq - float(m_qq)) <= 1e-14 * k_qq and abs(k_qp - float(m_qp)) <= 1e-14 * k_qq
    full, m_full = Q.kernel_np(name, q, q), Q.kernel_mp(name, q, q, dps=dps)
    assert full[1] == pytest.approx(k_qq, rel=1e-14) and full[0] == k_qq
    assert abs(m_full[1] - m_qq) <= mp.mpf(10) ** -dps * m_qq
    parity = theory.parity(name)
    if parity:  # K(q, -p) = E[phi(u) phi(-v)] = parity K(q, p)
        assert Q.kernel_np(name, q, -c * q)[1] == pytest.approx(parity * k_qp, rel=1e-14, abs=1e-16 * k_qq)
        assert abs(Q.kernel_mp(name, q, -c * q, dps=dps)[1] - parity * m_qp) <= mp.mpf(10) ** -dps * m_qq
    rng = np.random.default_rng(20250531)
    n = 1_000_000
    z1, z2 = rng.standard_normal((2, n))
    u, v = np.sqrt(q) * z1, np.sqrt(q) * (c * z1 + np.sqrt(1 - c * c) * z2)
    phi = Q.activation_np(name)
    for sample, exact in ((phi(u) ** 2, k_qq), (phi(u) * phi(v), k_qp)):
        assert abs(sample.mean() - exact) <= 4 * sample.std() / np.sqrt(n) + 1e-14 * k_qq


# ----------------------------------------------------------------- the compiled registry
@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("derivative", [False, True])
def test_compiled_phi_is_the_registry_phi(name: str, derivative: bool) -> None:
    """activation_np / activation_mp (tanh forms, ndtr, hoisted constants) against the registry's
    phi (or sp.diff) lambdified as it is, at 40 digits; no NaN at |x| = 800 (cosh may overflow
    there: sech^2 = 0 is the exact limit)."""
    expr = theory.phi(name)
    plain = sp.lambdify(theory.X, sp.diff(expr, theory.X) if derivative else expr, "mpmath")
    xs = [-800, -30, -7.5, -1.25, -1e-3, 0.0, 0.4, 3.0, 12.0, 800]
    with np.errstate(over="ignore", invalid="raise", divide="raise"):
        got_np = Q.activation_np(name, derivative)(np.array(xs))
    assert np.shape(got_np) == (len(xs),)
    with mp.workdps(40):
        for x, g in zip(xs, got_np):
            want = plain(mp.mpf(x))
            assert abs(Q.activation_mp(name, derivative)(mp.mpf(x)) - want) <= mp.mpf(10) ** -35 * max(1, abs(want))
            if x != 0 or name != "relu" or not derivative:  # relu'(0): Heaviside(0) = 1/2 either way
                # a few ulps of the transcendental calls, times |x| where x multiplies one (x e (1 - e))
                assert abs(g - float(want)) <= 4e-16 * max(1.0, abs(x), abs(float(want))), (x, g, want)


@pytest.mark.parametrize("name", sorted(theory.KAPPA))
@pytest.mark.parametrize("derivative", [False, True])
def test_fixed_point_program(name: str, derivative: bool) -> None:
    """The integer program of psi(x, t) against psi in mpmath: error <= 2^(8 - bits) (1 + |x|)."""
    bits = 120
    kappa = theory.KAPPA[name]
    psi = sp.lambdify((theory.X, theory.T_TANH), theory.tanh_form(name, derivative), "mpmath")
    xs = [mp.mpf(k) / 7 for k in range(-70, 71, 3)]
    with mp.workdps(60):
        xi = np.array([int(mp.nint(mp.ldexp(x, bits))) for x in xs], dtype=object)
        ti = np.array([int(mp.nint(mp.ldexp(mp.tanh(kappa * x), bits))) for x in xs], dtype=object)
        got = A.fixed_point(name, derivative)(xi, ti, bits)
        for x, g in zip(xs, got):
            want = psi(x, mp.tanh(kappa * x))
            assert abs(mp.ldexp(int(g), -bits) - want) <= mp.ldexp(1, 8 - bits) * (1 + abs(x))


# ----------------------------------------------------------------- user callables
def test_user_callable_float_matches_named() -> None:
    q = np.array([0.4, 2.0])
    p = np.array([0.39, -1.0])
    np.testing.assert_allclose(Q.kernel_np(np.tanh, q, p), Q.kernel_np("tanh", q, p), rtol=1e-12)
    got = Q.dkernel_np(np.tanh, q, p, dact=Q.activation_np("tanh", derivative=True))
    np.testing.assert_allclose(got, Q.dkernel_np("tanh", q, p), rtol=1e-12)


def test_user_callable_mp_matches_named() -> None:
    got = Q.kernel_mp(mp.tanh, "0.25", "0.1", dps=16)
    ref = Q.kernel_mp("tanh", "0.25", "0.1", dps=30)
    for g, r in zip(got, ref):
        assert abs(g - r) <= mp.mpf(10) ** -16 * ref[0]


def test_non_smooth_user_callable_raises() -> None:
    with pytest.raises(Q.ConvergenceError, match="did not converge"):
        Q.kernel_np(np.abs, 1.0, 0.5)


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("args,match", [
    (("tanh", 0.0, 0.0), "positive"), (("tanh", -1.0, 0.0), "positive"),
    (("relu", 1.0, 1.1), "exceed"), (("gelu", np.nan, 0.0), "finite"),
    (("softplus", 1.0, 0.5), "unknown activation"), (("tanh", 2e4, 0.0), "not supported"),
])
def test_bad_input_float(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Q.kernel_np(*args)


def test_bad_input_mp() -> None:
    with pytest.raises(ValueError, match="dps"):
        Q.kernel_mp("tanh", 1, 0.5, dps=0)
    with pytest.raises(ValueError, match="exceed"):
        Q.kernel_mp("erf", 1, -1.5, dps=20)
    with pytest.raises(ValueError, match="dact"):
        Q.dkernel_np(np.tanh, 1.0, 0.5)
    with pytest.raises(ValueError, match="dact"):
        Q.dkernel_mp(mp.tanh, 1, 0.5, dps=15)
