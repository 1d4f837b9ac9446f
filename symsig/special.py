"""Special functions without closed forms, as SymPy functions with numeric twins.

* ``rem_y2(s2, n)`` = E[Y2] and ``rem_x(s2, r, n)`` = E[sum_s A_s A'_s]: the exact
  finite-n REM moments of :mod:`symsig.finite_t` for n states with logit variance
  s2 = beta^2 log(T) q (q - p) and two-query logit correlation r = p / q.
* ``K_qq_<act>(q)``, ``K_qp_<act>(q, p)``: Gaussian kernels of activations
  without a closed form, from :mod:`symsig.quadrature`; for a user activation
  (:func:`user_kernel`) ``<act>`` is ``user<k>_<name>`` with a per-process counter k.

They stay unevaluated in symbolic expressions (and print as such in LaTeX);
:func:`symsig.numerics.register` gives the compiled evaluators their numpy and
mpmath implementations, the latter at the caller's working precision.
"""
from __future__ import annotations

from functools import cache

import mpmath
import numpy as np
import sympy as sp

from . import numerics
from .activations import Kernel, UserActivation
from .validate import InputError
from .symbols import T, beta, p, q


def _finite_t():  # imported on first numeric use: symbolic maps do not need it
    from . import finite_t

    return finite_t


# Rounding can push q - p (hence s2) a hair below 0 and p/q a hair above 1 at rank
# collapse; the moments are continuous there, so clamp to the valid domain.
def _s2_np(s2):
    return np.maximum(s2, 0.0)


def _r_np(r):
    return np.clip(r, -1.0, 1.0)


def _s2_mp(s2):
    return max(s2, mpmath.mpf(0))


def _r_mp(r):
    return max(mpmath.mpf(-1), min(mpmath.mpf(1), r))


@cache
def _rem_functions() -> tuple[sp.Function, sp.Function]:
    y2 = numerics.register(
        "rem_y2",
        lambda s2, n: _finite_t().y_moment_np(2, _s2_np(s2), n),
        lambda s2, n: _finite_t().y_moment(2, _s2_mp(s2), int(n), dps=mpmath.mp.dps),
    )
    x = numerics.register(
        "rem_x",
        lambda s2, r, n: _finite_t().overlap_np(_s2_np(s2), _r_np(r), n),
        lambda s2, r, n: _finite_t().overlap(_s2_mp(s2), _r_mp(r), int(n), dps=mpmath.mp.dps),
    )
    return y2, x


def logit_variance(n_init: sp.Expr = T) -> sp.Expr:
    """s2 = beta^2 log(T) q (q - p): variance of the key-dependent part of the logits."""
    return beta**2 * sp.log(n_init) * q * (q - p)


@cache
def rem_y2(n_states: sp.Expr = T) -> sp.Expr:
    """Exact E[Y2] for ``n_states`` keys (the initialisation always uses log T)."""
    y2, _ = _rem_functions()
    return y2(logit_variance(), n_states)


@cache
def rem_x(n_states: sp.Expr = T) -> sp.Expr:
    """Exact two-query overlap X for ``n_states`` keys and logit correlation p/q."""
    _, x = _rem_functions()
    return x(logit_variance(), p / q, n_states)


@cache
def quadrature_kernel(activation: str) -> Kernel:
    """Kernel of an activation evaluated by :mod:`symsig.quadrature` (no closed form)."""
    from . import quadrature

    k_qq = numerics.register(
        f"K_qq_{activation}",
        lambda a: quadrature.kernel_np(activation, a, a)[0],
        lambda a: quadrature.kernel_mp(activation, a, a, dps=mpmath.mp.dps)[0],
    )
    k_qp = numerics.register(
        f"K_qp_{activation}",
        lambda a, b: quadrature.kernel_np(activation, a, b)[1],
        lambda a, b: quadrature.kernel_mp(activation, a, b, dps=mpmath.mp.dps)[1],
    )
    return Kernel(activation, k_qq(q), k_qp(q, p))


_USER_COUNT = [0]


def _mp_callable(fn, label: str):
    """Wrap an mpf -> mpf activation: one clear error if it cannot take mpf."""

    def call(x):
        try:
            return mpmath.mpmathify(fn(x))
        except Exception as exc:  # numpy ufuncs reject mpf: say what to do instead
            raise InputError(f"activation {label!r} does not accept mpmath numbers ({type(exc).__name__}); "
                             "pass UserActivation(fn, fn_mp=...) or use float evaluation (dps=None)") from None

    return call


@cache
def user_kernel(act: UserActivation) -> Kernel:
    """Register the Gaussian kernel of a user activation once per process (cached by ``act``).

    K_qq(q1) = E[phi(u)^2], K_qp(q1, p1) = E[phi(u) phi(v)] (u, v ~ N(0, q1), E[uv] = p1)
    by the adaptive trapezoidal rule of :mod:`symsig.quadrature` (float: successive
    halvings agree to 1e-13 K_qq; mpmath: to 10^-(dps+2) K_qq). With a derivative
    phi', the symbolic derivatives dK_qq/dq1 = E[phi(u)^2 (u^2/q1 - 1)] / (2 q1) and
    dK_qp/dp1 = E[phi'(u) phi'(v)] (Price's theorem) are registered functions too
    (dK_qp/dq1 stays an unevaluated Derivative).
    """
    from . import quadrature

    _USER_COUNT[0] += 1
    tag = f"user{_USER_COUNT[0]}_{''.join(ch if ch.isalnum() else '_' for ch in act.label)}"
    fn_mp = _mp_callable(act.fn_mp or act.fn, act.label)
    k_qq = numerics.register(
        f"K_qq_{tag}",
        lambda a: quadrature.kernel_np(act.fn, a, a)[0],
        lambda a: quadrature.kernel_mp(fn_mp, a, a, dps=mpmath.mp.dps)[0],
    )
    k_qp = numerics.register(
        f"K_qp_{tag}",
        lambda a, b: quadrature.kernel_np(act.fn, a, b)[1],
        lambda a, b: quadrature.kernel_mp(fn_mp, a, b, dps=mpmath.mp.dps)[1],
    )
    if act.derivative is None:
        return Kernel(tag, k_qq(q), k_qp(q, p))
    dfn_mp = _mp_callable(act.derivative_mp or act.derivative, act.label + "'")
    d_qq = numerics.register(
        f"dK_qq_{tag}",
        lambda a: quadrature.dkernel_np(act.fn, a, a, dact=act.derivative)[0],
        lambda a: quadrature.dkernel_mp(fn_mp, a, a, dps=mpmath.mp.dps, dact=dfn_mp)[0],
    )
    d_qp = numerics.register(
        f"dK_qp_{tag}",
        lambda a, b: quadrature.dkernel_np(act.fn, a, b, dact=act.derivative)[1],
        lambda a, b: quadrature.dkernel_mp(fn_mp, a, b, dps=mpmath.mp.dps, dact=dfn_mp)[1],
    )
    return Kernel(tag, _with_fdiff(f"K_qq_{tag}", {1: d_qq})(q), _with_fdiff(f"K_qp_{tag}", {2: d_qp})(q, p))


def _with_fdiff(name: str, partials: dict[int, sp.Function]) -> type:
    """An undefined function ``name`` whose partial derivatives are the given functions."""

    def fdiff(self, argindex=1):
        if argindex in partials:
            return partials[argindex](*self.args)
        return sp.Function.fdiff(self, argindex)

    return type(name, (sp.Function,), {"fdiff": fdiff})
