"""The one depth iteration of a block map, in any arithmetic context (docs/theory.md §7.1).

A trajectory starts from (q0, p0 = rho0 q0) and applies the map (q, p) -> (q', p', Y2)
``depth`` times; Y2_l is the IPR of the attention of block l + 1, which reads layer l.
:func:`steps` is the loop (a generator, so that grids can reduce on the fly and searches
can stop early); :func:`iterate` collects it. The arithmetic is a context of
:mod:`symsig.numerics.contexts`: numpy (vectorised), mpmath (any dps) or arb (balls).

Where the map is defined. A state is the Gram matrix of T tokens of equal norm:
q > 0 and -q/(T - 1) <= p <= q, i.e. 0 <= p <= q as T -> infinity (:func:`check_start`).
Every layer map of §5 sends such a state to one (dense layers, kernels, residual sums of
independent branches and attention outputs are Gram matrices again), except that q may
reach 0. The formulas divide only by variances: a LayerNorm by its input q (p/q), an
activation kernel by its input variance (c = p/q), and beta_c by q (q - p), the last
only inside the Piecewise branch beta^2 q (q - p) > 2 where it is positive. So the map
is defined exactly where every denominator outside a Piecewise branch (its *guards*,
:func:`guards`) is nonzero; a zero guard is a zero-variance stream entering a
LayerNorm or an activation, 0/0. Checked statically by :func:`check_parameters`
(guards that vanish for every state once the parameters equal to 0 are set to 0,
e.g. post-LN with sigma_v2 = sigma_b2 = alpha_SA = 0), and at every block by the
context (0/0 or NaN -> :class:`symsig.core.validate.InputError` naming the block, e.g.
uniform attention over p = 0 tokens with no bias and no residual).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp

from ..core import validate
from ..core.validate import InputError
from .contexts import NUMPY, Undefined


@dataclass(frozen=True)
class Map:
    """A map (q, p, *params) -> (q', p', Y2) given symbolically (``args`` start with q, p).

    :class:`symsig.theory.blocks.BlockMap` has the same two attributes; use this for
    other compositions (e.g. the stock-model blocks of :mod:`symsig.simulation.hf`).
    """

    args: tuple[sp.Symbol, ...]
    exprs: tuple[sp.Expr, sp.Expr, sp.Expr]


@dataclass(frozen=True)
class Iterates:
    """Per-layer values: ``q[l]``, ``p[l]`` for l = 0..depth, ``y2[l]`` for l = 0..depth-1
    (numbers of the context; numpy arrays broadcast over the inputs' shapes)."""

    q: list[Any]
    p: list[Any]
    y2: list[Any]
    ctx: Any

    @property
    def rho(self) -> list[Any]:
        """rho_l = p_l / q_l."""
        with self.ctx.working():
            return [b / a for a, b in zip(self.q, self.p)]

    @property
    def mean_y2(self) -> Any:
        """(1/L) sum_{l<L} Y2_l, the mean IPR over the L attentions."""
        with self.ctx.working():
            return self.ctx.fsum(self.y2) / len(self.y2)

    def arrays(self) -> dict[str, np.ndarray]:
        """numpy context: ``q``, ``p``, ``rho`` of shape (depth + 1, *shape), ``Y2`` (depth, *shape)."""
        shape = np.broadcast_shapes(*(np.shape(a) for a in (*self.q, *self.p, *self.y2)))
        out = {k: np.stack([np.broadcast_to(a, shape) for a in v]) if v else np.empty((0, *shape))
               for k, v in (("q", self.q), ("p", self.p), ("Y2", self.y2))}
        out["rho"] = out["p"] / out["q"]
        return out


def denominators(expr: sp.Expr) -> set[sp.Expr]:
    """Non-constant denominators of ``expr`` outside Piecewise branches (conditions included)."""
    found: set[sp.Expr] = set()

    def walk(e: sp.Basic) -> None:
        if isinstance(e, sp.Piecewise):
            for _, cond in e.args:
                walk(cond)
            return
        if e.is_Pow and e.exp.is_Rational and e.exp < 0 and not e.base.is_number:
            found.add(e.base)
        for a in e.args:
            walk(a)

    walk(expr)
    return found


@lru_cache(maxsize=64)
def guards(exprs: tuple[sp.Expr, ...]) -> tuple[sp.Expr, ...]:
    """The denominators the map divides by (module docstring), sorted for determinism."""
    return tuple(sorted(set().union(*(denominators(e) for e in exprs)), key=sp.default_sort_key))


def _is_zero(x: Any) -> bool:
    try:
        return bool(np.all(np.asarray(x, dtype=float) == 0))
    except (TypeError, ValueError):
        return bool(x == 0)


@lru_cache(maxsize=256)
def _vanishing(args: tuple[sp.Symbol, ...], exprs: tuple[sp.Expr, ...], zero: frozenset) -> tuple[sp.Expr, ...]:
    sub = {s: sp.Integer(0) for s in zero}
    return tuple(g for g in guards(exprs) if g.xreplace(sub) == 0)


def check_parameters(m: Any, params: Sequence[Any]) -> None:
    """Raise InputError when a guard of ``m`` vanishes for every state at these parameters."""
    zero = frozenset(s for s, x in zip(m.args[2:], params) if _is_zero(x))
    if not zero:
        return
    for g in _vanishing(tuple(m.args), tuple(m.exprs), zero):
        names = " = ".join(sorted(str(s).lower() for s in g.free_symbols & zero))
        raise InputError(f"the map is undefined for every input: with {names} = 0 a LayerNorm or an activation "
                         f"reads a zero-variance stream (0/0)")


def check_double(m: Any, params: Sequence[Any], q0: Any) -> None:
    """Float iteration: no parameter (scalar or grid) or q0 above validate.DOUBLE_RANGE, and no q0
    below it either (rho = p/q: q0 = 5e-324 gave rho_L = 1 + 7e-12); tiny parameters that underflow
    to a 0/0 raise where it happens, pointing to dps."""
    validate.double("q0", float(np.min(np.abs(np.asarray(q0, dtype=float)))), divisor=True)
    for name, x in (("q0", q0), *((str(s).lower(), v) for s, v in zip(m.args[2:], params))):
        validate.double(name, float(np.max(np.abs(np.asarray(x, dtype=float)))))


def check_start(q0: Any, rho0: Any, seq_len: int | None = None) -> None:
    """The start is a Gram matrix of T tokens: q0 > 0, -1/(T - 1) <= rho0 <= 1 (0 <= rho0, T -> infinity)."""
    validate.positive("q0", q0)
    rho = validate.correlation("rho0", rho0)
    low = 0.0 if seq_len is None else -1.0 / (int(seq_len) - 1)
    if rho < low:
        where = "as T -> infinity" if seq_len is None else f"with T = {seq_len} tokens"
        raise InputError(f"rho0 must be >= {low:g} {where} (the tokens' Gram matrix is positive semidefinite), got {rho0}")


def _start(ctx: Any, q0: Any, rho0: Any) -> tuple[Any, Any]:
    with ctx.working():
        q = ctx.number(q0)
        return q, ctx.number(rho0) * q


def steps(m: Any, params: Sequence[Any], q0: Any, rho0: Any, depth: int, ctx: Any = NUMPY) -> Iterator[tuple[Any, Any, Any]]:
    """Yield (q_l, p_l, Y2_{l-1}) for l = 1..depth: block l applied to layer l - 1.

    ``m`` has ``args`` (q, p, *params) and ``exprs`` (q', p', Y2); ``params`` are the
    values of ``m.args[2:]`` (numpy: scalars or arrays, broadcast together). Raises
    InputError where the map is undefined (module docstring), naming the block.
    """
    if len(params) != len(m.args) - 2:  # e.g. a finite-width Architecture's d given to the d -> infinity map
        raise InputError(f"the map takes {len(m.args) - 2} parameters after (q, p), got {len(params)} (with a width, "
                         "build the map with symsig.theory.blocks.architecture_map)")
    check_parameters(m, params)
    if ctx is NUMPY:
        check_double(m, params, q0)
    args, exprs = tuple(m.args), tuple(m.exprs)
    # a map may have a first block of its own (finite width: it reads the raw input tokens)
    first_exprs = tuple(getattr(m, "first_exprs", exprs))
    first = ctx.compile(args, first_exprs)
    # after a block with q' = 1 (ends in a LayerNorm), q = 1 exactly: substitute it
    if ctx.unit_q and exprs[0] == 1 and first_exprs[0] == 1:
        rest = ctx.compile(args, exprs, ((args[0], sp.Integer(1)),))
    else:
        rest = first if first_exprs == exprs else ctx.compile(args, exprs)
    q, p = _start(ctx, q0, rho0)
    with ctx.working():
        values = tuple(ctx.number(x) for x in params)
    for layer in range(1, depth + 1):
        with ctx.working():
            try:
                q, p, y2 = ctx.evaluate(first if layer == 1 else rest, (q, p, *values))
            except Undefined as exc:
                raise InputError(f"block {layer}: {exc}") from None
        yield q, p, y2


def iterate(m: Any, params: Sequence[Any], q0: Any, rho0: Any, depth: int, ctx: Any = NUMPY) -> Iterates:
    """q_l, p_l (l = 0..depth) and Y2_l (l < depth) of ``depth`` blocks from (q0, rho0 q0) (see :func:`steps`)."""
    q, p = _start(ctx, q0, rho0)
    out = Iterates([q], [p], [], ctx)
    for q, p, y2 in steps(m, params, q0, rho0, depth, ctx):
        out.q.append(q)
        out.p.append(p)
        out.y2.append(y2)
    return out


__all__ = ["Map", "Iterates", "steps", "iterate", "guards", "check_parameters", "check_double", "check_start"]
