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
    "pos_part": lambda x: max(mpmath.mpf(0), x),  # the max form of rem_max_form, for its tests
    # mpmath raises on x/0; only ever hit in a Piecewise branch that is not selected
    # (cse hoists branch subexpressions, e.g. beta_c at q = p, out of the lazy branch).
    "nonzero": lambda x: x if x else mpmath.ldexp(1, -4 * mpmath.mp.prec),
}


def _cse(exprs: Any) -> tuple[list, list]:
    """lambdify's common-subexpression elimination without canonical ordering (its default sorts
    by node counts, a tree walk that dominated compiling the finite-width maps)."""
    return sp.cse(exprs, order="none")


def dag_replace(expr: sp.Basic, query: Callable[[sp.Basic], bool], value: Callable[[sp.Basic], sp.Basic]) -> sp.Basic:
    """``expr.replace(query, value)`` (bottom up; a replacement is not searched again), visiting each
    distinct subexpression once. SymPy's replace walks the expression as a tree; the composed
    finite-width maps share subtrees so heavily that the tree is ~100x larger than the graph."""
    memo: dict[sp.Basic, sp.Basic] = {}

    def go(e: sp.Basic) -> sp.Basic:
        if e in memo:
            return memo[e]
        new = e
        if e.args:
            args = tuple(go(a) for a in e.args)
            if args != e.args:
                new = e.func(*args)
        if query(new):
            new = value(new)
        memo[e] = new
        return new

    return go(expr)


def _subexpressions(exprs: Sequence[sp.Basic]) -> set[sp.Basic]:
    """Every distinct subexpression of ``exprs`` (each visited once, unlike ``atoms``)."""
    seen: set[sp.Basic] = set()
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if e not in seen:
            seen.add(e)
            stack.extend(e.args)
    return seen


def implementations(exprs: Sequence[sp.Expr], backend: str) -> dict[str, Callable[..., Any]]:
    """Name -> implementation of every declared function in ``exprs`` (``backend`` "np" or "mp")."""
    from . import special

    base = _NP_IMPL if backend == "np" else _MP_IMPL
    found = {f.func for f in _subexpressions(exprs) if isinstance(f, sp.Function) and hasattr(f.func, "symsig_kind")}
    return base | {f.__name__: special.implementation(f, backend) for f in found}


def safe(expr: sp.Expr, *, mp: bool = False, strict: bool = False) -> sp.Expr:
    """Clip inverse-trig arguments to [-1, 1] and square-root arguments to [0, inf).

    With ``mp``, also replace an exact zero denominator by a tiny number: with
    common-subexpression elimination, the unselected branch of a Piecewise is
    evaluated too, and mpmath (unlike numpy) raises on division by zero. With
    ``strict`` this is done only inside Piecewise branches, so that a zero
    denominator anywhere else (a LayerNorm of a zero-variance stream) still raises.
    """
    expr = dag_replace(expr, lambda x: isinstance(x, (sp.acos, sp.asin)), lambda x: x.func(_clip_unit(x.args[0])))
    expr = dag_replace(
        expr,
        lambda x: x.is_Pow and x.exp.is_Rational and x.exp.q == 2,
        lambda x: sp.Pow(_nonneg(x.base), x.exp),
    )
    if mp and strict:
        return dag_replace(
            expr,
            lambda x: isinstance(x, sp.Piecewise),
            lambda pw: sp.Piecewise(*((_guard_denominators(b), c) for b, c in pw.args)),
        )
    if mp:
        expr = _guard_denominators(expr)
    return expr


def _guard_denominators(expr: sp.Expr) -> sp.Expr:
    return dag_replace(
        expr,
        lambda x: x.is_Pow and x.exp.is_Rational and x.exp < 0 and not x.base.is_number and x.base.func is not _nonzero,
        lambda x: sp.Pow(_nonzero(x.base), x.exp),
    )


@lru_cache(maxsize=256)
def compile_np(args: tuple[sp.Symbol, ...], exprs: tuple[sp.Expr, ...]) -> Callable[..., tuple[Any, ...]]:
    """Lambdify ``exprs`` once into a numpy function of ``args`` returning a tuple."""
    return sp.lambdify(args, [safe(x) for x in exprs], modules=[implementations(exprs, "np"), "numpy"], cse=_cse, use_imps=False)


@lru_cache(maxsize=256)
def compile_mp(args: tuple[sp.Symbol, ...], exprs: tuple[sp.Expr, ...]) -> Callable[..., tuple[Any, ...]]:
    """Lambdify ``exprs`` once into an mpmath function of ``args`` returning a tuple."""
    return sp.lambdify(args, [safe(x, mp=True) for x in exprs], modules=[implementations(exprs, "mp"), "mpmath"], cse=_cse, use_imps=False)


@lru_cache(maxsize=256)
def compile_mp_strict(args: tuple[sp.Symbol, ...], exprs: tuple[sp.Expr, ...]) -> Callable[..., tuple[Any, ...]]:
    """:func:`compile_mp`, but a zero denominator outside a Piecewise branch raises ZeroDivisionError."""
    impl = implementations(exprs, "mp")
    return sp.lambdify(args, [safe(x, mp=True, strict=True) for x in exprs], modules=[impl, "mpmath"], cse=_cse, use_imps=False)


# ------------------------------------------------------------ fast numpy twin

_pos_part = sp.Function("pos_part")
_FAST_NP: dict[str, Callable[..., Any]] = {
    "pos_part": lambda x: np.maximum(x, 0.0),
    "clip_unit": lambda x: np.minimum(np.maximum(x, -1.0), 1.0),  # np.clip is slower
    "nonneg": lambda x: np.maximum(x, 0.0),
}


def _nonnegative_where_real(expr: sp.Expr) -> bool:
    """True if ``expr`` is >= 0 wherever it is real: a product of positive factors and at
    most one square root (or its inverse) of a real base of unknown sign.

    A principal square root is >= 0 or purely imaginary; one imaginary factor makes the
    whole product imaginary, so a real value of the product is >= 0.
    """
    unknown = 0
    for f in sp.Mul.make_args(expr):
        if f.is_positive:
            continue
        if f.is_Pow and f.exp.is_Rational and f.exp.q == 2 and f.base.is_real:
            unknown += 1
            continue
        return False
    return unknown <= 1


def rem_max_form(pw: sp.Piecewise) -> sp.Expr:
    """Piecewise((f, X > 2), (0, True)) -> max(0, 1 - sqrt(2/max(X, 0))) when that is an identity.

    The T -> infinity IPR Y2 = 1 - beta_c/beta above the freezing threshold X = beta^2 v > 2
    (docs/theory.md §3.4). Proved, not sampled: (1 - f)^2 = 2/X exactly and 1 - f >= 0
    wherever real, so f = 1 - sqrt(2/X) on X > 2; for X <= 2 the max is 0 (at X = 0 the
    float 2/0 = inf gives 0). The max needs no branch selection (np.select evaluates
    every branch). Any other Piecewise is returned unchanged.
    """
    if len(pw.args) != 2 or pw.args[1] != (0, True):
        return pw
    f, cond = pw.args[0]
    if not (isinstance(cond, sp.StrictGreaterThan) and cond.rhs == 2):
        return pw
    x = cond.lhs
    if sp.simplify((1 - f) ** 2 - 2 / x) != 0 or not _nonnegative_where_real(sp.powsimp(1 - f)):
        return pw
    return _pos_part(1 - sp.sqrt(2 / _pos_part(x)))  # x < 0 only by rounding at p ~ q


@lru_cache(maxsize=64)
def compile_np_fast(args: tuple[sp.Symbol, ...], exprs: tuple[sp.Expr, ...],
                    fixed: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()) -> Callable[..., tuple[Any, ...]]:
    """Like :func:`compile_np` (same arguments, same values) but cheaper per point.

    The REM Piecewise becomes a max (:func:`rem_max_form`), clipping uses
    minimum/maximum, and the symbols in ``fixed`` are replaced by their values
    (e.g. q = 1 after a block that ends in a LayerNorm; the argument stays, unused).
    Evaluate it under ``numpy.errstate(all="ignore")`` and check the result.
    """
    impl = implementations(exprs, "np") | _FAST_NP
    return sp.lambdify(args, [safe(e) for e in fast_form(exprs, fixed)], modules=[impl, "numpy"], cse=_cse, use_imps=False)


def fast_form(exprs: tuple[sp.Expr, ...], fixed: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()) -> tuple[sp.Expr, ...]:
    """The expressions :func:`compile_np_fast` compiles: REM Piecewise as max, ``fixed`` substituted."""
    return tuple(dag_replace(e, lambda x: isinstance(x, sp.Piecewise), rem_max_form).xreplace(dict(fixed)) for e in exprs)


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
