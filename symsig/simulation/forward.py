"""The one finite-width forward pass of a random transformer (docs/theory.md §2, §5, §10).

Plain numpy pieces, shared by every Monte Carlo of the package: the stack simulator
(:mod:`symsig.simulation.stack`, whose networks :mod:`symsig.simulation.network` composes
from these pieces), the gradient Monte Carlo (:mod:`symsig.simulation.gradient_mc`) and the
weight draws of the Hugging Face cross-check (:mod:`symsig.simulation.hf`).

Conventions (all fixed here, once):

* Tokens are the rows of an array ``h`` of shape (T, d); a dense layer is
  ``h @ W + b`` with ``W`` of shape (fan_in, fan_out), entries N(0, sigma^2 / fan_in),
  and ``b`` entries N(0, sigma_b2) (:func:`draw_dense`, :func:`dense`).
* Input: x_t = sqrt(q0) (sqrt(rho0) g + sqrt(1 - rho0) z_t), g, z_t iid N(0, I_d), so
  E|x_t|^2/d = q0 and E x_t.x_s/d = q0 rho0 (t != s) (:func:`make_input`).
* Attention: W_Q, W_K entries N(0, sigma_a / d), sigma_a = beta sqrt(log T), for all
  heads (fan-in d, whatever d_head is: this keeps the key-dependent logit variance
  at sigma_a^2 q (q - p) for any number of heads, docs/theory.md §2); logits
  a_ts = (x_t W_Q).(x_s W_K) / sqrt(d_head); A = softmax_s(a) (s <= t if causal);
  output y_t = sum_s A_ts x_s W_V + b_V with W_V entries N(0, sigma_v2 / d), b_V
  entries N(0, sigma_b2).  Head k uses columns k d_head .. (k+1) d_head - 1 of
  W_Q, W_K, W_V.  Gain control subtracts the sequence mean of y (which also
  removes b_V).  The optional output projection W_O (no bias) has entries
  N(0, sigma_o2 / d); sigma_o2 = 1 preserves the Gram matrix in expectation.
* MLP: dense(sigma_w2 / d, sigma_b2) -> activation -> dense(sigma_w2 / m, sigma_b2),
  m its hidden width; phi from its one definition (:data:`symsig.core.names.ACTIVATION_PHI`,
  via :func:`symsig.numerics.quadrature.activation_np`).
* LayerNorm: no affine parameters, eps = 0: (h_t - mean_i h_ti) / std_i h_ti.
* RMSNorm (no centring): g h_t / sqrt(|h_t|^2 / d + eps) (:func:`rms_norm`).
* Gated MLP (SwiGLU/GeGLU): (phi(h W_g + b_g) * (h W_u + b_u)) W_d + b_d, W_g, W_u (d, m) entries
  N(0, gate / d), N(0, up / d), W_d (m, d) N(0, down / m); no biases when ``bias`` is None
  (:func:`draw_gated_mlp`, :func:`gated_mlp`).
* QK-normalisation (``qk_gain`` g of :func:`attention`): every head's query and key rows are
  RMS-normalised to |.|^2 = g^2 d_head before the logits (Qwen3 / OLMo-style q_norm, k_norm).

Random draws: each array ``standard_normal(shape, dtype)`` from the caller's generator,
then scaled (:func:`normal`); :func:`draw_attention` draws W_Q, W_K, W_V, b_V, [W_O],
:func:`draw_mlp` draws W_1, b_1, W_2, b_2, :func:`draw_gated_mlp` W_g, [b_g], W_u, [b_u], W_d, [b_d],
:func:`make_input` g (d,) then z (T, d).

Precision: exact up to floating-point rounding (about 1e-13 relative in float64, 1e-5
in float32); token statistics are computed in float64.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from ..core.names import ACTIVATIONS
from ..core.validate import InputError
from ..numerics.quadrature import activation_np

#: Rows of an attention matrix processed at once (bounds the softmax temporaries).
ROW_CHUNK = 256

ActFn = Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------------------- draws


def sigma_a(beta: float, seq_len: int) -> float:
    """Query/key weight scale sigma_a = beta sqrt(log T): W_Q, W_K entries N(0, sigma_a / d)."""
    return beta * math.sqrt(math.log(seq_len))


def normal(rng: np.random.Generator, shape: int | tuple[int, ...], var: float,
           dtype: np.dtype | type = np.float64, out: np.ndarray | None = None) -> np.ndarray:
    """Entries N(0, var): standard normals (in dtype) scaled by sqrt(var), drawn into
    ``out`` (of that shape and dtype; the same numbers) when given."""
    dt = np.dtype(dtype)
    if out is None:
        out = rng.standard_normal(shape, dtype=dt)
    else:
        rng.standard_normal(dtype=dt, out=out)
    out *= dt.type(math.sqrt(var))
    return out


class Workspace:
    """Arrays kept by name, to draw a layer's weights into the same memory each time it runs.

    Fresh arrays of weights cost page faults whenever the allocator has returned the memory
    to the system (measured on the Figure-1 shapes: a third of the simulation's faults);
    a network node owns one workspace for its weights, which are dead once it has run.
    """

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def __call__(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        arr = self.arrays.get(name)
        if arr is None or arr.shape != shape or arr.dtype != dtype:
            arr = self.arrays[name] = np.empty(shape, dtype)
        return arr


def draw_dense(rng: np.random.Generator, fan_in: int, fan_out: int, weight: float, bias: float | None,
               dtype: np.dtype | type = np.float64, *, into: Workspace | None = None,
               name: str = "") -> tuple[np.ndarray, np.ndarray | None]:
    """(W, b) of a dense layer h @ W + b: W (fan_in, fan_out) entries N(0, weight / fan_in),
    then b (fan_out,) entries N(0, bias); no b drawn when ``bias`` is None.  With a
    workspace ``into`` they are drawn into its arrays "W" + name and "b" + name."""
    dt = np.dtype(dtype)
    shapes = {"W": (fan_in, fan_out), "b": (fan_out,)}
    buf = {k: None if into is None else into(k + name, sh, dt) for k, sh in shapes.items()}
    w = normal(rng, shapes["W"], weight / fan_in, dt, buf["W"])
    return w, None if bias is None else normal(rng, shapes["b"], bias, dt, buf["b"])


def draw_attention(rng: np.random.Generator, width: int, *, sigma_a: float, value: float, bias: float,
                   out_proj: float | None = None, dtype: np.dtype | type = np.float64,
                   into: Workspace | None = None) -> dict[str, np.ndarray]:
    """Weights of one attention layer, in the order W_Q, W_K (N(0, sigma_a / d)), W_V
    (N(0, value / d)), b_V (N(0, bias)), and W_O (N(0, out_proj / d), no bias) if
    ``out_proj`` is not None (drawn into the workspace ``into`` if given)."""
    d = width
    w: dict[str, np.ndarray] = {"W_Q": draw_dense(rng, d, d, sigma_a, None, dtype, into=into, name="_Q")[0],
                                "W_K": draw_dense(rng, d, d, sigma_a, None, dtype, into=into, name="_K")[0]}
    w["W_V"], w["b_V"] = draw_dense(rng, d, d, value, bias, dtype, into=into, name="_V")
    if out_proj is not None:
        w["W_O"] = draw_dense(rng, d, d, out_proj, None, dtype, into=into, name="_O")[0]
    return w


def draw_mlp(rng: np.random.Generator, width: int, hidden: int, *, weight: float, bias: float,
             dtype: np.dtype | type = np.float64, into: Workspace | None = None) -> dict[str, np.ndarray]:
    """Weights of an MLP d -> m -> d, in the order W_1 (d, m) N(0, weight / d), b_1,
    W_2 (m, d) N(0, weight / m), b_2 (biases N(0, bias); drawn into ``into`` if given)."""
    w1, b1 = draw_dense(rng, width, hidden, weight, bias, dtype, into=into, name="_1")
    w2, b2 = draw_dense(rng, hidden, width, weight, bias, dtype, into=into, name="_2")
    return {"W_1": w1, "b_1": b1, "W_2": w2, "b_2": b2}


def draw_gated_mlp(rng: np.random.Generator, width: int, hidden: int, *, gate: float, up: float, down: float,
                   bias: float | None, dtype: np.dtype | type = np.float64,
                   into: Workspace | None = None) -> dict[str, np.ndarray | None]:
    """Weights of a gated MLP d -> m -> d, in the order W_g (d, m) N(0, gate / d), [b_g],
    W_u (d, m) N(0, up / d), [b_u], W_d (m, d) N(0, down / m), [b_d] (biases N(0, bias); none
    drawn when ``bias`` is None; into the workspace ``into`` if given)."""
    w_g, b_g = draw_dense(rng, width, hidden, gate, bias, dtype, into=into, name="_g")
    w_u, b_u = draw_dense(rng, width, hidden, up, bias, dtype, into=into, name="_u")
    w_d, b_d = draw_dense(rng, hidden, width, down, bias, dtype, into=into, name="_d")
    return {"W_g": w_g, "b_g": b_g, "W_u": w_u, "b_u": b_u, "W_d": w_d, "b_d": b_d}


def make_input(rng: np.random.Generator, seq_len: int, width: int, rho0: float, q0: float,
               dtype: np.dtype | type = np.float64) -> np.ndarray:
    """x_t = sqrt(q0) (sqrt(rho0) g + sqrt(1 - rho0) z_t), g, z_t iid N(0, I_d): rows of a (T, d) array."""
    dt = np.dtype(dtype)
    g = rng.standard_normal(width, dtype=dt)
    z = rng.standard_normal((seq_len, width), dtype=dt)
    z *= dt.type(math.sqrt(q0 * (1.0 - rho0)))
    z += dt.type(math.sqrt(q0 * rho0)) * g
    return z


# ----------------------------------------------------------------------------- layers


def layer_norm(h: np.ndarray) -> np.ndarray:
    """LayerNorm without affine parameters, eps = 0: (h_t - mean_i h_ti) / std_i h_ti.

    Returns a new array; afterwards |h_t|^2 / d = 1 for every token (q = 1,
    p <- p / q as d -> infinity, docs/theory.md §5.4).
    """
    out = h - h.mean(axis=1, keepdims=True)
    std = np.sqrt(np.einsum("ij,ij->i", out, out) / out.shape[1])
    out /= std[:, None]
    return out


def rms_norm(h: np.ndarray, gain: float = 1.0, eps: float = 0.0) -> np.ndarray:
    """RMSNorm without centring: g h_t / sqrt(|h_t|^2 / d + eps) (a new array; docs/modern_blocks.md §1)."""
    ms = np.einsum("ij,ij->i", h, h) / h.shape[1]
    return h * (gain / np.sqrt(ms + eps))[:, None]


def token_stats(h: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """Order parameters of the tokens (rows of h), computed in float64.

    q = mean_t |h_t|^2 / d; p = mean_{t != s} h_t.h_s / d;
    rho_pos[t] = mean_{s != t} cos(h_t, h_s); rho = mean_t rho_pos[t]
    (the mean off-diagonal cosine similarity).  Returns (q, p, rho, rho_pos);
    cosines involving an all-zero token are NaN.
    """
    h = np.asarray(h, dtype=np.float64)
    n_tok, d = h.shape
    sq = np.einsum("ij,ij->i", h, h)
    tot = h.sum(axis=0)
    q = sq.mean() / d
    p = (tot @ tot - sq.sum()) / (n_tok * (n_tok - 1) * d)
    with np.errstate(invalid="ignore", divide="ignore"):  # zero tokens: NaN, not a warning
        u = h / np.sqrt(sq)[:, None]
    rho_pos = (u @ u.sum(axis=0) - np.einsum("ij,ij->i", u, u)) / (n_tok - 1)
    return float(q), float(p), float(rho_pos.mean()), rho_pos


def dense(h: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """h @ W + b (a new array; no bias when b is None)."""
    out = h @ w
    if b is not None:
        out += b
    return out


def activation_fn(name: str) -> ActFn:
    """phi of a named activation as a numpy function, from its one definition."""
    if name not in ACTIVATIONS:
        raise InputError(f"unknown activation {name!r}; expected one of {ACTIVATIONS}")
    return activation_np(name)


def apply_activation(u: np.ndarray, activation: str | None = None, act_fn: ActFn | None = None) -> np.ndarray:
    """phi(u) elementwise, phi = ``act_fn`` if given, else the named ``activation``;
    the result has u's shape and dtype (a user's act_fn may overwrite u)."""
    out = np.asarray((act_fn or activation_fn(str(activation)))(u), dtype=u.dtype)
    if out.shape != u.shape:
        raise InputError(f"act_fn must return an array of shape {u.shape}, got {out.shape}")
    return out


def gated_mlp(x: np.ndarray, w: dict[str, np.ndarray | None], act_fn: ActFn) -> np.ndarray:
    """Gated MLP on the rows of x: (phi(x W_g + b_g) * (x W_u + b_u)) W_d + b_d (weights of :func:`draw_gated_mlp`)."""
    hidden = apply_activation(dense(x, w["W_g"], w["b_g"]), act_fn=act_fn)
    hidden *= dense(x, w["W_u"], w["b_u"])
    return dense(hidden, w["W_d"], w["b_d"])


def mlp(x: np.ndarray, w_1: np.ndarray, b_1: np.ndarray, w_2: np.ndarray, b_2: np.ndarray,
        activation: str = "relu", act_fn: ActFn | None = None) -> np.ndarray:
    """Two-layer perceptron on the rows of x: phi(x W_1 + b_1) W_2 + b_2."""
    return dense(apply_activation(dense(x, w_1, b_1), activation, act_fn), w_2, b_2)


class AttnStats(NamedTuple):
    """Statistics of attention rows (averaged over heads when returned by :func:`attention`).

    Y2_pos[t] = sum_s A_ts^2; entropy_pos[t] = -sum_s A_ts log A_ts (nats);
    X = mean_{t != t'} sum_s A_ts A_t's = (|sum_t A_t.|^2 - sum_t Y2_pos[t]) / (T (T - 1)).
    """

    Y2_pos: np.ndarray
    entropy_pos: np.ndarray
    X: float


def softmax_inplace(buf: np.ndarray, causal: bool = False, tmp: np.ndarray | None = None) -> AttnStats:
    """Turn the logits in ``buf`` (rows t = queries, columns s = keys) into
    A_ts = exp(a_ts) / sum_u exp(a_tu) in place (a_ts = -inf for s > t when causal) and
    return the row statistics :class:`AttnStats` (X over pairs of rows).

    Row chunks of :data:`ROW_CHUNK` bound the temporaries (``tmp``, at least
    (min(rows, ROW_CHUNK), columns), is allocated when not given).  Entropy per row:
    -sum_s A_s log A_s = log Z - sum_s A_s a'_s with a' = a - max_s a (two non-negative
    terms, no cancellation; avoids a log per entry).
    """
    n_rows, n_keys = buf.shape
    if tmp is None:
        tmp = np.empty((min(n_rows, ROW_CHUNK), n_keys), dtype=buf.dtype)
    # masked logits: huge but finite, so that exp() = 0 and 0 * a' = 0 (not NaN)
    fill = -np.finfo(buf.dtype).max / 4
    y2 = np.empty(n_rows)
    ent = np.empty(n_rows)
    colsum = np.zeros(n_keys)
    for r0 in range(0, n_rows, ROW_CHUNK):
        r1 = min(r0 + ROW_CHUNK, n_rows)
        a = buf[r0:r1]
        e = tmp[: r1 - r0]
        if causal:  # row t keeps s <= t
            a[np.arange(n_keys)[None, :] > np.arange(r0, r1)[:, None]] = fill
        a -= a.max(axis=1, keepdims=True)
        np.exp(a, out=e)
        z = e.sum(axis=1)
        ent[r0:r1] = np.log(z) - np.einsum("ij,ij->i", e, a) / z
        np.multiply(e, (1.0 / z)[:, None], out=a)
        y2[r0:r1] = np.einsum("ij,ij->i", a, a)
        colsum += a.sum(axis=0)
    x_overlap = (colsum @ colsum - y2.sum()) / (n_rows * (n_rows - 1)) if n_rows > 1 else math.nan
    return AttnStats(y2, ent, float(x_overlap))


def softmax_rows(logits: np.ndarray, causal: bool = False) -> np.ndarray:
    """Row softmax A_ts of :func:`softmax_inplace` on a float64 copy of ``logits``."""
    out = np.array(logits, dtype=np.float64)
    softmax_inplace(out, causal)
    return out


def attention(
    x: np.ndarray,
    w_q: np.ndarray,
    w_k: np.ndarray,
    w_v: np.ndarray,
    b_v: np.ndarray,
    *,
    heads: int = 1,
    causal: bool = False,
    gain_control: bool = False,
    w_o: np.ndarray | None = None,
    qk_gain: float | None = None,
) -> tuple[np.ndarray, AttnStats]:
    """Multi-head softmax self-attention on the rows of x (T, d).

    Head k (columns c_k of size d_head = d / heads):
    y[:, c_k] = softmax_s((x W_Q[:, c_k])(x W_K[:, c_k])^T / sqrt(d_head)) (x W_V[:, c_k]);
    then y += b_V; y -= mean_t y_t if gain_control; y <- y W_O if w_o is given.
    With ``qk_gain`` g, each head's query and key rows are first RMS-normalised to g (QK-norm).
    Heads are processed one after the other, so one T x T matrix is alive at a time.
    Returns (y, statistics averaged over heads).
    """
    n_tok, d = x.shape
    d_head = d // heads
    qm = x @ w_q
    if qk_gain is not None:  # per head and row: q <- g q / rms(q), k likewise
        km = x @ w_k
        for m in (qm, km):
            heads_view = m.reshape(n_tok, heads, d_head)
            heads_view *= qk_gain / np.sqrt(np.einsum("thi,thi->th", heads_view, heads_view) / d_head)[:, :, None]
        qm *= 1.0 / math.sqrt(d_head)
    else:
        qm *= 1.0 / math.sqrt(d_head)
        km = x @ w_k
    vm = x @ w_v
    y = np.empty_like(vm)
    buf = np.empty((n_tok, n_tok), dtype=x.dtype)
    tmp = np.empty((min(n_tok, ROW_CHUNK), n_tok), dtype=x.dtype)
    y2 = np.zeros(n_tok)
    ent = np.zeros(n_tok)
    x_ov = 0.0
    for k in range(heads):
        cols = slice(k * d_head, (k + 1) * d_head)
        np.matmul(qm[:, cols], km[:, cols].T, out=buf)
        head = softmax_inplace(buf, causal, tmp)
        np.matmul(buf, vm[:, cols], out=y[:, cols])
        y2 += head.Y2_pos
        ent += head.entropy_pos
        x_ov += head.X
    del buf, tmp
    y += b_v
    if gain_control:
        y -= y.mean(axis=0, keepdims=True)
    if w_o is not None:
        y = y @ w_o
    return y, AttnStats(y2 / heads, ent / heads, x_ov / heads)


__all__ = ["ROW_CHUNK", "ActFn", "AttnStats", "Workspace", "sigma_a", "normal", "draw_dense", "draw_attention",
           "draw_mlp", "draw_gated_mlp", "make_input", "layer_norm", "rms_norm", "token_stats", "dense",
           "activation_fn", "apply_activation", "mlp", "gated_mlp", "softmax_inplace", "softmax_rows", "attention"]
