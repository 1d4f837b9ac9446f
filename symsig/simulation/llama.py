"""Cross-check the llama blocks against stock Hugging Face LLaMA and Qwen3 (LLaMA with QK-norm).

Like :mod:`symsig.simulation.hf` for BERT and GPT-2: the model is built from its config only
(no hub access), every weight is re-drawn with the theory's scalings in the
``simulate_stack(block="llama" / "llama-qk", out_proj=True)`` order and layout, and token
sequences with the prescribed geometry go in through ``inputs_embeds``.  Per layer we measure
rho, q and the attention IPR Y2 over the late window (the last quarter of the tokens: both
models are decoders) and compare with the llama block maps (docs/modern_blocks.md §5).

Re-initialisation (``h @ W``, W of shape (fan_in, fan_out), then transposed into nn.Linear):

* W_Q, W_K: N(0, sigma_a / d), sigma_a = beta sqrt(log T) (HF divides the logits by sqrt(d_head));
  for Qwen3 their scale drops out: q_norm and k_norm (RMSNorm over each head) get the weight
  g = (beta sqrt(log T))^(1/2), so that beta is the QK-norm's beta_qk = g^2 / sqrt(log T).
* W_V: N(0, sigma_v2 / d); o_proj W_O: N(0, sigma_o2 / d) (sigma_o2 = 1 keeps the Gram matrix).
* Gated MLP: gate_proj, up_proj N(0, sigma_w2 / d), down_proj N(0, sigma_w2 / m). No biases.
* RMSNorm weights 1 and eps = 0; float64, eval mode, eager attention.
* RoPE is switched off (inverse frequencies zeroed: cos = 1, sin = 0) unless ``rope=True``: the
  theory has no positions (docs/modern_blocks.md §7 measures what RoPE changes).
* Residual strengths alpha != 1 are emulated exactly as for GPT-2 (:func:`hf.residual_scales`).

Precision: HF computes RMSNorm and the softmax in float32 even for float64 models, so the
model equals ``simulate_stack`` weight for weight to about 1e-6 relative, not to rounding.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core import validate
from ..core.architecture import late_window
from ..core.names import HF_ACTIVATIONS, LLAMA_MODELS
from ..core.stats import mean_err
from ..core.validate import InputError
from ..numerics import compile as numerics
from ..theory.blocks import block_map
from .forward import draw_attention, draw_gated_mlp, make_input
from .forward import sigma_a as query_key_scale
from .hf import CrossCheck, forward, measure, residual_scales, window_positions

#: The theory block of each model.
BLOCK = {"llama": "llama", "qwen3": "llama-qk"}


def qk_gain(beta: float, seq_len: int) -> float:
    """The q_norm/k_norm weight g that realises beta_qk = g^2 / sqrt(log T)."""
    return math.sqrt(beta * math.sqrt(math.log(seq_len)))


def build_model(model: str, *, width: int, seq_len: int, depth: int, heads: int = 1, mlp_width: int | None = None,
                activation: str = "silu", rope: bool = False) -> Any:
    """A stock ``LlamaModel`` or ``Qwen3Model`` from its config: float64, eval, eager attention,
    RMSNorm eps = 0, no biases, d_head = width / heads; RoPE off unless ``rope`` (weights still to be drawn)."""
    import torch
    from transformers import LlamaConfig, LlamaModel, Qwen3Config, Qwen3Model

    kw = dict(hidden_size=width, num_hidden_layers=depth, num_attention_heads=heads, num_key_value_heads=heads,
              head_dim=width // heads, intermediate_size=width if mlp_width is None else mlp_width,
              max_position_embeddings=seq_len, vocab_size=2, hidden_act=activation, rms_norm_eps=0.0,
              attention_bias=False, pad_token_id=None, bos_token_id=None, eos_token_id=None,
              attn_implementation="eager")
    net = LlamaModel(LlamaConfig(mlp_bias=False, **kw)) if model == "llama" else Qwen3Model(Qwen3Config(**kw))
    if not rope:
        with torch.no_grad():
            for buf in ("inv_freq", "original_inv_freq"):
                getattr(net.rotary_emb, buf).zero_()
    return net.to(torch.float64).eval()


def draw_layers(rng: np.random.Generator, *, width: int, depth: int, mlp_width: int, sigma_a: float,
                sigma_w2: float, sigma_v2: float, sigma_o2: float) -> list[dict[str, np.ndarray]]:
    """Weights of every layer in the ``simulate_stack(block="llama", out_proj=True)`` order:
    W_Q, W_K, W_V, b_V (= 0, drawn and unused: no bias), W_O, then W_g, W_u, W_d."""
    layers = []
    for _ in range(depth):
        w = draw_attention(rng, width, sigma_a=sigma_a, value=sigma_v2, bias=0.0, out_proj=sigma_o2)
        w |= draw_gated_mlp(rng, width, mlp_width, gate=sigma_w2, up=sigma_w2, down=sigma_w2, bias=None)
        layers.append(w)
    return layers


def load_weights(net: Any, layers: list[dict[str, np.ndarray]], branch_scale: list[float], gain: float) -> None:
    """Copy the drawn weights into the stock model (nn.Linear stores (out, in)); RMSNorm weights 1,
    q_norm/k_norm weights ``gain``; the o_proj/down_proj of residual j scaled by branch_scale[j]."""
    import torch

    def put(param: Any, value: np.ndarray) -> None:
        param.data.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    with torch.no_grad():
        for name, mod in net.named_modules():
            if type(mod).__name__.endswith("RMSNorm"):
                mod.weight.fill_(gain if name.endswith(("q_norm", "k_norm")) else 1.0)
        for lay, w, s_a, s_m in zip(net.layers, layers, branch_scale[::2], branch_scale[1::2]):
            att, ffn = lay.self_attn, lay.mlp
            for lin, key in ((att.q_proj, "W_Q"), (att.k_proj, "W_K"), (att.v_proj, "W_V"),
                             (ffn.gate_proj, "W_g"), (ffn.up_proj, "W_u")):
                put(lin.weight, w[key].T)
            put(att.o_proj.weight, w["W_O"].T * s_a)
            put(ffn.down_proj.weight, w["W_d"].T * s_m)


def run(net: Any, x: np.ndarray, causal: bool = True) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Hidden states (L + 1 arrays (T, d), the last after the final norm) and attentions (L arrays
    (heads, T, T)); ``causal=False`` passes an all-zero 4D mask, which HF adds to the logits as is."""
    import torch

    if causal:
        return forward(net, x)
    mask = torch.zeros((1, 1, x.shape[0], x.shape[0]), dtype=torch.float64)
    with torch.no_grad():
        out = net(inputs_embeds=torch.from_numpy(x)[None], attention_mask=mask, output_hidden_states=True,
                  output_attentions=True)
    return [h[0].numpy() for h in out.hidden_states], [a[0].numpy() for a in out.attentions]


def run_model(net: Any, model: str, *, beta: float, sigma_w2: float, sigma_v2: float, sigma_o2: float,
              alpha_sa: float, alpha_mlp: float, rho0: float, q0: float, seeds: int, seed: int,
              window: slice, causal: bool = True) -> dict[str, np.ndarray]:
    """Re-initialise ``net`` once per seed (draws as ``simulate_stack``), run one input sequence
    (:func:`run`) and return the per-seed statistics of :func:`hf.measure` as (seeds, ...) arrays."""
    import torch

    torch.set_num_threads(1)
    cfg = net.config
    width, depth, seq_len, m = cfg.hidden_size, cfg.num_hidden_layers, cfg.max_position_embeddings, cfg.intermediate_size
    sig_a, gain = query_key_scale(beta, seq_len), qk_gain(beta, seq_len)
    branch_scale, stream_scale = residual_scales(model, depth, alpha_sa, alpha_mlp)
    runs = []
    for ss in np.random.SeedSequence(seed).spawn(seeds):
        rng = np.random.default_rng(ss)
        x = make_input(rng, seq_len, width, rho0, q0)
        layers = draw_layers(rng, width=width, depth=depth, mlp_width=m, sigma_a=sig_a, sigma_w2=sigma_w2,
                             sigma_v2=sigma_v2, sigma_o2=sigma_o2)
        load_weights(net, layers, branch_scale, gain)
        runs.append(measure(*run(net, x, causal), window, stream_scale))
    return {k: np.stack([r[k] for r in runs]) for k in runs[0]}


def theory(*, model: str, activation: str, seq_len: int, depth: int, beta: float, sigma_w2: float,
           sigma_v2: float, sigma_o2: float = 1.0, alpha_sa: float = 1.0, alpha_mlp: float = 1.0,
           rho0: float = 0.3, q0: float = 1.0, positions: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The llama block map (exact finite T) iterated from (q0, rho0 q0), then the final RMSNorm
    (q <- 1, p <- p / q). Causal when ``positions`` (key counts n) are given: iterated per n and
    q, p, rho, Y2 averaged over them (the approximations of docs/theory.md §6.4).

    The Gram-preserving W_O (sigma_o2) multiplies the attention branch: sigma_v2 enters as sigma_v2 sigma_o2.
    """
    causal = positions is not None
    fn = numerics.block_np(block_map(BLOCK[model], activation, True, causal))
    ns = np.asarray([seq_len] if positions is None else positions, dtype=float)
    params = (beta, sigma_w2, sigma_v2 * sigma_o2, 0.0, alpha_sa, alpha_mlp, seq_len)
    qs = np.full_like(ns, q0)
    ps = qs * rho0
    traj_q, traj_p, y2s = [qs], [ps], []
    for _ in range(depth):
        qs, ps, y2 = numerics.eval_np(fn, qs, ps, *params, *((ns,) if causal else ()))
        traj_q.append(qs)
        traj_p.append(ps)
        y2s.append(y2)
    traj_q[-1], traj_p[-1] = np.ones_like(qs), traj_p[-1] / traj_q[-1]  # the final norm
    qa, pa = np.array(traj_q), np.array(traj_p)
    return {"q": qa.mean(axis=1), "p": pa.mean(axis=1), "rho": (pa / qa).mean(axis=1), "Y2": np.array(y2s).mean(axis=1)}


def crosscheck(*, model: str = "llama", width: int, seq_len: int, depth: int, beta: float,
               activation: str = "silu", sigma_w2: float = 1.0, sigma_v2: float = 1.0, sigma_o2: float = 1.0,
               alpha_sa: float = 1.0, alpha_mlp: float = 1.0, heads: int = 1, mlp_width: int | None = None,
               rho0: float = 0.3, q0: float = 1.0, seeds: int = 4, seed: int = 0,
               theory_positions: int | None = None, rope: bool = False, causal: bool = True) -> CrossCheck:
    """Run ``seeds`` re-initialised stock LLaMA (``llama``) or Qwen3 (``qwen3``, QK-norm) models and the
    matching llama / llama-qk theory (module docstring). ``activation`` is HF's ``hidden_act``.

    ``causal=False`` runs the decoder bidirectionally (an all-zero attention mask) and measures all
    tokens against the non-causal map; causal runs measure the last quarter of the tokens.
    """
    model = validate.choice("model", model, LLAMA_MODELS)
    act = HF_ACTIVATIONS[validate.choice("activation", activation, tuple(HF_ACTIVATIONS))]
    width, seq_len = validate.integer("width", width, 2), validate.integer("seq_len", seq_len, 4)
    depth, heads = validate.integer("depth", depth, 1), validate.integer("heads", heads, 1)
    if width % heads:
        raise InputError(f"heads ({heads}) must divide width ({width})")
    m = width if mlp_width is None else validate.integer("mlp_width", mlp_width, 1)
    beta = validate.positive("beta", beta)
    sw2, sv2, so2 = (validate.nonnegative(k, v) for k, v in (("sigma_w2", sigma_w2), ("sigma_v2", sigma_v2),
                                                            ("sigma_o2", sigma_o2)))
    a_sa, a_mlp = validate.positive("alpha_sa", alpha_sa), validate.positive("alpha_mlp", alpha_mlp)
    rho0 = validate.interval("rho0", rho0, 0, 1)
    q0 = validate.positive("q0", q0)
    seeds, seed = validate.integer("seeds", seeds, 1), validate.integer("seed", seed, 0)
    k_pos = None if theory_positions is None else validate.integer("theory_positions", theory_positions, 1)

    window = late_window(seq_len) if causal else slice(0, seq_len)
    positions = window_positions(window.start + 1, seq_len, k_pos) if causal else None
    net = build_model(model, width=width, seq_len=seq_len, depth=depth, heads=heads, mlp_width=m,
                      activation=activation, rope=rope)
    samples = run_model(net, model, beta=beta, sigma_w2=sw2, sigma_v2=sv2, sigma_o2=so2, alpha_sa=a_sa,
                        alpha_mlp=a_mlp, rho0=rho0, q0=q0, seeds=seeds, seed=seed, window=window, causal=causal)
    stats = {k: mean_err(samples[k]) for k in ("q", "rho", "Y2")}
    # as in the paper, the theory starts from the measured input geometry (the drawn tokens' rho_0
    # and q_0 fluctuate around the requested ones by O(1/sqrt(d)))
    th = theory(model=model, activation=act, seq_len=seq_len, depth=depth, beta=beta, sigma_w2=sw2, sigma_v2=sv2,
                sigma_o2=so2, alpha_sa=a_sa, alpha_mlp=a_mlp, rho0=float(stats["rho"][0][0]),
                q0=float(stats["q"][0][0]), positions=positions)
    diff = np.abs(stats["rho"][0][1:] - th["rho"][1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / stats["rho"][1][1:]
    settings = {"width": width, "seq_len": seq_len, "depth": depth, "beta": beta, "activation": activation,
                "sigma_w2": sw2, "sigma_v2": sv2, "sigma_o2": so2, "alpha_sa": a_sa, "alpha_mlp": a_mlp,
                "heads": heads, "mlp_width": m, "rho0": rho0, "q0": q0, "seeds": seeds, "seed": seed, "rope": rope,
                "causal": causal}
    return CrossCheck(
        model=model, rho=list(stats["rho"][0]), rho_err=list(stats["rho"][1]), theory_rho=list(th["rho"]),
        max_abs_error=float(diff.max()), max_z=float(np.max(z)) if seeds > 1 else math.nan,
        q=list(stats["q"][0]), q_err=list(stats["q"][1]), theory_q=list(th["q"]),
        Y2=list(stats["Y2"][0]), Y2_err=list(stats["Y2"][1]), theory_Y2=list(th["Y2"]),
        window=[window.start, window.stop - 1], theory_positions=[] if positions is None else [int(v) for v in positions],
        settings=settings)


__all__ = ["BLOCK", "qk_gain", "build_model", "draw_layers", "load_weights", "run", "run_model", "theory", "crosscheck"]
