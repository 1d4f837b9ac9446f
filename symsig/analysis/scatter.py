"""The scatter of the order parameters over networks at finite width, and its drag on their mean
(docs/finite_width.md §11).

At finite width every network has its own (q, p): all its tokens share its weights, so the
feature-sampling noise of each weight matrix is common to every token pair and does not average
out over the sequence. Over networks (q, p) after layer l is a random vector with mean m_l and an
O(1/d) covariance S_l. The finite-width maps give the mean of a layer's output *given* its input,
f(m); over networks the mean is E f = f(m) + 1/2 f''(m):S, and the covariance is carried on as

    S' = J S J^T + I(m),        m' = f(m) + 1/2 H(m):S,

with J, H the Jacobian and Hessian of the layer map and I what the layer injects. A weight matrix
followed by an elementwise function makes its d output features i.i.d. given the input, so the
output Gram is a sample mean over d features: I = Cov_feature / d (:func:`feature_covariance`).
That is the injection of the input tokens (their common component), of a Dense layer, of the
MLP's hidden layer and of the attention's value matrix. The attention's query and key matrices
scale all logits of a network by one common factor kappa with Var kappa = 4 rho^2 / d (two Wishart
stages on the tokens' common direction), which moves (q', p') along d/d(beta) by (beta / 2) kappa.

A finite-width LayerNorm (§8.1) already averages over its branch's last weight matrix (and the
attention's O(1) IPR fluctuation); its curvature term uses the covariance without them. The
walk is layer by layer: the MLP's curvature sees the scatter its own block's attention made.
Not included: the O(1) network-level fluctuation of the attention's IPR through shared keys
(Cov(Y2_a, Y2_b), at most ~5 % of the value matrix's injection at beta = 3, negligible at 0.5),
and the O(1/(dT)) token-sampling terms of the attention. First order in 1/d. A causal attention is
walked at one key count (GPT-2: the late window's mean; ``propagate(causal=True)`` does not take it).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from ..core.architecture import Architecture
from ..core.names import ACTIVATIONS
from ..core.progress import track
from ..core.results import Result
from ..core.validate import InputError
from ..numerics.activations import activation_np
from ..numerics.compile import compile_np, eval_np
from ..theory.blocks import architecture_map, build
from ..theory import scatter as theory_scatter
from ..theory.layers import Activation, Attention, Dense, Layer, LayerNorm, Residual, Serial, State
from ..theory.symbols import PARAMS, beta, p, q
from ..theory.symbols import d as d_symbol

#: Relative step of the central differences (:meth:`LayerMaps.derivatives`).
_STEP = 1e-4
#: Gauss-Hermite nodes for the feature integrals (probabilists' weight, normalised).
_NODES = 96


@cache
def _hermite() -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.hermite_e.hermegauss(_NODES)
    return x, w / w.sum()


def feature_covariance(a: float, b: float, seq_len: int, phi: Any = None) -> np.ndarray:
    """d x the covariance over networks of (q_hat, p_hat) = (mean norm, mean pair overlap) of the
    Gram (1/d) sum_i phi(u_i) phi(u_i)^T of T tokens, with d i.i.d. features
    u_i ~ N(0, a 1 1^T + b I) (a: common part, b >= 0: token part).

    phi None is the identity, where the Gram is Wishart, d Cov = 2 C(K, K) exactly in T
    (:func:`gram_covariance`). Otherwise, conditioning on a feature's common part c: the covariance over
    c of the conditional means plus the mean of the conditional covariance
    (:func:`symsig.theory.scatter.feature_moments`), with mu_k = E[phi(c + sqrt(b) z)^k] and c by
    Gauss-Hermite.
    """
    T = float(seq_len)
    if phi is None:
        return 2 * gram_covariance((a, b), (a, b), seq_len)
    x, w = _hermite()
    c = np.sqrt(max(a, 0.0)) * x[:, None]
    vals = phi(c + np.sqrt(max(b, 0.0)) * x[None, :])
    mu = [(vals**k) @ w for k in range(1, 5)]   # moments given c, per node of c
    means, cond = (np.array(np.broadcast_arrays(*v), dtype=float) for v in _numeric()["feature"](*mu, T))
    centred = means - (means @ w)[:, None]
    return (centred * w) @ centred.T + (cond.reshape(4, -1) @ w).reshape(2, 2)


def gram_covariance(k: tuple[float, float], g: tuple[float, float], seq_len: int) -> np.ndarray:
    """C_ij = tr(A_i K A_j G) for the (q, p) read-outs, K = k_0 1 1^T + k_1 I, G = g_0 1 1^T + g_1 I
    (:func:`symsig.theory.scatter.readout_covariance`). A Gram sampled from d i.i.d. features N(0, K)
    has d Cov = 2 C(K, K) (Wishart); the cross term (x f^T + f x^T)/d of a fixed x (Gram G) and such
    features has d Cov = 4 C(K, G)."""
    return np.array(_numeric()["readout"](*k, *g, float(seq_len)), dtype=float).reshape(2, 2)


@cache
def _numeric() -> dict[str, Any]:
    """The closed forms of :mod:`symsig.theory.scatter`, compiled once."""
    mat = theory_scatter.readout_covariance()
    ratio = theory_scatter.ratio_moments()
    means, cond = theory_scatter.feature_moments()
    mus = (theory_scatter.mu1, theory_scatter.mu2, theory_scatter.mu3, theory_scatter.mu4, theory_scatter.T)
    return {
        "feature": sp.lambdify(mus, [list(means), list(cond)], "numpy"),
        "readout": sp.lambdify((theory_scatter.k0, theory_scatter.k1, theory_scatter.g0, theory_scatter.g1,
                                theory_scatter.T), list(mat), "numpy"),
        "temperature": sp.lambdify((theory_scatter.rho, theory_scatter.d), theory_scatter.temperature_variance(), "numpy"),
        "ratio": sp.lambdify((theory_scatter.m_q, theory_scatter.m_p, theory_scatter.s_qq, theory_scatter.s_qp,
                              theory_scatter.s_pp), list(ratio), "numpy"),
    }


@dataclass(frozen=True)
class _Walk:
    """The moments carried through a block: ``m`` the point where the layer maps are linearised,
    ``cov`` the covariance over networks, ``unseen`` the part of it a finite-width LayerNorm does not
    average over already, ``shift`` the mean's accumulated curvature drag, ``cross`` the covariance
    with the input of the enclosing residual branch, ``y2_shift`` the drag on each attention's IPR."""

    m: np.ndarray
    cov: np.ndarray
    unseen: np.ndarray
    shift: np.ndarray
    cross: np.ndarray
    y2_shift: tuple[float, ...] = ()


class LayerMaps:
    """Numeric maps of one block's layers (finite T, d -> infinity: the scatter is already O(1/d)).

    ``values`` maps every parameter symbol of the layers (beta, the sigmas, alphas, T, ...) to a number;
    ``hidden`` is the width m of the MLP's hidden layer (default d)."""

    def __init__(self, values: Mapping[sp.Symbol, float], width: int, seq_len: int, hidden: int | None = None) -> None:
        self.values = {k: float(v) for k, v in values.items()}
        self.names = tuple(sorted(self.values, key=str))
        self.vals = [self.values[k] for k in self.names]
        self.beta = self.values[beta]
        self.width = float(width)
        self.seq_len = int(seq_len)
        self.hidden = float(width if hidden is None else hidden)

    def derivatives(self, layer: Layer, m: np.ndarray, active: np.ndarray, d_beta: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """(value, J, H, d/d beta) of the layer's outputs at ``m``; derivatives along the ``active``
        directions of (q, p) only (zero elsewhere). Outputs: (q', p'[, Y2]). Central differences with
        relative step 1e-4: truncation ~1e-8, rounding ~1e-8 relative in H (the maps are accurate to
        ~1e-14), far below what a first-order drag needs."""
        fn = _compiled(layer, self.names)
        hs = _STEP * np.maximum(np.abs(m), 1e-2)
        pts = [m.copy()]
        idx = np.flatnonzero(active)
        for i in idx:
            for sgn in (1, -1):
                x = m.copy()
                x[i] += sgn * hs[i]
                pts.append(x)
        for a, i in enumerate(idx):
            for j in idx[a + 1:]:
                for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                    x = m.copy()
                    x[i] += si * hs[i]
                    x[j] += sj * hs[j]
                    pts.append(x)
        pts_arr = np.array(pts)
        betas = np.full(len(pts), self.beta)
        hb = _STEP * self.beta
        if d_beta:
            pts_arr = np.vstack([pts_arr, m, m])
            betas = np.concatenate([betas, [self.beta + hb, self.beta - hb]])
        vals = list(self.vals)
        vals[self.names.index(beta)] = betas
        out = np.array(eval_np(fn, pts_arr[:, 0], pts_arr[:, 1], *vals))  # (outputs, points)
        f0 = out[:, 0]
        k = out.shape[0]
        J = np.zeros((k, 2))
        H = np.zeros((k, 2, 2))
        for n_i, i in enumerate(idx):
            plus, minus = out[:, 1 + 2 * n_i], out[:, 2 + 2 * n_i]
            J[:, i] = (plus - minus) / (2 * hs[i])
            H[:, i, i] = (plus - 2 * f0 + minus) / hs[i] ** 2
        col = 1 + 2 * len(idx)
        for a, i in enumerate(idx):
            for j in idx[a + 1:]:
                pp, pm, mp, mm = (out[:, col + r] for r in range(4))
                H[:, i, j] = H[:, j, i] = (pp - pm - mp + mm) / (4 * hs[i] * hs[j])
                col += 4
        grad_beta = (out[:, -2] - out[:, -1]) / (2 * hb) if d_beta else None
        return f0, J, H, grad_beta


@cache
def _compiled(layer: Layer, names: tuple[sp.Symbol, ...]) -> Any:
    out = layer(State(q, p))
    exprs = (out.q, out.p)
    if isinstance(layer, Attention):
        exprs += (out.observable("Y2"),)
    return compile_np((q, p, *names), exprs)


def _active(cov: np.ndarray) -> np.ndarray:
    return np.diag(cov) > 1e-300


def _curvature(H: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """1/2 H : cov for each output."""
    return 0.5 * np.einsum("kij,ij->k", H, cov)


def _step(w: _Walk, f0: np.ndarray, J: np.ndarray, H: np.ndarray, inject: np.ndarray, unseen_inject: np.ndarray,
          curvature_cov: np.ndarray) -> _Walk:
    """One layer: S' = J S J^T + inject (``unseen`` gets ``unseen_inject`` instead), the drag
    J shift + 1/2 H : ``curvature_cov``, the cross-covariance J cross."""
    J2, H2 = J[:2], H[:2]
    return dataclasses.replace(
        w, m=f0[:2], cov=J2 @ w.cov @ J2.T + inject, unseen=J2 @ w.cov @ J2.T + unseen_inject,
        shift=J2 @ w.shift + _curvature(H2, curvature_cov), cross=J2 @ w.cross)


def _walk(layer: Layer, w: _Walk, maps: LayerMaps) -> _Walk:
    """The moments after ``layer`` (the rules of the module docstring, one per layer type)."""
    d, T = maps.width, maps.seq_len
    if isinstance(layer, Serial):
        subs = layer.layers
        i = 0
        while i < len(subs):
            if isinstance(subs[i], Dense) and i + 1 < len(subs) and isinstance(subs[i + 1], Activation):
                w = _hidden(subs[i], subs[i + 1], w, maps)     # one feature-sampling stage
                i += 2
            else:
                w = _walk(subs[i], w, maps)
                i += 1
        return w
    if isinstance(layer, Residual):
        # h = alpha x + f: the branch's last weight matrix draws f's features i.i.d. given its input,
        # so the cross term x.f/d fluctuates too (a finite-width LayerNorm after it averages over it)
        a2 = _number(layer.alpha, maps) ** 2
        b = _walk(layer.branch, dataclasses.replace(w, cross=w.cov), maps)
        mixed = a2 * (b.cross + b.cross.T) + a2 * _skip_branch(_parts(b.m), _parts(w.m), T) / d
        return _Walk(m=b.m + a2 * w.m, cov=b.cov + a2**2 * w.cov + mixed,
                     unseen=b.unseen + a2**2 * w.cov + a2 * (b.cross + b.cross.T),
                     shift=b.shift + a2 * w.shift, cross=w.cross, y2_shift=b.y2_shift)
    if isinstance(layer, Dense):
        f0, J, H, _ = maps.derivatives(layer, w.m, _active(w.cov))
        inject = feature_covariance(*_parts(f0), T) / d
        return _step(w, f0, J, H, inject, np.zeros((2, 2)), w.cov)
    if isinstance(layer, LayerNorm):
        f0, J, H, _ = maps.derivatives(_finite_t(layer), w.m, _active(w.cov))
        # a finite-width LayerNorm reading a residual sum averages over its branch's last matrix (§8.1)
        seen = w.unseen if layer.skip != "stream" else w.cov
        return _step(w, f0, J, H, np.zeros((2, 2)), np.zeros((2, 2)), seen)
    if isinstance(layer, Attention):
        if layer.n_states is not None and layer.n_states not in maps.values:
            raise InputError("scatter: a causal attention needs its key count (the walk runs at one position)")
        f0, J, H, g = maps.derivatives(_finite_t(layer), w.m, _active(w.cov), d_beta=True)
        rho_in = w.m[1] / w.m[0]
        temperature = np.outer(g[:2], g[:2]) * (maps.beta / 2) ** 2 * _numeric()["temperature"](rho_in, d)
        inject = temperature + feature_covariance(*_parts(f0), T) / d
        out = _step(w, f0, J, H, inject, temperature, w.cov)
        y2 = float(_curvature(H[2:], w.cov)[0])
        return dataclasses.replace(out, y2_shift=w.y2_shift + (y2,))
    raise InputError(f"scatter: no network-covariance rule for {type(layer).__name__}")


def _skip_branch(branch: tuple[float, float], skip: tuple[float, float], seq_len: int) -> np.ndarray:
    """d Cov of the cross term (x f^T + f x^T)/d of a residual sum, per unit skip strength alpha^2."""
    return 4 * gram_covariance(branch, skip, seq_len)


def _hidden(dense: Dense, act: Activation, w: _Walk, maps: LayerMaps) -> _Walk:
    """Dense -> Activation: the hidden layer's m features are i.i.d. given the input, so its Gram
    is a sample mean over m features of phi(u) phi(u)^T (:func:`feature_covariance`)."""
    stage = Serial(dense, act)
    f0, J, H, _ = maps.derivatives(stage, w.m, _active(w.cov))
    pre = maps.derivatives(dense, w.m, np.zeros(2, dtype=bool))[0]
    phi = activation_np(act.kernel.name) if act.kernel.name in ACTIVATIONS else None
    if phi is None:
        raise InputError(f"scatter: no numpy function for the activation {act.kernel.name!r} (a named one is needed)")
    inject = feature_covariance(*_parts(pre), maps.seq_len, phi) / maps.hidden
    return _step(w, f0, J, H, inject, inject, w.cov)


def _finite_t(layer: Layer) -> Layer:
    """The layer's d -> infinity map (the finite-width LayerNorm and attention read observables the
    scatter walk does not carry; their width terms are in the block's mean map)."""
    if isinstance(layer, (LayerNorm, Attention)) and layer.width is not None:
        return dataclasses.replace(layer, width=None)
    return layer


def _parts(m: np.ndarray) -> tuple[float, float]:
    """(common, token) parts (p, q - p) of a state (q, p)."""
    return float(m[1]), float(m[0] - m[1])


def _number(expr: sp.Expr, maps: LayerMaps) -> float:
    return float(sp.sympify(expr).xreplace(maps.values))


@dataclass(frozen=True)
class ScatterTrajectory(Result):
    """Finite-width order parameters per layer with the networks' scatter (docs/finite_width.md §11).

    ``q``, ``p``, ``rho``, ``Y2``: means over networks (``rho`` the mean cosine, E[p/q]);
    ``rho_sd``: the standard deviation of one network's rho; ``rho_drag``: the part of ``rho`` that
    the scatter makes (mean over networks minus the map of the mean, accumulated)."""

    _per_layer = ("q", "p", "rho", "Y2", "rho_sd", "rho_drag")

    q: list[float]
    p: list[float]
    rho: list[float]
    Y2: list[float]
    rho_sd: list[float]
    rho_drag: list[float]


def propagate_scatter(arch: Architecture, *, depth: int, rho0: float, q0: float = 1.0,
                      hidden_width: int | None = None) -> ScatterTrajectory:
    """Iterate ``arch``'s finite-width block map with the networks' covariance carried beside the mean,
    from i.i.d. Gaussian tokens (q0, rho0 q0) whose common part is drawn once per network."""
    if arch.width is None or arch.seq_len is None:
        raise InputError("scatter needs width and seq_len (it is a finite-width effect)")
    bm = architecture_map(arch)
    fns = {first: compile_np(bm.args, exprs) for first, exprs in ((False, bm.exprs), (True, bm.first_exprs))}
    params = tuple(float(v) for v in arch.params())   # the command line passes decimal strings

    def mean_map(m: np.ndarray, first: bool) -> tuple[float, ...]:
        return tuple(float(x) for x in eval_np(fns[first], m[0], m[1], *params))

    trees = {first: build(arch.block, arch.activation, finite_t=True, width=d_symbol, first=first)
             for first in (False, True)}
    maps = LayerMaps(dict(zip(PARAMS, params)), arch.width, arch.seq_len, hidden_width)
    m0 = np.array([float(q0), float(rho0) * float(q0)])
    return scatter_trajectory(trees, mean_map, maps, depth=depth, m0=m0, cov0=gaussian_tokens(m0, maps))


def through(layer: Layer, m: np.ndarray, cov: np.ndarray, maps: LayerMaps) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) over networks after ``layer`` (e.g. an embedding LayerNorm) from (m, cov)."""
    w = _walk(layer, _Walk(np.asarray(m, dtype=float), cov, cov, np.zeros(2), np.zeros((2, 2))), maps)
    return w.m + w.shift, w.cov


def nominal_rho0(rho_mean: float, *, width: int, seq_len: int, q0: float = 1.0) -> float:
    """The nominal rho0 of i.i.d. Gaussian tokens (q0, rho0 q0) whose mean cosine over networks, E[p/q]
    with their common part's covariance (the scatter theory's rho[0], rho0 - O(1/d)), is ``rho_mean``:
    to start the scatter theory at a measured mean. Fixed-point iteration (slope 1 - O(1/d)) to 1e-14."""
    T, d = float(seq_len), float(width)
    rho0 = float(rho_mean)
    for _ in range(50):
        m = np.array([q0, rho0 * q0])
        got = _ratio(m, feature_covariance(*_parts(m), int(T)) / d)[0]
        if abs(got - rho_mean) < 1e-14:
            break
        rho0 += rho_mean - got
    return rho0


def gaussian_tokens(m: np.ndarray, maps: LayerMaps) -> np.ndarray:
    """The covariance over networks of (q_hat, p_hat) of i.i.d. Gaussian tokens with state ``m``: one
    common part per network (Wishart, :func:`feature_covariance`)."""
    return feature_covariance(*_parts(m), maps.seq_len) / maps.width


def scatter_trajectory(trees: Mapping[bool, Layer], mean_map: Callable[[np.ndarray, bool], tuple[float, ...]],
                       maps: LayerMaps, *, depth: int, m0: np.ndarray, cov0: np.ndarray) -> ScatterTrajectory:
    """The recursion of the module docstring: ``mean_map(m, first)`` is the finite-width block map
    (q', p', Y2) (the first block's when ``first``), ``trees[first]`` the block's layers, walked for the
    covariance and the curvature drag; starting at mean ``m0`` with covariance ``cov0``."""
    m, cov, plain = np.asarray(m0, dtype=float), np.asarray(cov0, dtype=float), np.asarray(m0, dtype=float)
    rows: list[tuple[float, ...]] = []
    y2s: list[float] = []
    for layer_index in track(range(depth + 1), "scatter"):
        first = layer_index == 0
        q_next, p_next, y2 = mean_map(m, first)
        w = _walk(trees[first], _Walk(m, cov, cov, np.zeros(2), np.zeros((2, 2))), maps)
        y2s.append(y2 + sum(w.y2_shift))
        rho, sd = _ratio(m, cov)
        rows.append((*m, rho, sd, rho - plain[1] / plain[0]))
        if layer_index == depth:
            break
        plain = np.array(mean_map(plain, first)[:2])
        m = np.array([q_next, p_next]) + w.shift
        cov = w.cov
    q_, p_, rho_, sd_, drag = (list(map(float, col)) for col in zip(*rows))
    return ScatterTrajectory(q_, p_, rho_, y2s, sd_, drag)


def _ratio(m: np.ndarray, cov: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation over networks of rho = p / q, to first order in the covariance."""
    mean, var = _numeric()["ratio"](m[0], m[1], cov[0, 0], cov[0, 1], cov[1, 1])
    return float(mean), float(np.sqrt(max(var, 0.0)))
