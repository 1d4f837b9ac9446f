"""Transformer blocks as compositions of layer maps (docs/theory.md §6).

========================  ============================================================
name                      composition (residuals scale the skip path: h <- a h + f(h))
========================  ============================================================
``post-ln`` (BERT)        Residual(a_SA, Attn) -> LN -> Residual(a_MLP, MLP) -> LN
``pre-ln``                Residual(a_SA, LN -> Attn) -> Residual(a_MLP, LN -> MLP)
``gc-post-ln``            post-ln with gain-controlled attention
``gc-pre-ln``             pre-ln with gain-controlled attention
``llama``                 Residual(a_SA, RMSNorm -> MultiHeadAttn) -> Residual(a_MLP, RMSNorm -> GatedMLP)
``llama-qk``              llama with QK-normalised attention (beta is the QK-norm's beta_qk)
========================  ============================================================

The llama blocks (docs/modern_blocks.md §5) have no biases (sigma_b2 does not enter) and a
gated MLP whose gate activation is the block's activation (swish: SwiGLU, gelu: GeGLU).

The pre-LN attention sees LN(h), so its REM moments are functions of
(1, p/q), not of the un-normalised (q, p) (see :func:`pre_ln`). The published
notebook's alternative is kept as :func:`pre_ln_published` (block name
``pre-ln-published``, reachable through :func:`block_map` only, not a CLI
choice) so that the evidence against it can be reproduced (docs/pre_ln.md).

User blocks (docs/modern_blocks.md §6): :func:`register` makes a Layer tree, or a builder
of one, available by name to every function that takes a block name (propagate, diagram,
prescribe, simulate_stack, ...); :func:`compose` turns any tree into a :class:`BlockMap`.

Activations are names (:data:`symsig.core.names.ACTIVATIONS`) or user callables
(:class:`symsig.core.architecture.UserActivation`), whose kernels are declared once
per activation by :func:`symsig.theory.special.kernel_functions`.

:func:`block_map` composes a block symbolically once per process and caches it;
:mod:`symsig.numerics.compile` compiles it (once) into numpy and mpmath evaluators.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import sympy as sp

from ..core import validate
from ..core.architecture import as_user, is_user
from ..core import names
from ..core.names import BLOCKS
from . import activations
from .cache import derived
from .layers import (MLP, Attention, GatedMLP, LayerNorm, Layer, MultiHeadAttention, QKNormAttention, Residual,
                     RMSNorm, Serial, State, mlp, symbolic_state)
from .symbols import PARAMS, alpha_mlp, alpha_sa, d, n, p, q

#: Argument order of every compiled block evaluator (causal blocks append n).
ARGS: tuple[sp.Symbol, ...] = (q, p, *PARAMS)
CAUSAL_ARGS: tuple[sp.Symbol, ...] = (*ARGS, n)


def post_ln(
    act: activations.Kernel, *, finite_t: bool = False, gain_control: bool = False, causal: bool = False,
    width: sp.Expr | None = None, first: bool = False,
) -> Serial:
    """BERT block (Algorithm 1): attention -> residual -> LN -> MLP -> residual -> LN.

    ``causal``: the query attends to n keys (symbol ``n``, its position), exact finite T.
    ``width`` d: the attention and the LayerNorms at finite width (docs/finite_width.md §3, §7, §8).
    Both depend on the tokens the block reads: the raw Gaussian input in the ``first`` block
    (tokens="gaussian"), the previous block's LayerNorm output after it (tokens="normalized").
    """
    tokens = "gaussian" if first else "normalized"
    attn = _attention(finite_t, gain_control, causal, width, tokens)
    ln1, ln2 = LayerNorm(width, tokens), LayerNorm(width, "normalized")
    return Serial(Residual(alpha_sa, attn), ln1, Residual(alpha_mlp, mlp(act)), ln2)


def _attention(finite_t: bool, gain_control: bool, causal: bool, width: sp.Expr | None = None,
               tokens: str = "gaussian") -> Attention:
    if causal and not finite_t:
        raise ValueError("causal attention needs the exact finite-T theory (give seq_len)")
    if width is not None:
        _width_derived(causal_gain_control=causal and gain_control)
    return Attention(finite_t=finite_t, gain_control=gain_control, n_states=n if causal else None,
                     width=width, tokens=tokens)


def _width_derived(**unsupported: bool) -> None:
    """Raise the one-line ValueError for a finite-width block whose attention is not derived there."""
    what = {"causal_gain_control": "causal gain-controlled attention (the sequence mean mixes rows that see "
                                  "different numbers of keys)",
            "published": "the published pre-LN recipe (raw-(q, p) moments)",
            "llama": "multi-head and QK-normalised attention (llama blocks)"}
    for key, flag in unsupported.items():
        if flag:
            raise validate.InputError(f"width: the finite-width correction is not derived for {what[key]} "
                                      "(docs/finite_width.md §6)")


def pre_ln(
    act: activations.Kernel, *, finite_t: bool = False, gain_control: bool = False, causal: bool = False,
    width: sp.Expr | None = None, first: bool = False,
) -> Serial:
    """Pre-LN block: h <- a_SA h + Attn(LN(h)); h <- a_MLP h + MLP(LN(h)).

    The residual stream is not normalised; q grows with depth. The attention's
    REM moments are evaluated at LN(h), i.e. at (1, p/q). The published notebook
    evaluates them at the un-normalised (q, p) instead, which our Monte Carlo
    contradicts (docs/theory.md §6.2). ``width`` d: the attention at finite width; it reads
    LN(h) in every block, ``first`` included (tokens="normalized", docs/finite_width.md §3); the
    LayerNorms model the stream they read as Gaussian tokens (skip="stream", §8).
    """
    attn = _attention(finite_t, gain_control, causal, width, "normalized")
    ln = LayerNorm(width, "stream")
    return Serial(Residual(alpha_sa, Serial(ln, attn)), Residual(alpha_mlp, Serial(ln, mlp(act))))


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
    act: activations.Kernel, *, finite_t: bool = False, gain_control: bool = False, causal: bool = False,
    width: sp.Expr | None = None, first: bool = False,
) -> Serial:
    """The pre-LN map of the published notebook: :func:`pre_ln` with raw-(q, p) REM moments.

    h <- a_SA h + Attn(LN(h)) with Attn's Y2 = Y2(beta; q, p) of the *un-normalised*
    stream (:class:`RawMomentsAttention`), then h <- a_MLP h + MLP(LN(h)). Since q grows
    with depth, beta_c(q, p) = sqrt(2/(q (q - p))) shrinks and this recipe predicts
    ever stronger entropy collapse; the Monte Carlo does not (docs/pre_ln.md,
    tests/simulation/test_pre_ln.py). Kept for that comparison only.
    """
    if width is not None:
        _width_derived(published=True)
    attn = RawMomentsAttention(_attention(finite_t, gain_control, causal))
    return Serial(Residual(alpha_sa, attn), Residual(alpha_mlp, Serial(LayerNorm(), mlp(act))))


def llama(
    act: activations.Kernel, *, finite_t: bool = False, causal: bool = False, qk_norm: bool = False,
    width: sp.Expr | None = None, first: bool = False,
) -> Serial:
    """LLaMA block: h <- a_SA h + Attn(RMSNorm(h)); h <- a_MLP h + GatedMLP(RMSNorm(h)), no biases.

    Attn is :class:`~symsig.theory.layers.MultiHeadAttention` (the d -> infinity map of
    Attention) or, with ``qk_norm``, :class:`~symsig.theory.layers.QKNormAttention` whose beta
    is the QK-norm's beta_qk = g^2 / sqrt(log T); GatedMLP gates with ``act`` (swish: SwiGLU).
    Like pre-LN, both branches read the normalised stream (1, p/q).
    """
    if causal and not finite_t:
        raise ValueError("causal attention needs the exact finite-T theory (give seq_len)")
    if width is not None:
        _width_derived(llama=True)
    kind = QKNormAttention if qk_norm else MultiHeadAttention
    attn = kind(bias=sp.Integer(0), finite_t=finite_t, n_states=n if causal else None)
    ffn = GatedMLP(activations.GatedKernel(act))
    return Serial(Residual(alpha_sa, Serial(RMSNorm(), attn)), Residual(alpha_mlp, Serial(RMSNorm(), ffn)))


_BUILDERS: dict[str, Callable[..., Layer]] = {
    "post-ln": post_ln,
    "pre-ln": pre_ln,
    "pre-ln-published": pre_ln_published,
    "gc-post-ln": lambda act, **kw: post_ln(act, gain_control=True, **kw),
    "gc-pre-ln": lambda act, **kw: pre_ln(act, gain_control=True, **kw),
    "llama": llama,
    "llama-qk": lambda act, **kw: llama(act, qk_norm=True, **kw),
}


assert set(BLOCKS) <= set(_BUILDERS), "every block name needs a builder"


@dataclass(frozen=True)
class UserBlock:
    """A registered block: a Layer tree or a builder (kernel, *, finite_t, causal) -> Layer,
    and the values of its symbols beyond (q, p, PARAMS, n)."""

    block: Any
    values: tuple[tuple[sp.Symbol, Any], ...] = ()


#: Registered user blocks by name (:func:`register`); their names are in core.names.block_names().
USER_BLOCKS: dict[str, UserBlock] = {}


def register(name: str, block: Any, values: Mapping[sp.Symbol, Any] | None = None) -> str:
    """Make ``block`` available by ``name`` wherever a block name is accepted (docs/modern_blocks.md §6).

    ``block`` is a :class:`~symsig.theory.layers.Layer` tree (used as is: its own activations,
    its own finite_t and causal settings) or a builder ``f(kernel, *, finite_t, causal) -> Layer``
    called with the kernel of the requested activation, as the built-in blocks are. ``values``
    fixes the symbols of the tree beyond (q, p, PARAMS, n), e.g. ``{g: 1.5}``. Registering a
    name again replaces the block. Returns ``name``.
    """
    if not isinstance(name, str) or not name or name in _BUILDERS:
        raise validate.InputError(f"a user block needs a new name (not one of {', '.join(_BUILDERS)}), got {name!r}")
    if not (isinstance(block, Layer) or callable(block)):
        raise validate.InputError("block must be a Layer tree or a builder (kernel, *, finite_t, causal) -> Layer")
    USER_BLOCKS[name] = UserBlock(block, tuple((values or {}).items()))
    names.add_block(name)
    _block_map.cache_clear()
    return name


def sublayers(layer: Layer) -> Iterator[Layer]:
    """``layer`` and every layer inside it (depth first, in composition order)."""
    yield layer
    children: list[Any] = []
    if dataclasses.is_dataclass(layer):
        children = [getattr(layer, f.name) for f in dataclasses.fields(layer)]
    for child in children:
        for item in child if isinstance(child, tuple) else (child,):
            if isinstance(item, Layer):
                yield from sublayers(item)


def substitute(layer: Layer, values: Mapping[sp.Symbol, Any]) -> Layer:
    """A copy of ``layer`` with ``values`` substituted into every SymPy parameter of every sublayer."""
    if not values:
        return layer
    sub = {k: sp.sympify(v) for k, v in values.items()}

    def one(x: Any) -> Any:
        if isinstance(x, Layer):
            return substitute(x, sub)
        if isinstance(x, tuple):
            return tuple(one(y) for y in x)
        return x.xreplace(sub) if isinstance(x, sp.Basic) else x

    if isinstance(layer, MLP):
        return MLP(layer.kernel, one(layer.weight), one(layer.bias))
    if isinstance(layer, Serial):
        return type(layer)(*(one(x) for x in layer.layers))
    return dataclasses.replace(layer, **{f.name: one(getattr(layer, f.name)) for f in dataclasses.fields(layer)})


def build(name: str, activation: Any = "relu", *, finite_t: bool = False, causal: bool = False,
          width: sp.Expr | None = None, first: bool = False) -> Layer:
    """The layer composition of block ``name`` with the given activation (name or callable);
    a registered block with its registered values substituted. ``width`` d (built-in blocks
    only) and ``first`` (the first block reads the raw input): see :func:`post_ln`."""
    if width is not None:
        if name in USER_BLOCKS:
            raise validate.InputError(f"width: the finite-width theory is not available for the user block {name!r}")
        if name in _BUILDERS:
            return _BUILDERS[name](activations.kernel(activation), finite_t=finite_t, causal=causal, width=width,
                                   first=first)
    if name in USER_BLOCKS:
        block, values = USER_BLOCKS[name].block, dict(USER_BLOCKS[name].values)
        if not isinstance(block, Layer):
            return substitute(block(activations.kernel(activation), finite_t=finite_t, causal=causal), values)
        if any((a.n_states is not None) != causal for a in sublayers(block) if isinstance(a, Attention)):
            raise validate.InputError(f"block {name!r} is a fixed tree whose attention is {'not ' * causal}causal; "
                                      "register a builder to get both")
        return substitute(block, values)
    if name not in _BUILDERS:
        raise validate.InputError(f"unknown block {name!r}; choose from {', '.join(names.block_names())}")
    return _BUILDERS[name](activations.kernel(activation), finite_t=finite_t, causal=causal)


@dataclass(frozen=True)
class BlockMap:
    """One block as a map (q, p) -> (q', p'), with the IPR Y2 of its attention.

    ``q_next``, ``p_next`` and ``y2`` are SymPy expressions in ``args``: q, p, the
    architecture parameters, the block's ``extra`` symbols (none for the named blocks;
    e.g. a QK-norm gain g of a user tree) and n for causal blocks; the compiled evaluators
    of :mod:`symsig.numerics.compile` take arguments in that order and return (q', p', Y2).
    """

    name: str
    activation: Any
    finite_t: bool
    q_next: sp.Expr
    p_next: sp.Expr
    y2: sp.Expr
    causal: bool = False
    extra: tuple[sp.Symbol, ...] = ()
    finite_width: bool = False
    first: tuple[sp.Expr, sp.Expr, sp.Expr] | None = None

    @property
    def args(self) -> tuple[sp.Symbol, ...]:
        """Argument order of the compiled evaluators: (q, p, PARAMS, [d], extra, [n])."""
        return (*ARGS, *((d,) if self.finite_width else ()), *self.extra, *((n,) if self.causal else ()))

    @property
    def exprs(self) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
        """(q', p', Y2)."""
        return (self.q_next, self.p_next, self.y2)

    @property
    def first_exprs(self) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
        """(q', p', Y2) of the first block: ``first`` when it differs (at finite width the first
        post-LN attention reads Gaussian tokens), else :attr:`exprs`."""
        return self.exprs if self.first is None else self.first

    def rho_map(self) -> sp.Expr:
        """The cosine-similarity map rho -> p'/q' at q = 1 (input after LayerNorm)."""
        rho = sp.Symbol("rho", real=True)
        return (self.p_next / self.q_next).xreplace({q: sp.Integer(1), p: rho})

    def bind(self, values: Mapping[sp.Symbol, Any]) -> BlockMap:
        """This map with some ``extra`` symbols replaced by ``values`` (numbers or expressions)."""
        sub = {k: sp.sympify(v) for k, v in values.items()}
        unknown = set(sub) - set(self.extra)
        if unknown:
            raise validate.InputError(f"not extra symbols of block {self.name!r}: {sorted(map(str, unknown))}")
        q_next, p_next, y2 = (x.xreplace(sub) for x in self.exprs)
        return dataclasses.replace(self, q_next=q_next, p_next=p_next, y2=y2, extra=_extra(q_next, p_next, y2))


def _extra(*exprs: sp.Expr) -> tuple[sp.Symbol, ...]:
    """Free symbols beyond (q, p, PARAMS, d, n), sorted by name."""
    free = set().union(*(x.free_symbols for x in exprs)) - set(CAUSAL_ARGS) - {d}
    return tuple(sorted(free, key=str))


def compose(layer: Layer, *, name: str = "custom", activation: Any = None, finite_t: bool | None = None) -> BlockMap:
    """Compose any Layer tree into a :class:`BlockMap` (symbols beyond PARAMS become ``extra``).

    ``finite_t`` and the causality are read off the tree's attentions unless given.
    """
    out: State = layer(symbolic_state())
    attn = [x for x in sublayers(layer) if isinstance(x, Attention)]
    finite = any(a.finite_t for a in attn) if finite_t is None else finite_t
    causal = any(a.n_states is not None for a in attn)
    y2 = out.observable("Y2") if any(k == "Y2" for k, _ in out.observables) else sp.Integer(0)
    return BlockMap(name, activation, finite, out.q, out.p, y2, causal, _extra(out.q, out.p, y2))


def block_map(name: str, activation: Any = "relu", finite_t: bool = False, causal: bool = False,
              finite_width: bool = False) -> BlockMap:
    """Compose block ``name`` symbolically (once per process) and wrap it as a BlockMap.

    ``activation``: a name, a callable phi or a UserActivation; a bare callable is
    wrapped (equal wrappers of the same function share the cache entry). A registered user
    block has its registered values substituted (:func:`build`); symbols left over raise an InputError.
    ``finite_width``: the attention at finite width d, the symbol ``d`` an evaluator argument
    after PARAMS (one composition and one compilation serve every d, as T does); needs
    ``finite_t``. Blocks whose attention is not derived at finite width raise (:func:`post_ln`).
    """
    if is_user(activation):
        activation = as_user(activation)
    if finite_width and not finite_t:
        validate.width(2, None)  # raises: width needs seq_len
    if finite_width:
        return _width_block_map(name, activation, causal)
    return _block_map(name, activation, finite_t, causal)


def architecture_map(arch: Any, causal: bool = False) -> BlockMap:
    """The block map of an :class:`~symsig.core.architecture.Architecture` (its evaluator takes
    ``arch.params()`` after (q, p)): block, activation, finite T and finite width as ``arch`` says."""
    return block_map(arch.block, arch.activation, arch.finite_t, causal, arch.width is not None)


def _width_exprs(name: str, activation: Any, causal: bool) -> tuple[tuple[sp.Expr, ...], tuple[sp.Expr, ...]]:
    """(q', p', Y2) of the later blocks and of the first block at finite width (the first block's
    attention reads the raw Gaussian input, the later ones a LayerNorm output)."""
    return tuple(compose(build(name, activation, finite_t=True, causal=causal, width=d, first=first), name=name,
                         activation=activation, finite_t=True).exprs for first in (False, True))


#: The composition takes about a second (the attention's finite-width moments): built-in blocks with
#: closed-form kernels keep it on disk (theory.cache, keyed by the sources of symsig.theory and
#: symsig.core). Registered blocks live in user code the key does not cover, and the other kernels are
#: classes declared at run time, which do not pickle.
_width_exprs_cached = derived(_width_exprs)


@cache
def _width_block_map(name: str, activation: Any, causal: bool) -> BlockMap:
    """The finite-width map: later blocks, and the first block if its attention reads other tokens."""
    cached = name in BLOCKS and isinstance(activation, str) and activation in activations.CLOSED_FORMS
    later, first = (_width_exprs_cached if cached else _width_exprs)(name, activation, causal)
    bm = BlockMap(name, activation, True, *later, causal=causal, extra=_extra(*later), finite_width=True,
                  first=None if first == later else first)
    if bm.extra:
        raise validate.InputError(f"block {name!r} has symbols without values: {', '.join(map(str, bm.extra))}")
    return bm


@cache
def _block_map(name: str, activation: Any, finite_t: bool, causal: bool) -> BlockMap:
    tree = build(name, activation, finite_t=finite_t, causal=causal)
    if any(a.finite_t != finite_t for a in sublayers(tree) if isinstance(a, Attention)):
        raise validate.InputError(f"block {name!r} is a fixed tree whose attention has finite_t="
                                  f"{not finite_t}; register a builder to get both theories")
    bm = dataclasses.replace(compose(tree, name=name, activation=activation, finite_t=finite_t), causal=causal)
    if bm.extra:
        raise validate.InputError(f"block {name!r} has symbols without values: {', '.join(map(str, bm.extra))} "
                                  "(give them to register(..., values=...))")
    return bm
