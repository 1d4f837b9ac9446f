"""``symsig train``: one run or a grid of runs over (beta, alpha_SA) x lr x seed.

:func:`train` validates every input before any work, measures the input geometry
(q0, rho0) of the embedded held-out tokens, asks :func:`symsig.prescribe` for the prescribed
point at that geometry and at the trained sequence length (the exact finite-T theory: at T = 32
its prescriptions trained at both learning rates for every seed, also with a 30-step warm-up
under which the T -> infinity one lost a seed; docs/training.md), runs every configuration
(:func:`symsig.simulation.train.loop.run`) in this process or as tasks on
dask.distributed (``workers`` > 1 starts a LocalCluster; ``scheduler`` connects to a
running one), evaluates the theory's zones on the grid (:func:`symsig.diagram`,
asymptotic and at the trained T) and states the agreement
(:mod:`symsig.simulation.train.results`). A task is a plain dict and its result is
computed deterministically, so the distributed sweep returns what the local one does.
"""
from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from ...core import validate
from ...core.architecture import FIGURE1
from ...core.names import ACTIVATIONS, BLOCKS
from ...core.progress import Progress
from ...core.validate import InputError
from . import results
from .config import RunConfig

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "float64")


def axis(name: str, spec: Any, kind: type = float) -> list[Any]:
    """A sweep axis: a number, a sequence, 'MIN:MAX:N' (N points, ends included) or 'a,b,c'."""
    from ...analysis.diagram import parse_grid

    if isinstance(spec, str) and ":" not in spec:
        spec = [s for s in spec.split(",") if s.strip()]
    if kind is int:
        items = spec if isinstance(spec, (list, tuple)) else [spec]
        if not items:
            raise InputError(f"{name} is empty")
        return [validate.integer(name, s, 0) for s in items]
    return [float(x) for x in parse_grid(name, spec if isinstance(spec, (str, list, tuple)) else [spec])]


def _choice_device(device: str) -> str:
    if not isinstance(device, str) or not (device in DEVICES or device.startswith("cuda:")):
        raise InputError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    return device


def configs(**kw: Any) -> tuple[list[RunConfig], dict[str, list[Any]]]:
    """Validate the arguments of :func:`train` and expand the grid (prescribed point not yet added)."""
    block = validate.choice("block", kw["block"], BLOCKS)
    activation = validate.choice("activation", kw["activation"], ACTIVATIONS)
    if kw["causal"] and block.startswith("gc-"):
        raise InputError("gain control subtracts the mean over all positions, future ones included: "
                         "use post-ln or pre-ln with causal")
    betas, alphas = axis("beta", kw["beta"]), axis("alpha_sa", kw["alpha_sa"])
    for b in betas:
        validate.positive("beta", b)
    for a in alphas:
        validate.nonnegative("alpha_sa", a)
    lrs, seeds = axis("lr", kw["lr"]), axis("seed", kw["seed"], int)
    for lr in lrs:
        validate.positive("lr", lr)
    width = validate.integer("width", kw["width"], 2, limit="width")
    heads = validate.integer("heads", kw["heads"], 1)
    if width % heads:
        raise InputError(f"heads ({heads}) must divide width ({width})")
    steps = validate.integer("steps", kw["steps"], 1)
    seq_len = validate.integer("seq_len", kw["seq_len"], 4)
    rho0 = validate.interval("rho0", kw["rho0"], 0, 1, closed=(True, False))
    corpus = kw["corpus"]
    if corpus is not None:
        from .data import read_documents

        read_documents(str(corpus))  # exists and holds text
    from .data import DATA, MARKOV_STATES, markov_chain

    data = validate.choice("data", kw["data"], DATA)
    successors = validate.integer("successors", kw["successors"], 1)
    if corpus is None and data == "markov":
        markov_chain(MARKOV_STATES if kw["vocab_size"] is None else kw["vocab_size"], successors, 0)  # successors <= states
    base = RunConfig(
        block=block, activation=activation, beta=betas[0], alpha_sa=alphas[0],
        sigma_w2=validate.nonnegative("sigma_w2", kw["sigma_w2"]), sigma_v2=validate.nonnegative("sigma_v2", kw["sigma_v2"]),
        sigma_b2=validate.nonnegative("sigma_b2", kw["sigma_b2"]), alpha_mlp=validate.nonnegative("alpha_mlp", kw["alpha_mlp"]),
        depth=validate.integer("depth", kw["depth"], 1, limit="depth"), width=width, heads=heads,
        mlp_width=None if kw["mlp_width"] is None else validate.integer("mlp_width", kw["mlp_width"], 1, limit="width"),
        seq_len=seq_len, causal=bool(kw["causal"]), out_proj=bool(kw["out_proj"]), rho0=rho0,
        q0=validate.positive("q0", kw["q0"]), token_share=validate.interval("token_share", kw["token_share"], 0, 1),
        corpus=None if corpus is None else str(corpus), stories=validate.integer("stories", kw["stories"], 2),
        vocab_size=None if kw["vocab_size"] is None else validate.integer("vocab_size", kw["vocab_size"], 5),
        data_seed=validate.integer("data_seed", kw["data_seed"], 0),
        mask_prob=validate.interval("mask_prob", kw["mask_prob"], 0, 1, closed=(False, True)),
        steps=steps, batch_size=validate.integer("batch_size", kw["batch_size"], 1), lr=lrs[0],
        warmup=validate.integer("warmup", kw["warmup"], 0), weight_decay=validate.nonnegative("weight_decay", kw["weight_decay"]),
        clip=validate.nonnegative("clip", kw["clip"]),
        eval_every=max(1, steps // 10) if kw["eval_every"] is None else validate.integer("eval_every", kw["eval_every"], 1),
        eval_batches=validate.integer("eval_batches", kw["eval_batches"], 1),
        log_every=max(1, steps // 100) if kw["log_every"] is None else validate.integer("log_every", kw["log_every"], 1),
        seed=seeds[0], device=_choice_device(kw["device"]), dtype=validate.choice("dtype", kw["dtype"], DTYPES),
        threads=validate.integer("threads", kw["threads"], 1), data=data, successors=successors,
    )
    grid = [replace(base, beta=b, alpha_sa=a, lr=lr, seed=s) for lr in lrs for s in seeds for a in alphas for b in betas]
    return grid, {"beta": betas, "alpha_sa": alphas, "lr": lrs, "seed": seeds}


def execute(tasks: list[RunConfig], *, workers: int = 1, scheduler: str | None = None, client: Any = None,
            progress: bool | None = None) -> list[dict[str, Any]]:
    """Run every task (in order of ``tasks``): here, or on dask when ``client``, ``scheduler`` or workers > 1."""
    from .loop import run

    dicts = [asdict(t) for t in tasks]
    if client is None and scheduler is None and workers <= 1:
        out = []
        with Progress(len(dicts), "train", progress) as bar:
            for d in dicts:
                out.append(run(d))
                bar.step(f"beta={d['beta']:.3g} alpha_SA={d['alpha_sa']:.3g} lr={d['lr']:g} seed={d['seed']}")
        return out
    from ...analysis.distributed import dask_client

    with dask_client(client, scheduler, workers) as client:
        from dask.distributed import as_completed

        futures = client.map(run, dicts, pure=False)
        with Progress(len(futures), "train", progress) as bar:
            for _ in as_completed(futures):
                bar.step()
        return client.gather(futures)


def theory_on(base: RunConfig, betas: list[float], alphas: list[float], geometry: dict[str, float],
              thresholds: dict[str, float], seq_len: int | None) -> dict[str, Any]:
    """rho_L, mean_Y2 and zones of :func:`symsig.diagram` at the given points."""
    from ...analysis.diagram import diagram

    arch = {k: v for k, v in base.architecture().to_dict().items() if k not in ("beta", "alpha_sa", "seq_len")}
    d = diagram(depth=base.depth, beta=betas, alpha_sa=alphas, rho0=geometry["rho0"], q0=geometry["q0"],
                thresholds=thresholds, seq_len=seq_len, **arch)
    return {"beta": d.beta, "alpha_sa": d.alpha_sa, "rho_L": d.rho_L, "mean_Y2": d.mean_Y2, "zone": d.zone}


def train(
    *,
    block: str = "post-ln", activation: str = "relu", beta: Any = FIGURE1["beta"], alpha_sa: Any = FIGURE1["alpha_sa"],
    sigma_w2: Any = FIGURE1["sigma_w2"], sigma_v2: Any = FIGURE1["sigma_v2"], sigma_b2: Any = FIGURE1["sigma_b2"],
    alpha_mlp: Any = FIGURE1["alpha_mlp"], depth: int = 12, width: int = 64, heads: int = 1,
    mlp_width: int | None = None, seq_len: int = 32, causal: bool = False, out_proj: bool = False,
    rho0: Any = 0.3, q0: Any = 1.0, token_share: Any = 0.5, corpus: str | None = None, data: str = "stories",
    successors: int = 2, stories: int = 4000, vocab_size: int | None = None, data_seed: int = 0, mask_prob: Any = 0.15, steps: int = 1000,
    batch_size: int = 32, lr: Any = 1e-3, warmup: int = 50, weight_decay: Any = 0.01, clip: Any = 1.0,
    eval_every: int | None = None, eval_batches: int = 8, log_every: int | None = None, seed: Any = 0,
    prescribed: bool = True, thresholds: dict[str, Any] | str | None = None, diagram_resolution: int = 24,
    workers: int = 1, scheduler: str | None = None, client: Any = None, device: str = "auto",
    dtype: str = "float32", threads: int = 1, progress: bool | None = None,
) -> results.TrainSweep:
    """Train one model per point of beta x alpha_sa x lr x seed (module docstring).

    ``beta``, ``alpha_sa``, ``lr``: a number, a sequence, 'MIN:MAX:N' or 'a,b,c';
    ``seed``: an integer or a list of them. ``prescribed`` adds the prescribed point
    for every (lr, seed). ``diagram_resolution`` N > 0 evaluates both theories on an
    N x N grid over the swept box for the figure (0: not). ``client``: an existing
    dask client (Python only).
    """
    kw = dict(locals())
    t0, cpu0 = time.perf_counter(), time.process_time()
    from ...analysis.zones import thresholds_from

    grid, axes = configs(**kw)
    thr = thresholds_from(thresholds)
    res = validate.integer("diagram_resolution", diagram_resolution, 0)
    if res == 1:
        raise InputError("diagram_resolution must be 0 (no figure grid) or >= 2")
    workers = validate.integer("workers", workers, 1)
    try:
        from .loop import input_geometry
    except ImportError:
        raise InputError("training needs torch: pip install 'symsig[torch]'") from None
    base = grid[0]
    geometry = input_geometry(base, axes["seed"])
    tasks = list(grid)
    pres, notes = None, []
    if prescribed:
        from ...analysis.prescribe import prescribe

        arch = {k: v for k, v in base.architecture().to_dict().items() if k not in ("beta", "alpha_sa", "seq_len", "block")}
        p = None
        for t_len in (base.seq_len, None):  # T -> infinity only where the finite-T grid is refused
            try:
                p = prescribe(depth=base.depth, block=base.block, seq_len=t_len, rho0=geometry["rho0"],
                              thresholds=thr, **arch)
                break
            except (FloatingPointError, InputError) as exc:  # e.g. gain control at alpha_SA = 0 (T -> infinity: 0/0)
                where = f"T = {t_len}" if t_len else "T -> infinity"
                notes.append(f"no prescribed point at {where}: prescribe failed ({exc})")
        if p is not None and p.beta is not None:
            pres = {"beta": p.beta, "alpha_sa": p.alpha_sa, "seq_len": t_len, "summary": p.summary}
            tasks = [replace(base, beta=p.beta, alpha_sa=p.alpha_sa, lr=lr, seed=s, label="prescribed")
                     for lr in axes["lr"] for s in axes["seed"]] + tasks
    runs = execute(tasks, workers=workers, scheduler=scheduler, client=client, progress=progress)
    theory, fine = {}, {}
    for name, t_len in (("asymptotic", None), ("finite_T", base.seq_len)):
        try:
            theory[name] = theory_on(base, axes["beta"], axes["alpha_sa"], geometry, thr, t_len)
            if pres is not None:
                at = theory_on(base, [pres["beta"]], [pres["alpha_sa"]], geometry, thr, t_len)
                theory[name]["prescribed"] = {k: at[k][0][0] for k in ("rho_L", "mean_Y2", "zone")}
            if res:
                fine[name] = _fine_grid(base, axes, geometry, thr, t_len, res)
        except (FloatingPointError, InputError) as exc:  # the theory has no value somewhere on the grid
            theory.pop(name, None)
            notes.append(f"no {name} theory on this grid: {exc}")
    for lr_runs in axes["lr"]:
        if pres is not None:
            pres.setdefault("loss", []).append(results.mean_loss(
                [r for r in runs if r["config"]["label"] == "prescribed" and r["config"]["lr"] == lr_runs]))
    losses = [results.loss_grid(runs, axes["beta"], axes["alpha_sa"], lr) for lr in axes["lr"]]
    settings = {k: v for k, v in asdict(base).items() if k not in ("beta", "alpha_sa", "lr", "seed", "label")}
    return results.TrainSweep(
        beta=axes["beta"], alpha_sa=axes["alpha_sa"], lr=axes["lr"], seed=axes["seed"],
        loss=[g.tolist() for g in losses], unigram_loss=float(runs[0]["unigram_loss"]), prescribed=pres,
        theory=theory, diagram=fine, agreement=results.agreement(runs, axes["beta"], axes["alpha_sa"], axes["lr"], theory),
        input_geometry=geometry, thresholds=thr, settings=settings, notes=notes, seconds=time.perf_counter() - t0,
        cpu_seconds=_cpu_seconds(runs, cpu0, client is not None or scheduler is not None or workers > 1), runs=runs)


def _cpu_seconds(runs: list[dict[str, Any]], cpu0: float, distributed: bool) -> float:
    """CPU time of the sweep: this process's, plus the runs' own when they ran elsewhere."""
    own = time.process_time() - cpu0
    return own + (sum(r["cpu_seconds"] for r in runs) if distributed else 0.0)


def _fine_grid(base: RunConfig, axes: dict[str, list[Any]], geometry: dict[str, float], thr: dict[str, float],
               seq_len: int | None, n: int) -> dict[str, Any]:
    """Both theories on an n x n grid covering the swept box (with a margin of half a cell)."""
    def span(values: list[float], lo_min: float) -> list[float]:
        lo, hi = min(values), max(values)
        pad = 0.5 * (hi - lo) / max(1, len(values) - 1) if hi > lo else 0.25 * max(abs(hi), 1.0)
        return np.linspace(max(lo_min, lo - pad), hi + pad, n).tolist()

    out = theory_on(base, span(axes["beta"], 1e-3), span(axes["alpha_sa"], 0.0), geometry, thr, seq_len)
    out["thresholds"] = thr
    return out
