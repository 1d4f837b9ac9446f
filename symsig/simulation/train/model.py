"""A trainable language model composed from the theory's own layer tree (torch).

Each block is :func:`symsig.theory.blocks.build` (the composition the layer maps
are derived from) turned into torch modules node by node:

* ``Serial`` runs its children in order; ``Residual(alpha, f)``: h <- f(h) + alpha h;
* ``LayerNorm``: (h - mean) / std over features, eps = 1e-12 (a relative change of
  about 1e-12 at the O(1) token variances of initialisation), with a learnable
  gain and shift initialised to 1 and 0 (the identity, so the theory applies at init);
* ``Dense(weight, bias)``: h @ W + b, W of shape (fan_in, fan_out) with entries
  N(0, weight / fan_in), b entries N(0, bias); a Dense followed by an Activation in its
  Serial widens to ``mlp_width``, any other returns to the width d;
* ``Activation``: phi of :data:`symsig.core.names.ACTIVATION_PHI` lambdified to torch;
* ``Attention``: W_Q, W_K entries N(0, sigma_a / d) with sigma_a^2 = s2 / (q (q - p)),
  s2 = :func:`symsig.theory.special.logit_variance` = beta^2 log(T) q (q - p), so
  sigma_a = beta sqrt(log T); W_V entries N(0, value / d), b_V entries N(0, bias);
  heads split the columns, logits divided by sqrt(d_head), causal mask when causal;
  gain control subtracts the sequence mean; the optional output projection W_O has
  entries N(0, 1/d) and no bias (as ``simulate_stack(out_proj=True)``).

The architecture's numbers replace the symbols of the tree (:data:`symsig.theory.symbols.PARAMS`),
so the parametrisation is the theory's by construction.

Embedding (input geometry). With g (d,), z (T, d) and e (V, d) standard normal,
x_t = sqrt(q0 rho0) g + sqrt(q0 (1 - rho0)) (sqrt(1 - f) z_t + sqrt(f) e_{token_t}),
f = ``token_share``; the three terms are learnable parameters (shared vector,
position table, token table). So E|x_t|^2/d = q0 and, for t != s,
E x_t.x_s/d = q0 [rho0 + (1 - rho0) f 1(token_t = token_s)]: the input cosine is
rho0 plus (1 - rho0) f times the fraction of position pairs holding the same token.
The training loop measures (q0, rho0) of the embedded held-out batch and starts the
theory there. With f = 0 the input is exactly ``simulate_stack``'s x_t.
After the last block: a LayerNorm (learnable, identity at init; it is the identity
on post-LN outputs) and an untied linear head to the vocabulary, N(0, 1/d), bias 0.

Random draws (numpy, float64) from ``ss = SeedSequence(seed).spawn(1)[0]``: the
stream ``default_rng(ss)`` gives g, z, then per block the weights in the order the
tree is walked, which for every block of :data:`symsig.core.names.BLOCKS` is the
``simulate_stack`` order W_Q, W_K, W_V, b_V, [W_O], W_1, b_1, W_2, b_2; a second
stream ``default_rng(ss.spawn(1)[0])`` gives e and the head. Hence, in float64 with
f = 0, the model at initialisation *is* ``simulate_stack(seeds=1, seed=seed)``
weight for weight (tests/simulation/test_train_model.py checks rho and Y2 to 1e-9);
in float32 the same draws are rounded.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
import torch
from torch import nn
from torch.nn import functional as F

from ...core.architecture import Architecture
from ...theory import blocks, layers, special
from ...theory.activations import X, phi
from ...theory.symbols import PARAMS, beta, p, q

LN_EPS = 1e-12


@dataclass(frozen=True)
class ModelSpec:
    """Shape and initialisation of a :class:`LanguageModel` (``arch.seq_len`` is T)."""

    arch: Architecture
    depth: int
    width: int
    vocab_size: int
    heads: int = 1
    mlp_width: int | None = None
    causal: bool = False
    out_proj: bool = False
    rho0: float = 0.3
    q0: float = 1.0
    token_share: float = 0.5

    @property
    def seq_len(self) -> int:
        return int(self.arch.seq_len)


# ----------------------------------------------------------------------------- nodes


def _max(*args: Any) -> torch.Tensor:
    """Max of tensors and numbers (clamp_min when one argument is a number: faster than maximum)."""
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    numbers = [float(a) for a in args if not isinstance(a, torch.Tensor)]
    out = functools.reduce(torch.maximum, tensors)
    return torch.clamp_min(out, max(numbers)) if numbers else out


@functools.cache
def torch_activation(name: str) -> Any:
    """phi of the named activation as a torch function, lambdified from its one definition
    (numeric constants evaluated to floats first: torch functions take tensors only)."""
    expr = phi(name).replace(lambda e: e.is_number and not e.is_Integer, lambda e: sp.Float(e, 30))
    return sp.lambdify(X, expr, modules=[{"Max": _max, "max": _max}, "torch"])


def qk_variance(attn: layers.Attention, values: dict[sp.Symbol, Any]) -> float:
    """sigma_a = sqrt(s2 / (q (q - p))) of this attention (W_Q, W_K entries N(0, sigma_a / d))."""
    per_gap = sp.cancel(special.logit_variance(attn.seq_len) / (q * (q - p)))
    sa2 = per_gap.xreplace({beta: attn.inverse_temperature}).xreplace(values)
    if sa2.free_symbols:
        raise ValueError(f"logit variance per q(q - p) is not a number: {sa2}")
    return math.sqrt(float(sa2))


class Dense(nn.Module):
    """h @ W + b."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.from_numpy(weight))
        self.bias = nn.Parameter(torch.from_numpy(bias))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.matmul(h, self.weight) + self.bias


class Norm(nn.Module):
    """LayerNorm over features with a learnable gain and shift (identity at init)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(width, dtype=torch.float64))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(h, h.shape[-1:], self.weight, self.bias, LN_EPS)


class Residual(nn.Module):
    """h <- branch(h) + alpha h."""

    def __init__(self, alpha: float, branch: nn.Module) -> None:
        super().__init__()
        self.alpha, self.branch = alpha, branch

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.branch(h) + self.alpha * h


class Activation(nn.Module):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name, self.fn = name, torch_activation(name)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fn(h)


class Attention(nn.Module):
    """Multi-head softmax self-attention (module docstring); ``record`` keeps the weights."""

    def __init__(self, w: dict[str, np.ndarray], *, heads: int, causal: bool, gain_control: bool) -> None:
        super().__init__()
        for key in ("W_Q", "W_K", "W_V", "b_V") + (("W_O",) if "W_O" in w else ()):
            setattr(self, key, nn.Parameter(torch.from_numpy(w[key])))
        self.has_out = "W_O" in w
        self.heads, self.causal, self.gain_control = heads, causal, gain_control
        self.record = False
        self.weights: torch.Tensor | None = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, t, d = h.shape
        dh = d // self.heads

        def split(m: torch.Tensor) -> torch.Tensor:
            return m.view(b, t, self.heads, dh).transpose(1, 2)

        qm = split(torch.matmul(h, self.W_Q) * (1.0 / math.sqrt(dh)))
        logits = torch.matmul(qm, split(torch.matmul(h, self.W_K)).transpose(-1, -2))
        if self.causal:
            future = torch.ones(t, t, dtype=torch.bool, device=h.device).triu(1)
            logits = logits.masked_fill(future, float("-inf"))
        att = torch.softmax(logits, dim=-1)
        if self.record:
            self.weights = att.detach()
        y = torch.matmul(att, split(torch.matmul(h, self.W_V))).transpose(1, 2).reshape(b, t, d) + self.b_V
        if self.gain_control:
            y = y - y.mean(dim=1, keepdim=True)
        return torch.matmul(y, self.W_O) if self.has_out else y


# ----------------------------------------------------------------------------- composition


@dataclass
class _Builder:
    rng: np.random.Generator
    values: dict[sp.Symbol, Any]
    spec: ModelSpec

    def normal(self, shape: tuple[int, ...], var: float) -> np.ndarray:
        return self.rng.standard_normal(shape) * math.sqrt(var)

    def number(self, expr: Any) -> float:
        return float(sp.sympify(expr).xreplace(self.values))

    def compose(self, node: layers.Layer, width: int, widen: bool = False) -> tuple[nn.Module, int]:
        """(torch module, output width) of a tree node reading tokens of ``width`` features."""
        s, d = self.spec, self.spec.width
        if isinstance(node, layers.Serial):
            mods = []
            for i, child in enumerate(node.layers):
                follows = any(isinstance(c, layers.Activation) for c in node.layers[i + 1:])
                mod, width = self.compose(child, width, follows)
                mods.append(mod)
            return nn.Sequential(*mods), width
        if isinstance(node, layers.Residual):
            branch, out = self.compose(node.branch, width)
            if out != width:
                raise ValueError("a residual branch must return the width it reads")
            return Residual(self.number(node.alpha), branch), width
        if isinstance(node, layers.LayerNorm):
            return Norm(width), width
        if isinstance(node, layers.Activation):
            return Activation(node.kernel.name), width
        if isinstance(node, layers.Dense):
            out = (s.mlp_width or d) if widen else d
            w = self.normal((width, out), self.number(node.weight) / width)
            return Dense(w, self.normal((out,), self.number(node.bias))), out
        if isinstance(node, layers.Attention):
            sigma_a = qk_variance(node, self.values)
            w = {"W_Q": self.normal((d, d), sigma_a / d), "W_K": self.normal((d, d), sigma_a / d),
                 "W_V": self.normal((d, d), self.number(node.value) / d), "b_V": self.normal((d,), self.number(node.bias))}
            if s.out_proj:
                w["W_O"] = self.normal((d, d), 1.0 / d)
            return Attention(w, heads=s.heads, causal=s.causal, gain_control=node.gain_control), d
        raise TypeError(f"no torch module for the layer {type(node).__name__}")


def block_tree(spec: ModelSpec) -> layers.Layer:
    """The theory's composition of one block (exact finite-T attention, causal if asked)."""
    return blocks.build(spec.arch.block, spec.arch.activation, finite_t=True, causal=spec.causal)


class LanguageModel(nn.Module):
    """Embedding, ``depth`` blocks composed from the theory's tree, final LayerNorm and head."""

    def __init__(self, spec: ModelSpec, seed: int) -> None:
        super().__init__()
        self.spec = spec
        d, t, v = spec.width, spec.seq_len, spec.vocab_size
        ss = np.random.SeedSequence(seed).spawn(1)[0]
        extra = np.random.default_rng(ss.spawn(1)[0])  # spawning leaves ss's own stream unchanged
        rng = np.random.default_rng(ss)
        g, z = rng.standard_normal(d), rng.standard_normal((t, d))  # the simulate_stack input draws
        q0, rho0, f = spec.q0, spec.rho0, spec.token_share
        self.shared = nn.Parameter(torch.from_numpy(math.sqrt(q0 * rho0) * g))
        self.position = nn.Parameter(torch.from_numpy(math.sqrt(q0 * (1.0 - rho0) * (1.0 - f)) * z))
        builder = _Builder(rng, {sym: val for sym, val in zip(PARAMS, spec.arch.params())}, spec)
        tree = block_tree(spec)
        self.blocks = nn.ModuleList([builder.compose(tree, d)[0] for _ in range(spec.depth)])
        self.token = nn.Parameter(torch.from_numpy(math.sqrt(q0 * (1.0 - rho0) * f) * extra.standard_normal((v, d))))
        self.final_norm = Norm(d)
        self.head = Dense(extra.standard_normal((d, v)) / math.sqrt(d), np.zeros(v))

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """x_t = shared + position_t + token_{tokens_t}, shape (B, T, d)."""
        return self.shared + self.position[: tokens.shape[1]] + self.token[tokens]

    def attentions(self) -> list[Attention]:
        return [m for m in self.modules() if isinstance(m, Attention)]

    def trace(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Hidden states (input and after each block) and attention weights (B, heads, T, T) per block."""
        atts = self.attentions()
        for a in atts:
            a.record = True
        hidden = [x]
        try:
            for blk in self.blocks:
                hidden.append(blk(hidden[-1]))
        finally:
            for a in atts:
                a.record = False
        return hidden, [a.weights for a in atts]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab)."""
        h = self.embed(tokens)
        for blk in self.blocks:
            h = blk(h)
        return self.head(self.final_norm(h))


def parameter_groups(model: LanguageModel, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on the weight matrices of blocks and head; none on biases,
    LayerNorm parameters and the embedding (BERT's convention)."""
    decay, plain = [], []
    for name, par in model.named_parameters():
        (decay if par.ndim == 2 and name.startswith(("blocks.", "head.")) else plain).append(par)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
