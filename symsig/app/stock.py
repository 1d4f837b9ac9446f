"""Stock Hugging Face initialisations as symsig layer trees, and their verdict (docs/modern_blocks.md §7).

The engine of ``symsig inspect`` (:mod:`symsig.app.inspect`, which documents the mapping).
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import validate
from ..core.architecture import late_window
from ..core.names import HF_ACTIVATIONS
from ..core.results import Result

#: Hugging Face model_type -> symsig family.
FAMILIES: dict[str, str] = {"bert": "post-ln", "roberta": "post-ln", "gpt2": "pre-ln", "llama": "llama",
                            "mistral": "llama", "qwen2": "llama", "qwen3": "llama-qk"}
#: Prescription grid: N x N points with N = 48 for closed-form kernels; for quadrature kernels
#: (SiLU, ...) N^2 L <= QUADRATURE_BUDGET (they cost ~0.2 ms per point and layer).
CLOSED_RESOLUTION, QUADRATURE_BUDGET = 48, 8192


@dataclass(frozen=True)
class Stock:
    """What symsig reads from a config: shapes, activation, norms, initialisation (see :mod:`symsig.app.inspect`)."""

    model_type: str
    family: str
    width: int
    depth: int
    seq_len: int
    heads: int
    head_dim: int
    mlp_width: int
    hidden_act: str
    activation: str
    eps: float
    initializer_range: float

    @property
    def causal(self) -> bool:
        return self.family != "post-ln"

    def variances(self) -> dict[str, float]:
        """sigma_a, beta, sigma_v2, sigma_o2, sigma_w2 in/out, q0, rho0 of the stock initialisation."""
        r2, d, m = self.initializer_range**2, self.width, self.mlp_width
        out_scale = 1.0 / (2 * self.depth) if self.family == "pre-ln" else 1.0
        sigma_a = d * r2
        beta = 1.0 / math.sqrt(math.log(self.seq_len)) if self.family == "llama-qk" else sigma_a / math.sqrt(math.log(self.seq_len))
        q0 = {"post-ln": 1.0, "pre-ln": 2 * r2}.get(self.family, r2)
        return {"sigma_a": sigma_a, "beta": beta, "sigma_v2": d * r2, "sigma_o2": self.heads * self.head_dim * r2 * out_scale,
                "sigma_w2_in": d * r2, "sigma_w2_out": m * r2 * out_scale, "alpha_sa": 1.0, "alpha_mlp": 1.0,
                "q0": q0, "rho0": 1 / 3 if self.family == "post-ln" else 0.0}


def read_config(path: Any) -> dict[str, Any]:
    """The JSON of ``path`` (a config.json, or a directory holding one)."""
    target = Path(path)
    if target.is_dir():
        target = target / "config.json"
    try:
        data = json.loads(target.read_text())
    except OSError:
        raise validate.InputError(f"cannot read a Hugging Face config at {str(path)!r}") from None
    except json.JSONDecodeError as exc:
        raise validate.InputError(f"{target} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise validate.InputError(f"{target} is not a JSON object")
    return data


def stock(config: dict[str, Any], seq_len: int | None = None) -> Stock:
    """The :class:`Stock` description of a config (``seq_len`` overrides its context length)."""
    kind = config.get("model_type")
    if kind not in FAMILIES:
        raise validate.InputError(f"model_type {kind!r} is not supported; choose from {', '.join(FAMILIES)}")

    def get(*keys: str, default: Any = None) -> Any:
        for key in keys:
            if config.get(key) is not None:
                return config[key]
        if default is None:
            raise validate.InputError(f"the config has no {keys[0]!r}")
        return default

    d = validate.integer("hidden_size", get("hidden_size", "n_embd"), 2)
    heads = validate.integer("num_attention_heads", get("num_attention_heads", "n_head"), 1)
    hidden_act = get("hidden_act", "activation_function", default="silu" if FAMILIES[kind].startswith("llama") else "gelu")
    if hidden_act not in HF_ACTIVATIONS:
        raise validate.InputError(f"activation {hidden_act!r} is not supported; choose from {', '.join(HF_ACTIVATIONS)}")
    t = seq_len if seq_len is not None else get("max_position_embeddings", "n_positions")
    return Stock(
        model_type=kind, family=FAMILIES[kind], width=d,
        depth=validate.integer("num_hidden_layers", get("num_hidden_layers", "n_layer"), 1),
        seq_len=validate.integer("seq_len", t, 2), heads=heads,
        head_dim=validate.integer("head_dim", get("head_dim", default=d // heads), 1),
        mlp_width=validate.integer("intermediate_size", get("intermediate_size", "n_inner", default=4 * d), 1),
        hidden_act=hidden_act, activation=HF_ACTIVATIONS[hidden_act],
        eps=validate.nonnegative("eps", get("rms_norm_eps", "layer_norm_epsilon", "layer_norm_eps", default=1e-12)),
        initializer_range=validate.positive("initializer_range", get("initializer_range", default=0.02)))


def tree_builder(s: Stock) -> Callable[..., Any]:
    """The builder (kernel, *, finite_t, causal) -> Layer of the stock block (see :mod:`symsig.app.inspect`);
    beta, alpha_SA, alpha_MLP stay symbols (the prescription scans them), the rest are numbers."""
    from ..theory import activations
    from ..theory.layers import (Activation, Attention, Dense, GatedMLP, LayerNorm, MultiHeadAttention,
                                 QKNormAttention, Residual, RMSNorm, Serial)
    from ..theory.symbols import alpha_mlp, alpha_sa, n

    v = {k: _rational(x) for k, x in s.variances().items()}

    def build(kernel: Any, *, finite_t: bool = False, causal: bool = False) -> Any:
        kw = dict(value=v["sigma_v2"], bias=0, finite_t=finite_t, n_states=n if causal else None)
        if s.family == "post-ln":
            attn = Serial(Attention(**kw), Dense(v["sigma_o2"], 0))
            ffn = Serial(Dense(v["sigma_w2_in"], 0), Activation(kernel), Dense(v["sigma_w2_out"], 0))
            return Serial(Residual(alpha_sa, attn), LayerNorm(), Residual(alpha_mlp, ffn), LayerNorm())
        norm = RMSNorm(eps=_rational(s.eps))
        if s.family == "pre-ln":
            core, ffn = Attention(**kw), Serial(Dense(v["sigma_w2_in"], 0), Activation(kernel), Dense(v["sigma_w2_out"], 0))
        else:
            core = QKNormAttention(head_width=s.head_dim, heads=s.heads, **kw) if s.family == "llama-qk" else \
                MultiHeadAttention(heads=s.heads, **kw)
            ffn = GatedMLP(activations.GatedKernel(kernel), v["sigma_w2_in"], v["sigma_w2_in"], v["sigma_w2_out"])
        return Serial(Residual(alpha_sa, Serial(norm, core, Dense(v["sigma_o2"], 0))), Residual(alpha_mlp, Serial(norm, ffn)))

    return build


def _rational(x: float) -> Any:
    import sympy as sp

    return sp.Rational(repr(float(x)))


@dataclass(frozen=True)
class Verdict(Result):
    """``symsig inspect``: the stock initialisation of a Hugging Face config, judged.

    ``config``: what was read; ``parameters``: its symsig values (beta, sigma's, alpha's, q0, rho0);
    ``rho``, ``q`` per layer 0..L and ``Y2`` per attention 1..L (exact finite T; decoders: at the key
    counts ``positions``, layer L after the final norm); ``zone`` of the stock point (``rank``, ``entropy``,
    ``trainable``) with ``thresholds``; ``prescription``: the safest (beta, alpha_SA) of symsig
    prescribe and the change it means for this model; ``seconds``: wall time of the verdict.
    """

    model_type: str
    block: str
    config: dict[str, Any]
    parameters: dict[str, Any]
    zone: str
    rho: list[float]
    q: list[float]
    Y2: list[float]
    positions: list[int]
    thresholds: dict[str, float]
    prescription: dict[str, Any]
    summary: str
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def window_keys(seq_len: int) -> int:
    """The key count at which the decoder verdict evaluates the causal map: the harmonic mean of the
    key counts n of the last quarter's queries, rounded. In the liquid phase (every stock model) E[Y2]
    is c / n to first order, so this point reproduces the window's mean IPR (docs/theory.md §6.4)."""
    window = late_window(seq_len)
    return round((window.stop - window.start) / sum(1 / k for k in range(window.start + 1, window.stop + 1)))


def trajectory(s: Stock, name: str) -> dict[str, Any]:
    """The exact finite-T trajectory of the registered stock block ``name`` (see :mod:`symsig.app.inspect`)."""
    import numpy as np

    from ..numerics import compile as numerics
    from ..theory.blocks import block_map

    v = s.variances()
    fn = numerics.block_np(block_map(name, s.activation, True, s.causal))
    pos = np.array([window_keys(s.seq_len) if s.causal else s.seq_len], dtype=float)
    params = (v["beta"], 0.0, 0.0, 0.0, 1.0, 1.0, s.seq_len)
    q, p = np.full(pos.shape, v["q0"]), np.full(pos.shape, v["q0"] * v["rho0"])
    qs, ps, y2s = [q], [p], []
    for _ in range(s.depth):
        q, p, y2 = numerics.eval_np(fn, q, p, *params, *((pos,) if s.causal else ()))
        qs, ps, y2s = qs + [q], ps + [p], y2s + [y2]
    if s.causal:  # ln_f / the final RMSNorm: q <- 1, p <- p / q (HF's last hidden state)
        qs[-1], ps[-1] = np.ones_like(q), p / q
    qa, pa = np.array(qs), np.array(ps)
    return {"q": qa.mean(axis=1).tolist(), "rho": (pa / qa).mean(axis=1).tolist(),
            "Y2": np.array(y2s).mean(axis=1).tolist(), "positions": [int(x) for x in pos] if s.causal else []}


def verdict(*, hf_config: Any, seq_len: int | None = None, resolution: int | None = None,
            zones: dict[str, Any] | str | None = None) -> Verdict:
    """Judge the stock initialisation of the Hugging Face config at ``hf_config`` (see :mod:`symsig.app.inspect`).

    ``seq_len`` overrides the config's context length; ``resolution`` is the prescription grid
    (default: :data:`CLOSED_RESOLUTION` per axis for closed-form kernels; for quadrature kernels, which
    are slower, the largest N with N^2 L <= :data:`QUADRATURE_BUDGET`, at least 8).
    """
    import numpy as np

    from ..analysis.prescribe import prescribe
    from ..analysis.zones import classify, definition_of, thresholds_from
    from ..core.names import ZONE_DESCRIPTIONS
    from ..theory.activations import CLOSED_FORMS
    from ..theory.blocks import register

    start = time.perf_counter()
    thr = thresholds_from(zones)
    seq = None if seq_len is None else validate.integer("seq_len", seq_len, 2)
    s = stock(read_config(hf_config), seq)
    name = register(f"hf-{s.model_type}", tree_builder(s))
    v = s.variances()
    traj = trajectory(s, name)
    rho_l, mean_y2 = traj["rho"][-1], float(np.mean(traj["Y2"]))
    zone = str(classify(np.array(rho_l), np.array(mean_y2), v["rho0"], thr).item())
    act = "gelu" if s.activation == "gelu_tanh" else s.activation
    auto = CLOSED_RESOLUTION if act in CLOSED_FORMS else max(8, math.isqrt(QUADRATURE_BUDGET // s.depth))
    res = validate.integer("resolution", auto if resolution is None else resolution, 8)
    rho_p = max(v["rho0"], 1e-3)
    pres = prescribe(depth=s.depth, block=name, activation=act, rho0=rho_p, resolution=res, thresholds=thr)
    notes = _notes(s, act, rho_p)
    prescription = _translate(s, pres)
    parameters = {k: v[k] for k in ("beta", "sigma_a", "sigma_v2", "sigma_o2", "sigma_w2_in", "sigma_w2_out",
                                    "alpha_sa", "alpha_mlp", "q0", "rho0")}
    if s.family == "llama-qk":
        parameters["qk_gain"] = 1.0
    config = {"width": s.width, "depth": s.depth, "seq_len": s.seq_len, "heads": s.heads, "head_dim": s.head_dim,
              "mlp_width": s.mlp_width, "hidden_act": s.hidden_act, "activation": s.activation,
              "norm": {"post-ln": "post-LN LayerNorm", "pre-ln": "pre-LN LayerNorm"}.get(s.family, "pre-RMSNorm"),
              "qk_norm": s.family == "llama-qk", "eps": s.eps, "initializer_range": s.initializer_range,
              "causal": s.causal}
    kept = 100 * (1 - rho_l) / (1 - v["rho0"])
    summary = (f"{s.model_type} (d = {s.width}, L = {s.depth}, T = {s.seq_len}, {config['norm']}"
               f"{', QK-norm' if config['qk_norm'] else ''}): the stock initialisation (initializer_range "
               f"{s.initializer_range:g}) has beta = {v['beta']:.3g} and lands in the {zone} zone "
               f"(judged by the {ZONE_DESCRIPTIONS[definition_of(thr)]}): after {s.depth} "
               f"layers the tokens keep {kept:.1f}% of their diversity (rho {v['rho0']:.3g} -> {rho_l:.3g}) and "
               f"the attention's mean IPR is {mean_y2:.3g}. {prescription['change']}")
    return Verdict(s.model_type, name, config, parameters, zone, traj["rho"], traj["q"], traj["Y2"], traj["positions"],
                   dict(thr), prescription, summary, notes, time.perf_counter() - start)


def _translate(s: Stock, pres: Any) -> dict[str, Any]:
    """The prescription and what it means for the model's own knobs."""
    out = {"beta": pres.beta, "alpha_sa": pres.alpha_sa, "rho_L": pres.rho_L, "Y2": pres.Y2,
           "margins": pres.margins, "summary": pres.summary}
    if pres.beta is None:
        return out | {"change": "symsig prescribe finds no trainable (beta, alpha_SA) for this depth."}
    sigma_a = pres.beta * math.sqrt(math.log(s.seq_len))
    if s.family == "llama-qk":
        out["qk_gain"] = math.sqrt(sigma_a)
        knob = f"initialise the q_norm and k_norm weights to g = {out['qk_gain']:.3g} (beta_qk = g^2/sqrt(log T))"
    else:
        out["qk_std"] = math.sqrt(sigma_a / s.width)
        knob = (f"initialise the query and key projections with std {out['qk_std']:.3g} instead of "
                f"{s.initializer_range:g} (sigma_a = beta sqrt(log T) = {sigma_a:.3g})")
    skip = (f"scale the skip path of every attention residual by alpha_SA = {pres.alpha_sa:.3g} (h <- alpha h + Attn"
            + ("; for post-LN equivalently divide the attention output projection by alpha)" if s.family == "post-ln" else ")"))
    out["change"] = f"Prescribed change (symsig prescribe, T -> infinity): beta = {pres.beta:.3g}: {knob}; {skip}."
    return out


def _notes(s: Stock, act: str, rho_p: float) -> list[str]:
    notes = ["d -> infinity theory: heads, GQA and dropout do not enter; RoPE is not modelled (it raises the "
             "key-dependent logit variance when rho > 0: docs/modern_blocks.md §7)."]
    if act != s.activation:
        notes.append(f"prescription with the {act} kernel in place of {s.activation} (they differ by at most 2.1e-4 of K_qq)")
    if rho_p != s.variances()["rho0"]:
        notes.append(f"prescription from rho0 = {rho_p:g}: at rho0 = 0 a liquid T -> infinity attention outputs "
                     "the zero vector and the alpha_SA = 0 row of the grid is degenerate")
    if s.causal:
        notes.append(f"decoder: causal map at n = {window_keys(s.seq_len)} keys, the harmonic mean of the last "
                     "quarter's key counts (docs/theory.md §6.4); the prescription uses the non-causal map")
    return notes


__all__ = ["FAMILIES", "Stock", "Verdict", "read_config", "stock", "tree_builder", "window_keys", "trajectory", "verdict"]
