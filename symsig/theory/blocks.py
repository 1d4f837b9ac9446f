"""Transformer blocks as compositions of layer maps (docs/theory.md §6).

========================  ============================================================
name                      composition (residuals scale the skip path: h <- a h + f(h))
========================  ============================================================
``post-ln`` (BERT)        Residual(a_SA, Attn) -> LN -> Residual(a_MLP, MLP) -> LN
``pre-ln``                Residual(a_SA, LN -> Attn) -> Residual(a_MLP, LN -> MLP)
``gc-post-ln``            post-ln with gain-controlled attention
``gc-pre-ln``             pre-ln with gain-controlled attention
========================  ============================================================

The pre-LN attention sees LN(h), so its REM moments are functions of
(1, p/q), not of the un-normalised (q, p) (see :func:`pre_ln`). The published
notebook's alternative is kept as :func:`pre_ln_published` (block name
``pre-ln-published``, reachable through :func:`block_map` only, not a CLI
choice) so that the evidence against it can be reproduced (docs/pre_ln.md).

Activations are names (:data:`symsig.core.names.ACTIVATIONS`) or user callables
(:class:`symsig.core.architecture.UserActivation`), whose kernels are declared once
per activation by :func:`symsig.theory.special.kernel_functions`.

:func:`block_map` composes a block symbolically once per process and caches it;
:mod:`symsig.numerics.compile` compiles it (once) into numpy and mpmath evaluators.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import sympy as sp

from ..core import validate
from ..core.architecture import as_user, is_user
from ..core.names import BLOCKS
from . import activations
from .layers import Attention, LayerNorm, Layer, Residual, Serial, State, mlp, symbolic_state
from .symbols import PARAMS, alpha_mlp, alpha_sa, n, p, q

#: Argument order of every compiled block evaluator (causal blocks append n).
ARGS: tuple[sp.Symbol, ...] = (q, p, *PARAMS)
CAUSAL_ARGS: tuple[sp.Symbol, ...] = (*ARGS, n)


def post_ln(
    act: activations.Kernel, *, finite_t: bool = False, gain_control: bool = False, causal: bool = False
) -> Serial:
    """BERT block (Algorithm 1): attention -> residual -> LN -> MLP -> residual -> LN.

    ``causal``: the query attends to n keys (symbol ``n``, its position), exact finite T.
    """
    attn = _attention(finite_t, gain_control, causal)
    return Serial(Residual(alpha_sa, attn), LayerNorm(), Residual(alpha_mlp, mlp(act)), LayerNorm())


def _attention(finite_t: bool, gain_control: bool, causal: bool) -> Attention:
    if causal and not finite_t:
        raise ValueError("causal attention needs the exact finite-T theory (give seq_len)")
    return Attention(finite_t=finite_t, gain_control=gain_control, n_states=n if causal else None)


def pre_ln(
    act: activations.Kernel, *, finite_t: bool = False, gain_control: bool = False, causal: bool = False
) -> Serial:
    """Pre-LN block: h <- a_SA h + Attn(LN(h)); h <- a_MLP h + MLP(LN(h)).

    The residual stream is not normalised; q grows with depth. The attention's
    REM moments are evaluated at LN(h), i.e. at (1, p/q). The published notebook
    evaluates them at the un-normalised (q, p) instead, which our Monte Carlo
    contradicts (THEORY.md section 5).
    """
    attn = _attention(finite_t, gain_control, causal)
    return Serial(Residual(alpha_sa, Serial(LayerNorm(), attn)), Residual(alpha_mlp, Serial(LayerNorm(), mlp(act))))


@dataclass(frozen=True)
class RawMomentsAttention(Layer):
    """LN -> attention, with the attention's REM moments evaluated at the *un-normalised* (q, p).

    Output: the attention formulas of :class:`~symsig.layers.Attention` applied to
    LN(h) = (1, p/q), but with Y2 (and X) taken at the raw stream (q, p), i.e. at
    energy variance v = q (q - p) instead of 1 - p/q: asymptotically
    Y2 = 1 - beta_c/beta with beta_c = sqrt(2 / (q (q - p))) (the published recipe);
    at finite T the logit variance s2 = beta^2 log(T) q (q - p) (X depends on p/q only).
    """

    attention: Attention

    def __call__(self, state: State) -> State:
        y2, x = self.attention.moments(state)
        return self.attention.output(LayerNorm()(state), y2, x)


def pre_ln_published(
    act: activations.Kernel, *, finite_t: bool = False, gain_control: bool = False, causal: bool = False
) -> Serial:
    """The pre-LN map of the published notebook: :func:`pre_ln` with raw-(q, p) REM moments.

    h <- a_SA h + Attn(LN(h)) with Attn's Y2 = Y2(beta; q, p) of the *un-normalised*
    stream (:class:`RawMomentsAttention`), then h <- a_MLP h + MLP(LN(h)). Since q grows
    with depth, beta_c(q, p) = sqrt(2/(q (q - p))) shrinks and this recipe predicts
    ever stronger entropy collapse; the Monte Carlo does not (docs/pre_ln.md,
    tests/simulation/test_pre_ln.py). Kept for that comparison only.
    """
    attn = RawMomentsAttention(_attention(finite_t, gain_control, causal))
    return Serial(Residual(alpha_sa, attn), Residual(alpha_mlp, Serial(LayerNorm(), mlp(act))))


_BUILDERS: dict[str, Callable[..., Serial]] = {
    "post-ln": post_ln,
    "pre-ln": pre_ln,
    "pre-ln-published": pre_ln_published,
    "gc-post-ln": lambda act, **kw: post_ln(act, gain_control=True, **kw),
    "gc-pre-ln": lambda act, **kw: pre_ln(act, gain_control=True, **kw),
}


assert set(BLOCKS) <= set(_BUILDERS), "every block name needs a builder"


def build(name: str, activation: Any = "relu", *, finite_t: bool = False, causal: bool = False) -> Layer:
    """The layer composition of block ``name`` with the given activation (name or callable)."""
    if name not in _BUILDERS:
        raise validate.InputError(f"unknown block {name!r}; choose from {', '.join(BLOCKS)}")
    return _BUILDERS[name](activations.kernel(activation), finite_t=finite_t, causal=causal)


@dataclass(frozen=True)
class BlockMap:
    """One block as a map (q, p) -> (q', p'), with the IPR Y2 of its attention.

    ``q_next``, ``p_next`` and ``y2`` are SymPy expressions in ``args`` (q, p, the
    architecture parameters, and n for causal blocks); the compiled evaluators of
    :mod:`symsig.numerics.compile` take arguments in that order and return (q', p', Y2).
    """

    name: str
    activation: Any
    finite_t: bool
    q_next: sp.Expr
    p_next: sp.Expr
    y2: sp.Expr
    causal: bool = False

    @property
    def args(self) -> tuple[sp.Symbol, ...]:
        """Argument order of the compiled evaluators."""
        return CAUSAL_ARGS if self.causal else ARGS

    @property
    def exprs(self) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
        """(q', p', Y2)."""
        return (self.q_next, self.p_next, self.y2)

    def rho_map(self) -> sp.Expr:
        """The cosine-similarity map rho -> p'/q' at q = 1 (input after LayerNorm)."""
        rho = sp.Symbol("rho", real=True)
        return (self.p_next / self.q_next).xreplace({q: sp.Integer(1), p: rho})


def block_map(name: str, activation: Any = "relu", finite_t: bool = False, causal: bool = False) -> BlockMap:
    """Compose block ``name`` symbolically (once per process) and wrap it as a BlockMap.

    ``activation``: a name, a callable phi or a UserActivation; a bare callable is
    wrapped (equal wrappers of the same function share the cache entry).
    """
    if is_user(activation):
        activation = as_user(activation)
    return _block_map(name, activation, finite_t, causal)


@cache
def _block_map(name: str, activation: Any, finite_t: bool, causal: bool) -> BlockMap:
    out: State = build(name, activation, finite_t=finite_t, causal=causal)(symbolic_state())
    return BlockMap(name, activation, finite_t, out.q, out.p, out.observable("Y2"), causal)
