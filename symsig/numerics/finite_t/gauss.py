"""One-state Gaussian expectations in float (docs/theory.md §4.1, "Numerics").

For a shift u and x = u + z, z ~ N(0, s2), sigma = sqrt(s2):

    A_k(u) = E[exp(k x - e^x)],   L(u) = E[exp(-e^x)],   1 - L(u) = E[-expm1(-e^x)].

* sigma < 0.5: Gauss-Hermite in z (48 nodes).
* sigma >= 0.5: Gauss-Legendre in x on [-6, 4.2] (the functions of x are localised
  there) plus the exact left tail: for x < -6, exp(j x) integrates against the Gaussian
  in closed form, int_{-inf}^{-X} e^{jx} phi_sigma(x-u) dx = e^{ju + j^2 s2/2}
  Phi((-X - u - j s2)/sigma), and the Taylor series of exp(-e^x) converges like
  e^{-6j}/j!; the right tail x > 4.2 only contributes Phi((u - 4.2)/sigma) to 1 - L.

Accuracy ~1e-15 relative to the larger of the value and its tail bounds. Also the outer
range of the u-integrals: :func:`u_range` brackets where s(u) = log((n-1)(-log L(u))),
the exponent of L^(n-1), crosses two levels.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import log_ndtr, ndtr, roots_hermite, roots_legendre

SIGMA_GH = 0.5           #: below: Gauss-Hermite in z; above: Legendre in x + exact left tail
X_LEFT = 6.0             #: x < -6 handled by the closed-form series
_N_TERMS = 7             # series terms: e^{-6*7}/7! ~ 1e-22
_X_RIGHT = 4.2           # exp(-e^4.2) ~ 1e-29


@lru_cache(maxsize=1)
def _gh_nodes() -> tuple[np.ndarray, np.ndarray]:
    z, w = roots_hermite(48)
    return z * math.sqrt(2.0), w / math.sqrt(math.pi)


@lru_cache(maxsize=1)
def _x_nodes() -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes on [-6, 4.2]; finer where exp(-e^x) bends."""
    panels = [(-X_LEFT, -3.0, 20), (-3.0, 0.0, 20), (0.0, 2.0, 20), (2.0, _X_RIGHT, 24)]
    xs, ws = [], []
    for a, b, m in panels:
        t, w = roots_legendre(m)
        xs.append(0.5 * (b - a) * t + 0.5 * (a + b))
        ws.append(0.5 * (b - a) * w)
    return np.concatenate(xs), np.concatenate(ws)


def inner_np(u: np.ndarray, sig: np.ndarray, ks: tuple[int, ...]) -> dict:
    """1-D expectations at shifts u (shape (P, U)) for sigma (shape (P, 1)), sigma > 0.

    Returns {'om': 1 - L, 'L': L, k: A_k for k in ks}; rows with sigma < 0.5 use
    Gauss-Hermite, the others Legendre-in-x plus the exact left tail.
    """
    out = {key: np.empty(u.shape) for key in ("om", "L", *ks)}
    small = sig[:, 0] < SIGMA_GH
    if small.any():
        z, w = _gh_nodes()
        x = u[small][..., None] + sig[small][..., None] * z
        with np.errstate(over="ignore"):
            ex = np.exp(x)
        out["om"][small] = (-np.expm1(-ex)) @ w
        out["L"][small] = np.exp(-ex) @ w
        for k in ks:
            out[k][small] = np.exp(k * x - ex) @ w
    big = ~small
    if big.any():
        for key, val in _inner_big(u[big], sig[big], ks).items():
            out[key][big] = val
    return out


def inner_1d(y: np.ndarray, sig: float, ks: tuple[int, ...]) -> dict:
    """:func:`inner_np` for one sigma > 0 at shifts y of any shape."""
    res = inner_np(y.reshape(1, -1), np.array([[sig]]), ks)
    return {key: val.reshape(y.shape) for key, val in res.items()}


def _inner_big(u: np.ndarray, sig: np.ndarray, ks: tuple[int, ...]) -> dict:
    xg, wg = _x_nodes()
    s2 = sig * sig
    # Gaussian kernel phi_sigma(x_i - u) on the grid
    d = (xg - u[..., None]) / sig[..., None]
    kern = np.exp(-0.5 * d * d) / (sig[..., None] * math.sqrt(2.0 * math.pi))
    ex = np.exp(xg)
    cols = [wg * -np.expm1(-ex), wg * np.exp(-ex)] + [wg * np.exp(k * xg - ex) for k in ks]
    grid = kern @ np.stack(cols, axis=1)
    # closed-form left tail: E_r = int_{-inf}^{-X} e^{r x} phi_sigma(x - u) dx
    e_r = {r: np.exp(r * u + 0.5 * r * r * s2 + log_ndtr((-X_LEFT - u - r * s2) / sig))
           for r in range(1, max(ks, default=0) + _N_TERMS + 1)}
    tail_s = sum((-1) ** (j + 1) / math.factorial(j) * e_r[j] for j in range(1, _N_TERMS + 1))
    out = {"om": grid[..., 0] + tail_s + ndtr((u - _X_RIGHT) / sig),
           "L": grid[..., 1] + ndtr((-X_LEFT - u) / sig) - tail_s}
    for i, k in enumerate(ks):
        out[k] = grid[..., 2 + i] + sum((-1) ** j / math.factorial(j) * e_r[k + j] for j in range(_N_TERMS))
    return out


def log_l(inner: dict) -> np.ndarray:
    """log L, from log1p(-(1-L)) when L is near 1 and from L itself when L is small."""
    om, lv = inner["om"], inner["L"]
    with np.errstate(divide="ignore"):
        return np.where(om < 0.5, np.log1p(-np.minimum(om, 0.5)), np.log(np.maximum(lv, 0.0)))


def u_range(sig: np.ndarray, n: np.ndarray, s_lo: float, s_hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Bracket [u_lo, u_hi] with s(u_lo) ~ s_lo, s(u_hi) ~ s_hi (vectorised bisection to 0.3).

    sig: shape (P, 1), sigma > 0; n: shape (P,), n >= 2 (real). Bounds: 1 - L <= e^{u + s2/2}
    gives u_lo >= s_lo - log(n-1) - s2/2; L <= Phi((4-u)/sigma) + exp(-e^4) gives
    u_hi <= 5 + 10 sigma.
    """
    log_nm1 = np.log(n - 1.0)[:, None]
    lo = s_lo - log_nm1[:, 0] - 0.5 * sig[:, 0] ** 2 - 2.0
    hi = 6.0 + 11.0 * sig[:, 0] + 0.0 * lo
    a, b = np.stack([lo, lo], axis=1), np.stack([hi, hi], axis=1)
    target = np.array([s_lo, s_hi])
    for _ in range(40):
        mid = 0.5 * (a + b)
        with np.errstate(divide="ignore"):
            s_mid = log_nm1 + np.log(-log_l(inner_np(mid, sig, ())))
        below = s_mid < target
        a, b = np.where(below, mid, a), np.where(below, b, mid)
        if np.all(b - a < 0.3):
            break
    return a[:, 0], b[:, 1]
