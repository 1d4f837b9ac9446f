"""Trainability diagrams over (beta, alpha_SA) (THEORY.md section 6).

Zones after ``depth`` blocks from (q0, rho0), other parameters fixed:

* ``"entropy"`` (entropy collapse): mean over the L attentions of Y2 > thresholds["entropy"]
  (default 0.1: attention concentrated on O(1) tokens; in the T -> infinity theory
  Y2 > 0 exactly when beta > beta_c(rho)). Takes precedence: a larger residual
  does not unfreeze the attention.
* ``"rank"`` (rank collapse): 1 - rho_L < thresholds["rank"] * (1 - rho0) (default 0.01:
  less than 1% of the initial token diversity survives).
* ``"trainable"`` otherwise.

The grid is evaluated with numpy over all points at once. Boundaries are the
level sets g_rank = log((1 - rho_L)/(1 - rho0)) - log(thr_rank) = 0 (solved for
alpha_SA at fixed beta) and g_entropy = mean Y2 - thr_entropy = 0 (solved for beta
at fixed alpha_SA), bracketed by sign changes on the grid and refined by
:func:`symsig.conditions.bracketed_root` on the compiled mpmath map to ``digits``
digits; rank points inside the entropy zone are dropped (not a zone boundary).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..core import validate
from ..core.architecture import Architecture
from ..core.results import Result
from ..numerics import compile as numerics
from ..numerics.roots import bracketed_root
from ..theory.blocks import ARGS, BlockMap, block_map
from ..theory.symbols import q as Q
from .conditions import rho_l_mp
from .zones import DEFAULT_THRESHOLDS, classify, thresholds_from

def parse_grid(name: str, spec: Any) -> np.ndarray:
    """'MIN:MAX:N' (N points, endpoints included) or a sequence of numbers -> 1-D array."""
    if isinstance(spec, str):
        parts = spec.split(":")
        if len(parts) != 3:
            raise validate.InputError(f"{name} must be 'MIN:MAX:N', got {spec!r}")
        lo, hi = validate.number(name, parts[0]), validate.number(name, parts[1])
        n = validate.integer(f"{name} N", parts[2], 1)
        if hi < lo:
            raise validate.InputError(f"{name}: MAX < MIN in {spec!r}")
        values = np.linspace(lo, hi, n)
    else:
        try:
            values = np.array([validate.number(name, x) for x in np.atleast_1d(np.asarray(spec, dtype=object))])
        except TypeError:
            raise validate.InputError(f"{name} must be 'MIN:MAX:N' or a sequence of numbers") from None
        if values.size == 0:
            raise validate.InputError(f"{name} grid is empty")
    return values


# ----------------------------------------------------------- fast numpy evaluator

_pos = sp.Function("pos_part")
_FAST = {
    "pos_part": lambda x: np.maximum(x, 0.0),
    "clip_unit": lambda x: np.minimum(np.maximum(x, -1.0), 1.0),  # np.clip is slower
    "nonneg": lambda x: np.maximum(x, 0.0),
}


def _piecewise_to_max(pw: sp.Piecewise) -> sp.Expr:
    """Piecewise((1 - sqrt(2)/sqrt(X), X > 2), (0, True)) -> max(0, 1 - sqrt(2/X)).

    The REM IPR Y2 = 1 - beta_c/beta is positive exactly when beta > beta_c, so both
    are the same function; max needs no branch selection (at X = 0, 2/X = inf gives 0).
    Any other Piecewise is left alone.
    """
    (f, cond), rest = pw.args[0], pw.args[1:]
    if len(rest) == 1 and rest[0] == (0, True) and isinstance(cond, sp.StrictGreaterThan) and cond.rhs == 2:
        x = cond.lhs
        probe = {s: sp.Rational(7 + 3 * i, 5 + 2 * i) for i, s in enumerate(sorted(f.free_symbols | x.free_symbols, key=str))}
        if sp.simplify((f - (1 - sp.sqrt(2 / x))).xreplace(probe)) == 0:  # spot check of the identity
            return _pos(1 - sp.sqrt(2 / _pos(x)))  # x < 0 only by rounding at p ~ q
    return pw


@lru_cache(maxsize=32)
def fast_map(bm: BlockMap, unit_q: bool) -> Callable[..., tuple[Any, ...]]:
    """Compiled (q', p', Y2) like ``bm.numpy`` but cheaper per grid point (same ARGS).

    Rewrites the REM Piecewise as a max (no np.select of all branches) and, with
    ``unit_q`` (post-LN blocks after the first layer: q = 1), substitutes q = 1.
    Tests check it against ``bm.numpy``.
    """
    exprs = [e.replace(lambda x: isinstance(x, sp.Piecewise), _piecewise_to_max) for e in bm.exprs]
    if unit_q:
        exprs = [e.xreplace({Q: sp.Integer(1)}) for e in exprs]
    # registered special functions (quadrature kernels, finite-T moments) + the fast helpers
    impl = {**numerics.implementations(bm.exprs, "np"), **_FAST}
    return sp.lambdify(ARGS, [numerics.safe(e) for e in exprs], modules=[impl, "numpy"], cse=True)


def sweep(arch: Architecture, beta: np.ndarray, alpha_sa: np.ndarray, depth: int, rho0: float, q0: float) -> tuple[np.ndarray, np.ndarray]:
    """(rho_L, mean_{l<L} Y2_l) on the grid, shapes (len(alpha_sa), len(beta)); float64."""
    bm = block_map(arch.block, arch.activation, arch.finite_t)
    post = arch.block in ("post-ln", "gc-post-ln") and not bm.q_next.free_symbols & {Q}
    params = [float(x) for x in arch.params()]
    params[0], params[4] = beta[None, :], alpha_sa[:, None]
    shape = (alpha_sa.size, beta.size)
    q, p = np.full(shape, float(q0)), np.full(shape, float(rho0) * float(q0))
    y2_sum = np.zeros(shape)
    with np.errstate(all="ignore"):
        for layer in range(depth):
            fn = fast_map(bm, post and layer > 0 and arch.block in ("post-ln", "gc-post-ln"))
            q, p, y2 = fn(q, p, *params)
            y2_sum += y2
        rho = np.broadcast_to(p / q, shape)
    mean_y2 = y2_sum / max(depth, 1)
    if np.isnan(rho).any() or np.isnan(mean_y2).any():
        raise FloatingPointError("numeric evaluation produced NaN")
    return rho, mean_y2


@dataclass(frozen=True)
class Diagram(Result):
    """A trainability diagram: ``rho_L[i][j]``, ``zone[i][j]`` at alpha_sa[i], beta[j].

    ``mean_Y2`` is the mean IPR over the L attentions; ``boundaries`` maps "rank" and
    "entropy" to lists of [beta, alpha_sa] points on the level sets (empty unless
    traced); ``beta_c0`` = sqrt(2/(1 - rho0)) is where the first attention freezes.
    """

    beta: list[float]
    alpha_sa: list[float]
    rho_L: list[list[float]]
    zone: list[list[str]]
    thresholds: dict[str, float]
    mean_Y2: list[list[float]]
    boundaries: dict[str, list[list[float]]]
    depth: int
    rho0: float
    beta_c0: float | None
    architecture: dict[str, Any] = field(default_factory=dict)
    certificates: list[dict[str, Any]] = field(default_factory=list)


def diagram(
    *,
    depth: int = 60,
    beta: Any = "0.1:4:64",
    alpha_sa: Any = "0:3:64",
    rho0: Any = 0.3,
    q0: Any = 1.0,
    thresholds: dict[str, Any] | None = None,
    boundaries: bool = False,
    boundary_points: int = 16,
    digits: int = 10,
    certify: bool = False,
    **architecture: Any,
) -> Diagram:
    """Zones of the (beta, alpha_SA) plane after ``depth`` blocks (module docstring).

    ``architecture``: the other keys of :class:`Architecture` (Figure-1 defaults).
    With ``boundaries``, each level set is traced at up to ``boundary_points``
    grid lines, to ``digits`` digits (mpmath). With ``certify`` (needs ``boundaries``
    and python-flint), each traced point x is certified in ball arithmetic to enclose
    the boundary within x +- 10^(1 - digits) max(1, |x|) (:mod:`symsig.certify`).
    """
    depth = validate.integer("depth", depth, 1)
    rho0 = validate.correlation("rho0", rho0)
    if rho0 >= 1:
        raise validate.InputError("rho0 must be < 1 (rho0 = 1 is already collapsed)")
    q0 = validate.positive("q0", q0)
    thr = thresholds_from(thresholds)
    betas, alphas = parse_grid("beta", beta), parse_grid("alpha_sa", alpha_sa)
    for b in betas:
        validate.positive("beta", b)
    for a in alphas:
        validate.nonnegative("alpha_sa", a)
    arch = Architecture(**architecture)
    if certify:
        from .certify import check_certifiable

        check_certifiable(arch)  # before any work
    rho_l, mean_y2 = sweep(arch, betas, alphas, depth, rho0, q0)
    traced: dict[str, list[list[float]]] = {"rank": [], "entropy": []}
    if boundaries:
        traced = trace_boundaries(arch, betas, alphas, rho_l, mean_y2, depth, rho0, q0, thr, boundary_points, digits)
    certificates = _certify(arch, traced, depth, rho0, q0, thr, digits) if certify else []
    grad = None
    if "gradient" in thr:
        from .gradient import grad_wq_scaled_np

        grad = grad_wq_scaled_np(betas[None, :], q0, rho0 * q0, float(arch.sigma_v2), T=arch.seq_len)
    return Diagram(
        beta=betas.tolist(),
        alpha_sa=alphas.tolist(),
        rho_L=rho_l.tolist(),
        zone=classify(rho_l, mean_y2, rho0, thr, grad).tolist(),
        thresholds=thr,
        mean_Y2=mean_y2.tolist(),
        boundaries=traced,
        depth=depth,
        rho0=rho0,
        beta_c0=float(np.sqrt(2 / (1 - rho0))),
        architecture={k: v for k, v in arch.to_dict().items() if k not in ("beta", "alpha_sa")},
        certificates=certificates,
    )


def _certify(arch: Architecture, traced: dict[str, list[list[float]]], depth: int, rho0: float, q0: float,
             thr: dict[str, float], digits: int) -> list[dict[str, Any]]:
    """Ball-arithmetic certificates for every traced boundary point (see symsig.certify)."""
    from .certify import certify_boundary

    if not any(traced.values()):
        raise validate.InputError("certify needs traced boundaries (boundaries=True / --boundaries)")
    base = {k: v for k, v in arch.to_dict().items() if k not in ("beta", "alpha_sa")}
    out = []
    for kind, points in traced.items():
        for b, a in points:
            fixed, x = (b, a) if kind == "rank" else (a, b)
            r = 10.0 ** (1 - digits) * max(1.0, abs(x))
            cert = certify_boundary(kind, fixed=repr(fixed), lo=repr(x - r), hi=repr(x + r), depth=depth,
                                    rho0=repr(rho0), q0=repr(q0), thresholds=thr, **base)
            out.append(cert.to_dict())
    return out


# ----------------------------------------------------------------- boundaries


def indicators(arch: Architecture, depth: int, rho0: Any, q0: Any, thr: dict[str, float]) -> Callable[[Any, Any], tuple[mpmath.mpf, mpmath.mpf]]:
    """(g_rank, g_entropy)(beta, alpha_sa) at the current mpmath precision; zero on the boundaries."""
    base = arch.to_dict()
    log_thr = None

    def g(beta: Any, alpha: Any) -> tuple[mpmath.mpf, mpmath.mpf]:
        nonlocal log_thr
        rho_l, y2s = rho_l_mp(Architecture(**(base | {"beta": beta, "alpha_sa": alpha})), depth, rho0, q0)
        gap = (1 - rho_l) / (1 - numerics.to_mpf(rho0))
        g_rank = (mpmath.log(gap) if gap > 0 else -mpmath.inf) - mpmath.log(numerics.to_mpf(thr["rank"]))
        return g_rank, mpmath.fsum(y2s) / depth - numerics.to_mpf(thr["entropy"])

    return g


def _lines(n: int, k: int) -> list[int]:
    return sorted(set(np.linspace(0, n - 1, min(n, k)).round().astype(int).tolist()))


def trace_boundaries(
    arch: Architecture,
    betas: np.ndarray,
    alphas: np.ndarray,
    rho_l: np.ndarray,
    mean_y2: np.ndarray,
    depth: int,
    rho0: float,
    q0: float,
    thr: dict[str, float],
    points: int,
    digits: int,
) -> dict[str, list[list[float]]]:
    """Level-set points: rank (root in alpha_sa per beta column), entropy (root in beta per alpha row)."""
    validate.integer("digits", digits, 1)
    with np.errstate(divide="ignore"):
        g_rank = np.log(np.maximum(1 - rho_l, 0) / (1 - rho0)) - np.log(thr["rank"])
    g_ent = mean_y2 - thr["entropy"]
    out: dict[str, list[list[float]]] = {"rank": [], "entropy": []}
    with mpmath.workdps(digits + numerics.GUARD_DIGITS):
        g = indicators(arch, depth, rho0, q0, thr)
        for j in _lines(betas.size, points):
            col = g_rank[:, j]
            for i in np.nonzero(np.sign(col[:-1]) * np.sign(col[1:]) < 0)[0]:
                b = mpmath.mpf(repr(float(betas[j])))
                a = bracketed_root(lambda x: g(b, x)[0], repr(float(alphas[i])), repr(float(alphas[i + 1])), digits)
                if g(b, a)[1] <= 0:  # outside the entropy zone: a true zone boundary
                    out["rank"].append([float(b), float(a)])
        for i in _lines(alphas.size, points):
            row = g_ent[i, :]
            for j in np.nonzero(np.sign(row[:-1]) * np.sign(row[1:]) < 0)[0]:
                a = mpmath.mpf(repr(float(alphas[i])))
                b = bracketed_root(lambda x: g(x, a)[1], repr(float(betas[j])), repr(float(betas[j + 1])), digits)
                out["entropy"].append([float(b), float(a)])
    out["rank"].sort()
    out["entropy"].sort(key=lambda pt: (pt[1], pt[0]))
    return out


def boundary_mp(kind: str, *, fixed: Any, bracket: Sequence[Any], depth: int, rho0: Any = "0.3", q0: Any = 1,
                thresholds: dict[str, Any] | None = None, digits: int = 30, **architecture: Any) -> mpmath.mpf:
    """One boundary point at ``digits`` digits: alpha_SA at beta = ``fixed`` (kind "rank")
    or beta at alpha_SA = ``fixed`` (kind "entropy"), inside ``bracket``."""
    validate.choice("boundary", kind, ("rank", "entropy"))
    thr = thresholds_from(thresholds)
    arch = Architecture(**architecture)
    with mpmath.workdps(digits + numerics.GUARD_DIGITS):
        g = indicators(arch, depth, rho0, q0, thr)
        x0 = numerics.to_mpf(fixed)
        f = (lambda a: g(x0, a)[0]) if kind == "rank" else (lambda b: g(b, x0)[1])
        return bracketed_root(f, numerics.to_mpf(bracket[0]), numerics.to_mpf(bracket[1]), digits)
