"""SymPy expressions evaluated in ball arithmetic (python-flint arb), never guessing.

A ball is a midpoint and a radius that rigorously enclose the exact value (FLINT/Arb's
error bounds). The evaluator walks the common-subexpression form of the expressions
(compiled once per map, cached); a common subexpression is evaluated when first needed,
so the unselected branch of a Piecewise is never touched. Exact inputs: integers and
rationals exactly, decimals (strings, floats by their shortest repr, as
:func:`symsig.numerics.precision.to_mpf` reads them) as the ball of the decimal.

Rules (docs/theory.md §7.4): a Piecewise branch is taken only when its condition is
certainly decided; a square root needs a ball certainly >= 0 (or exactly 0), acos/asin
a ball certainly in [-1, 1], log a ball certainly > 0; a denominator must not contain 0.
Declared functions (:mod:`symsig.theory.special`) are evaluated by the ball twins the
caller passes (``twins``; the finite-T moments: :func:`symsig.numerics.special.implementation`
with backend "arb"). Otherwise :class:`Uncertain` is raised. Division by an exact 0 raises :class:`Undefined` (the map
itself is undefined there, whatever the precision).
"""
from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache
from typing import Any

import mpmath
import sympy as sp

from ..core import validate


class Uncertain(ArithmeticError):
    """A ball straddles a branch decision or leaves a function's domain."""


class Undefined(ArithmeticError):
    """The evaluated map is undefined at these inputs (0/0), in any arithmetic."""


def flint() -> Any:
    """The python-flint module (an optional extra)."""
    try:
        import flint as module
    except ImportError:  # pragma: no cover - optional extra
        raise validate.InputError("ball arithmetic needs python-flint: pip install 'symsig[cert]'") from None
    return module


def ball(x: Any) -> Any:
    """The arb ball of an input, exactly as the user wrote it (at flint's current precision)."""
    arb = flint().arb
    if isinstance(x, arb):
        return x
    if isinstance(x, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(x, int):
        return arb(x)
    if isinstance(x, Fraction):
        return arb(x.numerator) / x.denominator
    if isinstance(x, mpmath.mpf):  # a binary number: exact
        man, exp = x.man_exp
        return arb(int(man)) * arb(2) ** int(exp)
    if isinstance(x, sp.Rational):
        return arb(int(x.p)) / int(x.q)
    if isinstance(x, float) or hasattr(x, "dtype"):
        return arb(repr(float(x)))
    if isinstance(x, str):
        return arb(x)
    raise ValueError(f"cannot use {x!r} as a number")


def _eval(expr: sp.Expr, env: dict[sp.Symbol, Any], pending: dict[sp.Symbol, sp.Expr],
          twins: Callable[[type], Callable[..., Any]] | None = None) -> Any:
    """Evaluate ``expr`` in arb balls; ``pending`` common subexpressions are evaluated on demand,
    declared functions by ``twins(class)`` (ValueError: none)."""
    arb = flint().arb
    if expr.is_Symbol:
        if expr not in env:
            env[expr] = _eval(pending[expr], env, pending, twins)
        return env[expr]
    if expr.is_Integer:
        return arb(int(expr))
    if expr.is_Rational:
        return arb(int(expr.p)) / int(expr.q)
    if expr is sp.pi:
        return arb.pi()
    if expr.is_Add:
        out = arb(0)
        for a in expr.args:
            out += _eval(a, env, pending, twins)
        return out
    if expr.is_Mul:
        out = arb(1)
        for a in expr.args:
            out *= _eval(a, env, pending, twins)
        return out
    if expr.is_Pow:
        return _power(_eval(expr.base, env, pending, twins), expr.exp)
    if isinstance(expr, sp.acos | sp.asin):
        x = _eval(expr.args[0], env, pending, twins)
        if not (x >= -1 and x <= 1):
            raise Uncertain(f"{expr.func.__name__} argument not certainly in [-1, 1]")
        return x.acos() if isinstance(expr, sp.acos) else x.asin()
    if isinstance(expr, sp.log) and len(expr.args) == 1:
        x = _eval(expr.args[0], env, pending, twins)
        if not x > 0:
            raise Uncertain("log of a ball not certainly > 0")
        return x.log()
    if isinstance(expr, sp.Piecewise):
        for branch, cond in expr.args:
            while cond.is_Symbol:  # a condition hoisted by cse
                cond = pending[cond]
            if cond is sp.true or _holds(cond, env, pending, twins):
                return _eval(branch, env, pending, twins)
        raise Uncertain("no Piecewise branch applies")
    if isinstance(expr, sp.Function) and twins is not None:
        try:
            fn = twins(type(expr))
        except ValueError:
            raise Uncertain(f"cannot evaluate {expr.func.__name__} in ball arithmetic") from None
        return fn(*(_eval(a, env, pending, twins) for a in expr.args))
    raise Uncertain(f"cannot evaluate {expr.func.__name__} in ball arithmetic")


def _power(base: Any, e: sp.Expr) -> Any:
    """base**e for integer and half-integer e, with the domain rules of the module docstring."""
    if e.is_Rational and e.q == 2:
        if base.is_zero():
            base = flint().arb(0)
        elif not base > 0:
            raise Uncertain("square root of a ball that is not certainly >= 0")
        base, e = base.sqrt(), e * 2
    if not e.is_Integer:
        raise Uncertain(f"unsupported power {e}")
    if e < 0:
        if base.is_zero():
            raise Undefined("division by zero")
        if base.contains(0):
            raise Uncertain("a denominator ball contains 0")
    return base ** int(e)


def _holds(cond: sp.Basic, env: dict[sp.Symbol, Any], pending: dict[sp.Symbol, sp.Expr],
           twins: Callable[[type], Callable[..., Any]] | None) -> bool:
    """Whether the relation ``cond`` certainly holds (d = lhs - rhs against 0); raise if undecided."""
    if not isinstance(cond, sp.Rel):
        raise Uncertain(f"unsupported branch condition {cond}")
    d = _eval(cond.lhs - cond.rhs, env, pending, twins)
    strict = isinstance(cond, sp.StrictGreaterThan | sp.StrictLessThan)
    positive_side = isinstance(cond, sp.StrictGreaterThan | sp.GreaterThan)
    holds = (d > 0 if strict else d >= 0) if positive_side else (d < 0 if strict else d <= 0)
    fails = (d <= 0 if strict else d < 0) if positive_side else (d >= 0 if strict else d > 0)
    if holds:
        return True
    if fails:
        return False
    raise Uncertain(f"branch condition {cond} undecided")


@lru_cache(maxsize=64)
def compile_arb(args: tuple[sp.Symbol, ...], exprs: tuple[sp.Expr, ...],
                twins: Callable[[type], Callable[..., Any]] | None = None) -> Callable[..., tuple[Any, ...]]:
    """An arb evaluator of ``exprs`` as functions of ``args`` (balls in, balls out); declared
    functions by their ball ``twins`` (a function of the class, cached with the expressions)."""
    replacements, reduced = sp.cse(list(exprs))
    pending = dict(replacements)

    def evaluate(*values: Any) -> tuple[Any, ...]:
        env = dict(zip(args, values))
        return tuple(_eval(e, env, pending, twins) for e in reduced)

    return evaluate
