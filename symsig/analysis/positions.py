"""Causal stacks with the cross-position overlap of the tokens (docs/theory.md §6.4).

The per-position causal theory gives the keys of a query at position t the geometry of position t.
In a decoder that is wrong in a way that grows with depth: a causal attention averages the values
of positions 1..t, so two tokens share more of their history the closer their positions are, and
the overlap of tokens s < u falls with log(u/s). The keys of a late query are then less correlated
with each other than the late tokens are, and the late window's Y2 is higher and its rho lower
than the per-position theory says (docs/finite_width.md §9.3 measures it in GPT-2).

This module carries the Gram matrix of the tokens over positions instead: the norms Q_t and the
overlaps P(s, u) of distinct tokens, on a grid of positions t_k and linear in log t between them
(P(t_k, t_k) is the overlap of two distinct tokens at about position t_k). Every layer map is the
library's own (:mod:`symsig.theory.layers`); only the attention needs the matrix. A query at
position t sees the keys 1..t with mean pair overlap pbar(t); a pair of queries s <= u sees the
keys v <= s, w <= u with mean overlap Pbar(s, u) over v != w. The attention's maps are taken
with these key overlaps (a closure at the mean overlap, exact at leading order in the liquid
phase: there the weights depend on the keys' logit spread only, whatever its structure):

    Q'_t     = attention q-map at (q, pbar(t)),          Y2 with n = t keys
    P'(s, u) = attention p-map at (q, Pbar(s, u)),       X -> nested X (rows of s and u keys,
               the first s shared, logit variances s2(pbar(s)), s2(pbar(u)), correlation P(s, u) / q)

(:func:`symsig.numerics.finite_width.nested_overlap`). Dense layers act entrywise, a LayerNorm
gives the cosines P / sqrt(Q_s Q_u), and an Activation needs equal norms (it follows a LayerNorm
and a Dense here). In the frozen phase the closure is an approximation: there the largest logits
decide, and the position structure of the key overlaps, not only their mean, can matter.
d -> infinity: no finite-width terms (crosscheck adds them to first order, docs/finite_width.md §9.3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from ..core.progress import track
from ..core.validate import InputError
from ..numerics.compile import compile_np, eval_np
from ..numerics.finite_width import nested_overlap
from ..theory.layers import Activation, Attention, Dense, Layer, LayerNorm, Residual, Serial, State
from ..theory.symbols import n, p, q

#: Symbols standing for the attention's moments in its output map (:meth:`Attention.output`).
_Y2, _X = sp.symbols("Y2_moment X_moment")
#: Symbols of a fixed branch output (the Residual's formula is taken from the layer itself).
_QB, _PB = sp.symbols("q_branch p_branch")


@dataclass(frozen=True)
class GridState:
    """Token Gram on the position grid: norms ``Q`` (K,) and overlaps ``P`` (K, K) of distinct tokens."""

    Q: np.ndarray
    P: np.ndarray


@dataclass(frozen=True)
class _Fixed(Layer):
    """A branch whose output is the given state (to read :class:`Residual`'s formula symbolically)."""

    out: State

    def __call__(self, state: State) -> State:
        return self.out


def default_grid(seq_len: int, window: slice, per_octave: int = 3, in_window: int = 5) -> np.ndarray:
    """Positions (1-based): every one up to 8, then ``per_octave`` per doubling, and ``in_window``
    evenly spaced ones in the window (its ends included)."""
    dense = np.arange(1, min(8, seq_len) + 1)
    geometric = np.round(8 * 2 ** (np.arange(1, per_octave * math.log2(max(seq_len / 8, 1)) + 1) / per_octave))
    win = np.round(np.linspace(window.start + 1, window.stop, in_window))
    return np.unique(np.concatenate([dense, geometric, win, [seq_len]]).clip(1, seq_len)).astype(int)


def interpolation(grid: np.ndarray, seq_len: int) -> np.ndarray:
    """(T, K) weights of each position 1..T on the grid: linear in log t between grid points."""
    t = np.log(np.arange(1, seq_len + 1))
    g = np.log(grid.astype(float))
    w = np.zeros((seq_len, grid.size))
    for k in range(grid.size):
        unit = np.zeros(grid.size)
        unit[k] = 1.0
        w[:, k] = np.interp(t, g, unit)
    return w


class PositionKernel:
    """Evaluate a block (a tree of library layers) on a :class:`GridState`.

    ``values`` maps every parameter symbol of the block (beta, the sigmas, alphas, T, ...) to a
    number; ``grid`` holds 1-based positions, the last of them T.
    """

    def __init__(self, values: dict[sp.Symbol, float], grid: np.ndarray, seq_len: int) -> None:
        self.values = {k: float(v) for k, v in values.items()}
        self.grid = np.asarray(grid, dtype=int)
        self.seq_len = seq_len
        self.weights = interpolation(self.grid, seq_len)
        self._names = tuple(sorted(self.values, key=str))   # argument order of the compiled maps
        self._vals = [self.values[k] for k in self._names]

    # -- entrywise layers: the library's (q, p) map, with q the geometric mean of a pair's norms
    def _pointwise(self, layer: Layer, s: GridState) -> GridState:
        fn, vals = _compiled(layer, self._names), self._vals
        if isinstance(layer, Activation) and np.ptp(s.Q) > 1e-12 * np.abs(s.Q).max():
            raise InputError("an Activation on tokens of unequal norms is not a (q, p) map")
        q_pair = np.sqrt(np.outer(s.Q, s.Q))
        q_new = eval_np(fn, s.Q, s.Q, *vals)[0]
        p_new = eval_np(fn, q_pair, s.P, *vals)[1]
        return GridState(q_new, p_new)

    def __call__(self, layer: Layer, s: GridState) -> tuple[GridState, list[tuple[Attention, GridState]]]:
        """The state after ``layer``, and each of its attentions with the state it read, in order."""
        if isinstance(layer, Serial):
            reads: list[tuple[Attention, GridState]] = []
            for sub in layer.layers:
                s, rec = self(sub, s)
                reads += rec
            return s, reads
        if isinstance(layer, Residual):
            out, rec = self(layer.branch, s)
            fn, vals = _residual(layer.alpha, self._names), self._vals
            q_new, _ = eval_np(fn, s.Q, s.Q, out.Q, out.Q, *vals)
            _, p_new = eval_np(fn, s.Q, s.P, out.Q, out.P, *vals)
            return GridState(q_new, p_new), rec
        if isinstance(layer, Attention):
            return self._attention(layer, s)
        if isinstance(layer, (Dense, LayerNorm, Activation)):
            if isinstance(layer, LayerNorm) and layer.width is not None:
                raise InputError("the position kernel is a d -> infinity theory (LayerNorm without width)")
            return self._pointwise(layer, s), []
        raise InputError(f"the position kernel has no map for {type(layer).__name__}")

    def key_means(self, s: GridState, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Pbar(s, u) for every s in ``rows``, u in ``cols`` (1-based): the mean overlap of the keys
        v <= s, w <= u, v != w (0 where there is no such pair)."""
        full = self.weights @ s.P @ self.weights.T
        cum = full.cumsum(axis=0).cumsum(axis=1)
        diag = np.cumsum(np.diag(full))
        r, c = np.meshgrid(rows, cols, indexing="ij")
        lo = np.minimum(r, c)
        count = r * c - lo
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (cum[r - 1, c - 1] - diag[lo - 1]) / count
        return np.where(count > 0, out, 0.0)

    def _attention(self, layer: Attention, s: GridState) -> tuple[GridState, list[tuple[Attention, GridState]]]:
        if not layer.finite_t or layer.gain_control or layer.width is not None or layer.n_states is None:
            raise InputError("the position kernel needs Attention(finite_t=True, n_states=n) without gain control or width")
        if np.ptp(s.Q) > 1e-12 * np.abs(s.Q).max():
            raise InputError("the position kernel's attention reads tokens of equal norm (after a LayerNorm)")
        qv, vals = float(s.Q[0]), self._vals
        out_fn, s2_fn, rho_fn = _attention_maps(layer, self._names)
        g = self.grid
        cross = self.key_means(s, g, g)
        pbar = np.diag(cross).copy()
        s2 = eval_np(s2_fn, qv, pbar, *vals)[0]
        rho = eval_np(rho_fn, qv, s.P, *vals)[0]
        y2 = eval_np(_y2(layer, self._names), qv, pbar, g.astype(float), *vals)[0]
        x = np.empty((g.size, g.size))
        for i in range(g.size):
            for j in range(i, g.size):
                c = float(np.clip(rho[i, j], -1.0, 1.0)) * math.sqrt(s2[i] * s2[j])
                x[i, j] = x[j, i] = nested_overlap(float(s2[i]), float(s2[j]), c, int(g[i]), int(g[j]))
        q_new = eval_np(out_fn, qv, pbar, y2, 0.0, *vals)[0]     # q' reads Y2 only, p' reads X only
        p_new = eval_np(out_fn, qv, cross, 0.0, x, *vals)[1]
        return GridState(q_new, p_new), [(layer, s)]

    def window_y2(self, layer: Attention, s: GridState, window: slice) -> float:
        """Mean Y2 of the queries in ``window`` (0-based slice) for the attention ``layer`` reading ``s``."""
        ts = np.arange(window.start + 1, window.stop + 1)
        pbar = np.diag(self.key_means(s, ts, ts))
        return float(np.mean(eval_np(_y2(layer, self._names), float(s.Q[0]), pbar, ts.astype(float), *self._vals)[0]))

    def window_stats(self, s: GridState, window: slice) -> tuple[float, float, float]:
        """(q, p, rho) of the tokens in ``window``: mean norm, mean overlap and mean cosine of distinct pairs."""
        w = self.weights[window]
        qw = w @ s.Q
        pw = w @ s.P @ w.T
        off = ~np.eye(qw.size, dtype=bool)
        cos = pw / np.sqrt(np.outer(qw, qw))
        return float(qw.mean()), float(pw[off].mean()), float(cos[off].mean())


@cache
def _compiled(layer: Layer, names: tuple[sp.Symbol, ...]) -> Any:
    out = layer(State(q, p))
    return compile_np((q, p, *names), (out.q, out.p))


@cache
def _residual(alpha: sp.Expr, names: tuple[sp.Symbol, ...]) -> Any:
    out = Residual(alpha, _Fixed(State(_QB, _PB)))(State(q, p))
    return compile_np((q, p, _QB, _PB, *names), (out.q, out.p))


@cache
def _attention_maps(layer: Attention, names: tuple[sp.Symbol, ...]) -> tuple[Any, Any, Any]:
    """(output map of (q, key overlap, Y2, X); logit variance s2 of (q, key overlap); the queries'
    logit correlation of (q, query overlap)), all read off the layer's own expressions."""
    out = layer.output(State(q, p), _Y2, _X)
    x_expr = layer.moments(State(q, p))[1]
    (x_call,) = [f for f in x_expr.atoms(sp.Function) if len(f.args) == 3]
    s2_expr, rho_expr, _ = x_call.args
    return (compile_np((q, p, _Y2, _X, *names), (out.q, out.p)),
            compile_np((q, p, *names), (s2_expr,)), compile_np((q, p, *names), (rho_expr,)))


@cache
def _y2(layer: Attention, names: tuple[sp.Symbol, ...]) -> Any:
    """Y2 of (q, key overlap, key count n)."""
    y2 = layer.moments(State(q, p))[0]
    return compile_np((q, p, n, *names), (y2,))


def propagate_positions(block: Layer, *, values: dict[sp.Symbol, float], seq_len: int, depth: int,
                        q0: float, rho0: float, window: slice, final: Layer | None = None,
                        grid: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Iterate ``block`` ``depth`` times on i.i.d. input tokens (norm q0, overlap rho0 q0) with the
    cross-position Gram (module docstring); ``final`` (e.g. a LayerNorm) after the last block.

    Returns the window's ``q``, ``p``, ``rho`` after blocks 0..depth and the window's mean ``Y2``
    of every attention (depth x attentions per block, flattened in order).
    """
    grid = default_grid(seq_len, window) if grid is None else np.unique(np.asarray(grid, dtype=int))
    if grid[0] != 1 or grid[-1] != seq_len:
        raise InputError(f"the position grid must run from 1 to seq_len = {seq_len}")
    kern = PositionKernel(values, grid, seq_len)
    s = GridState(np.full(grid.size, q0), np.full((grid.size, grid.size), rho0 * q0))
    stats = [kern.window_stats(s, window)]
    y2: list[float] = []
    for layer_index in track(range(depth), "position kernel"):
        s, rec = kern(block, s)
        y2 += [kern.window_y2(attention, read, window) for attention, read in rec]
        if final is not None and layer_index == depth - 1:
            s = kern(final, s)[0]
        stats.append(kern.window_stats(s, window))
    arr = np.array(stats)
    return {"q": arr[:, 0], "p": arr[:, 1], "rho": arr[:, 2], "Y2": np.array(y2)}

