"""The theory of the stock HuggingFace blocks that :mod:`symsig.simulation.hf` re-initialises.

Theory (:func:`theory_block`), composed from the library's layer maps, exact finite T:

* BERT (post-LN, exact-erf GELU ``hidden_act="gelu"``), after the embedding LN:
  Residual(a_SA, Attn -> Dense(sigma_o2, b_O)) -> LN
  -> Residual(a_MLP, Dense(sigma_w2, sigma_b2) -> GELU -> Dense(sigma_w2, sigma_b2)) -> LN.
* GPT-2 (pre-LN, causal, ``gelu_new`` = tanh-approximate GELU, kernel by quadrature):
  Residual(a_SA, LN -> Attn(n keys) -> Dense(sigma_o2, b_O))
  -> Residual(a_MLP, LN -> Dense -> GELU_tanh -> Dense); after the last block ``ln_f``
  (HF returns the last hidden state after ``ln_f``).  Position-resolved: a query
  at (1-based) position n sees n keys while sigma_a uses log T; the theory is
  iterated per position n for a few positions of the late window (the last
  quarter of the sequence) and rho, Y2 averaged over them; the model's rho is
  the mean cosine over pairs of tokens both in that window, its Y2 the mean over
  the window's queries.  Approximations: the keys of position n are assumed to
  have the geometry of position n, and two queries of the window see the same
  n keys (the X term).

``width_theory`` (one head): the same compositions with the attention and the LayerNorms at first order
in 1/d (docs/finite_width.md §7-9): BERT's read normalised tokens; GPT-2 uses the pre-LN model (the
attention reads LN(h) with n keys, the LayerNorms and ``ln_f`` model the stream as Gaussian tokens).
``cross_positions`` (GPT-2, d -> infinity): the decoder theory with the tokens' cross-position Gram
(:mod:`symsig.analysis.positions`, docs/theory.md §6.4), which drops the first approximation above.
"""
from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from ..core import validate
from ..core.architecture import late_window
from ..core.names import MODELS
from ..core.validate import InputError
from ..numerics.compile import compile_np, eval_np
from ..numerics.iterate import Map, iterate
from ..theory.activations import kernel as named_kernel
from ..theory.layers import Activation, Attention, Dense, Layer, LayerNorm, Residual, Serial, State, symbolic_state
from ..theory.symbols import PARAMS, alpha_mlp, alpha_sa, d, n, p, q, sigma_b2

#: Variance (times d) of the attention output projection W_O (the paper has none).
sigma_o2 = sp.Symbol("sigma_o2", nonnegative=True)
#: Argument order of the compiled theory maps: q, p, PARAMS, sigma_o2, n.
ARGS: tuple[sp.Symbol, ...] = (q, p, *PARAMS, sigma_o2, n)


# ----------------------------------------------------------------------------- theory


def theory_block(model: str, extra_biases: bool = True, finite_width: bool = False) -> Layer:
    """The layer-map composition of one stock block (module docstring).

    Attention: exact finite-T REM moments; q_S = sigma_v2 [p + (q - p) Y2] + sigma_b2,
    p_S = sigma_v2 [p + (q - p) X] + sigma_b2, then W_O: q <- sigma_o2 q + b, p <- sigma_o2 p + b
    with b = sigma_b2 if ``extra_biases`` else 0.  GPT-2's attention sees n keys.
    ``finite_width``: the attention and the LayerNorms at first order in 1/d (symbol d;
    docs/finite_width.md). BERT: after the embedding LayerNorm every block reads normalised tokens.
    GPT-2: the pre-LN block's model (the attention reads LN(h), tokens="normalized", with n keys; the
    LayerNorms model the stream as Gaussian tokens, skip="stream"; docs/finite_width.md §9).
    """
    validate.choice("model", model, MODELS)
    b_o = sigma_b2 if extra_biases else sp.Integer(0)
    if model == "bert":
        width = dict(width=d, tokens="normalized") if finite_width else {}
        attn = Serial(Attention(finite_t=True, **width), Dense(sigma_o2, b_o))
        ffn = Serial(Dense(), Activation(named_kernel("gelu")), Dense())
        ln = LayerNorm(d, "normalized") if finite_width else LayerNorm()
        return Serial(Residual(alpha_sa, attn), ln, Residual(alpha_mlp, ffn), ln)
    width = dict(width=d, tokens="normalized") if finite_width else {}
    ln = LayerNorm(d, "stream") if finite_width else LayerNorm()
    attn = Serial(ln, Attention(finite_t=True, n_states=n, **width), Dense(sigma_o2, b_o))
    ffn = Serial(ln, Dense(), Activation(named_kernel("gelu_tanh")), Dense())
    return Serial(Residual(alpha_sa, attn), Residual(alpha_mlp, ffn))


@cache
def stock_block_map(model: str, extra_biases: bool, finite_width: bool = False) -> Map:
    out: State = theory_block(model, extra_biases, finite_width)(symbolic_state())
    return Map((*ARGS, d) if finite_width else ARGS, (out.q, out.p, out.observable("Y2")))


def _scatter_theory(model: str, seq_len: int, depth: int, width: int | None, hidden_width: int | None, rho0: float,
                    q0: float, extra_biases: bool, params: tuple[float, ...], key_count: float) -> dict[str, np.ndarray]:
    """The finite-width theory with the networks' scatter (docs/finite_width.md §11): BERT from Gaussian
    tokens through the embedding LayerNorm; GPT-2 from Gaussian tokens, its causal attention at one key
    count ``key_count`` (the walk runs at one position). ``rho_drag``, ``Y2_drag``: what the scatter adds to
    the width theory's rho and Y2."""
    from ..analysis.scatter import LayerMaps, gaussian_tokens, scatter_trajectory, through

    if width is None:
        raise InputError("scatter: the networks' scatter is a finite-width effect (give width)")
    block = stock_block_map(model, extra_biases, True)
    fn = compile_np(block.args, block.exprs)

    def mean_map(m: np.ndarray, first: bool) -> tuple[float, ...]:
        return tuple(float(x) for x in eval_np(fn, m[0], m[1], *params, key_count, width))

    maps = LayerMaps(dict(zip(ARGS[2:-1], params)) | {n: key_count}, width, seq_len, hidden_width)
    start = np.array([q0, rho0 * q0])
    m0, cov0 = start, gaussian_tokens(start, maps)
    if model == "bert":
        m0, cov0 = through(LayerNorm(), m0, cov0, maps)
    tree = theory_block(model, extra_biases, finite_width=True)
    out = scatter_trajectory({True: tree, False: tree}, mean_map, maps, depth=depth, m0=m0, cov0=cov0)
    plain_y2 = [mean_map(m, False)[2] for m in _plain(mean_map, m0, depth)]
    return {"q": np.array(out.q), "p": np.array(out.p), "rho": np.array(out.rho), "Y2": np.array(out.Y2[:depth]),
            "rho_sd": np.array(out.rho_sd), "rho_drag": np.array(out.rho_drag),
            "Y2_drag": np.array(out.Y2[:depth]) - np.array(plain_y2)}


def _plain(mean_map: Any, m0: np.ndarray, depth: int) -> list[np.ndarray]:
    """The width theory's states before blocks 1..depth (the map of the mean, no drag)."""
    states, m = [], np.asarray(m0, dtype=float)
    for _ in range(depth):
        states.append(m)
        m = np.array(mean_map(m, False)[:2])
    return states


@cache
def _final_layernorm() -> Any:
    """GPT-2's ln_f at finite width, (q, p, d) -> p': :class:`LayerNorm` (d, "stream") of the blocks."""
    out = LayerNorm(d, "stream")(State(q, p))
    return compile_np((q, p, d), (out.p,))


def theory(*, model: str, seq_len: int, depth: int, beta: float, sigma_w2: float, sigma_v2: float,
           sigma_b2: float, sigma_o2: float = 1.0, alpha_sa: float = 1.0, alpha_mlp: float = 1.0,
           rho0: float = 0.3, q0: float = 1.0, extra_biases: bool = True,
           positions: np.ndarray | None = None, width: int | None = None,
           cross_positions: bool = False, scatter: bool = False,
           hidden_width: int | None = None) -> dict[str, np.ndarray]:
    """Theory per layer l = 0..depth: arrays ``q``, ``p``, ``rho`` (length depth + 1)
    and ``Y2`` (length depth; entry l-1 = attention of block l).

    BERT starts at LN(x) = (1, rho0); GPT-2 at (q0, rho0 q0) and ends with ln_f
    (q <- 1, p <- p / q).  For GPT-2 the map is iterated per key count n in
    ``positions`` (default: T) and q, p, rho, Y2 are averaged over them. ``width`` d: the attention
    and the LayerNorms at first order in 1/d (:func:`theory_block`). ``cross_positions`` (GPT-2, d -> infinity):
    the decoder theory with the tokens' cross-position Gram (:mod:`symsig.analysis.positions`) over the
    late window (:func:`~symsig.core.architecture.late_window`); ``positions`` is then unused.
    ``scatter`` (with ``width``): the means over networks with each network's O(1/d^(1/2)) scatter of (q, p)
    carried beside them (:mod:`symsig.analysis.scatter`; ``hidden_width`` m of the MLP, default d); adds
    ``rho_sd`` (one network's standard deviation of rho) and ``rho_drag``, ``Y2_drag`` (what the scatter
    adds). BERT: the whole theory. GPT-2: the width theory plus the drag, the drag computed at the mean key
    count of ``positions`` (a first-order sum, as the cross-position theory's with the width terms).
    """
    if scatter:
        key_count = float(round(float(np.mean([seq_len] if positions is None else positions))))  # moments need whole n
        out = _scatter_theory(model, seq_len, depth, width, hidden_width, rho0, q0, extra_biases,
                              (beta, sigma_w2, sigma_v2, sigma_b2, alpha_sa, alpha_mlp, seq_len, sigma_o2), key_count)
        if model == "gpt2":
            base = theory(model=model, seq_len=seq_len, depth=depth, beta=beta, sigma_w2=sigma_w2, sigma_v2=sigma_v2,
                          sigma_b2=sigma_b2, sigma_o2=sigma_o2, alpha_sa=alpha_sa, alpha_mlp=alpha_mlp, rho0=rho0,
                          q0=q0, extra_biases=extra_biases, positions=positions, width=width)
            out |= {"q": base["q"], "p": base["p"], "rho": base["rho"] + out["rho_drag"],
                    "Y2": base["Y2"] + out["Y2_drag"]}
        return out
    ns = np.asarray([seq_len] if positions is None else positions, dtype=float)
    params = (beta, sigma_w2, sigma_v2, sigma_b2, alpha_sa, alpha_mlp, seq_len, sigma_o2, ns,
              *(() if width is None else (width,)))
    if cross_positions:
        from ..analysis.positions import propagate_positions

        if model != "gpt2" or width is not None:
            raise InputError("the cross-position theory is GPT-2's (a decoder) at d -> infinity")
        out = propagate_positions(theory_block(model, extra_biases), values=dict(zip(ARGS[2:-1], params[:-1])),
                                  seq_len=seq_len, depth=depth, q0=q0, rho0=rho0, window=late_window(seq_len),
                                  final=LayerNorm())
        return {k: out[k] for k in ("q", "p", "rho", "Y2")}
    out = iterate(stock_block_map(model, extra_biases, width is not None), params, np.full_like(ns, 1.0 if model == "bert" else q0), rho0,
                  depth).arrays()
    qa, pa = out["q"], out["p"]
    if model == "gpt2":  # ln_f after the last block (at finite width: the stream LayerNorm of the blocks)
        pa[-1] = pa[-1] / qa[-1] if width is None else eval_np(_final_layernorm(), qa[-1], pa[-1], width)[0]
        qa[-1] = 1.0
    return {"q": qa.mean(axis=1), "p": pa.mean(axis=1), "rho": (pa / qa).mean(axis=1), "Y2": out["Y2"].mean(axis=1)}
