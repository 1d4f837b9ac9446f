"""Finite-width networks from the theory's own layer compositions (docs/theory.md §5, §6).

A block of :mod:`symsig.theory.blocks` is a tree of :mod:`symsig.theory.layers` objects
whose maps act on (q, p) as d -> infinity.  :func:`finite_width` walks the same tree and
returns its finite-width counterpart, a tree of nodes that act on tokens (T, d) with the
pieces of :mod:`symsig.simulation.forward`; the numeric value of every symbolic parameter
(sigma_w2, sigma_v2, sigma_b2, alpha_SA, alpha_MLP, beta, T, ...) comes from ``values``.
So the Monte Carlo of a block is the network of the very composition the theory
iterates, and any block composed from these layers gets one for free.

=======================  ============================================================
layer                    finite-width counterpart (d = width, m = mlp_width)
=======================  ============================================================
Serial                   the children, left to right
Residual(alpha, f)       h <- alpha h + f(h)
LayerNorm                forward.layer_norm
Dense(w, b)              h @ W + b, W (d, d); no b when the bias is symbolically 0
Activation(kernel)       phi elementwise (the named activation, or the user's callable)
MLP(kernel, w, b)        Dense d -> m, Activation, Dense m -> d
Attention                forward.attention; causal when it sees n keys (n_states = n);
                         ``out_proj`` adds W_O inside the branch
MultiHeadAttention       Attention with its own number of heads (else the Shape's)
QKNormAttention          Attention with RMS-normalised queries and keys (gain g, realised_gain)
RawMomentsAttention      LayerNorm then its attention (the REM moments are theory only)
RMSNorm(g, eps)          forward.rms_norm
GatedMLP                 forward.gated_mlp: W_g, W_u d -> m, W_d m -> d (no biases when 0)
=======================  ============================================================

Weights are drawn from the generator as each node runs, in tree order; for the blocks
post-ln, pre-ln, gc-post-ln, gc-pre-ln that is W_Q, W_K, W_V, b_V, [W_O], W_1, b_1, W_2, b_2
per block, for llama and llama-qk W_Q, W_K, W_V, b_V (= 0), [W_O], W_g, W_u, W_d.
A new layer type gets its counterpart with ``@finite_width.register``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import singledispatch
from typing import Any, Mapping, Protocol

import numpy as np
import sympy as sp

from ..core.architecture import UserActivation
from ..core.names import ACTIVATIONS
from ..core import validate
from ..core.validate import InputError
from ..theory import symbols
from ..theory.activations import Kernel
from ..theory.blocks import RawMomentsAttention
from ..theory.layers import (MLP, Activation, Attention, Dense, GatedMLP, Layer, LayerNorm, MultiHeadAttention,
                             QKNormAttention, Residual, RMSNorm, Serial)
from . import forward
from .forward import ActFn, AttnStats, token_stats


@dataclass(frozen=True)
class Shape:
    """Everything about a network that the d -> infinity theory does not see.

    ``width`` d of the stream, ``mlp_width`` m of every MLP's hidden layer, ``heads``,
    ``out_proj`` the variance (times d) of an attention output projection (None: none),
    and the ``dtype`` of the forward pass.
    """

    width: int
    mlp_width: int
    heads: int = 1
    out_proj: float | None = None
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float64))


@dataclass
class Recorder:
    """Per attention call, in order: token statistics of its input and of its output
    (before any residual) and its row statistics (:class:`forward.AttnStats`)."""

    attentions: list[tuple[tuple, tuple, AttnStats]] = field(default_factory=list)


class Node(Protocol):
    """A finite-width layer: draws its weights from ``rng`` and maps tokens (T, d)."""

    def run(self, h: np.ndarray, rng: np.random.Generator, rec: Recorder | None = None) -> np.ndarray: ...


# ----------------------------------------------------------------------------- nodes


@dataclass(frozen=True)
class SerialNet:
    """h <- node_k(... node_1(h)): the children left to right."""

    nodes: tuple[Node, ...]

    def run(self, h: np.ndarray, rng: np.random.Generator, rec: Recorder | None = None) -> np.ndarray:
        for node in self.nodes:
            h = node.run(h, rng, rec)
        return h


@dataclass(frozen=True)
class ResidualNet:
    """h <- alpha h + branch(h) (alpha scales the skip path, docs/theory.md §6.5)."""

    alpha: float
    branch: Node

    def run(self, h: np.ndarray, rng: np.random.Generator, rec: Recorder | None = None) -> np.ndarray:
        out = self.branch.run(h, rng, rec)
        if out is h:  # an identity branch: do not add into the stream itself
            out = h.copy()
        out += h if self.alpha == 1.0 else self.alpha * h  # 1.0 * h == h exactly: skip the temporary
        return out


@dataclass(frozen=True)
class LayerNormNet:
    """h_t <- (h_t - mean_i h_ti) / std_i h_ti (no affine, eps = 0)."""

    def run(self, h: np.ndarray, rng: np.random.Generator, rec: Recorder | None = None) -> np.ndarray:
        return forward.layer_norm(h)


def _workspace() -> Any:
    return field(default_factory=forward.Workspace, compare=False, repr=False)


@dataclass(frozen=True)
class DenseNet:
    """h <- h @ W + b, W (d, d) entries N(0, weight / d), b entries N(0, bias) (or none)."""

    weight: float
    bias: float | None
    shape: Shape
    ws: forward.Workspace = _workspace()

    def run(self, h: np.ndarray, rng: np.random.Generator, rec: Recorder | None = None) -> np.ndarray:
        d = self.shape.width
        return forward.dense(h, *forward.draw_dense(rng, d, d, self.weight, self.bias, self.shape.dtype, into=self.ws))


@dataclass(frozen=True)
class ActivationNet:
    """h <- phi(h) elementwise."""

    phi: ActFn

    def run(self, h: np.ndarray, rng: np.random.Generator, rec: Recorder | None = None) -> np.ndarray:
        return forward.apply_activation(h, act_fn=self.phi)


@dataclass(frozen=True)
class MLPNet:
    """h <- phi(h @ W_1 + b_1) @ W_2 + b_2 with hidden width m (forward.draw_mlp)."""

    weight: float
    bias: float
    phi: ActFn
    shape: Shape
    ws: forward.Workspace = _workspace()

    def run(self, h: np.ndarray, rng: np.random.Generator, rec: Recorder | None = None) -> np.ndarray:
        s = self.shape
        w = forward.draw_mlp(rng, s.width, s.mlp_width, weight=self.weight, bias=self.bias, dtype=s.dtype,
                             into=self.ws)
        return forward.mlp(h, w["W_1"], w["b_1"], w["W_2"], w["b_2"], act_fn=self.phi)


@dataclass(frozen=True)
class AttentionNet:
    """h <- Attn(h) (forward.attention; W_Q, W_K entries N(0, sigma_a / d)); records its statistics."""

    sigma_a: float
    value: float
    bias: float
    gain_control: bool
    causal: bool
    shape: Shape
    ws: forward.Workspace = _workspace()
    heads: int | None = None  # None: the Shape's
    qk_gain: float | None = None  # QK-norm gain g (None: no QK-norm)

    def run(self, h: np.ndarray, rng: np.random.Generator, rec: Recorder | None = None) -> np.ndarray:
        s = self.shape
        w = forward.draw_attention(rng, s.width, sigma_a=self.sigma_a, value=self.value, bias=self.bias,
                                   out_proj=s.out_proj, dtype=s.dtype, into=self.ws)
        heads = s.heads if self.heads is None else self.heads
        y, stats = forward.attention(h, w["W_Q"], w["W_K"], w["W_V"], w["b_V"], heads=heads,
                                     causal=self.causal, gain_control=self.gain_control, w_o=w.get("W_O"),
                                     qk_gain=self.qk_gain)
        if rec is not None:
            rec.attentions.append((token_stats(h), token_stats(y), stats))
        return y


@dataclass(frozen=True)
class RMSNormNet:
    """h_t <- g h_t / sqrt(|h_t|^2 / d + eps) (no centring)."""

    gain: float = 1.0
    eps: float = 0.0

    def run(self, h: np.ndarray, rng: np.random.Generator, rec: Recorder | None = None) -> np.ndarray:
        return forward.rms_norm(h, self.gain, self.eps)


@dataclass(frozen=True)
class GatedMLPNet:
    """h <- (phi(h W_g + b_g) * (h W_u + b_u)) W_d + b_d with hidden width m (forward.draw_gated_mlp)."""

    gate: float
    up: float
    down: float
    bias: float | None
    phi: ActFn
    shape: Shape
    ws: forward.Workspace = _workspace()

    def run(self, h: np.ndarray, rng: np.random.Generator, rec: Recorder | None = None) -> np.ndarray:
        s = self.shape
        w = forward.draw_gated_mlp(rng, s.width, s.mlp_width, gate=self.gate, up=self.up, down=self.down,
                                   bias=self.bias, dtype=s.dtype, into=self.ws)
        return forward.gated_mlp(h, w, self.phi)


# ----------------------------------------------------------------------------- the walk


def number(expr: Any, values: Mapping[sp.Symbol, float]) -> float:
    """The float value of a layer parameter with ``values`` substituted."""
    if isinstance(expr, sp.Symbol) and expr in values:  # the common case, without SymPy arithmetic
        return float(values[expr])
    val = sp.sympify(expr).xreplace({k: sp.sympify(v) for k, v in values.items()})
    if val.free_symbols:
        names = ", ".join(sorted(str(s) for s in val.free_symbols))
        raise InputError(f"the finite-width network needs a value for {names}")
    return float(val)


def phi_of(kernel: Kernel) -> ActFn:
    """The numpy phi behind an activation kernel: a named activation's, from its one
    definition, or the callable of a user activation (the source of its declared kernel)."""
    if kernel.name in ACTIVATIONS:
        return forward.activation_fn(kernel.name)
    source = getattr(getattr(kernel.k_qq, "func", None), "source", None)
    if isinstance(source, UserActivation):
        return source.fn
    raise InputError(f"no numpy phi for the activation kernel {kernel.name!r}")


@singledispatch
def finite_width(layer: Layer, values: Mapping[sp.Symbol, float], shape: Shape) -> Node:
    """The finite-width network of ``layer`` (module docstring), parameters from ``values``."""
    raise InputError(f"no finite-width counterpart for the layer {type(layer).__name__}")


@finite_width.register
def _serial(layer: Serial, values: Mapping[sp.Symbol, float], shape: Shape) -> Node:
    return SerialNet(tuple(finite_width(child, values, shape) for child in layer.layers))


@finite_width.register
def _residual(layer: Residual, values: Mapping[sp.Symbol, float], shape: Shape) -> Node:
    return ResidualNet(number(layer.alpha, values), finite_width(layer.branch, values, shape))


@finite_width.register
def _layer_norm(layer: LayerNorm, values: Mapping[sp.Symbol, float], shape: Shape) -> Node:
    return LayerNormNet()


@finite_width.register
def _dense(layer: Dense, values: Mapping[sp.Symbol, float], shape: Shape) -> Node:
    bias = None if sp.sympify(layer.bias) == 0 else number(layer.bias, values)
    return DenseNet(number(layer.weight, values), bias, shape)


@finite_width.register
def _activation(layer: Activation, values: Mapping[sp.Symbol, float], shape: Shape) -> Node:
    return ActivationNet(phi_of(layer.kernel))


@finite_width.register
def _mlp(layer: MLP, values: Mapping[sp.Symbol, float], shape: Shape) -> Node:
    return MLPNet(number(layer.weight, values), number(layer.bias, values), phi_of(layer.kernel), shape)


@finite_width.register
def _attention(layer: Attention, values: Mapping[sp.Symbol, float], shape: Shape) -> Node:
    if layer.n_states is not None and layer.n_states != symbols.n:
        raise InputError(f"finite-width attention sees all T keys or n (causal), not {layer.n_states}")
    sig_a = forward.sigma_a(number(layer.inverse_temperature, values), round(number(layer.seq_len, values)))
    return AttentionNet(sig_a, number(layer.value, values), number(layer.bias, values),
                        layer.gain_control, layer.n_states is not None, shape)


@finite_width.register
def _multi_head_attention(layer: MultiHeadAttention, values: Mapping[sp.Symbol, float], shape: Shape) -> Node:
    node = _attention(layer, values, shape)
    heads = None if layer.heads is None else round(number(layer.heads, values))
    gain = number(layer.realised_gain(), values) if isinstance(layer, QKNormAttention) else None
    if heads is not None and shape.width % heads:
        raise InputError(f"heads ({heads}) must divide width ({shape.width})")
    return dataclasses.replace(node, heads=heads, qk_gain=gain)


@finite_width.register
def _rms_norm(layer: RMSNorm, values: Mapping[sp.Symbol, float], shape: Shape) -> Node:
    return RMSNormNet(number(layer.gain, values), number(layer.eps, values))


@finite_width.register
def _gated_mlp(layer: GatedMLP, values: Mapping[sp.Symbol, float], shape: Shape) -> Node:
    bias = None if sp.sympify(layer.bias) == 0 else number(layer.bias, values)
    return GatedMLPNet(number(layer.gate, values), number(layer.up, values), number(layer.down, values), bias,
                       phi_of(layer.kernel.gate), shape)


@finite_width.register
def _raw_moments_attention(layer: RawMomentsAttention, values: Mapping[sp.Symbol, float], shape: Shape) -> Node:
    return SerialNet((LayerNormNet(), finite_width(layer.attention, values, shape)))


def architecture_values(*, beta: float, sigma_w2: float, sigma_v2: float, sigma_b2: float, alpha_sa: float,
                        alpha_mlp: float, seq_len: int) -> dict[sp.Symbol, float]:
    """The symbol -> value map of an architecture (:data:`symsig.theory.symbols.PARAMS`)."""
    return dict(zip(symbols.PARAMS, (beta, sigma_w2, sigma_v2, sigma_b2, alpha_sa, alpha_mlp, seq_len)))


def is_causal(node: Node) -> bool:
    """True when some attention of the network is causal."""
    if isinstance(node, AttentionNet):
        return node.causal
    children = node.nodes if isinstance(node, SerialNet) else (node.branch,) if isinstance(node, ResidualNet) else ()
    return any(is_causal(c) for c in children)


__all__ = ["Shape", "Recorder", "Node", "finite_width", "number", "phi_of", "architecture_values",
           "is_causal", "SerialNet", "ResidualNet", "LayerNormNet", "DenseNet", "ActivationNet", "MLPNet",
           "AttentionNet", "RMSNormNet", "GatedMLPNet"]


def check_size(width: int, seq_len: int, heads: int, mlp_width: int) -> None:
    """Memory guard (validate.LIMITS["cells"]): one network's largest arrays, attention T^2 H,
    activations T (d + M) and weights d max(d, M)."""
    validate.limited("simulated values per network (T^2 H + T (d + M) + d max(d, M))",
                     seq_len * seq_len * heads + seq_len * (width + mlp_width) + width * max(width, mlp_width), "cells")
