"""Gaussian kernels of activations: the float trapezoid engine and the public API.

For pre-activations (u, v) jointly Gaussian with E[u^2] = E[v^2] = q1 and
E[uv] = p1 (|p1| <= q1, c = p1/q1, s = sqrt(1 - c^2)) an MLP needs

    K_qq(q1)     = E[phi(u)^2],
    K_qp(q1, p1) = E[phi(u) phi(v)],

and, for the critical-point analysis, dK_qq/dq1 and dK_qp/dp1 = E[phi'(u) phi'(v)]
(Price's theorem). :func:`kernel_np`, :func:`dkernel_np` (float, vectorised) live here;
:func:`kernel_mp`, :func:`dkernel_mp` (any precision) in :mod:`symsig.numerics.quadrature_mp`
and phi, phi' (:func:`activation_np`, :func:`activation_mp`) in
:mod:`symsig.numerics.activations`, both re-exported here.

Closed forms (exact; no quadrature): ``linear``, ``relu`` (arc-cosine kernel),
``erf`` (arcsine kernel) and ``gelu`` (phi(x) = x Phi(x)), compiled from
:mod:`symsig.theory.activations` with their sp.diff derivatives.

Everything else (``tanh``, ``sigmoid``, ``swish`` = x sigmoid(x), GPT-2's ``gelu_tanh``,
user callables) uses the truncated trapezoidal rule on the tensor grid z_k = k h, |z| <= L, for

    K_qp = E_{z1,z2}[phi(sqrt(q1) z1) phi(sqrt(q1) (c z1 + s z2))],  z1, z2 iid N(0, 1).

Why not Gauss-Hermite: for an integrand analytic in the strip |Im x| < d around
the real axis (tanh: d = pi/2, poles at i pi/2; sigmoid, swish: d = pi; gelu_tanh:
d >= 2.73, :func:`symsig.theory.activations.strip`) the
trapezoidal error is ~ exp(-2 pi d / h_x) with h_x = sqrt(q1) h the spacing in x,
so the node count grows like sqrt(q1) * log(1/eps); Gauss-Hermite spends its nodes
on +-sqrt(2n) and needs n ~ q1 nodes for the same accuracy. Measured for tanh,
q1 = 1, c = 0.5: 73 nodes per axis give 8e-15 relative error (tanh at q1 = 25:
361 nodes, 1e-16). c -> +-1 needs no special care for smooth phi: the integrand
in z2 only gets smoother (its scale is 1/(sqrt(q1) s)), and at c = 1 the rule
returns exactly the K_qq sum (weights are normalised to sum to 1).
Non-smooth phi (relu) use their closed form; a non-smooth *user* phi makes the
adaptive rule stall and raises :class:`ConvergenceError`.

Precision contract:
* float: named smooth activations, |error| <= 1e-14 K_qq (so <= 1e-12 relative
  whenever |K_qp| >= 1e-2 K_qq; near a zero of K_qp the bound is absolute);
  closed forms to a few ulps; user callables: the adaptive rule stops when two
  successive halvings of h agree to 1e-13 K_qq.
* mpmath: |error| <= 10^-dps * max(|K_qp|, 1e-8 K_qq) for named activations
  (discretisation target 10^-(dps+8) K_qq, rounding below that);
  user callables: two successive halvings agree to 10^-(dps+2) K_qq.
"""
from __future__ import annotations

from functools import lru_cache
from math import log, pi, sqrt
from typing import Any, Callable

import numpy as np

from .activations import (CLOSED_FORMS, NAMES, ActivationLike, ConvergenceError, activation_mp,  # noqa: F401
                          activation_np, check_name, closed_np, smooth)
from .quadrature_mp import dkernel_mp, kernel_mp  # noqa: F401  (the mpmath half of the public API)

_L_FLOAT = 9.0  # grid half-width in z: z^2 phi(z) beyond 9 is < 1e-17
_LOG_EPS_FLOAT = log(1e16) + 7.0  # 7 ~ log(1000): the pole prefactor measured for tanh
_H_GAUSS_FLOAT = 0.5  # exp(-2 pi^2 / h^2) for the Gaussian factor alone: 4e-35
_MAX_Q1 = 1.0e4  # beyond this the tanh grid needs > 8000 nodes per axis
_ADAPT_M0, _ADAPT_LEVELS = 18, 7  # user callables: m = 18 * 2^k half-width nodes
_CHUNK = 1 << 21  # lattice entries per numpy chunk (16 MB of float64)


# --------------------------------------------------------------------- input checks
def _check_np(q1: Any, p1: Any) -> tuple[np.ndarray, np.ndarray]:
    q, p = np.broadcast_arrays(np.asarray(q1, dtype=float), np.asarray(p1, dtype=float))
    if not np.isfinite(q + p).all():
        raise ValueError("q1 and p1 must be finite")
    if (q <= 0).any():
        raise ValueError("q1 (pre-activation variance) must be positive")
    if (np.abs(p) > q * (1 + 1e-12)).any():
        raise ValueError("|p1| must not exceed q1 (correlation outside [-1, 1])")
    return q, np.clip(p, -q, q)  # absorb rounding up to 1e-12 relative


def _out(x: np.ndarray) -> np.ndarray:
    return x[()] if x.ndim == 0 else x


# --------------------------------------------------------------------- float engine
@lru_cache(maxsize=64)
def _grid_np(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid nodes z_k = k L/m (|k| <= m) and normalised Gaussian weights."""
    z = np.arange(-m, m + 1) * (_L_FLOAT / m)
    w = np.exp(-0.5 * z * z)
    return z, w / w.sum()


def _m_for(sigma: np.ndarray, strip: float) -> np.ndarray:
    """Half-width node count for spacing h = min(h_gauss, 2 pi strip / (sigma log(1/eps)))."""
    h = np.minimum(_H_GAUSS_FLOAT, 2 * pi * strip / (sigma * _LOG_EPS_FLOAT))
    m = np.ceil(_L_FLOAT / h)
    ladder = np.ceil(2.0 ** (np.ceil(4 * np.log2(m)) / 4))  # 2^(1/4) steps: few distinct grids
    return ladder.astype(int)


def _trap_np(phi: Callable, sigma: np.ndarray, c: np.ndarray, m: int,
             moments: bool, sym: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid sums for a 1-D batch sharing the grid m.

    Returns (sum_i w_i phi(sigma z_i)^2 [times (z_i^2 - 1) if moments], K_qp sum).
    sym = +1 (phi even) or -1 (phi odd): the (i, j) and (-i, -j) lattice terms are
    equal, so only rows z_i >= 0 are evaluated (row 0 once, the others twice)."""
    z, w = _grid_np(m)
    s = np.sqrt((1 - c) * (1 + c))
    a = phi(sigma[:, None] * z)
    diag = (a * a * (z * z - 1)) @ w if moments else (a * a) @ w
    if sym:
        a = a[:, m:] * np.where(np.arange(m + 1) == 0, 1.0, 2.0)
        return diag, _lattice(phi, sigma, c, s, z[m:], z, a, w[m:], w)
    return diag, _lattice(phi, sigma, c, s, z, z, a, w, w)


def _lattice(phi: Callable, sigma: np.ndarray, c: np.ndarray, s: np.ndarray, zr: np.ndarray,
             z: np.ndarray, a: np.ndarray, wr: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sum_ij wr_i a_i w_j phi(sigma (c zr_i + s z_j)) per batch element, in chunks of
    at most _CHUNK lattice entries (batch elements, or row blocks of one big grid)."""
    wa = wr * a
    size = len(zr) * len(z)
    if size > _CHUNK:  # one very large grid: accumulate row blocks
        step = max(1, _CHUNK // len(z))
        return np.array([sum(wa[b, i:i + step] @ phi(sigma[b] * (c[b] * zr[i:i + step, None] + s[b] * z)) @ w
                             for i in range(0, len(zr), step)) for b in range(len(sigma))])
    kqp = np.empty(len(sigma))
    rows = max(1, _CHUNK // size)
    for lo in range(0, len(sigma), rows):
        sl = slice(lo, lo + rows)
        x = sigma[sl, None, None] * (c[sl, None, None] * zr[:, None] + s[sl, None, None] * z)
        kqp[sl] = np.einsum("bi,bij,j->b", wa[sl], phi(x), w)
    return kqp


def _named_smooth_np(name: str, q: np.ndarray, p: np.ndarray, deriv: bool) -> tuple[np.ndarray, np.ndarray]:
    """(K_qq, K_qp) or (dK_qq/dq1, dK_qp/dp1) of a named smooth activation on a priori grids."""
    if np.any(q > _MAX_Q1):
        raise ValueError(f"q1 > {_MAX_Q1:g} is not supported for {name} (quadrature grid too large)")
    spec = smooth(name)
    sigma, c = np.sqrt(q).ravel(), (p / q).ravel()
    ms = _m_for(sigma, spec.strip)
    first, second = np.empty_like(sigma), np.empty_like(sigma)
    phi, dphi = activation_np(name), activation_np(name, True)
    sym = spec.parity  # phi' has the opposite parity
    for m in np.unique(ms):
        idx = np.nonzero(ms == m)[0]
        d, k = _trap_np(phi, sigma[idx], c[idx], int(m), moments=deriv, sym=0 if deriv else sym)
        first[idx] = d / (2 * q.ravel()[idx]) if deriv else d
        second[idx] = _trap_np(dphi, sigma[idx], c[idx], int(m), False, -sym)[1] if deriv else k
    return first.reshape(q.shape), second.reshape(q.shape)


def _adaptive_np(phi: Callable, q: float, c: float, moments: bool) -> tuple[float, float]:
    """Halve h until both sums change by <= 1e-13 K_qq; raise if that never happens."""
    sigma, cc = np.array([sqrt(q)]), np.array([c])
    prev = None
    for level in range(_ADAPT_LEVELS):
        d, k = _trap_np(phi, sigma, cc, _ADAPT_M0 << level, moments)
        cur = np.array([d[0], k[0]])
        scale = abs(_trap_np(phi, sigma, cc, _ADAPT_M0 << level, False)[0][0]) if moments else abs(cur[0])
        if not np.all(np.isfinite(cur)):
            raise ValueError("the user activation returned non-finite values")
        if prev is not None and np.all(np.abs(cur - prev) <= 1e-13 * max(scale, 1e-300)):
            return float(cur[0]), float(cur[1])
        prev = cur
    raise ConvergenceError("quadrature did not converge to 1e-13 for the user activation "
                           "(is phi smooth? non-smooth phi need a closed form)")


def _user_np(fn: Callable, q: np.ndarray, p: np.ndarray, moments: bool,
             dfn: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    first, second = np.empty(q.size), np.empty(q.size)
    for i, (qq, pp) in enumerate(zip(q.ravel(), p.ravel())):
        d, k = _adaptive_np(fn, float(qq), float(pp / qq), moments)
        first[i] = d / (2 * qq) if moments else d
        second[i] = _adaptive_np(dfn, float(qq), float(pp / qq), False)[1] if dfn is not None else k
    return first.reshape(q.shape), second.reshape(q.shape)


def _closed(name: str, q: np.ndarray, p: np.ndarray, deriv: bool) -> tuple[np.ndarray, np.ndarray]:
    out = [np.asarray(x, dtype=float) for x in closed_np(name, deriv)(q, p)]  # radicands >= 0 as |p| <= q
    return tuple(_out(x if x.shape == q.shape else np.full(q.shape, x)) for x in out)  # type: ignore[return-value]


def kernel_np(act: ActivationLike, q1: Any, p1: Any) -> tuple[np.ndarray, np.ndarray]:
    """Float kernels (K_qq, K_qp) = (E[phi(u)^2], E[phi(u) phi(v)]), vectorised.

    ``q1``, ``p1`` broadcast against each other (scalars give numpy scalars).
    ``act`` is a name in :data:`NAMES` or a vectorised numpy callable (must be
    analytic near the real axis for the adaptive trapezoidal rule to converge).
    Closed forms for linear/relu/erf/gelu; trapezoid on z-grids otherwise (module
    docstring: method and precision).
    """
    q, p = _check_np(q1, p1)
    if callable(act):
        return tuple(map(_out, _user_np(act, q, p, False)))  # type: ignore[return-value]
    if check_name(act) in CLOSED_FORMS:
        return _closed(act, q, p, False)
    return tuple(map(_out, _named_smooth_np(act, q, p, False)))  # type: ignore[return-value]


def dkernel_np(act: ActivationLike, q1: Any, p1: Any, *,
               dact: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Float derivatives (dK_qq/dq1, dK_qp/dp1), vectorised like :func:`kernel_np`.

    dK_qp/dp1 = E[phi'(u) phi'(v)] (Price's theorem); dK_qq/dq1 = E[phi(u)^2 (u^2/q1 - 1)] / (2 q1)
    (differentiating the N(0, q1) density), both exact formulas for the closed forms.
    A user callable needs ``dact`` = phi' for the p1-derivative.
    """
    q, p = _check_np(q1, p1)
    if callable(act):
        if dact is None:
            raise ValueError("dkernel_np needs dact=phi' for a user activation")
        return tuple(map(_out, _user_np(act, q, p, True, dact)))  # type: ignore[return-value]
    if check_name(act) in CLOSED_FORMS:
        return _closed(act, q, p, True)
    return tuple(map(_out, _named_smooth_np(act, q, p, True)))  # type: ignore[return-value]


