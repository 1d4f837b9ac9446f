"""Cross-check the theory against stock HuggingFace BERT and GPT-2 at initialisation.

The models are built from their configs only (no hub access), re-initialised with
the paper's scalings (docs/theory.md §2) and fed token sequences with the
prescribed geometry through ``inputs_embeds``.  Per layer we measure
rho = mean_{t != s} cos(h_t, h_s), q = mean_t |h_t|^2 / d and the attention IPR
Y2 = mean_t sum_s A_ts^2, with standard errors over independent draws (seeds).

Re-initialisation (every weight matrix drawn in the ``simulate_stack`` layout
``h @ W + b``, W of shape (fan_in, fan_out), then copied into the model):

* W_Q, W_K: N(0, sigma_a / d), sigma_a = beta sqrt(log T), fan-in d for every
  head.  HF divides logits by sqrt(d_head), so the key-dependent logit variance
  is sigma_a^2 q (q - p) whatever the number of heads (docs/theory.md §2).
* W_V: N(0, sigma_v2 / d); attention output projection W_O: N(0, sigma_o2 / d)
  (the paper has none; sigma_o2 = 1 preserves the Gram matrix in expectation);
  MLP: W_1 N(0, sigma_w2 / d), W_2 N(0, sigma_w2 / m), m = intermediate size.
* Biases b_V, b_1, b_2: N(0, sigma_b2).  The biases the paper does not have
  (b_Q, b_K, b_O) are N(0, sigma_b2) with ``extra_biases`` (default) or zero.
  b_O enters the theory as a Dense bias; b_Q, b_K change the key-dependent logit
  variance only by a relative O(sigma_b2 / (sigma_a d)) (b_Q . W_K x_s), ignored.
* LayerNorm affine off (weight 1, bias 0) and eps = 0 (torch allows it).
* Embeddings bypassed: word, position and token-type tables are zero, and
  x_t = sqrt(q0) (sqrt(rho0) g + sqrt(1 - rho0) z_t) goes in as ``inputs_embeds``.
  BERT's embedding LayerNorm (affine off) stays: the encoder sees LN(x).
* Eval mode (dropout off), float64, eager attention (so attentions are returned).
* Residual strengths: stock models add the skip path with alpha = 1.  Other
  alpha > 0 are emulated *exactly* (eps = 0) by rescaling the branch outputs:
  post-LN, LN(alpha h + f) = LN(h + f / alpha); pre-LN, with c_j the product of
  the alphas of the first j residual additions, h_j / c_j obeys the stock update
  with branch f_j / c_j, and LN(h / c) = LN(h); measured q is scaled back by c^2.

Random draws per seed i (from ``SeedSequence(seed).spawn(seeds)[i]``) follow
``simulate_stack(out_proj=True)`` exactly (input g, z; then per layer W_Q, W_K,
W_V, b_V, W_O, W_1, b_1, W_2, b_2); b_Q, b_K, b_O come from a separate child
stream.  So with ``extra_biases=False``, sigma_o2 = 1 and the same activation the
HF model reproduces our own simulator weight for weight.

The theory of these blocks is :mod:`symsig.simulation.hf_theory`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import validate
from ..core.architecture import late_window
from ..core.names import MODELS
from ..core.results import OPTIONAL, Result
from ..core.stats import mean_err
from ..core.validate import InputError
from .forward import draw_attention, draw_mlp, make_input, normal, token_stats
from .forward import sigma_a as query_key_scale
from .hf_theory import sigma_o2, stock_block_map, theory, theory_block
from .network import check_size


# ----------------------------------------------------------------------------- models


def build_model(model: str, *, width: int, seq_len: int, depth: int, heads: int = 1,
                mlp_width: int | None = None) -> Any:
    """A stock ``BertModel`` (no pooler) or ``GPT2Model`` from its config: float64,
    eval mode, eager attention, LayerNorm eps = 0 (weights still to be drawn)."""
    import torch
    from transformers import BertConfig, BertModel, GPT2Config, GPT2Model

    m = width if mlp_width is None else mlp_width
    if model == "bert":
        cfg = BertConfig(hidden_size=width, num_hidden_layers=depth, num_attention_heads=heads,
                         intermediate_size=m, max_position_embeddings=seq_len, vocab_size=2,
                         pad_token_id=0, hidden_act="gelu", attn_implementation="eager")
        net = BertModel(cfg, add_pooling_layer=False)
    else:
        cfg = GPT2Config(n_embd=width, n_layer=depth, n_head=heads, n_inner=m, n_positions=seq_len,
                         vocab_size=2, bos_token_id=None,
                         eos_token_id=None, activation_function="gelu_new", attn_implementation="eager")
        net = GPT2Model(cfg)
    for mod in net.modules():
        if isinstance(mod, torch.nn.LayerNorm):
            mod.eps = 0.0  # the theory's LN; safe: no token has zero variance
    return net.to(torch.float64).eval()


def draw_layers(rng: np.random.Generator, extra: np.random.Generator, *, width: int, depth: int,
                mlp_width: int, sigma_a: float, sigma_w2: float, sigma_v2: float, sigma_b2: float,
                sigma_o2: float, extra_biases: bool) -> list[dict[str, np.ndarray]]:
    """Weights of every layer in the ``simulate_stack(out_proj=True)`` order and layout
    (:func:`symsig.simulation.forward.draw_attention` then ``draw_mlp``, float64), plus
    b_Q, b_K, b_O (N(0, sigma_b2) if ``extra_biases``, else zero) from ``extra``."""
    bvar = sigma_b2 if extra_biases else 0.0
    layers = []
    for _ in range(depth):
        w = draw_attention(rng, width, sigma_a=sigma_a, value=sigma_v2, bias=sigma_b2, out_proj=sigma_o2)
        w |= draw_mlp(rng, width, mlp_width, weight=sigma_w2, bias=sigma_b2)
        w |= {k: normal(extra, width, bvar) for k in ("b_Q", "b_K", "b_O")}
        layers.append(w)
    return layers


def residual_scales(model: str, depth: int, alpha_sa: float, alpha_mlp: float) -> tuple[list[float], list[float]]:
    """(branch scale of each residual addition, stream scale c of each hidden state).

    BERT: branches scaled by 1/alpha, hidden states unscaled.  GPT-2: branch j scaled
    by 1/c_j, c_j = product of the first j alphas; hidden state l is h / c_{2l}
    (the last one is after ln_f, scale 1).
    """
    alphas = [alpha_sa, alpha_mlp] * depth
    if model == "bert":
        return [1.0 / a for a in alphas], [1.0] * (depth + 1)
    c = np.cumprod(alphas)
    return list(1.0 / c), [1.0] + [float(c[2 * l - 1]) for l in range(1, depth)] + [1.0]


def load_weights(net: Any, model: str, layers: list[dict[str, np.ndarray]], branch_scale: list[float]) -> None:
    """Copy the drawn weights into the stock model; zero embeddings, LN affine off."""
    import torch

    def put(param: Any, value: np.ndarray) -> None:
        param.data.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, torch.nn.LayerNorm):
                mod.weight.fill_(1.0)
                mod.bias.zero_()
            elif isinstance(mod, torch.nn.Embedding):
                mod.weight.zero_()
        if model == "bert":  # nn.Linear stores (out, in): transpose
            for lay, w, (s_a, s_m) in zip(net.encoder.layer, layers, zip(branch_scale[::2], branch_scale[1::2])):
                att = lay.attention
                for lin, wk, bk in ((att.self.query, "W_Q", "b_Q"), (att.self.key, "W_K", "b_K"),
                                    (att.self.value, "W_V", "b_V"), (lay.intermediate.dense, "W_1", "b_1")):
                    put(lin.weight, w[wk].T)
                    put(lin.bias, w[bk])
                put(att.output.dense.weight, w["W_O"].T * s_a)
                put(att.output.dense.bias, w["b_O"] * s_a)
                put(lay.output.dense.weight, w["W_2"].T * s_m)
                put(lay.output.dense.bias, w["b_2"] * s_m)
        else:  # Conv1D stores (in, out)
            for blk, w, (s_a, s_m) in zip(net.h, layers, zip(branch_scale[::2], branch_scale[1::2])):
                put(blk.attn.c_attn.weight, np.concatenate([w["W_Q"], w["W_K"], w["W_V"]], axis=1))
                put(blk.attn.c_attn.bias, np.concatenate([w["b_Q"], w["b_K"], w["b_V"]]))
                put(blk.attn.c_proj.weight, w["W_O"] * s_a)
                put(blk.attn.c_proj.bias, w["b_O"] * s_a)
                put(blk.mlp.c_fc.weight, w["W_1"])
                put(blk.mlp.c_fc.bias, w["b_1"])
                put(blk.mlp.c_proj.weight, w["W_2"] * s_m)
                put(blk.mlp.c_proj.bias, w["b_2"] * s_m)


def forward(net: Any, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Hidden states (L + 1 arrays (T, d)) and attentions (L arrays (heads, T, T))."""
    import torch

    with torch.no_grad():
        out = net(inputs_embeds=torch.from_numpy(x)[None], output_hidden_states=True,
                  output_attentions=True)
    return [h[0].numpy() for h in out.hidden_states], [a[0].numpy() for a in out.attentions]


def measure(hidden: list[np.ndarray], attns: list[np.ndarray], window: slice,
            stream_scale: list[float]) -> dict[str, np.ndarray]:
    """q, p, rho of the tokens in ``window`` per hidden state; Y2 of the window's queries."""
    stats = [token_stats(h[window] * c) for h, c in zip(hidden, stream_scale)]
    y2 = [np.einsum("hts,hts->ht", a[:, window], a[:, window]).mean() for a in attns]
    return {"q": np.array([s[0] for s in stats]), "p": np.array([s[1] for s in stats]),
            "rho": np.array([s[2] for s in stats]), "Y2": np.array(y2)}


# ----------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class CrossCheck(Result):
    """Stock model vs theory, per layer l = 0..L (``Y2*``: l = 1..L).

    ``rho``/``q``/``Y2`` are seed means with standard errors ``*_err`` =
    std(ddof=1)/sqrt(seeds); ``theory_*`` the composed layer maps;
    ``max_abs_error`` = max over l >= 1 of |rho - theory_rho|, ``max_z`` the
    largest |rho - theory_rho| / rho_err.  ``window`` = [first, last] 0-based
    token positions measured; ``theory_positions`` = key counts n the theory
    averages over (GPT-2). ``theory_width_*`` (opt-in, one head): the theory with the
    attention at first order in 1/d at the model's width (absent from the JSON otherwise).
    ``theory_cross_*`` (opt-in, GPT-2): the decoder theory with the cross-position Gram;
    ``theory_cross_width_*``: that plus the width terms (both opt-ins given). ``theory_scatter_*``
    (opt-in): the finite-width theory with the networks' scatter (GPT-2: plus its drag at the window's mean
    key count), ``theory_scatter_rho_sd`` one network's standard deviation of rho (compare
    ``rho_err * sqrt(seeds)``); ``theory_cross_scatter_*``: the cross-position theory with the width terms
    and the drag (all three opt-ins).
    """

    model: str
    rho: list[float]
    rho_err: list[float]
    theory_rho: list[float]
    max_abs_error: float
    max_z: float
    q: list[float]
    q_err: list[float]
    theory_q: list[float]
    Y2: list[float]
    Y2_err: list[float]
    theory_Y2: list[float]
    window: list[int]
    theory_positions: list[int]
    settings: dict[str, Any] = field(default_factory=dict)
    theory_width_rho: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_width_q: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_width_Y2: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_cross_rho: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_cross_q: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_cross_Y2: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_cross_width_rho: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_cross_width_q: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_cross_width_Y2: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_scatter_rho: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_scatter_q: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_scatter_Y2: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_scatter_rho_sd: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_cross_scatter_rho: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_cross_scatter_q: list[float] | None = field(default=None, metadata=OPTIONAL)
    theory_cross_scatter_Y2: list[float] | None = field(default=None, metadata=OPTIONAL)
    _per_layer = ("rho", "rho_err", "theory_rho", "q", "q_err", "theory_q", "Y2", "Y2_err", "theory_Y2")


def run_model(net: Any, model: str, *, beta: float, sigma_w2: float, sigma_v2: float, sigma_b2: float,
              sigma_o2: float, alpha_sa: float, alpha_mlp: float, rho0: float, q0: float, seeds: int,
              seed: int, extra_biases: bool, window: slice) -> dict[str, np.ndarray]:
    """Re-initialise ``net`` (from :func:`build_model`) once per seed, run one input
    sequence through it and return the per-seed statistics of :func:`measure`
    stacked as arrays (seeds, ...).  Arguments are assumed validated."""
    import torch

    torch.set_num_threads(1)
    cfg = net.config
    width, depth, seq_len = cfg.hidden_size, cfg.num_hidden_layers, cfg.max_position_embeddings
    m = cfg.intermediate_size if model == "bert" else cfg.n_inner
    sigma_a = query_key_scale(beta, seq_len)
    branch_scale, stream_scale = residual_scales(model, depth, alpha_sa, alpha_mlp)
    runs = []
    for ss in np.random.SeedSequence(seed).spawn(seeds):
        extra = np.random.default_rng(ss.spawn(1)[0])  # spawning does not disturb ss's own stream
        rng = np.random.default_rng(ss)
        x = make_input(rng, seq_len, width, rho0, q0)
        layers = draw_layers(rng, extra, width=width, depth=depth, mlp_width=m, sigma_a=sigma_a,
                             sigma_w2=sigma_w2, sigma_v2=sigma_v2, sigma_b2=sigma_b2, sigma_o2=sigma_o2,
                             extra_biases=extra_biases)
        load_weights(net, model, layers, branch_scale)
        runs.append(measure(*forward(net, x), window, stream_scale))
    return {k: np.stack([r[k] for r in runs]) for k in runs[0]}


def window_positions(first: int, last: int, k: int | None = None) -> np.ndarray:
    """Key counts n of the window [first, last] the theory averages: every one (``k`` None, the
    exact window mean; Y2 ~ 1/n is convex, so 3 evenly spaced n overstate the mean of Y2 by
    about 0.7% at T = 256), else k evenly spaced (the centre when k = 1)."""
    if k is None:
        return np.arange(first, last + 1)
    grid = np.array([(first + last) / 2]) if k == 1 else np.linspace(first, last, k)
    return np.unique(np.round(grid)).astype(int)


def crosscheck(*, model: str = "bert", width: int, seq_len: int, depth: int, beta: float,
               sigma_w2: float = 0.2, sigma_v2: float = 0.2, sigma_b2: float = 4e-4,
               sigma_o2: float = 1.0, alpha_sa: float = 1.0, alpha_mlp: float = 1.0,
               heads: int = 1, mlp_width: int | None = None, rho0: float = 0.3, q0: float = 1.0,
               seeds: int = 4, seed: int = 0, extra_biases: bool = True,
               theory_positions: int | None = None, width_theory: bool = False,
               cross_positions: bool = False, scatter: bool = False) -> CrossCheck:
    """Run ``seeds`` re-initialised stock models and the matching theory (module docstring).

    GPT-2 measures the last quarter of the tokens (:func:`~symsig.core.architecture.late_window`) and the
    theory averages every key count of that window (``theory_positions`` k: k evenly spaced ones).
    ``cross_positions`` (GPT-2): also the decoder theory with the cross-position Gram (theory_cross_*;
    :mod:`symsig.analysis.positions`), and with ``width_theory`` its first-order sum with the width
    terms (theory_cross_width_* = theory_cross_* + theory_width_* - theory_*). ``scatter`` (one head):
    the finite-width theory with each network's scatter of (q, p) carried beside the mean
    (theory_scatter_*; :mod:`symsig.analysis.scatter`), with ``theory_scatter_rho_sd`` one network's
    standard deviation of rho (the seeds' spread is ``rho_err * sqrt(seeds)``); GPT-2: the drag is taken at
    the window's mean key count and added to the width theory, and with ``cross_positions`` and
    ``width_theory`` also to their sum (theory_cross_scatter_*).
    """
    model = validate.choice("model", model, MODELS)
    width = validate.integer("width", width, 2)
    seq_len = validate.integer("seq_len", seq_len, 4)
    depth = validate.integer("depth", depth, 1)
    heads = validate.integer("heads", heads, 1)
    if width % heads:
        raise InputError(f"heads ({heads}) must divide width ({width})")
    m = width if mlp_width is None else validate.integer("mlp_width", mlp_width, 1)
    check_size(width, seq_len, heads, m)
    beta = validate.positive("beta", beta)
    sw2, sv2, sb2, so2 = (validate.nonnegative(k, v) for k, v in (
        ("sigma_w2", sigma_w2), ("sigma_v2", sigma_v2), ("sigma_b2", sigma_b2), ("sigma_o2", sigma_o2)))
    a_sa, a_mlp = validate.positive("alpha_sa", alpha_sa), validate.positive("alpha_mlp", alpha_mlp)
    rho0 = validate.correlation("rho0", rho0)
    if rho0 < 0:
        raise InputError(f"rho0 must lie in [0, 1], got {rho0}")
    q0 = validate.positive("q0", q0)
    seeds = validate.integer("seeds", seeds, 1)
    seed = validate.integer("seed", seed, 0)
    k_pos = None if theory_positions is None else validate.integer("theory_positions", theory_positions, 1)
    if width_theory and heads != 1:
        raise InputError("width theory: the finite-width correction is derived for one head (give heads = 1)")
    if width_theory:
        stock_block_map(model, extra_biases, True)  # composed (and checked) before any work
    if scatter and heads != 1:
        raise InputError("scatter: the networks' scatter is carried with one head (give heads = 1)")
    if cross_positions and model != "gpt2":
        raise InputError("cross_positions: the cross-position theory is for the decoder (model gpt2)")

    window = slice(0, seq_len) if model == "bert" else late_window(seq_len)
    positions = window_positions(window.start + 1, seq_len, k_pos)
    net = build_model(model, width=width, seq_len=seq_len, depth=depth, heads=heads, mlp_width=m)
    samples = run_model(net, model, beta=beta, sigma_w2=sw2, sigma_v2=sv2, sigma_b2=sb2, sigma_o2=so2,
                        alpha_sa=a_sa, alpha_mlp=a_mlp, rho0=rho0, q0=q0, seeds=seeds, seed=seed,
                        extra_biases=extra_biases, window=window)
    stats = {k: mean_err(samples[k]) for k in ("q", "rho", "Y2")}
    th = theory(model=model, seq_len=seq_len, depth=depth, beta=beta, sigma_w2=sw2, sigma_v2=sv2,
                sigma_b2=sb2, sigma_o2=so2, alpha_sa=a_sa, alpha_mlp=a_mlp, rho0=rho0, q0=q0,
                extra_biases=extra_biases, positions=positions if model == "gpt2" else None)
    th_w = theory(model=model, seq_len=seq_len, depth=depth, beta=beta, sigma_w2=sw2, sigma_v2=sv2, sigma_b2=sb2,
                  sigma_o2=so2, alpha_sa=a_sa, alpha_mlp=a_mlp, rho0=rho0, q0=q0, extra_biases=extra_biases,
                  positions=positions if model == "gpt2" else None, width=width) if width_theory else {}
    th_x = theory(model=model, seq_len=seq_len, depth=depth, beta=beta, sigma_w2=sw2, sigma_v2=sv2, sigma_b2=sb2,
                  sigma_o2=so2, alpha_sa=a_sa, alpha_mlp=a_mlp, rho0=rho0, q0=q0, extra_biases=extra_biases,
                  cross_positions=True) if cross_positions else {}
    th_s = theory(model=model, seq_len=seq_len, depth=depth, beta=beta, sigma_w2=sw2, sigma_v2=sv2, sigma_b2=sb2,
                  sigma_o2=so2, alpha_sa=a_sa, alpha_mlp=a_mlp, rho0=rho0, q0=q0, extra_biases=extra_biases,
                  positions=positions if model == "gpt2" else None, width=width, scatter=True,
                  hidden_width=m) if scatter else {}
    # first order in both corrections: their effects add (docs/finite_width.md §9.3)
    th_xw = {k: th_x[k] + th_w[k] - th[k] for k in th_x} if th_x and th_w else {}
    # ... and with the networks' scatter: the drag adds to the cross-position theory with width terms
    th_xs = ({"q": th_xw["q"], "rho": th_xw["rho"] + th_s["rho_drag"], "Y2": th_xw["Y2"] + th_s["Y2_drag"]}
             if th_xw and th_s else {})
    diff = np.abs(stats["rho"][0][1:] - th["rho"][1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / stats["rho"][1][1:]
    settings = {"width": width, "seq_len": seq_len, "depth": depth, "beta": beta, "sigma_w2": sw2,
                "sigma_v2": sv2, "sigma_b2": sb2, "sigma_o2": so2, "alpha_sa": a_sa,
                "alpha_mlp": a_mlp, "heads": heads, "mlp_width": m, "rho0": rho0, "q0": q0,
                "seeds": seeds, "seed": seed, "extra_biases": extra_biases}
    return CrossCheck(
        model=model, rho=list(stats["rho"][0]), rho_err=list(stats["rho"][1]), theory_rho=list(th["rho"]),
        max_abs_error=float(diff.max()), max_z=float(np.max(z)) if seeds > 1 else math.nan,
        q=list(stats["q"][0]), q_err=list(stats["q"][1]), theory_q=list(th["q"]),
        Y2=list(stats["Y2"][0]), Y2_err=list(stats["Y2"][1]), theory_Y2=list(th["Y2"]),
        window=[window.start, window.stop - 1],
        theory_positions=[int(v) for v in positions] if model == "gpt2" else [seq_len],
        settings=settings, **{f"theory_{name}_{k}": list(v) for name, t in (("width", th_w), ("cross", th_x), ("cross_width", th_xw),
                                                                      ("scatter", th_s),
                                                                      ("cross_scatter", th_xs))
                              for k, v in t.items() if k in ("rho", "q", "Y2", "rho_sd")})


def plot(result: CrossCheck, path: str | os.PathLike[str]) -> str:
    """Per-layer rho of the model (error bars: 1 standard error) and of the theory,
    with the attention IPR Y2 in a second panel; saved to ``path`` (format from suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result.settings
    layers = np.arange(len(result.rho))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
    ax1.errorbar(layers, result.rho, yerr=result.rho_err, fmt="o", ms=4, capsize=2, label=f"HF {result.model}")
    ax1.plot(layers, result.theory_rho, "-", label="theory (finite T)")
    extra = [(name, getattr(result, f"theory_{key}_rho"), getattr(result, f"theory_{key}_Y2"))
             for key, name in (("width", "finite T, d"), ("cross", "cross-position"), ("cross_width", "cross-position, d"),
                               ("scatter", "d, scatter"), ("cross_scatter", "cross-position, d, scatter"))
             if getattr(result, f"theory_{key}_rho") is not None]
    for name, rho_th, _ in extra:
        ax1.plot(layers, rho_th, "--", label=f"theory ({name})")
    ax1.set(xlabel="layer", ylabel="rho (mean cosine)")
    ax2.errorbar(layers[1:], result.Y2, yerr=result.Y2_err, fmt="o", ms=4, capsize=2, label="model")
    ax2.plot(layers[1:], result.theory_Y2, "-", label="theory")
    for name, _, y2_th in extra:
        ax2.plot(layers[1:], y2_th, "--", label=name)
    ax2.set(xlabel="layer", ylabel="attention IPR Y2")
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
    fig.suptitle(f"{result.model}: d={s['width']}, T={s['seq_len']}, beta={s['beta']:g}, "
                 f"heads={s['heads']}, seeds={s['seeds']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


__all__ = ["MODELS", "CrossCheck", "crosscheck", "theory", "theory_block", "build_model", "draw_layers", "load_weights", "residual_scales", "window_positions",
           "forward", "measure", "run_model", "plot", "sigma_o2"]
