"""Monte Carlo of random transformers at initialisation (docs/theory.md §2, §5, §6, §10).

``simulate_stack`` runs ``seeds`` independent random networks of ``depth`` blocks and
measures the order parameters (q, p, rho) of the token geometry after every block and the
participation statistics of every attention matrix: the "reality" the symbolic layer maps
are tested against.  Each block's network is the finite-width counterpart of the very
layer composition the theory iterates (:func:`symsig.theory.blocks.build`, walked by
:func:`symsig.simulation.network.finite_width`), built from the one forward pass
:mod:`symsig.simulation.forward`, whose module docstring fixes the conventions (h @ W + b,
fan-in scalings, sigma_a = beta sqrt(log T), LayerNorm without affine and eps = 0).

Residual (every block): h <- alpha h + branch(h), i.e. alpha scales the skip path, matching
the layer map q <- q_branch + alpha^2 q (docs/theory.md §6.5).  The optional output
projection (``out_proj``) has entries N(0, 1 / d) and no bias: it preserves the Gram matrix
in expectation, so the layer map of docs/theory.md §5.1 is unchanged.

Random draw order (per seed, from ``default_rng(SeedSequence(seed).spawn(seeds)[i])``,
each array drawn with ``standard_normal(shape, dtype)`` and then scaled):
g (d,), z (T, d); then for each layer: W_Q (d, d), W_K (d, d), W_V (d, d), b_V (d,),
[W_O (d, d) if out_proj], W_1 (d, m), b_1 (m,), W_2 (m, d), b_2 (d,).

Precision: statistics are exact up to floating-point rounding of the forward pass
(about 1e-13 relative in float64, 1e-5 in float32); the Monte Carlo error is the
reported standard error over seeds ("n/a": NaN in the arrays, null in JSON, when seeds = 1).

Finite-size note (docs/theory.md §10, checked in tests/simulation/test_stack.py): at finite
width the attention branch's q_S - p_S, which sets 1 - rho, exceeds the d -> infinity value
sv2 (q - p)(Y2 - X) by a factor 1 + T/d as beta -> 0 (Wishart E S^2 of the centred
tokens), about 1 + 0.6 T/d at beta = 0.5 and only a few per cent in the frozen phase.
Compare with theory at T << d when 1 - rho of a single attention layer matters.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from ..core import validate
from ..core.progress import Progress
from ..core.names import ACTIVATIONS, BLOCKS, block_names
from ..core.results import OPTIONAL, Result, jsonable
from ..core.stats import mean_err
from ..core.validate import InputError  # ValueError subclass the CLI reports in one line
from ..theory.blocks import architecture_map, build
from ..theory.layers import Layer
from .network import Node, Recorder, Shape, architecture_values, check_size, finite_width, is_causal
from .forward import (ActFn, AttnStats, apply_activation, attention, layer_norm, make_input, mlp, sigma_a,
                      softmax_rows, token_stats)

__all__ = ["SimResult", "AttnStats", "simulate_stack", "simulate", "Simulation", "attention", "mlp",
           "layer_norm", "token_stats", "apply_activation", "softmax_rows", "make_input",
           "count_matmul_flops", "BLOCKS", "ACTIVATIONS"]


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SimResult:
    """Seed-averaged statistics of a simulated random transformer.

    Arrays indexed by layer: ``q, p, rho`` have length L + 1 (0 = input, l = output
    of block l); the attention arrays ``Y2, entropy, X, q_att, p_att, rho_att,
    q_branch, p_branch, rho_branch`` have one entry per attention of the stack in
    order, i.e. length L for the named blocks (entry l-1 = attention of block l).
    Each ``*_err`` is the standard error over seeds, std(ddof=1) / sqrt(seeds)
    (NaN when seeds = 1: "n/a", null in :meth:`to_dict`).  ``rho_pos`` (L + 1, T) and
    ``Y2_pos`` (L, T) are the per-position values (causal runs only, else None).
    ``rho_window`` (L + 1) is the mean cosine over the pairs of the tokens in ``window``
    (runs with a window only, else None).
    ``per_seed`` maps each statistic name to its (seeds, ...) array, for paired comparisons.
    """

    settings: Mapping[str, Any]
    q: np.ndarray
    q_err: np.ndarray
    p: np.ndarray
    p_err: np.ndarray
    rho: np.ndarray
    rho_err: np.ndarray
    q_att: np.ndarray
    q_att_err: np.ndarray
    p_att: np.ndarray
    p_att_err: np.ndarray
    rho_att: np.ndarray
    rho_att_err: np.ndarray
    q_branch: np.ndarray
    q_branch_err: np.ndarray
    p_branch: np.ndarray
    p_branch_err: np.ndarray
    rho_branch: np.ndarray
    rho_branch_err: np.ndarray
    Y2: np.ndarray
    Y2_err: np.ndarray
    entropy: np.ndarray
    entropy_err: np.ndarray
    X: np.ndarray
    X_err: np.ndarray
    rho_pos: np.ndarray | None = None
    rho_pos_err: np.ndarray | None = None
    Y2_pos: np.ndarray | None = None
    Y2_pos_err: np.ndarray | None = None
    rho_window: np.ndarray | None = None
    rho_window_err: np.ndarray | None = None
    per_seed: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self, *, per_seed: bool = False) -> dict[str, Any]:
        """JSON-able dict: arrays as (nested) lists, NaN as None, settings as is."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "per_seed":
                continue
            val = getattr(self, f.name)
            out[f.name] = dict(val) if f.name == "settings" else jsonable(val)
        if per_seed:
            out["per_seed"] = {k: jsonable(v) for k, v in self.per_seed.items()}
        return out


# ----------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class _Run:
    block: Node  # one block, its weights drawn afresh for every layer
    depth: int
    seq_len: int
    width: int
    rho0: float
    q0: float
    dtype: np.dtype
    window: slice | None = None


_PER_SEED_KEYS = ("q", "p", "rho", "rho_pos", "q_att", "p_att", "rho_att", "rho_pos_att",
                  "q_branch", "p_branch", "rho_branch", "rho_pos_branch",
                  "Y2", "entropy", "X", "Y2_pos", "rho_window")


def _run_seed(rng: np.random.Generator, c: _Run, tick: Callable[[], None]) -> dict[str, np.ndarray]:
    """All statistics of one network draw, as arrays over layers (and attentions)."""
    h = make_input(rng, c.seq_len, c.width, c.rho0, c.q0, c.dtype)
    rec: dict[str, list] = {k: [] for k in _PER_SEED_KEYS}
    _append_tokens(rec, "", token_stats(h))
    if c.window is not None:
        rec["rho_window"].append(token_stats(h[c.window])[2])
    attn = Recorder()
    for _ in range(c.depth):
        h = c.block.run(h, rng, attn)
        _append_tokens(rec, "", token_stats(h))
        if c.window is not None:
            rec["rho_window"].append(token_stats(h[c.window])[2])
        tick()
    for att, branch, ast in attn.attentions:
        _append_tokens(rec, "_att", att)
        _append_tokens(rec, "_branch", branch)
        rec["Y2"].append(ast.Y2_pos.mean())
        rec["entropy"].append(ast.entropy_pos.mean())
        rec["X"].append(ast.X)
        rec["Y2_pos"].append(ast.Y2_pos)
    return {k: np.asarray(v, dtype=np.float64) for k, v in rec.items()}


def _append_tokens(rec: dict[str, list], suffix: str, stats: tuple[float, float, float, np.ndarray]) -> None:
    q, p, rho, rho_pos = stats
    rec["q" + suffix].append(q)
    rec["p" + suffix].append(p)
    rec["rho" + suffix].append(rho)
    rec["rho_pos" + suffix].append(rho_pos)


def _check_real(name: str, val: Any, *, lo: float | None = None, lo_strict: bool = False,
                hi: float | None = None) -> float:
    return validate.interval(name, val, lo, hi, closed=(not lo_strict, True))


def _check_int(name: str, val: Any, lo: int) -> int:
    return validate.integer(name, val, lo)  # guarded by validate.LIMITS where the name has one


def _settings(**kw: Any) -> dict[str, Any]:
    """Validate user arguments (one-line ValueError); the run's settings."""
    block, act_fn = kw["block"], kw["act_fn"]
    if not isinstance(block, Layer) and block not in block_names():
        raise InputError(f"unknown block {block!r}; expected one of {block_names()} or a theory Layer")
    if act_fn is not None and not callable(act_fn):
        raise InputError("act_fn must be callable (array -> array of the same shape)")
    if act_fn is None and not isinstance(block, Layer) and kw["activation"] not in ACTIVATIONS:
        raise InputError(f"unknown activation {kw['activation']!r}; expected one of {ACTIVATIONS}")
    width = _check_int("width", kw["width"], 2)
    seq_len = _check_int("seq_len", kw["seq_len"], 2)
    heads = _check_int("heads", kw["heads"], 1)
    if width % heads:
        raise InputError(f"heads ({heads}) must divide width ({width})")
    dtype = np.dtype(kw["dtype"]) if kw["dtype"] in (np.float32, np.float64, "float32", "float64") else None
    if dtype is None:
        raise InputError(f"dtype must be float32 or float64, got {kw['dtype']!r}")
    beta = _check_real("beta", kw["beta"], lo=0.0, lo_strict=True)
    settings = {
        "block": block if isinstance(block, str) else "custom",
        "activation": kw["activation"] if act_fn is None else "custom", "beta": beta,
        "sigma_a": sigma_a(beta, seq_len),
        **{k: _check_real(k, kw[k], lo=0.0) for k in ("sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa", "alpha_mlp")},
        "depth": _check_int("depth", kw["depth"], 1), "width": width, "seq_len": seq_len,
        "rho0": _check_real("rho0", kw["rho0"], lo=0.0, hi=1.0),
        "q0": _check_real("q0", kw["q0"], lo=0.0, lo_strict=True),
        "seeds": _check_int("seeds", kw["seeds"], 1), "seed": _check_int("seed", kw["seed"], 0),
        "causal": bool(kw["causal"]), "out_proj": bool(kw["out_proj"]), "heads": heads,
        "mlp_width": width if kw["mlp_width"] is None else _check_int("mlp_width", kw["mlp_width"], 1),
        "dtype": dtype.name,
    }
    check_size(width, seq_len, heads, settings["mlp_width"])
    return settings


def _block_network(block: Any, activation: Any, s: Mapping[str, Any]) -> Node:
    """The finite-width network of one block: a named block's layer composition
    (:func:`symsig.theory.blocks.build`) or the given Layer tree, walked by ``finite_width``."""
    tree = block if isinstance(block, Layer) else build(block, activation, finite_t=s["causal"], causal=s["causal"])
    values = architecture_values(**{k: s[k] for k in ("beta", "sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa",
                                                       "alpha_mlp", "seq_len")})
    shape = Shape(s["width"], s["mlp_width"], s["heads"], 1.0 if s["out_proj"] else None, np.dtype(s["dtype"]))
    net = finite_width(tree, values, shape)
    if is_causal(net) != s["causal"]:
        raise InputError(f"causal={s['causal']} but the block's attention is {'' if is_causal(net) else 'not '}causal")
    return net


def simulate_stack(
    *,
    block: Any = "post-ln",
    activation: str = "relu",
    beta: float,
    sigma_w2: float,
    sigma_v2: float,
    sigma_b2: float,
    alpha_sa: float,
    alpha_mlp: float,
    depth: int,
    width: int,
    seq_len: int,
    rho0: float,
    q0: float = 1.0,
    seeds: int = 4,
    seed: int = 0,
    causal: bool = False,
    out_proj: bool = False,
    heads: int = 1,
    mlp_width: int | None = None,
    progress: bool | None = False,
    act_fn: ActFn | None = None,
    dtype: Any = np.float64,
    window: tuple[int, int] | None = None,
) -> SimResult:
    """Simulate ``seeds`` independent random transformers and average their statistics.

    Blocks (alpha scales the skip path, see the module docstring):
      post-ln:  h <- LN(alpha_sa h + Attn(h));      h <- LN(alpha_mlp h + MLP(h))
      pre-ln:   h <- alpha_sa h + Attn(LN(h));      h <- alpha_mlp h + MLP(LN(h))
      gc-*:     the same with the centred attention Attn(x) - mean_t Attn(x)_t.
    ``block`` may also be a :class:`symsig.theory.layers.Layer` composition (its own
    activations; ``causal`` must match its attention).
    Attention uses sigma_a = beta sqrt(log T) (W_Q, W_K entries N(0, sigma_a / d)).
    Measured per layer: q = mean_t |h_t|^2/d, p = mean_{t!=s} h_t.h_s/d, rho = mean
    off-diagonal cosine; per attention: Y2 = mean_t sum_s A_ts^2, entropy =
    mean_t -sum_s A_ts log A_ts (nats), X = mean_{t!=t'} sum_s A_ts A_t's (averaged
    over heads), the (q, p, rho) of its input (``*_att``) and of its output before
    the residual (``*_branch``).  Deterministic given ``seed`` and ``dtype``
    (``dtype`` float64 or float32 sets the forward pass; token statistics are
    computed in float64).  ``act_fn`` (array -> array) overrides ``activation``.
    ``window`` = (lo, hi), 0 <= lo < hi - 1 < T: also the mean cosine over the pairs of tokens
    lo..hi-1 after every block (``rho_window``; a decoder's late tokens, docs/finite_width.md §10).
    """
    s = _settings(block=block, activation=activation, act_fn=act_fn, beta=beta, sigma_w2=sigma_w2,
                  sigma_v2=sigma_v2, sigma_b2=sigma_b2, alpha_sa=alpha_sa, alpha_mlp=alpha_mlp,
                  depth=depth, width=width, seq_len=seq_len, rho0=rho0, q0=q0, seeds=seeds, seed=seed,
                  causal=causal, out_proj=out_proj, heads=heads, mlp_width=mlp_width, dtype=dtype)
    if act_fn is not None and not isinstance(block, str):
        raise InputError("act_fn applies to a named block; a Layer block carries its own activations")
    win = None if window is None else _window(window, s["seq_len"])
    run = _Run(_block_network(block, activation if act_fn is None else act_fn, s), s["depth"], s["seq_len"],
               s["width"], s["rho0"], s["q0"], np.dtype(s["dtype"]), win)
    with Progress(s["seeds"] * s["depth"], "simulate", progress) as bar:
        runs = [_run_seed(np.random.default_rng(ss), run, bar.step)
                for ss in np.random.SeedSequence(s["seed"]).spawn(s["seeds"])]
    samples = {k: np.stack([r[k] for r in runs]) for k in _PER_SEED_KEYS}
    for arr in samples.values():
        arr.setflags(write=False)
    stats: dict[str, Any] = {}
    for k in ("q", "p", "rho", "q_att", "p_att", "rho_att", "q_branch", "p_branch",
              "rho_branch", "Y2", "entropy", "X"):
        stats[k], stats[k + "_err"] = mean_err(samples[k])
    if s["causal"]:
        stats["rho_pos"], stats["rho_pos_err"] = mean_err(samples["rho_pos"])
        stats["Y2_pos"], stats["Y2_pos_err"] = mean_err(samples["Y2_pos"])
    if win is not None:
        stats["rho_window"], stats["rho_window_err"] = mean_err(samples["rho_window"])
    else:
        del samples["rho_window"]
    for arr in stats.values():
        arr.setflags(write=False)
    return SimResult(settings=MappingProxyType(s), per_seed=MappingProxyType(samples), **stats)


def _window(window: Any, seq_len: int) -> slice:
    try:
        lo, hi = (validate.integer(n, v, 0) for n, v in zip(("window start", "window end"), window, strict=True))
    except (TypeError, ValueError) as exc:
        raise InputError(f"window must be (lo, hi) with 0 <= lo < hi - 1 < seq_len = {seq_len}: {exc}") from None
    if not lo < hi - 1 < seq_len:
        raise InputError(f"window must be (lo, hi) with 0 <= lo < hi - 1 < seq_len = {seq_len}, got ({lo}, {hi})")
    return slice(lo, hi)


def count_matmul_flops(*, width: int, seq_len: int, depth: int,
                       mlp_width: int | None = None, out_proj: bool = False, seeds: int = 1) -> int:
    """Matmul FLOPs (2 m n k per (m x k)(k x n) product) of ``simulate_stack`` (named blocks).

    Per layer: Q, K, V projections 3 * 2 T d^2; logits and A V 2 * 2 T^2 d (summed
    over heads, so independent of their number); optional output projection 2 T d^2; MLP 2 * 2 T d m.  Token
    statistics (O(T d)) and the softmax (O(T^2)) are not counted.
    """
    d, t = width, seq_len
    m = d if mlp_width is None else mlp_width
    per_layer = 6 * t * d * d + 4 * t * t * d + (2 * t * d * d if out_proj else 0) + 4 * t * d * m
    return int(per_layer * depth * seeds)


# ------------------------------------------------------------------- the command


@dataclass(frozen=True)
class Simulation(Result):
    """``symsig simulate``: the measured per-layer statistics beside the theory.

    ``rho``, ``rho_err`` (standard error over seeds; "n/a" when seeds = 1: NaN here,
    null in :meth:`to_dict`), ``q``, ``p`` per layer 0..L; ``Y2``, ``Y2_err`` per attention
    layer 1..L; ``theory_rho`` and ``theory_Y2`` from :func:`symsig.propagate` with the exact
    finite-T REM moments at the simulated T, started from the measured (q_0, rho_0) of the
    drawn tokens (``theory`` names the variant). ``theory_width_rho``, ``theory_width_Y2``
    (opt-in, ``width_theory``): the same theory with the attention at first order in 1/d at the
    simulated width (docs/finite_width.md §7); absent from :meth:`to_dict` otherwise.
    """

    rho: np.ndarray
    rho_err: np.ndarray
    q: np.ndarray
    p: np.ndarray
    Y2: np.ndarray
    Y2_err: np.ndarray
    theory_rho: np.ndarray
    theory_Y2: np.ndarray
    theory: str
    settings: dict
    theory_width_rho: np.ndarray | None = field(default=None, metadata=OPTIONAL)
    theory_width_Y2: np.ndarray | None = field(default=None, metadata=OPTIONAL)
    _per_layer = ("rho", "rho_err", "q", "p", "Y2", "Y2_err", "theory_rho", "theory_Y2")


def simulate(
    *,
    width: int = 256,
    seq_len: int = 512,
    depth: int = 12,
    seeds: int = 4,
    seed: int = 0,
    rho0: float = 0.3,
    q0: float = 1.0,
    progress: bool = False,
    width_theory: bool = False,
    **architecture: Any,
) -> Simulation:
    """Monte Carlo of a random transformer (:func:`simulate_stack`) with the theory beside it.

    ``architecture`` takes the keys of :class:`symsig.Architecture` except
    ``seq_len`` and ``width`` (given here); missing ones default to the Figure-1 setting.
    With ``seeds`` = 1 the standard errors are n/a (NaN; null in JSON). ``width_theory``: also
    the finite-width theory at d = ``width`` (post-LN, pre-LN and their gain-controlled variants;
    others raise before any work).
    """
    from ..analysis.propagate import propagate
    from ..core.architecture import Architecture

    arch = Architecture(**architecture, seq_len=seq_len)
    if width_theory:  # validate the width and the block before the Monte Carlo
        architecture_map(arch.replace(width=width))
    rho0, q0 = validate.number("rho0", rho0), validate.number("q0", q0)  # before float(): 10**400, "abc"
    fields_ = {k: v for k, v in arch.to_dict().items() if k != "seq_len"}
    sim = simulate_stack(
        **{k: (float(v) if k not in ("block", "activation") else v) for k, v in fields_.items()},
        depth=depth, width=width, seq_len=seq_len, rho0=float(rho0), q0=float(q0),
        seeds=seeds, seed=seed, progress=progress,
    )
    # as in the paper, the theory starts from the measured input geometry (rho_0 of the
    # drawn tokens fluctuates around the requested one by O(1/sqrt(d)))
    theory = propagate(depth=depth, rho0=float(sim.rho[0]), q0=float(sim.q[0]), **arch.to_dict())
    at_width = propagate(depth=depth, rho0=float(sim.rho[0]), q0=float(sim.q[0]), **arch.replace(width=width).to_dict()) \
        if width_theory else None
    return Simulation(
        rho=sim.rho.tolist(), rho_err=sim.rho_err.tolist(), q=sim.q.tolist(), p=sim.p.tolist(),
        Y2=sim.Y2.tolist(), Y2_err=sim.Y2_err.tolist(),
        theory_rho=list(theory.rho), theory_Y2=list(theory.Y2[:depth]),
        theory="finite-T REM moments (exact E_T[Y2], two-query overlap X), d -> infinity"
               + (f"; theory_width_*: attention at first order in 1/d, d = {width}" if width_theory else ""),
        settings=dict(sim.settings),
        theory_width_rho=None if at_width is None else list(at_width.rho),
        theory_width_Y2=None if at_width is None else list(at_width.Y2[:depth]),
    )
