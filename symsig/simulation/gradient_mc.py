"""Monte Carlo of the query/key-weight gradients at initialisation (docs/theory.md §9).

One attention layer of width d with the model of :mod:`symsig.theory.gradient`:
tokens with Gram p 11^T + (q - p) I, W_Q, W_K ~ N(0, sigma_a/d), W_V ~ N(0, sigma_v2/d),
upstream gradients g_t ~ N(0, I_d), loss L = (1/T) sum_t g_t . y_t; the backward pass
is analytic (checked against finite differences in the tests). The forward pass and the
draws are those of :mod:`symsig.simulation.forward` (h @ W, W of shape (fan_in, fan_out)).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core import validate
from ..core.results import Result
from ..analysis.gradient import validate_point
from .forward import dense, make_input, normal, sigma_a, softmax_inplace, softmax_rows


# -------------------------------------------------------------------- Monte Carlo
@dataclass(frozen=True)
class GradSimResult(Result):
    """Monte Carlo of the scaled squared gradient norms over ``seeds`` independent networks.

    ``grad_wq_scaled``/``grad_wk_scaled``: mean of T ||dL/dW||_F^2 / (d^2 sqrt(log T));
    ``*_err``: standard error of that mean (sample std / sqrt(seeds)).
    ``bracket``: mean over seeds and tokens of the measured tr J_t^2 = Y2 - 2 Y3 + Y2^2
    of the simulated attention rows (isolates the width error from the finite-T moments).
    """

    beta: float
    d: int
    T: int
    grad_wq_scaled: float
    grad_wq_err: float
    grad_wk_scaled: float
    grad_wk_err: float
    bracket: float
    bracket_err: float
    seeds: int


def make_inputs(rng: np.random.Generator, d: int, T: int, q: float, p: float) -> np.ndarray:
    """Tokens x_t = sqrt(p) c + sqrt(q - p) xi_t (c, xi_t iid N(0, I_d)): E x_t.x_s/d = p + (q-p) delta_ts.

    :func:`symsig.simulation.forward.make_input` at q0 = q, rho0 = p / q. Needs
    0 <= p <= q (a common component cannot create negative overlaps).
    """
    return make_input(rng, T, d, rho0=p / q, q0=q)


def attention_forward(x: np.ndarray, wq: np.ndarray, wk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Queries Q = x W_Q, keys K = x W_K and A = softmax_s(Q K^T / sqrt(d)) row-wise."""
    queries, keys = dense(x, wq), dense(x, wk)
    return queries, keys, softmax_rows(queries @ keys.T / math.sqrt(x.shape[1]))


def loss(x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray, g: np.ndarray) -> float:
    """L = (1/T) sum_t g_t . y_t with y_t = sum_s A_ts x_s W_V."""
    _, _, att = attention_forward(x, wq, wk)
    return float(np.sum(g * (att @ dense(x, wv))) / x.shape[0])


def logit_grad(att: np.ndarray, gv: np.ndarray) -> np.ndarray:
    """dL/da_ts = (1/T) A_ts (G_ts - sum_u A_tu G_tu), G_ts = g_t . (x_s W_V) (softmax Jacobian)."""
    T = att.shape[0]
    return att * (gv - np.sum(att * gv, axis=1, keepdims=True)) / T


def backward_qk(
    x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Analytic dL/dW_Q = x^T (delta K) / sqrt(d) and dL/dW_K = x^T (delta^T Q) / sqrt(d) (W of shape (d_in, d_out))."""
    queries, keys, att = attention_forward(x, wq, wk)
    delta = logit_grad(att, g @ dense(x, wv).T)
    s = math.sqrt(x.shape[1])
    return x.T @ (delta @ keys) / s, x.T @ (delta.T @ queries) / s


def simulate_grad_wq_sweep(
    betas: Sequence[float],
    d: int,
    T: int,
    q: float = 1.0,
    p: float = 0.0,
    sigma_v2: float = 1.0,
    seeds: int = 8,
    seed: int = 0,
) -> list[GradSimResult]:
    """``simulate_grad_wq`` for several betas, reusing each seed's draws across betas.

    Logits scale as sigma_a = beta sqrt(log T) and K, Q as sqrt(sigma_a), so one draw of
    (x, W_K, W_Q, W_V, g, in this order) at sigma_a = 1 serves every beta (results are
    correlated across betas, independent across seeds).
    """
    _check_sim(betas, d, T, q, p, sigma_v2, seeds)
    rng = np.random.default_rng(seed)
    scale = T / (d**2 * math.sqrt(math.log(T)))
    out = np.empty((len(betas), seeds, 3))
    for k in range(seeds):
        x = make_inputs(rng, d, T, q, p)
        keys1 = dense(x, normal(rng, (d, d), 1.0 / d))  # W_K at sigma_a = 1
        queries1 = dense(x, normal(rng, (d, d), 1.0 / d))
        logits1 = queries1 @ keys1.T / math.sqrt(d)
        values = dense(x, normal(rng, (d, d), sigma_v2 / d))
        gv = normal(rng, (T, d), 1.0) @ values.T  # G_ts = g_t . (x_s W_V)
        del values
        for i, b in enumerate(betas):
            sa = sigma_a(b, T)
            att = sa * logits1
            y2 = softmax_inplace(att).Y2_pos
            delta = logit_grad(att, gv)
            dwq = x.T @ (delta @ keys1) * math.sqrt(sa / d)
            dwk = x.T @ (delta.T @ queries1) * math.sqrt(sa / d)
            trj2 = y2 - 2 * np.sum(att**3, axis=1) + y2**2
            out[i, k] = (np.sum(dwq**2) * scale, np.sum(dwk**2) * scale, trj2.mean())
    return [_summarise(b, d, T, out[i]) for i, b in enumerate(betas)]


def simulate_grad_wq(
    beta: float,
    d: int,
    T: int,
    q: float = 1.0,
    p: float = 0.0,
    sigma_v2: float = 1.0,
    seeds: int = 8,
    seed: int = 0,
) -> GradSimResult:
    """Monte Carlo of (T / (d^2 sqrt(log T))) ||dL/dW_Q||_F^2 over ``seeds`` random layers.

    Each seed draws tokens (``make_inputs``), W_Q, W_K ~ N(0, sigma_a/d),
    W_V ~ N(0, sigma_v2/d), g_t ~ N(0, I_d), and computes the analytic backward pass
    (``backward_qk``; verified against finite differences in the tests).
    """
    return simulate_grad_wq_sweep([beta], d, T, q, p, sigma_v2, seeds, seed)[0]


def _check_sim(betas: Sequence[float], d: int, T: int, q: float, p: float, sv2: float, seeds: int) -> None:
    """ValueError on bad Monte Carlo settings."""
    for b in betas:
        validate_point(b, q, p, sv2, T, None)
    if p < 0:
        raise validate.InputError(f"simulation needs p >= 0 (common-component inputs), got {p}")
    validate.integer("d", d, 1)
    validate.integer("seeds (>= 2 for a standard error)", seeds, 2)


def _summarise(b: float, d: int, T: int, samples: np.ndarray) -> GradSimResult:
    """Means and standard errors over seeds of the (dwq, dwk, bracket) samples."""
    n = samples.shape[0]
    mean = samples.mean(axis=0)
    err = samples.std(axis=0, ddof=1) / math.sqrt(n)
    return GradSimResult(float(b), d, T, mean[0], err[0], mean[1], err[1], mean[2], err[2], n)
