"""Gradient of the query/key weights at initialisation (Result 2, THEORY.md section 7).

Model (derived step by step in ``derivations/gradient_wq.py``): one attention
layer, width d -> infinity, tokens with Gram matrix x_t.x_s / d = p + (q - p) delta_ts,
W_Q, W_K entries N(0, sigma_a / d) with sigma_a = beta sqrt(log T), W_V entries
N(0, sigma_v2 / d), logits a_ts = (W_Q x_t).(W_K x_s) / sqrt(d), outputs
y_t = sum_s A_ts W_V x_s and loss L = (1/T) sum_t g_t . y_t with upstream gradients
g_t iid N(0, I_d). Then

    (T / (d^2 sqrt(log T))) E||dL/dW_Q||_F^2 = beta sigma_v2 q (q - p)^2 E[Y2 - 2 Y3 + Y2^2],

Y_k = sum_s A_ts^k, and the same for dL/dW_K. Under Poisson–Dirichlet PD(m, 0)
(T -> infinity) the bracket is m (1 - m) / 3.

Precision: the asymptotic value is a closed form, evaluated to ``dps`` digits
(double precision when ``dps`` is None). The finite-T value multiplies an exact
prefactor by the moments of ``symsig.finite_t.rem_moments`` and inherits their
precision (see that module).
"""
from __future__ import annotations

import contextlib

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from . import rem, validate
from .results import Result
from .symbols import beta, m, p, q, sigma_v2

#: Moment symbols: E[Y2], E[Y3], E[Y2^2] of one attention row.
Y2, Y3, Y2SQ = sp.symbols("Y_2 Y_3 Y_2sq", nonnegative=True)


# --------------------------------------------------------------------------- symbolic
def bracket_expr() -> sp.Expr:
    """Bracket E[tr J^2] = E[Y2 - 2 Y3 + Y2^2], J = diag(A_t) - A_t A_t^T the softmax Jacobian."""
    return Y2 - 2 * Y3 + Y2SQ


def prefactor_expr() -> sp.Expr:
    """Prefactor beta sigma_v2 q (q - p)^2 of the scaled gradient."""
    return beta * sigma_v2 * q * (q - p) ** 2


def grad_wq_moments_expr() -> sp.Expr:
    """Scaled gradient in terms of the moments: beta sigma_v2 q (q - p)^2 (Y2 - 2 Y3 + Y2^2)."""
    return prefactor_expr() * bracket_expr()


@cache
def bracket_pd_m() -> sp.Expr:
    """PD(m, 0) bracket as a function of m: (1-m) - (1-m)(2-m) + (1-m)(3-2m)/3 = m (1 - m)/3."""
    subs = {Y2: rem.y_moment_pd(2), Y3: rem.y_moment_pd(3), Y2SQ: rem.y2_squared_pd()}
    return sp.factor(bracket_expr().subs(subs))


@cache
def grad_wq_pd_expr() -> sp.Piecewise:
    """Asymptotic (T -> infinity) scaled gradient, Piecewise in beta.

    beta sigma_v2 q (q - p)^2 m (1 - m) / 3 with m = beta_c / beta for beta > beta_c,
    and 0 for beta <= beta_c (m = 1).
    """
    frozen = prefactor_expr() * bracket_pd_m().subs(m, rem.parisi_m_frozen())
    return sp.Piecewise((sp.simplify(frozen), rem.frozen_condition()), (0, True))


@cache
def large_beta_limit_expr() -> sp.Expr:
    """lim_{beta -> oo} of the asymptotic scaled gradient: sigma_v2 q (q - p)^2 beta_c / 3.

    beta m (1 - m) / 3 = beta_c (1 - beta_c / beta) / 3 increases monotonically to beta_c / 3:
    the gradient saturates instead of vanishing.
    """
    frozen = grad_wq_pd_expr().args[0][0]
    return sp.simplify(sp.limit(frozen, beta, sp.oo))


def grad_wq_latex() -> str:
    """LaTeX of the result, moments form = PD form."""
    from .symbols import latex

    lhs = r"\frac{T}{d^2\sqrt{\log T}}\,\mathbb{E}\,\|\partial L/\partial W_Q\|_F^2"
    moments = latex(prefactor_expr()) + r"\,\mathbb{E}\left[Y_2 - 2Y_3 + Y_2^2\right]"
    return f"{lhs} = {moments} \\xrightarrow{{T\\to\\infty}} {latex(prefactor_expr())}\\left({latex(bracket_pd_m())}\\right)"


# ----------------------------------------------------------------------- evaluators
@cache
def _pd_evaluator(module: str) -> Callable[..., Any]:
    """Lambdified asymptotic scaled gradient and its parts, args (beta, q, p, sigma_v2)."""
    m_expr = rem.parisi_m()
    parts = [
        grad_wq_pd_expr(),
        prefactor_expr(),
        bracket_pd_m().subs(m, m_expr),
        rem.y_moment_pd(2).subs(m, m_expr),
        rem.y_moment_pd(3).subs(m, m_expr),
        rem.y2_squared_pd().subs(m, m_expr),
        m_expr,
    ]
    return sp.lambdify((beta, q, p, sigma_v2), parts, modules=module)


@dataclass(frozen=True)
class GradientResult(Result):
    """Scaled E||dL/dW_Q||^2 = prefactor * bracket, bracket = Y2 - 2 Y3 + Y2sq.

    ``m`` is the Parisi parameter (asymptotic) or None (finite T); ``T`` None means
    T -> infinity. Numbers are mpmath mpf when ``dps`` was given, floats otherwise.
    """

    grad_wq_scaled: Any
    prefactor: Any
    bracket: Any
    Y2: Any
    Y3: Any
    Y2sq: Any
    m: Any
    T: int | None
    dps: int | None = field(default=None, repr=False)


def _validate(b: Any, qq: Any, pp: Any, sv2: Any, T: Any, dps: Any) -> None:
    """Raise ValueError (validate.InputError) on parameters outside the model's domain."""
    validate.positive("beta", b)
    validate.positive("q", qq)
    validate.overlap(qq, pp)
    validate.nonnegative("sigma_v2", sv2)
    if T is not None:
        validate.integer("T", T, 2)
    validate.dps(dps)


def _finite_t_moments(b: Any, qq: Any, pp: Any, T: int, dps: int | None) -> tuple[Any, Any, Any]:
    """E[Y2], E[Y3], E[Y2^2] at finite T from symsig.finite_t (float: ~1e-12 relative; mpmath: dps digits)."""
    from .finite_t import rem_moments, rem_moments_np

    if dps is None:
        mom = rem_moments_np(float(b), float(qq), float(pp), T)
        return float(mom.Y2), float(mom.Y3), float(mom.Y2sq)
    mom = rem_moments(b, qq, pp, T, dps=dps)
    return mom.Y2, mom.Y3, mom.Y2sq


def grad_wq_scaled(
    beta: float,
    q: float,
    p: float,
    sigma_v2: float = 1.0,
    T: int | None = None,
    dps: int | None = None,
) -> GradientResult:
    """(T / (d^2 sqrt(log T))) E||dL/dW_Q||_F^2 = beta sigma_v2 q (q - p)^2 E[Y2 - 2 Y3 + Y2^2].

    T None: Poisson–Dirichlet limit, bracket m (1 - m)/3, m = min(1, beta_c / beta).
    T given: exact finite-T moments of the REM with logit variance beta^2 log(T) q (q - p).
    ``dps`` selects mpmath at that many digits (results are mpf); None gives floats.
    """
    _validate(beta, q, p, sigma_v2, T, dps)
    ctx = mpmath.workdps(dps) if dps is not None else contextlib.nullcontext()
    with ctx:
        conv = (lambda x: mpmath.mpf(x)) if dps is not None else float  # noqa: E731
        b, qq, pp, sv2 = (conv(x) for x in (beta, q, p, sigma_v2))
        if T is None:
            g, pref, br, y2, y3, y2sq, mm = _pd_evaluator("mpmath" if dps else "math")(b, qq, pp, sv2)
            vals = [conv(x) for x in (g, pref, br, y2, y3, y2sq, mm)]
            return GradientResult(*vals, T=None, dps=dps)
        pref = b * sv2 * qq * (qq - pp) ** 2
        if pp == qq:  # uniform attention: Y_k = T^(1-k) exactly, prefactor 0
            y2, y3 = conv(1) / T, conv(1) / T**2
            y2sq = y2 * y2
        else:
            y2, y3, y2sq = (conv(x) for x in _finite_t_moments(b, qq, pp, int(T), dps))
        br = y2 - 2 * y3 + y2sq
        return GradientResult(pref * br, pref, br, y2, y3, y2sq, None, int(T), dps)


def grad_wk_scaled(
    beta: float,
    q: float,
    p: float,
    sigma_v2: float = 1.0,
    T: int | None = None,
    dps: int | None = None,
) -> GradientResult:
    """Scaled E||dL/dW_K||_F^2: identical to ``grad_wq_scaled`` at leading order in d.

    ||dL/dW_K||^2 = (1/d) sum G^x_ss' (W_Q x_t).(W_Q x_t') delta_ts delta_t's' has the
    same structure as dW_Q with the roles of query and key Grams swapped; both are
    sigma_a d G, so the expectation is the same formula (checked by Monte Carlo).
    """
    return grad_wq_scaled(beta, q, p, sigma_v2, T, dps)


def gradient(
    beta: float,
    rho: float,
    q: float = 1.0,
    seq_len: int | None = None,
    sigma_v2: float = 1.0,
    dps: int | None = None,
) -> GradientResult:
    """CLI-shaped ``symsig gradient``: ``grad_wq_scaled(beta, q, rho q, sigma_v2, T=seq_len, dps)``."""
    validate.correlation("rho", rho)
    validate.positive("q", q)
    return grad_wq_scaled(beta, q, float(rho) * float(q), sigma_v2, T=seq_len, dps=dps)


# ------------------------------------------------------------------- root finding
def gradient_vanishing_beta(
    threshold: float,
    q: float,
    p: float,
    sigma_v2: float = 1.0,
    T: int | None = None,
    dps: int | None = None,
) -> Any:
    """Smallest beta at which the scaled gradient reaches ``threshold`` (below it, smaller).

    Asymptotic (T None): closed form of beta sigma_v2 q (q-p)^2 m(1-m)/3 = threshold,
    beta = beta_c / (1 - 3 threshold / (sigma_v2 q (q-p)^2 beta_c)); returns inf when
    threshold >= the beta -> infinity limit sigma_v2 q (q-p)^2 beta_c / 3 (never reached).
    Finite T: first sign change on a log grid of beta in [1e-3, 1e3] (121 points; a
    crossing between grid points and back is missed), refined by brentq to ~1e-15
    relative in floats (moments ~1e-12), then by an mpmath secant at ``dps`` digits
    (each mpmath evaluation costs 10-50 s); inf if there is no crossing.
    """
    validate.positive("threshold", threshold)
    _validate(1.0, q, p, sigma_v2, T, dps)
    if p == q or sigma_v2 == 0:
        return math.inf
    if T is None:
        return _vanishing_beta_pd(threshold, q, p, sigma_v2, dps)
    return _vanishing_beta_finite(threshold, q, p, sigma_v2, int(T), dps)


@cache
def _vanishing_beta_pd_expr() -> sp.Expr:
    """Solve the frozen-phase formula = thr for beta (the unique root above beta_c)."""
    thr = sp.Symbol("thr", positive=True)
    frozen = grad_wq_pd_expr().args[0][0]
    (sol,) = sp.solve(sp.Eq(frozen, thr), beta)
    return sp.simplify(sol), thr


def _vanishing_beta_pd(threshold: float, qq: float, pp: float, sv2: float, dps: int | None) -> Any:
    """Closed-form asymptotic root; inf if threshold >= the large-beta limit."""
    sol, thr = _vanishing_beta_pd_expr()
    limit = large_beta_limit_expr()
    subs = {q: qq, p: pp, sigma_v2: sv2}
    digits = dps or 17
    if float(limit.subs(subs)) <= threshold:
        return math.inf
    val = sp.N(sol.subs(subs).subs(thr, sp.nsimplify(threshold)), digits)
    return mpmath.mpf(str(val)) if dps else float(val)


def _vanishing_beta_finite(threshold: float, qq: float, pp: float, sv2: float, T: int, dps: int | None) -> Any:
    """Root of grad(beta) - threshold at finite T: float grid + brentq, then mpmath secant if dps."""
    from scipy.optimize import brentq

    grid = np.geomspace(1e-3, 1e3, 121)
    vals = grad_wq_scaled_np(grid, qq, pp, sv2, T=T) - threshold
    above = np.nonzero(vals >= 0)[0]
    if above.size == 0:
        return math.inf
    i = int(above[0])
    if i == 0:
        return mpmath.mpf(grid[0]) if dps else float(grid[0])
    f = lambda b: grad_wq_scaled(b, qq, pp, sv2, T=T).grad_wq_scaled - threshold  # noqa: E731
    root = brentq(f, grid[i - 1], grid[i], xtol=1e-15, rtol=1e-15)
    if dps is None:
        return float(root)
    with mpmath.workdps(dps):
        fm = lambda b: grad_wq_scaled(b, qq, pp, sv2, T=T, dps=dps).grad_wq_scaled - threshold  # noqa: E731
        return mpmath.findroot(fm, (mpmath.mpf(root), mpmath.mpf(root) * (1 + mpmath.mpf(10) ** -9)),
                               solver="secant", tol=mpmath.mpf(10) ** (-2 * dps))


def grad_wq_scaled_np(beta: Any, q: Any, p: Any, sigma_v2: Any = 1.0, T: int | None = None) -> np.ndarray:
    """Vectorised float ``grad_wq_scaled(...).grad_wq_scaled`` (arrays broadcast), for grids.

    T None: the lambdified PD Piecewise; T given: prefactor times the bracket of
    ``finite_t.rem_moments_np`` (about 1e-12 relative).
    """
    b, qq, pp, sv2 = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (beta, q, p, sigma_v2)))
    if np.any(~(b > 0)) or np.any(~(qq > 0)) or np.any(~(np.abs(pp) <= qq)) or np.any(~(sv2 >= 0)):
        raise validate.InputError("need beta > 0, q > 0, |p| <= q and sigma_v2 >= 0")
    pref = b * sv2 * qq * (qq - pp) ** 2
    if T is None:
        return np.asarray(_pd_np()(b, qq, pp, sv2), dtype=float) * np.ones_like(b)
    from .finite_t import rem_moments_np

    validate.integer("T", T, 2)
    live = pp < qq  # q = p: prefactor 0 and logit variance 0
    br = np.zeros_like(b)
    if np.any(live):
        mom = rem_moments_np(b[live], qq[live], pp[live], int(T))
        br[live] = np.asarray(mom.Y2) - 2 * np.asarray(mom.Y3) + np.asarray(mom.Y2sq)
    return pref * br


@cache
def _pd_np() -> Callable[..., Any]:
    """numpy-lambdified asymptotic scaled gradient (Piecewise -> numpy.select)."""
    return sp.lambdify((beta, q, p, sigma_v2), grad_wq_pd_expr(), modules="numpy")


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

    Needs 0 <= p <= q (a common component cannot create negative overlaps).
    """
    common = rng.standard_normal(d)
    return math.sqrt(p) * common[None, :] + math.sqrt(q - p) * rng.standard_normal((T, d))


def attention_forward(x: np.ndarray, wq: np.ndarray, wk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Queries Q = x W_Q^T, keys K = x W_K^T and A = softmax_s(Q K^T / sqrt(d)) row-wise."""
    d = x.shape[1]
    queries, keys = x @ wq.T, x @ wk.T
    return queries, keys, _softmax_rows(queries @ keys.T / math.sqrt(d))


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row softmax, shifted by the row max for stability."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def loss(x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray, g: np.ndarray) -> float:
    """L = (1/T) sum_t g_t . y_t with y_t = sum_s A_ts W_V x_s."""
    _, _, att = attention_forward(x, wq, wk)
    return float(np.sum(g * (att @ (x @ wv.T))) / x.shape[0])


def logit_grad(att: np.ndarray, gv: np.ndarray) -> np.ndarray:
    """dL/da_ts = (1/T) A_ts (G_ts - sum_u A_tu G_tu), G_ts = g_t . W_V x_s (softmax Jacobian)."""
    T = att.shape[0]
    return att * (gv - np.sum(att * gv, axis=1, keepdims=True)) / T


def backward_qk(
    x: np.ndarray, wq: np.ndarray, wk: np.ndarray, wv: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Analytic dL/dW_Q = (1/sqrt d) (delta K)^T x and dL/dW_K = (1/sqrt d) (delta^T Q)^T x."""
    queries, keys, att = attention_forward(x, wq, wk)
    delta = logit_grad(att, g @ (x @ wv.T).T)
    s = math.sqrt(x.shape[1])
    return (delta @ keys).T @ x / s, (delta.T @ queries).T @ x / s


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
    (x, W_Q, W_K, W_V, g) at sigma_a = 1 serves every beta (results are correlated
    across betas, independent across seeds).
    """
    _check_sim(betas, d, T, q, p, sigma_v2, seeds)
    rng = np.random.default_rng(seed)
    scale = T / (d**2 * math.sqrt(math.log(T)))
    out = np.empty((len(betas), seeds, 3))
    for k in range(seeds):
        x = make_inputs(rng, d, T, q, p)
        keys1 = x @ rng.standard_normal((d, d)).T / math.sqrt(d)  # W_K at sigma_a = 1
        queries1 = x @ rng.standard_normal((d, d)).T / math.sqrt(d)
        logits1 = queries1 @ keys1.T / math.sqrt(d)
        v = x @ (math.sqrt(sigma_v2 / d) * rng.standard_normal((d, d))).T
        gv = rng.standard_normal((T, d)) @ v.T
        del v
        for i, b in enumerate(betas):
            sa = b * math.sqrt(math.log(T))
            att = _softmax_rows(sa * logits1)
            delta = logit_grad(att, gv)
            dwq = (delta @ keys1).T @ x * math.sqrt(sa / d)
            dwk = (delta.T @ queries1).T @ x * math.sqrt(sa / d)
            y2 = np.sum(att**2, axis=1)
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
        _validate(b, q, p, sv2, T, None)
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


# ----------------------------------------------------------------------------- plot
def plot_figure3(
    path: str,
    betas: Sequence[float] | None = None,
    configs: Sequence[tuple[int, int]] = ((256, 2048), (512, 4096)),
    q: float = 1.0,
    p: float = 0.0,
    sigma_v2: float = 1.0,
    seeds: int = 4,
    mc: bool = True,
    seed: int = 0,
) -> str:
    """Figure 3: scaled E||dL/dW_Q||^2 vs beta; asymptotic and finite-T theory, MC points.

    ``configs`` lists (d, T) pairs; finite-T curves are drawn for each distinct T and
    Monte Carlo points (mean +- standard error over ``seeds``) for each pair when
    ``mc``. Saves to ``path`` (format from the suffix, e.g. .png or .svg); returns path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mc_betas = list(betas) if betas is not None else [0.01, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0]
    fine = np.linspace(0.01, max(mc_betas), 120)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(fine, grad_wq_scaled_np(fine, q, p, sigma_v2), "k-", label=r"$T\to\infty$")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, T in enumerate(sorted({T for _, T in configs})):
        theory = grad_wq_scaled_np(fine, q, p, sigma_v2, T=T)
        ax.plot(fine, theory, "--", color=colors[i % len(colors)], label=f"theory T={T}")
    if mc:
        for j, (d, T) in enumerate(configs):
            sims = simulate_grad_wq_sweep(mc_betas, d, T, q, p, sigma_v2, seeds, seed)
            ax.errorbar(mc_betas, [s.grad_wq_scaled for s in sims], yerr=[s.grad_wq_err for s in sims],
                        fmt="os^v"[j % 4], ms=4, capsize=2, label=f"MC d={d}, T={T}")
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel(r"$\|\partial L/\partial W_Q\|_F^2\,T\,d^{-2}/\sqrt{\log T}$")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
