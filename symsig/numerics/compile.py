"""Compile symbolic maps into evaluators: mpmath at any precision, numpy over arrays.

One symbolic expression, two compiled twins, both cached by expression:

* :func:`compile_mp` -> an mpmath function; call it through :func:`eval_mp`,
  which converts the inputs exactly at the working precision and evaluates
  inside ``mpmath.workdps`` (the global precision is never touched).
* :func:`compile_np` -> a numpy function vectorised over arrays; Piecewise
  branches are computed by ``numpy.select`` (all branches evaluated), so the
  call runs under ``numpy.errstate(all="ignore")`` and the result is checked
  for NaN afterwards.

Numeric safety without changing the mathematics: before compiling, every
``acos``/``asin`` argument is clipped to [-1, 1] and every square root argument
to [0, inf). On the valid domain (q > 0, |p| <= q) these are the identity;
they only absorb rounding excursions such as p/q = 1 + 1e-16 at rank collapse,
which would otherwise give NaN (numpy) or complex numbers (mpmath).

Functions that have no closed form (finite-T REM moments, Gaussian kernels of
tanh, sigmoid, ...) appear in expressions as functions declared in
:mod:`symsig.theory.special`; :func:`implementations` finds them in the
expressions and takes their numpy and mpmath twins from :mod:`symsig.numerics.special`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from .precision import GUARD_DIGITS, to_mpf

_clip_unit = sp.Function("clip_unit")
_nonneg = sp.Function("nonneg")
_nonzero = sp.Function("nonzero")

_NP_IMPL: dict[str, Callable[..., Any]] = {
    "clip_unit": lambda x: np.clip(x, -1.0, 1.0),
    "nonneg": lambda x: np.maximum(x, 0.0),
}
_MP_IMPL: dict[str, Callable[..., Any]] = {
    "clip_unit": lambda x: max(mpmath.mpf(-1), min(mpmath.mpf(1), x)),
    "nonneg": lambda x: max(mpmath.mpf(0), x),
    # mpmath raises on x/0; only ever hit in a Piecewise branch that is not selected
    # (cse hoists branch subexpressions, e.g. beta_c at q = p, out of the lazy branch).
    "nonzero": lambda x: x if x else mpmath.ldexp(1, -4 * mpmath.mp.prec),
}


def implementations(exprs: Sequence[sp.Expr], backend: str) -> dict[str, Callable[..., Any]]:
    """Name -> implementation of every declared function in ``exprs`` (``backend`` "np" or "mp")."""
    from . import special

    base = _NP_IMPL if backend == "np" else _MP_IMPL
    found = {f.func for e in exprs for f in e.atoms(sp.Function) if hasattr(f.func, "symsig_kind")}
    return base | {f.__name__: special.implementation(f, backend) for f in found}


def safe(expr: sp.Expr, *, mp: bool = False) -> sp.Expr:
    """Clip inverse-trig arguments to [-1, 1] and square-root arguments to [0, inf).

    With ``mp``, also replace an exact zero denominator by a tiny number: with
    common-subexpression elimination, the unselected branch of a Piecewise is
    evaluated too, and mpmath (unlike numpy) raises on division by zero.
    """
    expr = expr.replace(sp.acos, lambda a: sp.acos(_clip_unit(a)))
    expr = expr.replace(sp.asin, lambda a: sp.asin(_clip_unit(a)))
    expr = expr.replace(
        lambda x: x.is_Pow and x.exp.is_Rational and x.exp.q == 2,
        lambda x: sp.Pow(_nonneg(x.base), x.exp),
    )
    if mp:
        expr = expr.replace(
            lambda x: x.is_Pow and x.exp.is_Rational and x.exp < 0 and not x.base.is_number,
            lambda x: sp.Pow(_nonzero(x.base), x.exp),
        )
    return expr


@lru_cache(maxsize=256)
def compile_np(args: tuple[sp.Symbol, ...], exprs: tuple[sp.Expr, ...]) -> Callable[..., tuple[Any, ...]]:
    """Lambdify ``exprs`` once into a numpy function of ``args`` returning a tuple."""
    return sp.lambdify(args, [safe(x) for x in exprs], modules=[implementations(exprs, "np"), "numpy"], cse=True)


@lru_cache(maxsize=256)
def compile_mp(args: tuple[sp.Symbol, ...], exprs: tuple[sp.Expr, ...]) -> Callable[..., tuple[Any, ...]]:
    """Lambdify ``exprs`` once into an mpmath function of ``args`` returning a tuple."""
    return sp.lambdify(args, [safe(x, mp=True) for x in exprs], modules=[implementations(exprs, "mp"), "mpmath"], cse=True)


def eval_np(fn: Callable[..., Any], *args: Any) -> tuple[np.ndarray, ...]:
    """Evaluate a compiled numpy function; raise if the result has NaN or complex values."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in args))
    with np.errstate(all="ignore"):
        out = tuple(np.broadcast_to(o, shape).copy() for o in fn(*args))
    for o in out:
        if np.iscomplexobj(o) or np.isnan(o).any():
            raise FloatingPointError("numeric evaluation produced NaN or complex values")
    return out


def eval_mp(fn: Callable[..., Any], args: Sequence[Any], dps: int) -> tuple[mpmath.mpf, ...]:
    """Evaluate a compiled mpmath function with ``dps`` correct digits requested.

    Inputs are converted and the function evaluated at ``dps + GUARD_DIGITS``
    inside ``mpmath.workdps``; the results are returned at that working
    precision (round them with :func:`mp_round` for output).
    """
    with mpmath.workdps(dps + GUARD_DIGITS):
        out = tuple(mpmath.mpmathify(x) for x in fn(*[to_mpf(a) for a in args]))
    for x in out:
        if not isinstance(x, mpmath.mpf) or mpmath.isnan(x):
            raise FloatingPointError("mpmath evaluation produced NaN or complex values")
    return out


def block_np(bm: Any) -> Callable[..., tuple[Any, ...]]:
    """The compiled numpy evaluator (q', p', Y2)(*bm.args) of a :class:`symsig.theory.blocks.BlockMap`."""
    return compile_np(bm.args, bm.exprs)


def block_mp(bm: Any) -> Callable[..., tuple[Any, ...]]:
    """The compiled mpmath evaluator (q', p', Y2)(*bm.args) of a block map."""
    return compile_mp(bm.args, bm.exprs)
