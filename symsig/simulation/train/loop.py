"""One training run: a :class:`~symsig.simulation.train.model.LanguageModel` on a corpus.

:func:`run` takes a :class:`RunConfig` (all validated by :mod:`symsig.simulation.train.sweep`)
and returns a JSON-able dict:

* at initialisation (before any step), on the first held-out batch: the input geometry
  (q0, rho0) of the embedded tokens and per layer the measured rho (mean off-diagonal
  cosine, averaged over the batch's sequences, with its standard error over them) and
  attention IPR Y2 = mean_t sum_s A_ts^2 (averaged over heads, queries, sequences),
  beside the exact finite-T theory (:func:`symsig.propagate`) started from the measured
  (q0, rho0). Causal models measure the last quarter of the positions and average the
  theory over key counts of that window, as ``symsig crosscheck`` does for GPT-2;
* training: AdamW (decay on weight matrices only), learning rate warmed up linearly
  over ``warmup`` steps then decayed by a half cosine to 0 at ``steps``, gradients
  clipped to norm ``clip`` (0: no clipping); cross-entropy on the masked positions
  (encoder) or on every next token (causal);
* the curves: train loss (mean over each ``log_every`` steps), gradient norm before
  clipping (max over each interval), held-out loss every ``eval_every`` steps;
  ``spikes``: steps whose train loss exceeds SPIKE_FACTOR times the median of the
  previous SPIKE_WINDOW steps; ``diverged``: the loss or gradient became non-finite
  (training stops there, final losses are null);
* the final and best held-out loss beside the unigram baseline of
  :func:`symsig.simulation.train.data.unigram_loss` on the same held-out batches.

Deterministic given the config: weights from ``seed`` (numpy), batches from
(data_seed, seed), held-out batches from data_seed alone (the same for every run).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ...core.architecture import late_window
from ..stack import token_stats
from . import data
from .config import RunConfig
from .model import LanguageModel, ModelSpec, parameter_groups

SPIKE_FACTOR = 1.5
SPIKE_WINDOW = 20


def build_model(cfg: RunConfig, vocab_size: int) -> LanguageModel:
    """The model of ``cfg`` (weights from ``cfg.seed``), float64 on the CPU."""
    spec = ModelSpec(arch=cfg.architecture(), depth=cfg.depth, width=cfg.width, vocab_size=vocab_size,
                     heads=cfg.heads, mlp_width=cfg.mlp_width, causal=cfg.causal, out_proj=cfg.out_proj,
                     rho0=cfg.rho0, q0=cfg.q0, token_share=cfg.token_share)
    return LanguageModel(spec, cfg.seed)


def device_of(name: str) -> torch.device:
    """``auto``: CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# ----------------------------------------------------------------------------- at initialisation


def window_of(seq_len: int, causal: bool) -> slice:
    """Positions measured: all (encoder) or the last quarter (causal, at least 2)."""
    return late_window(seq_len) if causal else slice(0, seq_len)


def measure(hidden: list[torch.Tensor], atts: list[torch.Tensor], window: slice) -> dict[str, np.ndarray]:
    """Per layer, averaged over the batch's sequences: q, p, rho (tokens in ``window``), with the
    standard error of rho over sequences, and Y2 (queries in ``window``)."""
    stats = np.array([[token_stats(h[b, window].detach().double().cpu().numpy())[:3] for b in range(h.shape[0])]
                      for h in hidden])  # (L + 1, B, 3)
    y2 = [float((a[:, :, window].double() ** 2).sum(-1).mean()) for a in atts]
    n = stats.shape[1]
    rho_err = stats[:, :, 2].std(axis=1, ddof=1) / math.sqrt(n) if n > 1 else np.full(stats.shape[0], np.nan)
    return {"q": stats[:, :, 0].mean(axis=1), "p": stats[:, :, 1].mean(axis=1), "rho": stats[:, :, 2].mean(axis=1),
            "rho_err": rho_err, "Y2": np.array(y2)}


def theory_at_init(cfg: RunConfig, q0: float, rho0: float, window: slice) -> dict[str, list[float]]:
    """Exact finite-T theory from (q0, rho0): rho per layer 0..L, Y2 per attention 1..L.
    Causal: averaged over up to three key counts n of the measured window."""
    from ...analysis.propagate import propagate

    arch = cfg.architecture().to_dict()
    if not cfg.causal:
        tr = propagate(depth=cfg.depth, rho0=rho0, q0=q0, **arch)
        return {"rho": [float(x) for x in tr.rho], "Y2": [float(x) for x in tr.Y2[: cfg.depth]]}
    positions = sorted({int(round(x)) for x in np.linspace(window.start + 1, window.stop, 3)})
    trs = [propagate(depth=cfg.depth, rho0=rho0, q0=q0, causal=True, position=n, **arch) for n in positions]
    return {"rho": [float(np.mean([float(t.rho[i]) for t in trs])) for i in range(cfg.depth + 1)],
            "Y2": [float(np.mean([float(t.Y2[i]) for t in trs])) for i in range(cfg.depth)]}


def at_init(model: LanguageModel, cfg: RunConfig, first: data.Batch, dev: torch.device) -> dict[str, Any]:
    """Measured geometry and attention IPR per layer at initialisation, theory beside them."""
    window = window_of(cfg.seq_len, cfg.causal)
    with torch.no_grad():
        hidden, atts = model.trace(model.embed(torch.from_numpy(first.inputs).to(dev)))
    meas = measure(hidden, atts, window)
    q0, rho0 = float(meas["q"][0]), float(meas["rho"][0])
    th = theory_at_init(cfg, q0, rho0, window)
    diff = np.abs(meas["rho"][1:] - np.array(th["rho"][1:]))
    return {"q0": q0, "rho0": rho0, "rho": meas["rho"].tolist(), "rho_err": meas["rho_err"].tolist(),
            "q": meas["q"].tolist(), "Y2": meas["Y2"].tolist(), "theory_rho": th["rho"], "theory_Y2": th["Y2"],
            "max_abs_rho_error": float(diff.max()), "window": [window.start, window.stop - 1]}


def input_geometry(cfg: RunConfig, seeds: list[int]) -> dict[str, float]:
    """Measured (q0, rho0) of the embedded first held-out batch (the layer-0 values of
    :func:`at_init`), averaged over the models of ``seeds``: where the theory starts."""
    torch.set_num_threads(cfg.threads)
    corp = cfg.load_corpus()
    first = cfg.held_out(corp)[0]
    window = window_of(cfg.seq_len, cfg.causal)
    qs, rhos = [], []
    for s in seeds:
        model = build_model(replace(cfg, seed=s), corp.vocab_size).to(dtype=getattr(torch, cfg.dtype))
        with torch.no_grad():
            meas = measure([model.embed(torch.from_numpy(first.inputs))], [], window)
        qs.append(float(meas["q"][0]))
        rhos.append(float(meas["rho"][0]))
    return {"q0": float(np.mean(qs)), "rho0": float(np.mean(rhos))}


# ----------------------------------------------------------------------------- training


def lr_factor(step: int, steps: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then a half cosine from 1 to 0 at ``steps``."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / span)))


def loss_of(model: LanguageModel, b: data.Batch, dev: torch.device) -> tuple[torch.Tensor, int]:
    """(mean cross-entropy over the loss positions, their number)."""
    logits = model(torch.from_numpy(b.inputs).to(dev))
    targets = torch.from_numpy(b.targets).to(dev)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=data.IGNORE)
    return loss, int((targets != data.IGNORE).sum())


def evaluate(model: LanguageModel, batches: list[data.Batch], dev: torch.device) -> float:
    """Held-out cross-entropy (nats per predicted token) over all ``batches``."""
    total, count = 0.0, 0
    with torch.no_grad():
        for b in batches:
            loss, n = loss_of(model, b, dev)
            total += float(loss) * n
            count += n
    return total / count


def run(cfg: RunConfig | dict[str, Any]) -> dict[str, Any]:
    """Train one model (module docstring); returns the JSON-able record of the run."""
    cfg = cfg if isinstance(cfg, RunConfig) else RunConfig(**cfg)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    torch.set_num_threads(cfg.threads)
    dev = device_of(cfg.device)
    corp = cfg.load_corpus()
    held = cfg.held_out(corp)
    model = build_model(cfg, corp.vocab_size).to(dtype=getattr(torch, cfg.dtype), device=dev)
    init = at_init(model, cfg, held[0], dev)
    opt = torch.optim.AdamW(parameter_groups(model, cfg.weight_decay), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg.steps, cfg.warmup))
    rng = np.random.default_rng([cfg.data_seed, 2, cfg.seed])
    params = [par for par in model.parameters()]
    eval_curve = [[0, evaluate(model, held, dev)]]
    train_curve, grad_curve, losses, spikes = [], [], [], []
    interval_loss, interval_grad = [], []
    diverged_at = None
    for step in range(cfg.steps):
        b = data.batch(corp.train, rng, size=cfg.batch_size, seq_len=cfg.seq_len, causal=cfg.causal,
                       mask_prob=cfg.mask_prob)
        loss, _ = loss_of(model, b, dev)
        value = float(loss.detach())
        opt.zero_grad(set_to_none=True)
        if math.isfinite(value):
            loss.backward()
            grad = float(torch.nn.utils.clip_grad_norm_(params, cfg.clip if cfg.clip > 0 else math.inf))
        if not math.isfinite(value) or not math.isfinite(grad):
            diverged_at = step
            break
        opt.step()
        sched.step()
        recent = losses[-SPIKE_WINDOW:]
        if len(recent) == SPIKE_WINDOW and value > SPIKE_FACTOR * float(np.median(recent)):
            spikes.append(step)
        losses.append(value)
        interval_loss.append(value)
        interval_grad.append(grad)
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            train_curve.append([step + 1, float(np.mean(interval_loss))])
            grad_curve.append([step + 1, float(np.max(interval_grad))])
            interval_loss, interval_grad = [], []
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            eval_curve.append([step + 1, evaluate(model, held, dev)])
    diverged = diverged_at is not None
    finals = [v for _, v in eval_curve]
    return {
        "config": asdict(cfg),
        "final_eval_loss": None if diverged else eval_curve[-1][1],
        "best_eval_loss": float(np.min(finals)),
        "initial_eval_loss": eval_curve[0][1],
        "unigram_loss": data.unigram_loss(corp, held),
        "diverged": diverged,
        "diverged_at": diverged_at,
        "spikes": len(spikes),
        "spike_steps": spikes[:20],
        "eval_loss": eval_curve,
        "train_loss": train_curve,
        "grad_norm": grad_curve,
        "init": init,
        "seconds": time.perf_counter() - t_start,
        "cpu_seconds": time.process_time() - cpu_start,
        "device": str(dev),
    }
