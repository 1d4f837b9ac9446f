"""Shared test settings (the paper's Figure-1 parameters, from the library's one definition) and the
paired theory-vs-Monte-Carlo statistics with their named wrong theories."""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
import sympy as sp

from symsig.core.architecture import FIGURE1, Architecture
from symsig.numerics.compile import compile_np, eval_np
from symsig.numerics.iterate import iterate
from symsig.theory import finite_width, special
from symsig.theory import symbols as sym
from symsig.theory.blocks import BlockMap, RawMomentsAttention, build
from symsig.theory.layers import MLP, Attention, Layer, Residual, Serial, State, symbolic_state

#: Figure-1 weight variances and residual strengths (docs/theory.md §12), as keyword arguments.
FIG1: dict[str, float] = {k: FIGURE1[k] for k in ("sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa", "alpha_mlp")}


def require_tool(command: str) -> str:
    """Path of a system tool the test needs; skip (with the reason) when it is missing,
    or fail when ``SYMSIG_REQUIRE_TOOLS=1`` (CI installs the tools and must prove these tests)."""
    path = shutil.which(command)
    if path is None:
        message = f"{command} is not installed (CI installs it; set SYMSIG_REQUIRE_TOOLS=1 to make this a failure)"
        if os.environ.get("SYMSIG_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


# ----------------------------------------------------------------------------- paired theory vs Monte Carlo
#
# A theory-vs-Monte-Carlo comparison is paired: seed k's theory starts from seed k's measured
# input geometry, so the input fluctuation (common to theory and network) drops out, and the
# statistic is the mean over seeds of measured - theory with its standard error over seeds.
# Every such test also shows its power: the same statistic, evaluated for named wrong theories,
# must reject each of them (``check_theories``).

#: Family-wise false-alarm probability of a right theory over all comparisons of one test.
ALPHA = 1e-3
#: A wrong theory counts as rejected when its excess exceeds the acceptance threshold by this many
#: standard errors: with its offset that far out, another draw of seeds would let it pass the
#: acceptance test with probability about Phi(-3) ~ 0.1%.
REJECT_MARGIN = 3.0

#: Names of the wrong theories the tests construct from the library's layers.
T_INF, X_DROPPED, SV2_OFF = "T -> infinity moments", "X dropped", "sigma_v2 off by 10%"


def accept_threshold(seeds: int, comparisons: int, alpha: float = ALPHA) -> float:
    """|z| bound for a right theory: the Student-t quantile t_{1 - alpha/(2k)}(n - 1).

    z = mean/SE over n seeds is t-distributed with n - 1 degrees of freedom (Gaussian per-seed
    differences); Bonferroni over the k comparisons (layers x statistics) of one test keeps the
    probability that any |z| exceeds the bound below ``alpha``.
    """
    from scipy.stats import t

    return float(t.ppf(1 - alpha / (2 * comparisons), seeds - 1))


@dataclass(frozen=True)
class Paired:
    """Mean over seeds of measured - theory per component, and its standard error."""

    mean: np.ndarray
    se: np.ndarray

    @property
    def z(self) -> np.ndarray:
        return self.mean / self.se


def paired(measured: np.ndarray, theory: np.ndarray) -> Paired:
    """Paired statistic of arrays (seeds, ...) of per-seed measurements and per-seed theory."""
    diff = np.asarray(measured, float) - np.asarray(theory, float)
    return Paired(diff.mean(axis=0), diff.std(axis=0, ddof=1) / np.sqrt(diff.shape[0]))


def check_theories(measured: np.ndarray, theories: Mapping[str, np.ndarray], *, right: str = "right",
                   reject: Iterable[str] | None = None, allowance: np.ndarray | float = 0.0,
                   alpha: float = ALPHA, label: str = "") -> dict[str, Paired]:
    """Accept the ``right`` theory and reject every other named theory with the same statistic.

    ``measured`` and each theory are arrays (seeds, k...) (seed k's theory from seed k's measured
    input). Accepted: |mean| <= t* SE + allowance in every component, with t* =
    :func:`accept_threshold` over all components. Rejected: |mean| >= (t* + REJECT_MARGIN) SE +
    allowance in some component; ``reject`` names the wrong theories the test claims to reject
    (default: all but the right one; the others are reported only). ``allowance`` (per component, or one number) is a computed
    finite-size allowance of the right theory, applied to the wrong ones alike. Returns the
    statistics by name; the assertion messages name the theory that failed and print every z.
    """
    measured = np.asarray(measured, float)
    stats = {name: paired(measured, th) for name, th in theories.items()}
    t_star = accept_threshold(measured.shape[0], int(np.prod(measured.shape[1:], dtype=int)), alpha)
    allow = np.broadcast_to(np.asarray(allowance, float), measured.shape[1:])
    report = summary(stats, t_star, allow, label)
    ok = stats[right]
    assert np.all(np.abs(ok.mean) <= t_star * ok.se + allow), f"right theory {right!r} rejected\n{report}"
    for name in [k for k in stats if k != right] if reject is None else reject:
        excess = (np.abs(stats[name].mean) - allow) / stats[name].se
        assert np.max(excess) >= t_star + REJECT_MARGIN, f"wrong theory {name!r} not rejected\n{report}"
    print(report)
    return stats


def summary(stats: Mapping[str, Paired], t_star: float, allow: np.ndarray, label: str = "") -> str:
    """One line per theory: z per component (allowance in SE units alongside)."""
    lines = [f"{label} accept |z| <= {t_star:.2f} (+ allowance), reject >= {t_star + REJECT_MARGIN:.2f}"]
    first = next(iter(stats.values()))
    fmt = dict(precision=1, floatmode="fixed", suppress_small=True, max_line_width=250)
    if np.any(allow):
        lines.append(f"  {'allowance/SE':24s}     {np.array2string(allow / first.se, **fmt)}")
    for name, st in stats.items():
        lines.append(f"  {name:24s} z = {np.array2string(st.z, **fmt)}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- named wrong theories
#
# Built from the library's own layer compositions (symsig.theory.blocks.build) by swapping the
# attention layers; no formula is typed here.


class XDroppedAttention(Attention):
    """The library's attention with the two-query overlap X set to 0 in its output map."""

    def output(self, state: State, y2: sp.Expr, x: sp.Expr) -> State:
        return super().output(state, y2, sp.Integer(0))


def x_dropped(att: Attention) -> Attention:
    """``att`` with X = 0 (all other settings kept)."""
    return XDroppedAttention(**{f.name: getattr(att, f.name) for f in fields(att)})


def t_infinity(att: Attention) -> Attention:
    """``att`` with the T -> infinity (Poisson-Dirichlet) moments: Y2 = 1 - m, X = 0."""
    return replace(att, finite_t=False)


def replace_attention(layer: Layer, swap: Callable[[Attention], Layer]) -> Layer:
    """The same composition with every attention layer ``a`` replaced by ``swap(a)``."""
    if isinstance(layer, Attention):
        return swap(layer)
    if isinstance(layer, Residual):
        return replace(layer, branch=replace_attention(layer.branch, swap))
    if isinstance(layer, RawMomentsAttention):
        return replace(layer, attention=swap(layer.attention))
    if isinstance(layer, Serial) and not isinstance(layer, MLP):
        return Serial(*(replace_attention(child, swap) for child in layer.layers))
    return layer


def block_of(layer: Layer, *, name: str = "custom", activation: str = "relu", causal: bool = False) -> BlockMap:
    """The BlockMap (q', p', Y2) of a layer composition, compiled on first use like the library's."""
    out = layer(symbolic_state())
    return BlockMap(name, activation, True, out.q, out.p, out.observable("Y2"), causal)


def block_variants(block: str, activation: str = "relu") -> dict[str, BlockMap]:
    """The library's finite-T block ``block`` ("right") and its T -> infinity and X-dropped variants."""
    tree = build(block, activation, finite_t=True)
    return {"right": block_of(tree, name=block, activation=activation),
            T_INF: block_of(replace_attention(tree, t_infinity), activation=activation),
            X_DROPPED: block_of(replace_attention(tree, x_dropped), activation=activation)}


def seed_trajectories(bm: BlockMap, q0: np.ndarray, p0: np.ndarray, depth: int, **arch: Any) -> dict[str, np.ndarray]:
    """Trajectories of ``bm`` from each seed's measured (q0, p0): arrays (seeds, depth + 1) of q, p,
    rho and (seeds, depth) of Y2 (the attention of blocks 1..depth)."""
    return trajectories(bm, tuple(float(x) for x in Architecture(**arch).params()), q0, p0, depth)


def trajectories(bm: BlockMap, params: tuple[Any, ...], q0: np.ndarray, p0: np.ndarray, depth: int) -> dict[str, np.ndarray]:
    """:func:`symsig.numerics.iterate.iterate` of ``bm`` at ``params`` from each seed's (q0, p0), as
    arrays (seeds, depth + 1) of q, p, rho and (seeds, depth) of Y2."""
    q0, p0 = np.asarray(q0, float), np.asarray(p0, float)
    out = iterate(bm, params, q0, p0 / q0, depth)
    q, p = (np.stack(np.broadcast_arrays(*xs)).T for xs in (out.q, out.p))
    return {"q": q, "p": p, "rho": p / q, "Y2": np.stack(np.broadcast_arrays(*out.y2)).T}


@dataclass(frozen=True)
class GainControlWidth(Layer):
    """A gain-controlled attention at the first-order finite-width moments of the plain one.

    The centred output y_t - mean_s y_s has, draw by draw, q_gc = (1 - 1/T)(q_S - p_S) and
    p_gc = -q_gc/(T - 1) in terms of the un-centred output's (q_S, p_S); so its map is the
    library's gain-controlled output map at the plain attention's finite-width moments
    (Y2_eff, X_eff) of :func:`symsig.theory.finite_width.attention_width_moments`.
    """

    attention: Attention
    width: sp.Expr

    def __call__(self, state: State) -> State:
        a = self.attention
        y2_eff, x_eff, y2_d = finite_width.attention_width_moments(
            state.q, state.p, inverse_temperature=a.inverse_temperature, seq_len=a.seq_len, width=self.width)
        return a.output(state, y2_eff, x_eff).record("Y2", y2_d)


def width_corrected(att: Attention, width: sp.Expr = sym.d) -> Layer:
    """``att`` with the first-order finite-width correction (docs/finite_width.md)."""
    return GainControlWidth(att, width) if att.gain_control else replace(att, width=width)


#: Argument order of the one-layer evaluators below.
LAYER_ARGS = (sym.q, sym.p, sym.beta, sym.sigma_v2, sym.sigma_b2, sym.T, sym.d)


@lru_cache(maxsize=None)
def layer_evaluators(gain_control: bool) -> tuple[Callable[..., Any], Callable[..., Any], tuple[str, ...]]:
    """Compiled (q_S, p_S, Y2) of one attention layer for the right theory and its wrong variants:
    at d -> infinity (right, X dropped, T -> infinity) and at first order in 1/d (right, X dropped)."""
    att = Attention(finite_t=True, gain_control=gain_control)
    inf = {"right": att, X_DROPPED: x_dropped(att), T_INF: t_infinity(att)}
    wid = {"right": width_corrected(att), X_DROPPED: width_corrected(x_dropped(att))}

    def exprs(layers: dict[str, Layer]) -> tuple[sp.Expr, ...]:
        outs = [layer(symbolic_state()) for layer in layers.values()]
        return tuple(x for o in outs for x in (o.q, o.p, o.observable("Y2")))

    return compile_np(LAYER_ARGS, exprs(inf)), compile_np(LAYER_ARGS, exprs(wid)), tuple(inf)


def attention_layer_theories(q_att: np.ndarray, p_att: np.ndarray, *, beta: float, sigma_v2: float,
                             sigma_b2: float, seq_len: int, width: int,
                             gain_control: bool = False) -> dict[str, np.ndarray]:
    """(q_S, p_S, Y2) of one attention layer per seed (arrays (seeds, 3)), each seed's theory at its
    measured input (q_att, p_att): the right theory (exact finite-T moments, first-order finite-width
    correction) and the named wrong ones (X dropped; sigma_v2 off by 10%; T -> infinity moments,
    given the right theory's finite-width correction). The correction, smooth in the state, is
    evaluated once at the seed-mean state and added to each seed's d -> infinity value (its change
    over the seeds' O(d^-1/2) spread of states is of second order).
    """
    f_inf, f_wid, names = layer_evaluators(gain_control)
    q_att, p_att = np.atleast_1d(np.asarray(q_att, float)), np.atleast_1d(np.asarray(p_att, float))
    correction_of = {"right": 0, X_DROPPED: 1, T_INF: 0}  # rows of the width evaluator

    def theories(sv2: float) -> dict[str, np.ndarray]:
        inf = np.array(eval_np(f_inf, q_att, p_att, beta, sv2, sigma_b2, seq_len, width)).reshape(len(names), 3, -1)
        at_mean = (float(q_att.mean()), float(p_att.mean()), beta, sv2, sigma_b2, seq_len, width)
        corr = np.array(eval_np(f_wid, *at_mean)).reshape(2, 3) - np.array(eval_np(f_inf, *at_mean)).reshape(-1, 3)[:2]
        return {name: (inf[k] + corr[correction_of[name]][:, None]).T for k, name in enumerate(names)}

    return theories(sigma_v2) | {SV2_OFF: theories(1.1 * sigma_v2)["right"]}


def layernorm_key_allowance(s2: np.ndarray, *, width: int, keys: int, rows: int = 20000) -> np.ndarray:
    """Allowance on Y2 for attention reading LayerNorm'd tokens, at logit variances ``s2``.

    The library's theories take the logits of a row as Gaussian given the query (exact for Gaussian
    keys, docs/finite_width.md §2). A LayerNorm'd key has norm sqrt(d) exactly, so its logit is
    sqrt(s2 d) u with u the projection of a uniform unit vector (E u^4 = 3/(d (d + 2)): lighter tails
    than a Gaussian), and the IPR of T such logits is smaller, by an O(1/d) amount the first-order
    finite-width correction does not contain (-0.007 at d = T = 256, beta = 1.5; the network's Y2
    after LayerNorm is below the Gaussian-key one by the same amount). Computed here with rows of
    ``keys`` iid logits of each kind from common random numbers (``rows`` rows, fixed seed):
    |mean difference| plus 3 of its standard errors.
    """
    rng = np.random.default_rng(0)
    g = rng.standard_normal((rows, keys))
    sphere = np.sqrt(width) * g / np.sqrt(g**2 + rng.chisquare(width - 1, size=g.shape))

    def ipr(z: np.ndarray, scale: float) -> np.ndarray:
        a = scale * z
        a -= a.max(axis=1, keepdims=True)
        w = np.exp(a)
        return (w**2).sum(axis=1) / w.sum(axis=1) ** 2

    out = []
    for v in np.atleast_1d(np.asarray(s2, float)):
        diff = ipr(sphere, np.sqrt(v)) - ipr(g, np.sqrt(v))
        out.append(abs(diff.mean()) + 3 * diff.std(ddof=1) / np.sqrt(rows))
    return np.array(out)


def unit_norm_logit_variance(rho: np.ndarray, beta: float, seq_len: int) -> np.ndarray:
    """The logit variance s2 (:func:`symsig.theory.special.logit_variance`) of LayerNorm'd tokens,
    (q, p) = (1, rho)."""
    fn = compile_np((sym.p, sym.beta, sym.T), (special.logit_variance().xreplace({sym.q: 1}),))
    return eval_np(fn, np.asarray(rho, float), beta, seq_len)[0]


def stack_theories(block: str, *, beta: float, depth: int, width: int, seq_len: int, seeds: int, seed: int,
                   rho0: float = 0.3, activation: str = "relu",
                   extra: Mapping[str, BlockMap] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """A Monte Carlo stack (Figure-1 variances) and the named theories for it.

    Returns the measured (rho_1..rho_L, Y2_1..Y2_L) per seed, shape (seeds, 2L); the same for each
    theory's trajectories from each seed's measured (q_0, p_0): the library's finite-T block
    ("right"), its T -> infinity and X-dropped variants, the block with sigma_v2 off by 10%, and any
    ``extra`` block maps by name; and the allowance per component: :func:`layernorm_key_allowance`
    on the Y2 of every attention that reads LayerNorm'd tokens (pre-LN: all; post-LN: all but the
    first, which reads the Gaussian input), at the right theory's state (1, rho) there; 0 on rho.
    """
    from symsig.simulation.stack import simulate_stack

    sim = simulate_stack(block=block, activation=activation, beta=beta, depth=depth, width=width,
                         seq_len=seq_len, rho0=rho0, seeds=seeds, seed=seed, **FIG1)
    ps = sim.per_seed
    q0, p0 = ps["q"][:, 0], ps["p"][:, 0]
    arch = dict(block=block, activation=activation, beta=beta, seq_len=seq_len, **FIG1)
    variants = block_variants(block, activation) | dict(extra or {})
    runs = {name: seed_trajectories(bm, q0, p0, depth, **arch) for name, bm in variants.items()}
    runs[SV2_OFF] = seed_trajectories(variants["right"], q0, p0, depth, **(arch | {"sigma_v2": 1.1 * FIG1["sigma_v2"]}))
    measured = np.concatenate([ps["rho"][:, 1:], ps["Y2"]], axis=1)
    # the attention of block l reads LN'd tokens with cosine rho_{l-1}
    s2 = unit_norm_logit_variance(runs["right"]["rho"][:, :-1].mean(axis=0), beta, seq_len)
    ln_keys = np.arange(depth) >= (0 if block.endswith("pre-ln") else 1)
    allow_y2 = np.where(ln_keys, layernorm_key_allowance(s2, width=width, keys=seq_len), 0.0)
    allowance = np.concatenate([np.zeros(depth), allow_y2])
    return measured, {name: np.concatenate([r["rho"][:, 1:], r["Y2"]], axis=1) for name, r in runs.items()}, allowance
