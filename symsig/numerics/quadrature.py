"""Gaussian kernels of activations, fast (numpy) and at any precision (mpmath).

For pre-activations (u, v) jointly Gaussian with E[u^2] = E[v^2] = q1 and
E[uv] = p1 (|p1| <= q1, c = p1/q1, s = sqrt(1 - c^2)) an MLP needs

    K_qq(q1)     = E[phi(u)^2],
    K_qp(q1, p1) = E[phi(u) phi(v)],

and, for the critical-point analysis, dK_qq/dq1 and dK_qp/dp1 = E[phi'(u) phi'(v)]
(Price's theorem).

Closed forms (exact; no quadrature): ``linear``, ``relu`` (arc-cosine kernel),
``erf`` (arcsine kernel) and ``gelu`` (phi(x) = x Phi(x); formula derived by
Gaussian integration by parts, see :func:`_gelu`).

Everything else (``tanh``, ``sigmoid``, ``swish`` = x sigmoid(x), user callables)
uses the truncated trapezoidal rule on the tensor grid z_k = k h, |z| <= L, for

    K_qp = E_{z1,z2}[phi(sqrt(q1) z1) phi(sqrt(q1) (c z1 + s z2))],  z1, z2 iid N(0, 1).

Why not Gauss-Hermite: for an integrand analytic in the strip |Im x| < d around
the real axis (tanh: d = pi/2, poles at i pi/2; sigmoid, swish: d = pi) the
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
  (discretisation target 10^-(dps+8) K_qq, fixed-point rounding below that);
  user callables: two successive halvings agree to 10^-(dps+2) K_qq.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import ceil, log, pi, sqrt
from typing import Any, Callable, Union

import mpmath
import numpy as np
from scipy import special as sps

ActivationLike = Union[str, Callable[[Any], Any]]

NAMES: tuple[str, ...] = ("tanh", "gelu", "erf", "relu", "linear", "sigmoid", "swish")
#: Activations whose kernels (and derivatives) are evaluated from exact formulas.
CLOSED_FORMS: frozenset[str] = frozenset({"linear", "relu", "erf", "gelu"})

_L_FLOAT = 9.0  # grid half-width in z: z^2 phi(z) beyond 9 is < 1e-17
_LOG_EPS_FLOAT = log(1e16) + 7.0  # 7 ~ log(1000): the pole prefactor measured for tanh
_H_GAUSS_FLOAT = 0.5  # exp(-2 pi^2 / h^2) for the Gaussian factor alone: 4e-35
_MAX_Q1 = 1.0e4  # beyond this the tanh grid needs > 8000 nodes per axis
_ADAPT_M0, _ADAPT_LEVELS = 18, 7  # user callables: m = 18 * 2^k half-width nodes
_CHUNK = 1 << 21  # lattice entries per numpy chunk (16 MB of float64)
_MP_GUARD = 8  # extra decimal digits of the mpmath discretisation target


class ConvergenceError(ValueError):
    """The adaptive quadrature for a user activation did not converge."""


# --------------------------------------------------------------------- activations
def _sigmoid_np(x: np.ndarray) -> np.ndarray:
    return sps.expit(x)


def _swish_np(x: np.ndarray) -> np.ndarray:
    return x * sps.expit(x)


def _dswish_np(x: np.ndarray) -> np.ndarray:
    e = sps.expit(x)
    return e + x * e * (1.0 - e)


def _gelu_np(x: np.ndarray) -> np.ndarray:
    return x * sps.ndtr(x)


def _dgelu_np(x: np.ndarray) -> np.ndarray:
    return sps.ndtr(x) + x * np.exp(-0.5 * x * x) / sqrt(2 * pi)


_PHI_NP: dict[str, tuple[Callable, Callable]] = {
    "tanh": (np.tanh, lambda x: 1.0 / np.cosh(x) ** 2),
    "sigmoid": (_sigmoid_np, lambda x: sps.expit(x) * sps.expit(-x)),
    "swish": (_swish_np, _dswish_np),
    "gelu": (_gelu_np, _dgelu_np),
    "erf": (sps.erf, lambda x: 2.0 / sqrt(pi) * np.exp(-x * x)),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float)),
    "linear": (lambda x: x, lambda x: np.ones_like(x)),
}

_PHI_MP: dict[str, tuple[Callable, Callable]] = {
    "tanh": (mpmath.tanh, lambda x: mpmath.sech(x) ** 2),
    "sigmoid": (lambda x: 1 / (1 + mpmath.exp(-x)), lambda x: 1 / (4 * mpmath.cosh(x / 2) ** 2)),
    "swish": (lambda x: x / (1 + mpmath.exp(-x)),
              lambda x: 1 / (1 + mpmath.exp(-x)) + x / (4 * mpmath.cosh(x / 2) ** 2)),
    "gelu": (lambda x: x * mpmath.ncdf(x), lambda x: mpmath.ncdf(x) + x * mpmath.npdf(x)),
    "erf": (mpmath.erf, lambda x: 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-x * x)),
    "relu": (lambda x: max(x, 0 * x), lambda x: (x > 0) * mpmath.mpf(1)),
    "linear": (lambda x: x, lambda x: mpmath.mpf(1)),
}


def activation_np(name: str, derivative: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """The vectorised numpy function phi (or phi' if ``derivative``) of a named activation."""
    if name not in _PHI_NP:
        return _resolve(name, None, False)[int(derivative)]
    return _PHI_NP[_check_name(name)][int(derivative)]


def activation_mp(name: str, derivative: bool = False) -> Callable[[Any], Any]:
    """The mpmath function phi (or phi' if ``derivative``) of a named activation."""
    if name not in _PHI_MP:
        return _resolve(name, None, True)[int(derivative)]
    return _PHI_MP[_check_name(name)][int(derivative)]


def _check_name(name: str) -> str:
    if name not in NAMES:
        raise ValueError(f"unknown activation {name!r}; choose from {', '.join(NAMES)} or pass a callable")
    return name


@lru_cache(maxsize=None)
def _registry_phi(name: str, mp: bool, derivative: bool) -> Callable[[Any], Any]:
    """phi (or phi') of a registered activation without a dedicated rule, lambdified from
    its one definition (:func:`symsig.theory.activations.phi`); it then takes the adaptive rule."""
    import sympy as sp

    from ..theory.activations import X, phi

    expr = sp.diff(phi(name), X) if derivative else phi(name)
    return sp.lambdify(X, expr, "mpmath" if mp else ["scipy", "numpy"])


def _resolve(act: Any, dact: Any, mp: bool) -> tuple[Any, Any]:
    """A registered name outside :data:`NAMES` becomes its lambdified (phi, phi')."""
    if isinstance(act, str) and act not in NAMES:
        from ..core.names import ACTIVATIONS

        if act in ACTIVATIONS:
            return _registry_phi(act, mp, False), _registry_phi(act, mp, True)
    return act, dact


# Fixed-point forms: phi is rational in x and T = tanh(kappa x), so the lattice
# phi(a_i + b_j) needs tanh only on 2n points (tanh addition formula).
def _fx_tanh(x: Any, t: Any, one: int, prec: int) -> Any:
    return t


def _fx_dtanh(x: Any, t: Any, one: int, prec: int) -> Any:
    return one - ((t * t) >> prec)


def _fx_sigmoid(x: Any, t: Any, one: int, prec: int) -> Any:
    return (one + t) >> 1


def _fx_dsigmoid(x: Any, t: Any, one: int, prec: int) -> Any:
    return (one - ((t * t) >> prec)) >> 2


def _fx_swish(x: Any, t: Any, one: int, prec: int) -> Any:
    return (x * (one + t)) >> (prec + 1)


def _fx_dswish(x: Any, t: Any, one: int, prec: int) -> Any:
    return ((one + t) >> 1) + ((x * (one - ((t * t) >> prec))) >> (prec + 2))


@dataclass(frozen=True)
class _Smooth:
    """A named smooth activation: analyticity strip half-width and fixed-point forms."""

    strip: float  # phi analytic for |Im x| < strip
    kappa: float  # phi rational in (x, tanh(kappa x))
    fx: Callable[..., Any]
    dfx: Callable[..., Any]
    odd: bool  # phi odd (phi' even): the lattice sum needs only rows z_i > 0


_SMOOTH: dict[str, _Smooth] = {
    "tanh": _Smooth(pi / 2, 1.0, _fx_tanh, _fx_dtanh, True),
    "sigmoid": _Smooth(pi, 0.5, _fx_sigmoid, _fx_dsigmoid, False),
    "swish": _Smooth(pi, 0.5, _fx_swish, _fx_dswish, False),
}


# --------------------------------------------------------------------- closed forms
class _NP:
    sqrt, atan2, pi = staticmethod(np.sqrt), staticmethod(np.arctan2), np.pi


class _MP:
    sqrt, atan2 = staticmethod(mpmath.sqrt), staticmethod(mpmath.atan2)

    @property
    def pi(self) -> Any:  # evaluated at the current working precision
        return +mpmath.pi


def _relu(q: Any, p: Any, m: Any) -> tuple[Any, Any, Any, Any]:
    """ReLU: K_qq = q/2, K_qp = (sqrt(q^2 - p^2) + p (pi - theta)) / (2 pi), theta = arccos(p/q);
    dK_qq/dq = 1/2, dK_qp/dp = (pi - theta) / (2 pi) = P(u > 0, v > 0)."""
    r = m.sqrt((q - p) * (q + p))  # factored: no cancellation as p -> +-q
    theta = m.atan2(r, p)
    return q / 2, (r + p * (m.pi - theta)) / (2 * m.pi), 0 * q + 0.5, (m.pi - theta) / (2 * m.pi)


def _erf(q: Any, p: Any, m: Any) -> tuple[Any, Any, Any, Any]:
    """erf: K_qp = (2/pi) arcsin(2p/(1+2q)) = (2/pi) atan(2p / sqrt((1+2q)^2 - 4p^2)),
    K_qq = (2/pi) atan(2q / sqrt(1+4q)); dK_qp/dp = 4 / (pi sqrt((1+2q)^2 - 4p^2)),
    dK_qq/dq = 4 / (pi (1+2q) sqrt(1+4q))."""
    d_qp = m.sqrt((1 + 2 * q - 2 * p) * (1 + 2 * q + 2 * p))
    d_qq = m.sqrt(1 + 4 * q)
    k_qq = 2 / m.pi * m.atan2(2 * q, d_qq)
    k_qp = 2 / m.pi * m.atan2(2 * p, d_qp)
    return k_qq, k_qp, 4 / (m.pi * (1 + 2 * q) * d_qq), 4 / (m.pi * d_qp)


def _gelu(q: Any, p: Any, m: Any) -> tuple[Any, Any, Any, Any]:
    """GELU phi(x) = x Phi(x). With S = sqrt((1+q)^2 - p^2), r = arcsin(p/(1+q)),
    N = q^2 + p^2 (1-q)/(1+q):
        K_qp = p/4 + p r/(2 pi) + N / (2 pi S),
        K_qq = q/4 + q arcsin(q/(1+q))/(2 pi) + q^2 / (pi (1+q) sqrt(1+2q)),
        dK_qp/dp = 1/4 + r/(2 pi) + p/(2 pi S) + p (1-q)/(pi (1+q) S) + N p/(2 pi S^3),
        dK_qq/dq = 1/4 + r_q/(2 pi) + q/(2 pi (1+q) R) + (2q/((1+q) R) - q^2/((1+q)^2 R)
                   - q^2/((1+q) R^3)) / pi,  R = sqrt(1+2q), r_q = arcsin(q/(1+q)).
    Derivation: Stein's lemma E[u h] = q E[d_u h] + p E[d_v h] applied twice gives
    K_qp = p E[Phi(u)Phi(v)] + E[phi_N(u) phi_N(v)] (q^2 + p^2 - 2 q p^2/(1+q)), with
    E[Phi(u)Phi(v)] = 1/4 + arcsin(p/(1+q))/(2 pi), E[phi_N(u)phi_N(v)] = 1/(2 pi S)."""
    s = m.sqrt((1 + q - p) * (1 + q + p))
    r = m.atan2(p, s)
    n = q * q + p * p * (1 - q) / (1 + q)
    k_qp = p / 4 + p * r / (2 * m.pi) + n / (2 * m.pi * s)
    d_qp = (0.25 + r / (2 * m.pi) + p / (2 * m.pi * s) + p * (1 - q) / (m.pi * (1 + q) * s)
            + n * p / (2 * m.pi * s ** 3))
    rq = m.sqrt(1 + 2 * q)
    aq = m.atan2(q, rq)  # arcsin(q/(1+q))
    k_qq = q / 4 + q * aq / (2 * m.pi) + q * q / (m.pi * (1 + q) * rq)
    d_qq = (0.25 + aq / (2 * m.pi) + q / (2 * m.pi * (1 + q) * rq)
            + (2 * q / ((1 + q) * rq) - q * q / ((1 + q) ** 2 * rq) - q * q / ((1 + q) * rq ** 3)) / m.pi)
    return k_qq, k_qp, d_qq, d_qp


def _linear(q: Any, p: Any, m: Any) -> tuple[Any, Any, Any, Any]:
    """linear: K_qq = q, K_qp = p, both derivatives 1."""
    return q, p, 0 * q + 1, 0 * p + 1


_CLOSED: dict[str, Callable[..., tuple[Any, Any, Any, Any]]] = {
    "relu": _relu, "erf": _erf, "gelu": _gelu, "linear": _linear,
}


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


def _check_mp(q1: Any, p1: Any) -> tuple[Any, Any]:
    q, p = mpmath.mpf(q1), mpmath.mpf(p1)
    if not (mpmath.isfinite(q) and mpmath.isfinite(p)):
        raise ValueError("q1 and p1 must be finite")
    if q <= 0:
        raise ValueError("q1 (pre-activation variance) must be positive")
    if abs(p) > q * (1 + mpmath.ldexp(1, 8 - mpmath.mp.prec)):
        raise ValueError("|p1| must not exceed q1 (correlation outside [-1, 1])")
    return q, max(-q, min(q, p))


def _check_dps(dps: Any) -> int:
    if not isinstance(dps, (int, np.integer)) or isinstance(dps, bool) or dps < 1:
        raise ValueError("dps must be a positive integer")
    return int(dps)


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
    """(K_qq, K_qp) or (dK_qq/dq1, dK_qp/dp1) for tanh/sigmoid/swish on a priori grids."""
    if np.any(q > _MAX_Q1):
        raise ValueError(f"q1 > {_MAX_Q1:g} is not supported for {name} (quadrature grid too large)")
    spec = _SMOOTH[name]
    sigma, c = np.sqrt(q).ravel(), (p / q).ravel()
    ms = _m_for(sigma, spec.strip)
    first, second = np.empty_like(sigma), np.empty_like(sigma)
    phi, dphi = _PHI_NP[name]
    sym = -1 if spec.odd else 0  # phi' of an odd phi is even: same half lattice
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


def kernel_np(act: ActivationLike, q1: Any, p1: Any) -> tuple[np.ndarray, np.ndarray]:
    """Float kernels (K_qq, K_qp) = (E[phi(u)^2], E[phi(u) phi(v)]), vectorised.

    ``q1``, ``p1`` broadcast against each other (scalars give numpy scalars).
    ``act`` is a name in :data:`NAMES` or a vectorised numpy callable (must be
    analytic near the real axis for the adaptive trapezoidal rule to converge).
    Closed forms for linear/relu/erf/gelu; trapezoid on z-grids otherwise (module
    docstring: method and precision).
    """
    q, p = _check_np(q1, p1)
    act, _ = _resolve(act, None, False)
    if callable(act):
        return tuple(map(_out, _user_np(act, q, p, False)))  # type: ignore[return-value]
    name = _check_name(act)
    if name in _CLOSED:
        k_qq, k_qp, _, _ = _CLOSED[name](q, p, _NP)
        return _out(np.asarray(k_qq, dtype=float)), _out(np.asarray(k_qp, dtype=float))
    return tuple(map(_out, _named_smooth_np(name, q, p, False)))  # type: ignore[return-value]


def dkernel_np(act: ActivationLike, q1: Any, p1: Any, *,
               dact: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Float derivatives (dK_qq/dq1, dK_qp/dp1), vectorised like :func:`kernel_np`.

    dK_qp/dp1 = E[phi'(u) phi'(v)] (Price's theorem); dK_qq/dq1 = E[phi(u)^2 (u^2/q1 - 1)] / (2 q1)
    (differentiating the N(0, q1) density), both exact formulas for the closed forms.
    A user callable needs ``dact`` = phi' for the p1-derivative.
    """
    q, p = _check_np(q1, p1)
    act, dact = _resolve(act, dact, False)
    if callable(act):
        if dact is None:
            raise ValueError("dkernel_np needs dact=phi' for a user activation")
        return tuple(map(_out, _user_np(act, q, p, True, dact)))  # type: ignore[return-value]
    name = _check_name(act)
    if name in _CLOSED:
        _, _, d_qq, d_qp = _CLOSED[name](q, p, _NP)
        return _out(np.asarray(d_qq, dtype=float)), _out(np.asarray(d_qp, dtype=float))
    return tuple(map(_out, _named_smooth_np(name, q, p, True)))  # type: ignore[return-value]


# --------------------------------------------------------------------- mpmath engine
@lru_cache(maxsize=32)
def _grid_mp(dps: int, m: int, half_width: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Nodes k L/m and normalised Gaussian weights at working precision dps (cached)."""
    with mpmath.workdps(dps):
        h = mpmath.mpf(half_width) / m
        z = [k * h for k in range(-m, m + 1)]
        w = [mpmath.exp(-x * x / 2) for x in z]
        tot = mpmath.fsum(w)
        return tuple(z), tuple(x / tot for x in w)


def _mp_plan(dps: int, sigma: Any, strip: float) -> tuple[int, str]:
    """Grid (m, L) for discretisation error ~ 10^-(dps + guard) relative to K_qq."""
    log_eps = (dps + _MP_GUARD) * log(10)
    half = ceil(sqrt(2 * log_eps + 4 * log(2 * log_eps))) + 1  # z^2 phi(z) tail below eps
    h = min(pi * sqrt(2 / (log_eps + 5)), 2 * pi * strip / (float(sigma) * (log_eps + 7)))
    return int(ceil(half / h)), str(half)


def _obj(values: Any) -> np.ndarray:
    return np.array(list(values), dtype=object)


def _fixed_mp(name: str, q: Any, c: Any, dps: int, deriv: bool) -> tuple[Any, Any]:
    """Named smooth activation at precision dps by the trapezoid in fixed-point integers.

    phi(a_i + b_j) comes from T = tanh(kappa (a_i + b_j)) = (A_i + B_j) / (1 + A_i B_j),
    so only 3n tanh evaluations are in mpmath and the n^2 lattice is integer arithmetic.
    Cancellation in 1 + A B when a ~ -b is why the fixed point carries
    2 kappa max|a| log2(e) extra bits."""
    spec = _SMOOTH[name]
    work = dps + _MP_GUARD + 5
    with mpmath.workdps(work):
        sigma = mpmath.sqrt(q)
        s = mpmath.sqrt((1 - c) * (1 + c))
        m, half = _mp_plan(dps, sigma, spec.strip)
        z, w = _grid_mp(work, m, half)
        amax = float(sigma) * float(half) * (abs(float(c)) + float(s)) * spec.kappa
        bits = mpmath.mp.prec + 30 + int(2 * amax * 1.4427) + max(0, int(-log(float(q), 2)))
        one = 1 << bits

        def fix(x: Any) -> int:
            return int(mpmath.nint(mpmath.ldexp(x, bits)))

        kap = mpmath.mpf(spec.kappa)
        xa = _obj(fix(sigma * c * x) for x in z)
        xb = _obj(fix(sigma * s * x) for x in z)
        ta = _obj(fix(mpmath.tanh(kap * sigma * c * x)) for x in z)
        tb = _obj(fix(mpmath.tanh(kap * sigma * s * x)) for x in z)
        xu = _obj(fix(sigma * x) for x in z)
        tu = _obj(fix(mpmath.tanh(kap * sigma * x)) for x in z)
        wf = _obj(fix(x) for x in w)
        t = ((ta[:, None] + tb[None, :]) << bits) // (one + ((ta[:, None] * tb[None, :]) >> bits))
        f = spec.dfx if deriv else spec.fx
        lattice = f(xa[:, None] + xb[None, :], t, one, bits)
        row = (lattice * wf[None, :]).sum(axis=1)
        k_qp = mpmath.ldexp(mpmath.mpf(int(((wf * f(xu, tu, one, bits)) * row).sum())), -4 * bits)
        pu = spec.fx(xu, tu, one, bits)
        if deriv:  # score form of dK_qq/dq1
            zz = _obj(fix(x * x - 1) for x in z)
            k_qq = mpmath.ldexp(mpmath.mpf(int((wf * pu * pu * zz).sum())), -4 * bits) / (2 * q)
        else:
            k_qq = mpmath.ldexp(mpmath.mpf(int((wf * pu * pu).sum())), -3 * bits)
        return k_qq, k_qp


def _trap_mp(phi: Callable, q: Any, c: Any, m: int, half: str, work: int,
             moments: bool) -> tuple[Any, Any, Any]:
    """Generic mpmath trapezoid: (sum w phi^2 [(z^2-1)], sum w phi^2, K_qp sum)."""
    z, w = _grid_mp(work, m, half)
    sigma, s = mpmath.sqrt(q), mpmath.sqrt((1 - c) * (1 + c))
    a = [phi(sigma * x) for x in z]
    plain = mpmath.fdot(w, [x * x for x in a])
    diag = mpmath.fdot(w, [x * x * (y * y - 1) for x, y in zip(a, z)]) if moments else plain
    rows = [mpmath.fdot(w, [phi(sigma * (c * x + s * y)) for y in z]) for x in z]
    return diag, plain, mpmath.fdot([wi * ai for wi, ai in zip(w, a)], rows)


def _adaptive_mp(phi: Callable, q: Any, c: Any, dps: int, moments: bool) -> tuple[Any, Any]:
    work = dps + 10
    with mpmath.workdps(work):
        half = str(ceil(sqrt(2 * (dps + 4) * log(10) + 4 * log(2 * (dps + 4) * log(10)))) + 1)
        prev = None
        for level in range(_ADAPT_LEVELS + 2):
            d, plain, k = _trap_mp(phi, q, c, _ADAPT_M0 << level, half, work, moments)
            if prev is not None and max(abs(d - prev[0]), abs(k - prev[1])) <= \
                    mpmath.mpf(10) ** (-dps - 2) * abs(plain):
                return d, k
            prev = (d, k)
    raise ConvergenceError(f"quadrature did not converge to {dps} digits for the user activation "
                           "(is phi smooth? non-smooth phi need a closed form)")


def _kernel_mp(act: ActivationLike, q1: Any, p1: Any, dps: int, deriv: bool,
               dact: Callable | None) -> tuple[Any, Any]:
    dps = _check_dps(dps)
    act, dact = _resolve(act, dact, True)
    with mpmath.workdps(dps + 10):
        q, p = _check_mp(q1, p1)
        c = p / q
        if callable(act):
            if deriv and dact is None:
                raise ValueError("dkernel_mp needs dact=phi' for a user activation")
            d, k = _adaptive_mp(act, q, c, dps, deriv)
            res = (d / (2 * q), _adaptive_mp(dact, q, c, dps, False)[1]) if deriv else (d, k)
        elif _check_name(act) in _CLOSED:
            res = _CLOSED[act](q, p, _MP())[2:] if deriv else _CLOSED[act](q, p, _MP())[:2]
        else:
            res = _fixed_mp(act, q, c, dps, deriv)
    with mpmath.workdps(dps + 3):  # 3 guard digits beyond the promised dps
        return +res[0], +res[1]


def kernel_mp(act: ActivationLike, q1: Any, p1: Any, *, dps: int) -> tuple[Any, Any]:
    """(K_qq, K_qp) = (E[phi(u)^2], E[phi(u) phi(v)]) as mpf, correct to ``dps`` digits.

    Scalars only (int, float, str or mpf; strings are read at working precision).
    Works inside ``mpmath.workdps(dps + 10)``; the global precision is unchanged.
    Results carry dps + 3 digits (print them with ``mpmath.nstr(x, dps)``).
    A user callable takes and returns mpf.
    """
    return _kernel_mp(act, q1, p1, dps, False, None)


def dkernel_mp(act: ActivationLike, q1: Any, p1: Any, *, dps: int,
               dact: Callable | None = None) -> tuple[Any, Any]:
    """(dK_qq/dq1, dK_qp/dp1) as mpf to ``dps`` digits (formulas as in :func:`dkernel_np`)."""
    return _kernel_mp(act, q1, p1, dps, True, dact)
