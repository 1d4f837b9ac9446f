"""Gaussian kernels of activation functions (docs/theory.md §5.6).

For pre-activations (u, v) jointly Gaussian with E[u^2] = E[v^2] = q and
E[uv] = p, an activation phi maps the token kernel to

    q' = K_qq(q)    = E[phi(u)^2]
    p' = K_qp(q, p) = E[phi(u) phi(v)].

Closed forms (each derived in ``derivations/``):

* linear: K_qq = q, K_qp = p;
* ReLU (arc-cosine kernel, ``relu_kernel.py``): with theta = arccos(p/q),
  K_qp = (sqrt(q^2 - p^2) + p (pi - theta)) / (2 pi), K_qq = q / 2;
* erf (``erf_kernel.py``): K_qp = (2/pi) arcsin(2 p / (1 + 2 q));
* GELU x Phi(x) (``gelu_kernel.py``): see :func:`gelu`.

Their derivatives dK_qq/dq, dK_qp/dp (:func:`kernel_derivatives`) are sp.diff of
these expressions. Other activations (tanh, sigmoid, swish, GPT-2's gelu_tanh, user
functions) have no closed form for K_qp; their kernels appear symbolically as declared
functions ``K_qq_<name>(q)``, ``K_qp_<name>(q, p)`` (:mod:`symsig.theory.special`)
evaluated numerically by :mod:`symsig.numerics.quadrature`, which needs from here the
strip of analyticity of phi (:func:`strip`) and, for tanh, sigmoid and swish, phi as a
polynomial in x and t = tanh(kappa x) (:func:`tanh_form`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import sympy as sp

from ..core import validate
from ..core.architecture import as_user, is_user
from ..core.names import ACTIVATION_PHI, ACTIVATIONS
from . import special
from .cache import derived
from .symbols import p, q

#: The argument of every activation's phi(x).
X = sp.Symbol("x", real=True)
_t = sp.Symbol("t", real=True)
_theta = sp.Symbol("theta", positive=True)


@cache
def phi(name: str) -> sp.Expr:
    """phi(x) of a named activation, parsed once from its one definition
    (:data:`symsig.core.names.ACTIVATION_PHI`)."""
    validate.choice("activation", name, ACTIVATIONS)
    return sp.sympify(ACTIVATION_PHI[name], locals={"x": X})


@dataclass(frozen=True)
class Kernel:
    """The Gaussian kernel of one activation: expressions in the symbols q, p."""

    name: str
    k_qq: sp.Expr
    k_qp: sp.Expr

    def __call__(self, q_in: sp.Expr, p_in: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        """Substitute the incoming (q, p) into the kernel."""
        sub = {q: q_in, p: p_in}
        return self.k_qq.xreplace(sub), self.k_qp.xreplace(sub)


@derived
def relu_kernel_angle() -> sp.Expr:
    """E[relu(u) relu(v)] / q as a function of theta = arccos(c), by a polar integral.

    With u = sqrt(q) r cos t and v = sqrt(q) r cos(t - theta) (r Rayleigh),
    E[relu(u) relu(v)] = (q/pi) * int_{theta - pi/2}^{pi/2} cos t cos(t - theta) dt
    since int_0^inf r^3 e^{-r^2/2} dr = 2 and the 2 pi of the angle measure.
    Result: (sin theta + (pi - theta) cos theta) / (2 pi).
    """
    integral = sp.integrate(sp.cos(_t) * sp.cos(_t - _theta), (_t, _theta - sp.pi / 2, sp.pi / 2))
    return sp.simplify(sp.trigsimp(integral) / sp.pi)


@cache
def linear() -> Kernel:
    """phi(x) = x: the identity kernel."""
    return Kernel("linear", q, p)


@derived
def relu() -> Kernel:
    """phi(x) = max(0, x): the arc-cosine kernel, derived by :func:`relu_kernel_angle`."""
    theta = sp.acos(p / q)
    per_q = relu_kernel_angle().subs(_theta, theta)  # sin(acos c) -> sqrt(1 - c^2)
    k_qp = sp.expand(q * per_q).subs(q * sp.sqrt(1 - p**2 / q**2), sp.sqrt(q**2 - p**2))
    k_qq = sp.simplify(k_qp.subs(p, q))
    return Kernel("relu", k_qq, k_qp)


@derived
def erf_kernel_price() -> sp.Expr:
    """K_qp for erf from Price's theorem, integrating dK/dp = E[phi'(u) phi'(v)] from p = 0.

    phi'(x) = (2/sqrt(pi)) exp(-x^2) and, for a centred Gaussian vector with
    covariance S, E[exp(-u^2 - v^2)] = det(I + 2 S)^(-1/2); erf is odd, so K(p=0) = 0.
    """
    s_mat = sp.Matrix([[q, p], [p, q]])
    e_exp = 1 / sp.sqrt(sp.factor((sp.eye(2) + 2 * s_mat).det()))
    dk_dp = sp.Rational(4) / sp.pi * e_exp
    x = sp.Symbol("x", real=True)
    k_qp = sp.integrate(dk_dp.subs(p, x), (x, 0, p), conds="none")
    # sqrt(4q^2 + 4q + 1) -> 2q + 1 (q > 0)
    return k_qp.replace(lambda y: y.is_Pow, lambda y: sp.Pow(sp.factor(y.base), y.exp))


@cache
def erf() -> Kernel:
    """phi(x) = erf(x): K_qp = (2/pi) asin(2p / (1 + 2q)) (Williams 1997), via Price's theorem."""
    k_qp = erf_kernel_price()
    return Kernel("erf", k_qp.subs(p, q), k_qp)


@cache
def gelu() -> Kernel:
    """phi(x) = x Phi(x) (exact, erf-based GELU): a closed form for both entries.

    With S = sqrt((1 + q)^2 - p^2) and N = q^2 + p^2 (1 - q)/(1 + q),
    K_qp = p/4 + p asin(p/(1 + q))/(2 pi) + N/(2 pi S), and K_qq = K_qp(p = q)
    = q/4 + q asin(q/(1 + q))/(2 pi) + q^2/(pi (1 + q) sqrt(1 + 2q)).
    Derived in ``derivations/gelu_kernel.py`` by Price's theorem,
    d^2 K_qp / dp^2 = E[phi''(u) phi''(v)] with phi''(x) = (2 - x^2) phi_N(x), from
    K(p = 0) = (E phi)^2 and dK/dp(p = 0) = (E phi')^2 (docs/theory.md §5.6); checked in
    the tests against 30-digit quadrature and Monte Carlo.
    """
    s = sp.sqrt((1 + q) ** 2 - p**2)
    n = q**2 + p**2 * (1 - q) / (1 + q)
    k_qp = p / 4 + p * sp.asin(p / (1 + q)) / (2 * sp.pi) + n / (2 * sp.pi * s)
    k_qq = q / 4 + q * sp.asin(q / (1 + q)) / (2 * sp.pi) + q**2 / (sp.pi * (1 + q) * sp.sqrt(1 + 2 * q))
    return Kernel("gelu", k_qq, k_qp)


CLOSED_FORMS = {"linear": linear, "relu": relu, "erf": erf, "gelu": gelu}


def kernel(activation: Any) -> Kernel:
    """The Gaussian kernel of an activation: a closed form where one exists (:data:`CLOSED_FORMS`),
    else declared functions evaluated by quadrature (:mod:`symsig.theory.special`).

    ``activation``: a name in :data:`symsig.core.names.ACTIVATIONS`, a callable (numpy phi)
    or a :class:`~symsig.core.architecture.UserActivation`.
    """
    if is_user(activation):
        act = as_user(activation)
        k_qq, k_qp = special.kernel_functions(act, act.derivative is not None)
        return Kernel(k_qq.__name__[5:], k_qq(q), k_qp(q, p))
    validate.choice("activation", activation, ACTIVATIONS)
    if activation in CLOSED_FORMS:
        return CLOSED_FORMS[activation]()
    k_qq, k_qp = special.kernel_functions(activation, True)
    return Kernel(activation, k_qq(q), k_qp(q, p))


# ----------------------------------------------------------------- gated MLPs (SwiGLU, GeGLU)
@dataclass(frozen=True)
class GatedKernel:
    """Kernel of a gated unit phi(u) v (docs/modern_blocks.md §2; ``derivations/gated_mlp.py``).

    u = x W_g (+ b_g) is the gate's pre-activation, v = x W_u (+ b_u) the up projection's; W_g
    and W_u are independent at initialisation, so (u, u') and (v, v') of two tokens are
    independent Gaussian pairs and the expectation factorises into the gate's kernel times
    the linear kernel of the up projection:

        E[phi(u) v phi(u') v'] = K_qp^phi(q_g, p_g) p_u,   E[(phi(u) v)^2] = K_qq^phi(q_g) q_u.

    SwiGLU is phi = swish (HF "silu"), GeGLU phi = gelu.
    """

    gate: Kernel

    @property
    def name(self) -> str:
        """The gate activation's name."""
        return self.gate.name

    def __call__(self, q_gate: sp.Expr, p_gate: sp.Expr, q_up: sp.Expr, p_up: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        """(K_qq, K_qp) of phi(u) v for gate input (q_gate, p_gate) and up input (q_up, p_up)."""
        g_qq, g_qp = self.gate(q_gate, p_gate)
        u_qq, u_qp = linear()(q_up, p_up)
        return g_qq * u_qq, g_qp * u_qp


def gated(activation: Any) -> GatedKernel:
    """The :class:`GatedKernel` of gate activation ``activation`` (a name or a callable)."""
    return GatedKernel(kernel(activation))


# ----------------------------------------------------------------- derivatives of the closed forms
def _factor_radicands(expr: sp.Expr) -> sp.Expr:
    """Every half-integer power with its base one factored fraction (pulls out positive squares)."""
    return expr.replace(lambda x: x.is_Pow and x.exp.is_Rational and x.exp.q == 2 and not x.base.is_number,
                        lambda x: sp.Pow(sp.factor(sp.together(x.base)), x.exp))


def _halves(expr: sp.Expr) -> set[sp.Expr]:
    return {x.base for x in expr.atoms(sp.Pow) if x.exp.is_Rational and x.exp.q == 2 and not x.base.is_number}


def _one_radical(expr: sp.Expr) -> sp.Expr:
    """A rational function of q, p and at most one sqrt(R) as  a + b R^(k/2) (a, b factored).

    With sqrt(R) -> s: the numerator is reduced mod s^2 - R to e0 + e1 s, the denominator
    must be c s^k, and each part e s^j / (c s^k) becomes (e / c) R^((j - k)/2): so that
    cancellations such as s/s^3 = 1/R happen exactly (no inf - inf at R = 0)."""
    radicals = _halves(expr)
    if not radicals:
        return sp.factor(sp.cancel(expr))
    if len(radicals) > 1:
        raise ValueError(f"more than one square root in {expr}")
    rad = radicals.pop()
    s = sp.Dummy("s", positive=True)
    num, den = sp.fraction(sp.cancel(sp.together(expr.replace(
        lambda x: x.is_Pow and x.base == rad and x.exp.is_Rational, lambda x: s ** (2 * x.exp)))))
    k = sp.degree(den, s)
    c = sp.cancel(den / s**k)
    if c.has(s):
        raise ValueError(f"denominator of {expr} is not a monomial in sqrt({rad})")
    while sp.fraction(sp.cancel(c / rad))[1].is_number:  # R itself in c: another s^2
        c, k = sp.cancel(c / rad), k + 2
    rem = sp.Poly(num, s).rem(sp.Poly(s**2 - rad, s))
    out = sp.Integer(0)
    for j in (0, 1):
        e = rem.coeff_monomial(s**j)
        if e != 0:
            out += sp.factor(sp.cancel(e / c)) * rad ** sp.Rational(j - k, 2)
    return out


def tidy(expr: sp.Expr) -> sp.Expr:
    """sum_k c_k A_k + r with A_k the inverse-trig atoms of ``expr`` and each c_k, r one fraction
    in q, p and a square root (:func:`_one_radical`); radicands factored, e.g. q^2 - p^2 ->
    (q - p)(q + p). An identity transformation (tested); used on sp.diff of the kernels."""
    expr = _factor_radicands(expr)
    atoms = sorted(expr.atoms(sp.asin, sp.acos, sp.atan), key=sp.default_sort_key)
    if not atoms:
        return _one_radical(expr)
    dummies = [sp.Dummy() for _ in atoms]
    poly = sp.Poly(expr.xreplace(dict(zip(atoms, dummies))), *dummies)  # raises unless polynomial in them
    return sp.Add(*[_one_radical(_factor_radicands(c)) * sp.Mul(*[a**k for a, k in zip(atoms, powers)])
                    for powers, c in poly.terms()])


@derived
def kernel_derivatives(name: str) -> tuple[sp.Expr, sp.Expr]:
    """(dK_qq/dq, dK_qp/dp) of a closed-form kernel: sp.diff of :data:`CLOSED_FORMS`, tidied.

    E.g. ReLU: (1/2, (pi - arccos(p/q)) / (2 pi)); GELU: dK_qp/dp = 1/4 + arcsin(p/(1+q))/(2 pi)
    + p ((1+q)(3+2q) - 2p^2) / (2 pi (1+q) ((1+q)^2 - p^2)^(3/2))."""
    validate.choice("closed-form activation", name, tuple(CLOSED_FORMS))
    kern = CLOSED_FORMS[name]()
    return tidy(sp.diff(kern.k_qq, q)), tidy(sp.diff(kern.k_qp, p))


# ----------------------------------------------------------------- smooth activations
#: t = tanh(kappa x). For these activations phi is a polynomial in x and t (the data here is
#: kappa only; the polynomial is derived by :func:`tanh_form`).
T_TANH = sp.Symbol("t", real=True)
KAPPA: dict[str, sp.Rational] = {"tanh": sp.Integer(1), "sigmoid": sp.Rational(1, 2), "swish": sp.Rational(1, 2)}


@derived
def tanh_form(name: str, derivative: bool = False) -> sp.Expr:
    """psi(x, t), a polynomial with phi(x) = psi(x, tanh(kappa x)) (kappa = :data:`KAPPA`).

    Each exp/tanh atom f(x) of phi becomes f(atanh(t)/kappa) written with logarithms, e.g.
    exp(-x) = (1 - t)/(1 + t) at kappa = 1/2; with ``derivative``, phi' = psi_x + kappa (1 - t^2) psi_t
    (dt/dx = kappa (1 - t^2)). Raises if the result is not a polynomial."""
    kappa = KAPPA[validate.choice("tanh-form activation", name, tuple(KAPPA))]

    def to_t(atom: sp.Expr) -> sp.Expr:
        return sp.simplify(atom.subs(X, sp.atanh(T_TANH) / kappa).rewrite(sp.log))

    psi = sp.expand(sp.simplify(phi(name).replace(
        lambda e: isinstance(e, (sp.exp, sp.tanh)) and e.has(X), to_t)))
    if derivative:
        psi = sp.expand(sp.diff(psi, X) + kappa * (1 - T_TANH**2) * sp.diff(psi, T_TANH))
    if not psi.is_polynomial(X, T_TANH):
        raise ValueError(f"{name}: phi is not a polynomial in x and tanh({kappa} x): {psi}")
    return psi


def _odd_cubic_tanh_strip(expr: sp.Expr) -> sp.Expr:
    """Strip half-width for phi = (polynomial) + (polynomial) tanh(b1 x + b3 x^3), b1, b3 > 0.

    Poles need Re(g) = 0 with g = b1 x + b3 x^3 and x = xi + i eta:
    Re g = xi (b1 + b3 xi^2 - 3 b3 eta^2), so xi = 0 or eta^2 = (b1 + b3 xi^2)/(3 b3) >= b1/(3 b3).
    On xi = 0, g = i (b1 eta - b3 eta^3), increasing in |eta| up to eta0 = sqrt(b1/(3 b3)) where
    it equals (2/3) b1 eta0; if that is < pi/2 (first pole of tanh) no pole has |eta| < eta0.
    So phi is analytic on |Im x| < eta0 (a lower bound; for GPT-2's gelu_tanh eta0 = 2.7303
    while the nearest pole, at -0.634 + 2.755 i, is 1% further)."""
    tanhs = expr.atoms(sp.tanh)
    if len(tanhs) != 1 or (expr.atoms(sp.Function) - tanhs):
        raise ValueError(f"not a polynomial in x and one tanh: {expr}")
    g = sp.Poly(tanhs.pop().args[0], X)
    b1, b3 = g.coeff_monomial(X), g.coeff_monomial(X**3)
    if g.degree() != 3 or g.as_expr() != b1 * X + b3 * X**3 or not (b1.is_positive and b3.is_positive):
        raise ValueError(f"tanh argument is not b1 x + b3 x^3 with b1, b3 > 0: {g.as_expr()}")
    eta0 = sp.sqrt(b1 / (3 * b3))
    if not sp.Lt(sp.Rational(2, 3) * b1 * eta0, sp.pi / 2):
        raise ValueError("a pole of tanh lies on the imaginary axis below eta0")
    return eta0


@cache
def strip(name: str) -> sp.Expr:
    """d with phi analytic on |Im x| < d (sets the trapezoid step of the quadrature).

    tanh/sigmoid/swish: psi (:func:`tanh_form`) is a polynomial, so the poles are those of
    tanh(kappa x), at i pi/(2 kappa) + i pi n / kappa: d = pi/(2 kappa) (tanh pi/2, sigmoid and
    swish pi). gelu_tanh: the bound of :func:`_odd_cubic_tanh_strip`."""
    if name in KAPPA:
        tanh_form(name)  # raises unless psi is a polynomial
        return sp.pi / (2 * KAPPA[name])
    validate.choice("smooth activation", name, tuple(n for n in ACTIVATIONS if n not in CLOSED_FORMS))
    return _odd_cubic_tanh_strip(phi(name))


@cache
def parity(name: str) -> int:
    """+1 if phi is even, -1 if odd, 0 otherwise (decided by SymPy)."""
    f, g = phi(name), phi(name).subs(X, -X)
    if sp.simplify(f + g) == 0:
        return -1
    return 1 if sp.simplify(f - g) == 0 else 0
