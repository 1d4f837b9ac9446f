"""Monte Carlo of random transformers at initialisation (THEORY.md sections 2, 4, 5, 8).

A plain numpy forward pass of an L-layer transformer with i.i.d. Gaussian weights
drawn with the paper's scalings, measuring the order parameters (q, p, rho) of the
token geometry after every block and the participation statistics of every
attention matrix.  This is the "reality" the symbolic layer maps are tested against.

Conventions (all fixed here, once):

* Tokens are the rows of an array ``h`` of shape (T, d); a dense layer is
  ``h @ W + b`` with ``W`` of shape (fan_in, fan_out), entries N(0, sigma^2 / fan_in),
  and ``b`` entries N(0, sigma_b2).
* Input: x_t = sqrt(q0) (sqrt(rho0) g + sqrt(1 - rho0) z_t), g, z_t iid N(0, I_d), so
  E|x_t|^2/d = q0 and E x_t.x_s/d = q0 rho0 (t != s).
* Attention: W_Q, W_K entries N(0, sigma_a / d), sigma_a = beta sqrt(log T), for all
  heads (fan-in d, whatever d_head is: this keeps the independent logit variance
  at sigma_a^2 q (q - p) for any number of heads); logits
  a_ts = (W_Q x_t).(W_K x_s) / sqrt(d_head); A = softmax_s(a) (s <= t if causal);
  output y_t = sum_s A_ts W_V x_s + b_V with W_V entries N(0, sigma_v2 / d), b_V
  entries N(0, sigma_b2).  Head k uses columns k d_head .. (k+1) d_head - 1 of
  W_Q, W_K, W_V.  Gain control subtracts the sequence mean of y (which also
  removes b_V).  The optional output projection has entries N(0, 1 / d) and no
  bias: it preserves the Gram matrix in expectation, so the layer map of
  THEORY.md section 4 is unchanged (the theory has no output projection).
* MLP: dense(sigma_w2 / d, sigma_b2) -> activation -> dense(sigma_w2 / m, sigma_b2),
  m = mlp_width (fan-in scaling in both layers).
* LayerNorm: no affine parameters, eps = 0: (h_t - mean_i h_ti) / std_i h_ti.
* Residual (every block): h <- alpha h + branch(h), i.e. alpha scales the skip
  path, matching the layer map q <- q_branch + alpha^2 q.  THEORY.md section 5
  writes pre-LN as h + alpha Attn(LN(h)); both agree at alpha = 1.

Random draw order (per seed, from ``default_rng(SeedSequence(seed).spawn(seeds)[i])``,
each array drawn with ``standard_normal(shape, dtype)`` and then scaled):
g (d,), z (T, d); then for each layer: W_Q (d, d), W_K (d, d), W_V (d, d), b_V (d,),
[W_O (d, d) if out_proj], W_1 (d, m), b_1 (m,), W_2 (m, d), b_2 (d,).

Precision: statistics are exact up to floating-point rounding of the forward pass
(about 1e-13 relative in float64, 1e-5 in float32); the Monte Carlo error is the
reported standard error over seeds.

Finite-size note (our derivation, checked in tests/test_simulate.py): at finite width the
attention branch's q_S - p_S, which sets 1 - rho, exceeds the d -> infinity value
sv2 (q - p)(Y2 - X) by a factor 1 + T/d as beta -> 0 (Wishart E S^2 of the centred
tokens), about 1 + 0.6 T/d at beta = 0.5 and only a few per cent in the frozen phase.
Compare with theory at T << d when 1 - rho of a single attention layer matters.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np
import scipy.special as sps

from ..core import validate
from ..core.names import ACTIVATIONS, BLOCKS
from ..core.stats import mean_err
from ..core.validate import InputError  # ValueError subclass the CLI reports in one line

_ROW_CHUNK = 256  # rows of the attention matrix processed at once (bounds temporaries)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)

ActFn = Callable[[np.ndarray], np.ndarray]

__all__ = ["SimResult", "AttnStats", "simulate_stack", "attention", "mlp", "layer_norm",
           "token_stats", "apply_activation", "softmax_rows", "make_input", "count_matmul_flops",
           "BLOCKS", "ACTIVATIONS"]


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SimResult:
    """Seed-averaged statistics of a simulated random transformer.

    Arrays indexed by layer: ``q, p, rho`` have length L + 1 (0 = input, l = output
    of block l); the attention arrays ``Y2, entropy, X, q_att, p_att, rho_att,
    q_branch, p_branch, rho_branch`` have length L (entry l-1 = attention of block l).
    Each ``*_err`` is the standard error over seeds, std(ddof=1) / sqrt(seeds)
    (NaN when seeds = 1).  ``rho_pos`` (L + 1, T) and ``Y2_pos`` (L, T) are the
    per-position values (causal runs only, else None).  ``per_seed`` maps each
    statistic name to its (seeds, ...) array, for paired comparisons.
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
    per_seed: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self, *, per_seed: bool = False) -> dict[str, Any]:
        """JSON-able dict: arrays as (nested) lists, NaN as None, settings as is."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "per_seed":
                continue
            val = getattr(self, f.name)
            out[f.name] = dict(val) if f.name == "settings" else _jsonable(val)
        if per_seed:
            out["per_seed"] = {k: _jsonable(v) for k, v in self.per_seed.items()}
        return out


def _jsonable(val: Any) -> Any:
    """Nested lists of floats with NaN/inf replaced by None (valid JSON)."""
    if val is None:
        return None
    arr = np.asarray(val, dtype=float)
    obj = arr.astype(object)
    obj[~np.isfinite(arr)] = None
    return obj.tolist()


# ----------------------------------------------------------------------------- pieces


def layer_norm(h: np.ndarray) -> np.ndarray:
    """LayerNorm without affine parameters, eps = 0: (h_t - mean_i h_ti) / std_i h_ti.

    Returns a new array; afterwards |h_t|^2 / d = 1 for every token (q = 1,
    p <- p / q as d -> infinity, THEORY.md section 4).
    """
    out = h - h.mean(axis=1, keepdims=True)
    std = np.sqrt(np.einsum("ij,ij->i", out, out) / out.shape[1])
    out /= std[:, None]
    return out


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


def apply_activation(u: np.ndarray, activation: str, act_fn: ActFn | None = None) -> np.ndarray:
    """phi(u) elementwise (may overwrite u): relu max(u, 0); erf; tanh;
    gelu u (1 + erf(u / sqrt 2)) / 2 (exact GELU); linear u; or act_fn(u) if given."""
    if act_fn is not None:
        out = np.asarray(act_fn(u), dtype=u.dtype)
        if out.shape != u.shape:
            raise InputError(f"act_fn must return an array of shape {u.shape}, got {out.shape}")
        return out
    if activation == "relu":
        return np.maximum(u, 0, out=u)
    if activation == "erf":
        return sps.erf(u, out=u)
    if activation == "tanh":
        return np.tanh(u, out=u)
    if activation == "gelu":
        gate = sps.erf(u * _INV_SQRT2)
        gate += 1.0
        u *= gate
        u *= 0.5
        return u
    if activation == "linear":
        return u
    if activation in ACTIVATIONS:  # the others: phi lambdified from its one definition
        from ..numerics.quadrature import activation_np

        return activation_np(activation)(u)
    raise InputError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")


def softmax_rows(logits: np.ndarray, causal: bool = False) -> np.ndarray:
    """A_ts = exp(a_ts) / sum_u exp(a_tu), with a_ts = -inf for s > t when causal.

    Reference (allocating) version for small matrices; the simulation uses the
    in-place, row-chunked equivalent inside ``attention``.
    """
    a = np.array(logits, dtype=np.float64)
    if causal:
        a[np.triu_indices(a.shape[0], 1)] = -np.inf
    a -= a.max(axis=1, keepdims=True)
    np.exp(a, out=a)
    a /= a.sum(axis=1, keepdims=True)
    return a


@dataclass(frozen=True)
class AttnStats:
    """Per-call attention statistics, averaged over heads.

    Y2_pos[t] = sum_s A_ts^2; entropy_pos[t] = -sum_s A_ts log A_ts;
    X = mean_{t != t'} sum_s A_ts A_t's = (|sum_t A_t.|^2 - sum_t Y2_pos[t]) / (T (T - 1)).
    """

    Y2_pos: np.ndarray
    entropy_pos: np.ndarray
    X: float


def _softmax_stats_inplace(
    buf: np.ndarray, causal: bool, tmp: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Turn the logits in ``buf`` (T, T) into attention weights in place, row chunk
    by row chunk (temporaries bounded by ``tmp``), returning (Y2_pos, entropy_pos, X).

    Entropy per row: -sum_s A_s log A_s = log Z - sum_s A_s a'_s with a' = a - max_s a
    (two non-negative terms, no cancellation; avoids a log per entry).
    """
    n_tok = buf.shape[0]
    # masked logits: huge but finite, so that exp() = 0 and 0 * a' = 0 (not NaN)
    fill = -np.finfo(buf.dtype).max / 4
    y2 = np.empty(n_tok)
    ent = np.empty(n_tok)
    colsum = np.zeros(n_tok)
    for r0 in range(0, n_tok, _ROW_CHUNK):
        r1 = min(r0 + _ROW_CHUNK, n_tok)
        a = buf[r0:r1]
        e = tmp[: r1 - r0]
        if causal:  # row t keeps s <= t
            a[np.arange(n_tok)[None, :] > np.arange(r0, r1)[:, None]] = fill
        a -= a.max(axis=1, keepdims=True)
        np.exp(a, out=e)
        z = e.sum(axis=1)
        ent[r0:r1] = np.log(z) - np.einsum("ij,ij->i", e, a) / z
        np.multiply(e, (1.0 / z)[:, None], out=a)
        y2[r0:r1] = np.einsum("ij,ij->i", a, a)
        colsum += a.sum(axis=0)
    x_overlap = (colsum @ colsum - y2.sum()) / (n_tok * (n_tok - 1))
    return y2, ent, float(x_overlap)


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
) -> tuple[np.ndarray, AttnStats]:
    """Multi-head softmax self-attention on the rows of x (T, d).

    Head k (columns c_k of size d_head = d / heads):
    y[:, c_k] = softmax_s((x W_Q[:, c_k])(x W_K[:, c_k])^T / sqrt(d_head)) (x W_V[:, c_k]);
    then y += b_V; y -= mean_t y_t if gain_control; y <- y W_O if w_o is given.
    Heads are processed one after the other, so one T x T matrix is alive at a time.
    """
    n_tok, d = x.shape
    d_head = d // heads
    qm = x @ w_q
    qm *= 1.0 / math.sqrt(d_head)
    km = x @ w_k
    vm = x @ w_v
    y = np.empty_like(vm)
    buf = np.empty((n_tok, n_tok), dtype=x.dtype)
    tmp = np.empty((min(n_tok, _ROW_CHUNK), n_tok), dtype=x.dtype)
    y2 = np.zeros(n_tok)
    ent = np.zeros(n_tok)
    x_ov = 0.0
    for k in range(heads):
        cols = slice(k * d_head, (k + 1) * d_head)
        np.matmul(qm[:, cols], km[:, cols].T, out=buf)
        hy2, hent, hx = _softmax_stats_inplace(buf, causal, tmp)
        np.matmul(buf, vm[:, cols], out=y[:, cols])
        y2 += hy2
        ent += hent
        x_ov += hx
    del buf, tmp
    y += b_v
    if gain_control:
        y -= y.mean(axis=0, keepdims=True)
    if w_o is not None:
        y = y @ w_o
    return y, AttnStats(Y2_pos=y2 / heads, entropy_pos=ent / heads, X=x_ov / heads)


def mlp(
    x: np.ndarray,
    w_1: np.ndarray,
    b_1: np.ndarray,
    w_2: np.ndarray,
    b_2: np.ndarray,
    activation: str = "relu",
    act_fn: ActFn | None = None,
) -> np.ndarray:
    """Two-layer perceptron on the rows of x: phi(x W_1 + b_1) W_2 + b_2."""
    u = x @ w_1
    u += b_1
    u = apply_activation(u, activation, act_fn)
    out = u @ w_2
    out += b_2
    return out


# ----------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class _Config:
    block: str
    activation: str
    act_fn: ActFn | None
    sigma_a: float
    sigma_w2: float
    sigma_v2: float
    sigma_b2: float
    alpha_sa: float
    alpha_mlp: float
    depth: int
    width: int
    seq_len: int
    rho0: float
    q0: float
    causal: bool
    out_proj: bool
    heads: int
    mlp_width: int
    dtype: np.dtype


def _normal(rng: np.random.Generator, shape: tuple[int, ...], var: float, dt: np.dtype) -> np.ndarray:
    """Entries N(0, var): standard normals (in dtype) scaled by sqrt(var)."""
    out = rng.standard_normal(shape, dtype=dt)
    out *= dt.type(math.sqrt(var))
    return out


def make_input(rng: np.random.Generator, seq_len: int, width: int, rho0: float, q0: float,
               dtype: np.dtype | type = np.float64) -> np.ndarray:
    """x_t = sqrt(q0) (sqrt(rho0) g + sqrt(1 - rho0) z_t), g, z_t iid N(0, I_d): rows of a (T, d) array."""
    dt = np.dtype(dtype)
    g = rng.standard_normal(width, dtype=dt)
    z = rng.standard_normal((seq_len, width), dtype=dt)
    z *= dt.type(math.sqrt(q0 * (1.0 - rho0)))
    z += dt.type(math.sqrt(q0 * rho0)) * g
    return z


def _layer(h: np.ndarray, rng: np.random.Generator, c: _Config) -> tuple[np.ndarray, dict[str, Any]]:
    """One block (draws its weights in the documented order); returns (h, stats)."""
    d, m, dt = c.width, c.mlp_width, c.dtype
    w_q = _normal(rng, (d, d), c.sigma_a / d, dt)
    w_k = _normal(rng, (d, d), c.sigma_a / d, dt)
    w_v = _normal(rng, (d, d), c.sigma_v2 / d, dt)
    b_v = _normal(rng, (d,), c.sigma_b2, dt)
    w_o = _normal(rng, (d, d), 1.0 / d, dt) if c.out_proj else None
    pre = c.block in ("pre-ln", "gc-pre-ln")
    x_att = layer_norm(h) if pre else h
    y, ast = attention(x_att, w_q, w_k, w_v, b_v, heads=c.heads, causal=c.causal,
                       gain_control=c.block.startswith("gc-"), w_o=w_o)
    del w_q, w_k, w_v, w_o
    st: dict[str, Any] = {"att": token_stats(x_att), "branch": token_stats(y), "attn": ast}
    y += c.alpha_sa * h
    h = y if pre else layer_norm(y)
    del y
    w_1 = _normal(rng, (d, m), c.sigma_w2 / d, dt)
    b_1 = _normal(rng, (m,), c.sigma_b2, dt)
    w_2 = _normal(rng, (m, d), c.sigma_w2 / m, dt)
    b_2 = _normal(rng, (d,), c.sigma_b2, dt)
    out = mlp(layer_norm(h) if pre else h, w_1, b_1, w_2, b_2, c.activation, c.act_fn)
    out += c.alpha_mlp * h
    h = out if pre else layer_norm(out)
    st["out"] = token_stats(h)
    return h, st


def _run_seed(rng: np.random.Generator, c: _Config, tick: Callable[[], None]) -> dict[str, np.ndarray]:
    """All statistics of one network draw, as arrays over layers."""
    h = make_input(rng, c.seq_len, c.width, c.rho0, c.q0, c.dtype)
    rec: dict[str, list] = {k: [] for k in _PER_SEED_KEYS}
    _append_tokens(rec, "", token_stats(h))
    for _ in range(c.depth):
        h, st = _layer(h, rng, c)
        _append_tokens(rec, "", st["out"])
        _append_tokens(rec, "_att", st["att"])
        _append_tokens(rec, "_branch", st["branch"])
        ast: AttnStats = st["attn"]
        rec["Y2"].append(ast.Y2_pos.mean())
        rec["entropy"].append(ast.entropy_pos.mean())
        rec["X"].append(ast.X)
        rec["Y2_pos"].append(ast.Y2_pos)
        tick()
    return {k: np.asarray(v, dtype=np.float64) for k, v in rec.items()}


_PER_SEED_KEYS = ("q", "p", "rho", "rho_pos", "q_att", "p_att", "rho_att", "rho_pos_att",
                  "q_branch", "p_branch", "rho_branch", "rho_pos_branch",
                  "Y2", "entropy", "X", "Y2_pos")


def _append_tokens(rec: dict[str, list], suffix: str, stats: tuple[float, float, float, np.ndarray]) -> None:
    q, p, rho, rho_pos = stats
    rec["q" + suffix].append(q)
    rec["p" + suffix].append(p)
    rec["rho" + suffix].append(rho)
    rec["rho_pos" + suffix].append(rho_pos)


class _Progress:
    """Minimal text progress bar on stderr (no dependency)."""

    def __init__(self, total: int, enabled: bool, width: int = 30) -> None:
        self.total, self.enabled, self.width = total, enabled, width
        self.done, self.t0 = 0, time.perf_counter()

    def tick(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        frac = self.done / self.total
        bar = "#" * int(frac * self.width)
        el = time.perf_counter() - self.t0
        eta = el / frac - el if frac > 0 else 0.0
        sys.stderr.write(f"\rsimulate [{bar:<{self.width}}] {self.done}/{self.total} "
                         f"{el:6.1f}s eta {eta:6.1f}s")
        if self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _check_real(name: str, val: Any, *, lo: float | None = None, lo_strict: bool = False,
                hi: float | None = None) -> float:
    x = validate.number(name, val)  # finite float, one-line InputError otherwise
    if lo is not None and (x <= lo if lo_strict else x < lo):
        raise InputError(f"{name} must be {'>' if lo_strict else '>='} {lo:g}, got {x:g}")
    if hi is not None and x > hi:
        raise InputError(f"{name} must be <= {hi:g}, got {x:g}")
    return x


def _check_int(name: str, val: Any, lo: int) -> int:
    if isinstance(val, bool) or not isinstance(val, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {val!r}")
    if val < lo:
        raise InputError(f"{name} must be >= {lo}, got {val}")
    return int(val)


def _config(**kw: Any) -> _Config:
    """Validate user arguments (one-line ValueError) and build the run config."""
    block, activation, act_fn = kw["block"], kw["activation"], kw["act_fn"]
    if block not in BLOCKS:
        raise InputError(f"unknown block {block!r}; expected one of {BLOCKS}")
    if act_fn is not None and not callable(act_fn):
        raise InputError("act_fn must be callable (array -> array of the same shape)")
    if act_fn is None and activation not in ACTIVATIONS:
        raise InputError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")
    width = _check_int("width", kw["width"], 2)
    seq_len = _check_int("seq_len", kw["seq_len"], 2)
    heads = _check_int("heads", kw["heads"], 1)
    if width % heads:
        raise InputError(f"heads ({heads}) must divide width ({width})")
    mlp_width = width if kw["mlp_width"] is None else _check_int("mlp_width", kw["mlp_width"], 1)
    dtype = np.dtype(kw["dtype"]) if kw["dtype"] in (np.float32, np.float64, "float32", "float64") else None
    if dtype is None:
        raise InputError(f"dtype must be float32 or float64, got {kw['dtype']!r}")
    beta = _check_real("beta", kw["beta"], lo=0.0, lo_strict=True)
    return _Config(
        block=block, activation=activation if act_fn is None else "custom", act_fn=act_fn,
        sigma_a=beta * math.sqrt(math.log(seq_len)),
        sigma_w2=_check_real("sigma_w2", kw["sigma_w2"], lo=0.0),
        sigma_v2=_check_real("sigma_v2", kw["sigma_v2"], lo=0.0),
        sigma_b2=_check_real("sigma_b2", kw["sigma_b2"], lo=0.0),
        alpha_sa=_check_real("alpha_sa", kw["alpha_sa"], lo=0.0),
        alpha_mlp=_check_real("alpha_mlp", kw["alpha_mlp"], lo=0.0),
        depth=_check_int("depth", kw["depth"], 1), width=width, seq_len=seq_len,
        rho0=_check_real("rho0", kw["rho0"], lo=0.0, hi=1.0),
        q0=_check_real("q0", kw["q0"], lo=0.0, lo_strict=True),
        causal=bool(kw["causal"]), out_proj=bool(kw["out_proj"]), heads=heads,
        mlp_width=mlp_width, dtype=dtype,
    )


def simulate_stack(
    *,
    block: str = "post-ln",
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
    progress: bool = False,
    act_fn: ActFn | None = None,
    dtype: Any = np.float64,
) -> SimResult:
    """Simulate ``seeds`` independent random transformers and average their statistics.

    Blocks (alpha scales the skip path, see the module docstring):
      post-ln:  h <- LN(alpha_sa h + Attn(h));      h <- LN(alpha_mlp h + MLP(h))
      pre-ln:   h <- alpha_sa h + Attn(LN(h));      h <- alpha_mlp h + MLP(LN(h))
      gc-*:     the same with the centred attention Attn(x) - mean_t Attn(x)_t.
    Attention uses sigma_a = beta sqrt(log T) (W_Q, W_K entries N(0, sigma_a / d)).
    Measured per layer: q = mean_t |h_t|^2/d, p = mean_{t!=s} h_t.h_s/d, rho = mean
    off-diagonal cosine; per attention: Y2 = mean_t sum_s A_ts^2, entropy =
    mean_t -sum_s A_ts log A_ts (nats), X = mean_{t!=t'} sum_s A_ts A_t's (averaged
    over heads), the (q, p, rho) of its input (``*_att``) and of its output before
    the residual (``*_branch``).  Deterministic given ``seed`` and ``dtype``
    (``dtype`` float64 or float32 sets the forward pass; token statistics are
    computed in float64).  ``act_fn`` (array -> array) overrides ``activation``.
    """
    c = _config(block=block, activation=activation, act_fn=act_fn, beta=beta, sigma_w2=sigma_w2,
                sigma_v2=sigma_v2, sigma_b2=sigma_b2, alpha_sa=alpha_sa, alpha_mlp=alpha_mlp,
                depth=depth, width=width, seq_len=seq_len, rho0=rho0, q0=q0, causal=causal,
                out_proj=out_proj, heads=heads, mlp_width=mlp_width, dtype=dtype)
    n_seeds = _check_int("seeds", seeds, 1)
    seed = _check_int("seed", seed, 0)
    bar = _Progress(n_seeds * c.depth, progress)
    runs = [_run_seed(np.random.default_rng(ss), c, bar.tick)
            for ss in np.random.SeedSequence(seed).spawn(n_seeds)]
    samples = {k: np.stack([r[k] for r in runs]) for k in _PER_SEED_KEYS}
    for arr in samples.values():
        arr.setflags(write=False)
    stats: dict[str, Any] = {}
    for k in ("q", "p", "rho", "q_att", "p_att", "rho_att", "q_branch", "p_branch",
              "rho_branch", "Y2", "entropy", "X"):
        stats[k], stats[k + "_err"] = mean_err(samples[k])
    if c.causal:
        stats["rho_pos"], stats["rho_pos_err"] = mean_err(samples["rho_pos"])
        stats["Y2_pos"], stats["Y2_pos_err"] = mean_err(samples["Y2_pos"])
    for arr in stats.values():
        arr.setflags(write=False)
    settings = {"block": c.block, "activation": c.activation, "beta": float(beta),
                "sigma_a": c.sigma_a, "sigma_w2": c.sigma_w2, "sigma_v2": c.sigma_v2,
                "sigma_b2": c.sigma_b2, "alpha_sa": c.alpha_sa, "alpha_mlp": c.alpha_mlp,
                "depth": c.depth, "width": c.width, "seq_len": c.seq_len, "rho0": c.rho0,
                "q0": c.q0, "seeds": n_seeds, "seed": seed, "causal": c.causal,
                "out_proj": c.out_proj, "heads": c.heads, "mlp_width": c.mlp_width,
                "dtype": c.dtype.name}
    return SimResult(settings=MappingProxyType(settings), per_seed=MappingProxyType(samples), **stats)


def count_matmul_flops(*, width: int, seq_len: int, depth: int,
                       mlp_width: int | None = None, out_proj: bool = False, seeds: int = 1) -> int:
    """Matmul FLOPs (2 m n k per (m x k)(k x n) product) of ``simulate_stack``.

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
class Simulation:
    """``symsig simulate``: the measured per-layer statistics beside the theory.

    ``rho``, ``rho_err`` (standard error over seeds), ``q``, ``p`` per layer 0..L;
    ``Y2``, ``Y2_err`` per attention layer 1..L; ``theory_rho`` and ``theory_Y2``
    from :func:`symsig.propagate` with the exact finite-T REM moments at the
    simulated T, started from the measured (q_0, rho_0) of the drawn tokens
    (``theory`` names the variant).
    """

    rho: list
    rho_err: list
    q: list
    p: list
    Y2: list
    Y2_err: list
    theory_rho: list
    theory_Y2: list
    theory: str
    settings: dict

    def to_dict(self) -> dict[str, Any]:
        from ..core.results import jsonable

        return {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}


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
    **architecture: Any,
) -> Simulation:
    """Monte Carlo of a random transformer (:func:`simulate_stack`) with the theory beside it.

    ``architecture`` takes the keys of :class:`symsig.Architecture` except
    ``seq_len`` (given here); missing ones default to the Figure-1 setting.
    """
    from ..analysis.propagate import propagate
    from ..core.architecture import Architecture

    arch = Architecture(**architecture, seq_len=seq_len)
    fields_ = {k: v for k, v in arch.to_dict().items() if k != "seq_len"}
    sim = simulate_stack(
        **{k: (float(v) if k not in ("block", "activation") else v) for k, v in fields_.items()},
        depth=depth, width=width, seq_len=seq_len, rho0=float(rho0), q0=float(q0),
        seeds=seeds, seed=seed, progress=progress,
    )
    # as in the paper, the theory starts from the measured input geometry (rho_0 of the
    # drawn tokens fluctuates around the requested one by O(1/sqrt(d)))
    theory = propagate(depth=depth, rho0=float(sim.rho[0]), q0=float(sim.q[0]), **arch.to_dict())
    return Simulation(
        rho=sim.rho.tolist(), rho_err=sim.rho_err.tolist(), q=sim.q.tolist(), p=sim.p.tolist(),
        Y2=sim.Y2.tolist(), Y2_err=sim.Y2_err.tolist(),
        theory_rho=list(theory.rho), theory_Y2=list(theory.Y2[:depth]),
        theory="finite-T REM moments (exact E_T[Y2], two-query overlap X), d -> infinity",
        settings=dict(sim.settings),
    )
