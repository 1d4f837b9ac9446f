"""Numeric twins of the functions declared in :mod:`symsig.theory.special`.

:func:`implementation` maps a declared function class to its numpy or mpmath
implementation: the finite-T REM moments of :mod:`symsig.numerics.finite_t` and the
Gaussian kernels of :mod:`symsig.numerics.quadrature`. mpmath twins run at the
caller's working precision (``mpmath.mp.dps``) and return that many correct digits.
The finite-T moments also have ball twins (``backend="arb"``: rigorous enclosures,
:mod:`symsig.numerics.finite_t_balls`, :mod:`symsig.numerics.overlap_balls`).
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import mpmath
import numpy as np

from ..core.architecture import UserActivation
from ..core.validate import InputError


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


def _rem_y2(backend: str) -> Callable[..., Any]:
    from . import finite_t

    if backend == "arb":
        from .finite_t_balls import rem_y2_ball

        return rem_y2_ball
    if backend == "np":
        return lambda s2, n: finite_t.y_moment_np(2, _s2_np(s2), n)
    return lambda s2, n: finite_t.y_moment(2, _s2_mp(s2), int(n), dps=mpmath.mp.dps)


def _rem_x(backend: str) -> Callable[..., Any]:
    from . import finite_t

    if backend == "arb":
        from .overlap_balls import rem_x_ball

        return rem_x_ball
    if backend == "np":
        return lambda s2, r, n: finite_t.overlap_np(_s2_np(s2), _r_np(r), n)
    return lambda s2, r, n: finite_t.overlap(_s2_mp(s2), _r_mp(r), int(n), dps=mpmath.mp.dps)


def _mp_callable(fn: Callable[[Any], Any], label: str) -> Callable[[Any], Any]:
    """Wrap an mpf -> mpf activation: one clear error if it cannot take mpf."""

    def call(x):
        try:
            return mpmath.mpmathify(fn(x))
        except Exception as exc:  # numpy ufuncs reject mpf: say what to do instead
            raise InputError(f"activation {label!r} does not accept mpmath numbers ({type(exc).__name__}); "
                             "pass UserActivation(fn, fn_mp=...) or use float evaluation (dps=None)") from None

    return call


def _kernel(kind: str, source: Any, backend: str) -> Callable[..., Any]:
    """K_qq, K_qp or their derivatives dK_qq/dq, dK_qp/dp by quadrature (docs/theory.md §5.6)."""
    from . import quadrature

    derivative, which = kind.startswith("d"), 0 if kind.endswith("qq") else 1
    if isinstance(source, UserActivation):
        act_np, dact_np = source.fn, source.derivative
        act_mp = _mp_callable(source.fn_mp or source.fn, source.label)
        dact_mp = _mp_callable(source.derivative_mp or source.derivative, source.label + "'") if derivative else None
    else:
        act_np = act_mp = source
        dact_np = dact_mp = None
    if backend == "np":
        if derivative:
            return lambda a, b=None: quadrature.dkernel_np(act_np, a, a if b is None else b, dact=dact_np)[which]
        return lambda a, b=None: quadrature.kernel_np(act_np, a, a if b is None else b)[which]
    if derivative:
        return lambda a, b=None: quadrature.dkernel_mp(act_mp, a, a if b is None else b, dps=mpmath.mp.dps,
                                                       dact=dact_mp)[which]
    return lambda a, b=None: quadrature.kernel_mp(act_mp, a, a if b is None else b, dps=mpmath.mp.dps)[which]


@cache
def implementation(func: type, backend: str) -> Callable[..., Any]:
    """The numpy (``backend="np"``), mpmath (``"mp"``) or ball (``"arb"``, finite-T moments only)
    twin of a declared function class."""
    kind = getattr(func, "symsig_kind", "")
    if backend == "arb" and kind not in ("rem_y2", "rem_x"):
        raise ValueError(f"no ball implementation for the function {func.__name__}")
    if kind == "rem_y2":
        return _rem_y2(backend)
    if kind == "rem_x":
        return _rem_x(backend)
    if kind.startswith("width_"):  # finite-width functions (docs/finite_width.md)
        from . import finite_width

        return finite_width.implementation(func, backend)
    if kind in ("K_qq", "K_qp", "dK_qq", "dK_qp"):
        return _kernel(kind, func.source, backend)
    raise ValueError(f"no numeric implementation for the function {func.__name__}")
