"""Special functions without closed forms, as SymPy functions with numeric twins.

* ``rem_y2(s2, n)`` = E[Y2] and ``rem_x(s2, r, n)`` = E[sum_s A_s A'_s]: the exact
  finite-n REM moments of :mod:`symsig.finite_t` for n states with logit variance
  s2 = beta^2 log(T) q (q - p) and two-query logit correlation r = p / q.
* ``K_qq_<act>(q)``, ``K_qp_<act>(q, p)``: Gaussian kernels of activations
  without a closed form, from :mod:`symsig.quadrature`.

They stay unevaluated in symbolic expressions (and print as such in LaTeX);
:func:`symsig.numerics.register` gives the compiled evaluators their numpy and
mpmath implementations, the latter at the caller's working precision.
"""
from __future__ import annotations

from functools import cache

import mpmath
import sympy as sp

from . import numerics
from .activations import Kernel
from .symbols import T, beta, p, q


def _finite_t():  # imported on first numeric use: symbolic maps do not need it
    from . import finite_t

    return finite_t


@cache
def _rem_functions() -> tuple[sp.Function, sp.Function]:
    y2 = numerics.register(
        "rem_y2",
        lambda s2, n: _finite_t().y_moment_np(2, s2, n),
        lambda s2, n: _finite_t().y_moment(2, s2, int(n), dps=mpmath.mp.dps),
    )
    x = numerics.register(
        "rem_x",
        lambda s2, r, n: _finite_t().overlap_np(s2, r, n),
        lambda s2, r, n: _finite_t().overlap(s2, r, int(n), dps=mpmath.mp.dps),
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
