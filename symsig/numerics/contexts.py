"""Arithmetic contexts for the depth iteration: numpy floats, mpmath at any precision, arb balls.

In the style of mpmath's contexts: one algorithm (:func:`symsig.numerics.iterate.iterate`,
the zone indicators of :mod:`symsig.analysis.zones`) is written once against the small
interface below, and each context supplies the numbers and the compiled block.

=============  =====================================================================
method         meaning
=============  =====================================================================
``working()``  context manager for the arithmetic (errstate / workdps / arb precision)
``number(x)``  an input as a number of the context, read exactly (inside ``working``)
``compile``    the evaluator (q', p', Y2)(*args) of a map (compiled once, cached)
``evaluate``   call it; raise :class:`Undefined` where the map is undefined (0/0, NaN)
``log``        natural log of a quantity >= 0 (rounding below 0 counts as 0: -inf)
``fsum``       sum of a sequence
=============  =====================================================================
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from . import balls, finite_t_balls
from .balls import Undefined
from .compile import compile_mp_strict, compile_np_fast
from .precision import GUARD_DIGITS, to_mpf
from .special import implementation

__all__ = ["NumpyContext", "MpContext", "ArbContext", "NUMPY", "Undefined"]

_UNDEFINED = "the map is undefined here (0/0: a LayerNorm or an activation reads a zero-variance stream)"


class NumpyContext:
    """float64, vectorised over broadcast arrays of inputs and parameters (the grids' hot path).

    Blocks are compiled with :func:`symsig.numerics.compile.compile_np_fast`; after a block
    whose q' is identically 1 (it ends in a LayerNorm), q = 1 is substituted.
    """

    name = "numpy"
    unit_q = True

    def working(self) -> Any:
        return np.errstate(all="ignore")

    def number(self, x: Any) -> np.ndarray:
        try:
            return np.asarray(x, dtype=float)
        except TypeError:
            return np.asarray(float(x))

    def compile(self, args: tuple[sp.Symbol, ...], exprs: tuple[sp.Expr, ...], fixed: tuple = ()) -> Callable:
        return compile_np_fast(args, exprs, fixed)

    def evaluate(self, fn: Callable, args: Sequence[Any]) -> tuple[Any, ...]:
        out = fn(*args)
        for o in out:
            if not np.isfinite(o).all():
                bad = "NaN" if np.isnan(o).any() else "infinite"
                raise Undefined(f"{_UNDEFINED}; {bad} in floating point (or a tiny parameter underflowed: use dps)")
        return tuple(out)

    def log(self, x: Any) -> Any:
        return np.log(np.maximum(x, 0.0))

    def fsum(self, xs: Sequence[Any]) -> Any:
        return sum(xs[1:], xs[0]) if len(xs) else 0.0


class _Precision:
    """Re-entrant-safe ``with``: mpmath's working precision set to ``dps`` digits, then restored."""

    def __init__(self, dps: int) -> None:
        self.dps = dps
        self.saved: list[int] = []

    def __enter__(self) -> None:
        self.saved.append(mpmath.mp.prec)
        mpmath.mp.dps = self.dps

    def __exit__(self, *exc: Any) -> None:
        mpmath.mp.prec = self.saved.pop()


class MpContext:
    """mpmath with ``dps`` correct digits requested, evaluated at dps + GUARD_DIGITS.

    Inputs are read exactly (:func:`symsig.numerics.precision.to_mpf`); the global
    precision is only changed inside :meth:`working`.
    """

    name = "mpmath"
    unit_q = False

    def __init__(self, dps: int) -> None:
        self.dps = int(dps)
        self._working = _Precision(self.dps + GUARD_DIGITS)

    def working(self) -> Any:
        return self._working

    def number(self, x: Any) -> mpmath.mpf:
        return to_mpf(x)

    def compile(self, args: tuple[sp.Symbol, ...], exprs: tuple[sp.Expr, ...], fixed: tuple = ()) -> Callable:
        return compile_mp_strict(args, exprs)

    def evaluate(self, fn: Callable, args: Sequence[Any]) -> tuple[Any, ...]:
        try:
            out = tuple(x if type(x) is mpmath.mpf else mpmath.mpmathify(x) for x in fn(*args))
        except ZeroDivisionError:
            raise Undefined(_UNDEFINED) from None
        for x in out:
            if type(x) is not mpmath.mpf or not mpmath.isfinite(x):
                raise Undefined(f"{_UNDEFINED}; got {x}")
        return out

    def log(self, x: Any) -> Any:
        return mpmath.log(x) if x > 0 else mpmath.ninf

    def fsum(self, xs: Sequence[Any]) -> Any:
        return mpmath.fsum(xs)


def _arb_twin(func: type) -> Callable[..., Any]:
    return implementation(func, "arb")


class ArbContext:
    """Ball arithmetic (python-flint arb) at ``prec`` bits: rigorous enclosures or
    :class:`symsig.numerics.balls.Uncertain` (:mod:`symsig.numerics.balls`).

    The finite-T moments are enclosed by quadratures (:mod:`symsig.numerics.finite_t_balls`)
    that aim at ``digits`` decimal digits (None: the working precision); fewer digits give
    wider balls, never wrong ones.
    """

    name = "arb"
    unit_q = False

    def __init__(self, prec: int, digits: float | None = None) -> None:
        self.prec = int(prec)
        self.digits = digits
        self.flint = balls.flint()

    @contextmanager
    def working(self) -> Iterator[None]:
        old = self.flint.ctx.prec
        self.flint.ctx.prec = self.prec
        try:
            with finite_t_balls.accuracy(self.digits):
                yield
        finally:
            self.flint.ctx.prec = old

    def number(self, x: Any) -> Any:
        return balls.ball(x)

    def compile(self, args: tuple[sp.Symbol, ...], exprs: tuple[sp.Expr, ...], fixed: tuple = ()) -> Callable:
        return balls.compile_arb(args, exprs, _arb_twin)

    def evaluate(self, fn: Callable, args: Sequence[Any]) -> tuple[Any, ...]:
        try:
            return fn(*args)
        except Undefined:
            raise Undefined(_UNDEFINED) from None

    def log(self, x: Any) -> Any:
        return x.log()  # a ball not certainly > 0 gives an indeterminate ball: never certain

    def fsum(self, xs: Sequence[Any]) -> Any:
        out = self.flint.arb(0)
        for x in xs:
            out += x
        return out


#: The float context (stateless, shared).
NUMPY = NumpyContext()
