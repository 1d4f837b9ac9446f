"""Gaussian kernels of activation functions (docs/theory.md §5.6).

For pre-activations (u, v) jointly Gaussian with E[u^2] = E[v^2] = q and
E[uv] = p, an activation phi maps the token kernel to

    q' = K_qq(q)    = E[phi(u)^2]
    p' = K_qp(q, p) = E[phi(u) phi(v)].

Closed forms (derived, see ``derivations/relu_kernel.py``, which treats erf too):

* linear: K_qq = q, K_qp = p;
* ReLU (arc-cosine kernel): with theta = arccos(p/q),
  K_qp = (sqrt(q^2 - p^2) + p (pi - theta)) / (2 pi), K_qq = q / 2;
* erf: K_qp = (2/pi) arcsin(2 p / (1 + 2 q)).

Other activations (tanh, sigmoid, swish, GPT-2's gelu_tanh, user functions) have
no closed form for K_qp; their kernels appear symbolically as declared functions
``K_qq_<name>(q)``, ``K_qp_<name>(q, p)`` (:mod:`symsig.theory.special`) evaluated
numerically by :mod:`symsig.numerics.quadrature`.
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
    Obtained by Gaussian integration by parts (docs/theory.md §5.6); proved
    in the tests against 30-digit quadrature and by Price's theorem,
    d^2 K_qp / dp^2 = E[phi''(u) phi''(v)].
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
