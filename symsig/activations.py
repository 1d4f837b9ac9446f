"""Gaussian kernels of activation functions (THEORY.md section 4).

For pre-activations (u, v) jointly Gaussian with E[u^2] = E[v^2] = q and
E[uv] = p, an activation phi maps the token kernel to

    q' = K_qq(q)    = E[phi(u)^2]
    p' = K_qp(q, p) = E[phi(u) phi(v)].

Closed forms (derived, see ``derivations/relu_kernel.py`` and
``derivations/erf_kernel.py``):

* linear: K_qq = q, K_qp = p;
* ReLU (arc-cosine kernel): with theta = arccos(p/q),
  K_qp = (sqrt(q^2 - p^2) + p (pi - theta)) / (2 pi), K_qq = q / 2;
* erf: K_qp = (2/pi) arcsin(2 p / (1 + 2 q)).

Other activations (tanh, GELU, sigmoid, swish, user functions) have no closed
form for K_qp; their kernels appear symbolically as undefined functions
``K_qq_<name>(q)``, ``K_qp_<name>(q, p)`` evaluated numerically by
:mod:`symsig.quadrature`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import sympy as sp

from .derived import derived
from .symbols import p, q
from .validate import InputError

_t = sp.Symbol("t", real=True)
_theta = sp.Symbol("theta", positive=True)


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
    Obtained by Gaussian integration by parts (:mod:`symsig.quadrature`); proved
    in the tests against 30-digit quadrature and by Price's theorem,
    d^2 K_qp / dp^2 = E[phi''(u) phi''(v)].
    """
    s = sp.sqrt((1 + q) ** 2 - p**2)
    n = q**2 + p**2 * (1 - q) / (1 + q)
    k_qp = p / 4 + p * sp.asin(p / (1 + q)) / (2 * sp.pi) + n / (2 * sp.pi * s)
    k_qq = q / 4 + q * sp.asin(q / (1 + q)) / (2 * sp.pi) + q**2 / (sp.pi * (1 + q) * sp.sqrt(1 + 2 * q))
    return Kernel("gelu", k_qq, k_qp)


CLOSED_FORMS = {"linear": linear, "relu": relu, "erf": erf, "gelu": gelu}


@dataclass(frozen=True)
class UserActivation:
    """A user-supplied elementwise activation phi for the Python API.

    ``fn``: numpy-vectorised phi (array -> array), used by the float evaluators;
    ``derivative``: optional numpy phi' (enables dK_qp/dp = E[phi'(u) phi'(v)],
    Price's theorem, as the symbolic derivative of the kernel);
    ``fn_mp``, ``derivative_mp``: mpf -> mpf versions for ``dps`` evaluations
    (default: ``fn``/``derivative`` themselves, which must then accept mpf).
    Equality and hashing are by the identity of the callables, so wrapping the
    same function twice hits every cache (kernel registration, block
    composition, compiled evaluators). Kernels come from the adaptive
    trapezoidal rule of :mod:`symsig.quadrature` (phi must be smooth:
    analytic near the real axis).
    """

    fn: Callable[[Any], Any]
    derivative: Callable[[Any], Any] | None = None
    fn_mp: Callable[[Any], Any] | None = None
    derivative_mp: Callable[[Any], Any] | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """Printable name (``name``, else the function's ``__name__``)."""
        return self.name or getattr(self.fn, "__name__", "user")


def is_user(activation: Any) -> bool:
    """True for a :class:`UserActivation` or a bare callable."""
    return isinstance(activation, UserActivation) or callable(activation)


def as_user(activation: Any, derivative: Callable[[Any], Any] | None = None) -> UserActivation:
    """Wrap a bare callable (with optional derivative) as a :class:`UserActivation`."""
    if isinstance(activation, UserActivation):
        if derivative is not None and derivative is not activation.derivative:
            raise InputError("give the derivative inside the UserActivation, not twice")
        return activation
    if not callable(activation):
        raise InputError(f"activation must be a name or a callable, got {activation!r}")
    if derivative is not None and not callable(derivative):
        raise InputError("derivative must be callable (phi')")
    return UserActivation(activation, derivative)
