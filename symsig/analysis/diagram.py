"""Trainability diagrams over (beta, alpha_SA) (docs/theory.md §7.2-7.3).

Zones after ``depth`` blocks from (q0, rho0), other parameters fixed, by the sign of
the two indicators of :mod:`symsig.analysis.zones` (thresholds documented there):
"entropy" (g_entropy > 0, takes precedence), "rank" (g_rank < 0), "trainable".

The grid is one numpy iteration over all points at once (:func:`sweep`). Boundaries
are the level sets g_rank = 0 (solved for alpha_SA at fixed beta) and g_entropy = 0
(solved for beta at fixed alpha_SA), bracketed by sign changes on the grid and refined
by :func:`correct_digits` (bracketed root finding on the mpmath iteration, checked to round
to ``digits`` correct significant digits); rank points inside the entropy zone are dropped
(not a zone boundary). Curves of boundary points: :mod:`symsig.analysis.boundary`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
from scipy.optimize import brentq

from ..core import validate
from ..core.architecture import Architecture
from ..core.results import Result, mp_round
from ..core.progress import track
from ..numerics.contexts import NUMPY, MpContext
from ..numerics.iterate import check_start, steps
from ..numerics.precision import GUARD_DIGITS, to_mpf
from ..numerics.roots import bracketed_root
from ..theory.blocks import architecture_map
from ..theory.conditions import PRE_LN
from ..theory.symbols import PARAMS
from ..theory.symbols import alpha_sa as alpha_sa_symbol
from ..theory.symbols import beta as beta_symbol
from .critical import beta_c_np
from .zones import DEFAULT_THRESHOLDS, classify, indicators_at, level_set, rescue_thresholds, thresholds_from
from .zones import indicators as zone_indicators

def parse_grid(name: str, spec: Any) -> np.ndarray:
    """'MIN:MAX:N' (N points, endpoints included) or a sequence of numbers -> 1-D array."""
    if isinstance(spec, str):
        parts = spec.split(":")
        if len(parts) != 3:
            raise validate.InputError(f"{name} must be 'MIN:MAX:N', got {spec!r}")
        lo, hi = validate.number(name, parts[0]), validate.number(name, parts[1])
        n = validate.integer(f"{name} N", parts[2], 1, limit="grid")
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


# ----------------------------------------------------------------------- grid

_BETA, _ALPHA_SA = PARAMS.index(beta_symbol), PARAMS.index(alpha_sa_symbol)


def sweep(arch: Architecture, beta: np.ndarray, alpha_sa: np.ndarray, depth: int, rho0: float, q0: float) -> tuple[np.ndarray, np.ndarray]:
    """(rho_L, mean_{l<L} Y2_l) on the grid, shapes (len(alpha_sa), len(beta)); float64.

    The one depth iteration (:func:`symsig.numerics.iterate.steps`, numpy context),
    vectorised over the grid and reduced layer by layer (memory independent of depth).
    """
    bm = architecture_map(arch)
    if arch.width is not None:  # float finite-width moments, point by point (about 20 ms a point and layer)
        validate.limited("finite-width evaluations (grid points x depth)", np.size(beta) * np.size(alpha_sa) * depth,
                         "finite_width")
    params = [float(x) for x in arch.params()]
    params[_BETA], params[_ALPHA_SA] = np.asarray(beta, float)[None, :], np.asarray(alpha_sa, float)[:, None]
    shape = (np.size(alpha_sa), np.size(beta))
    y2_sum: Any = 0.0
    # a bar per layer (terminal only): finite T outside the shipped tables or a quadrature
    # activation at large q can take seconds to minutes per layer on a big grid
    for q, p, y2 in track(steps(bm, params, q0, rho0, depth, NUMPY), "diagram layers", total=depth):
        y2_sum = y2_sum + y2
    with NUMPY.working():
        rho = p / q
    return np.broadcast_to(rho, shape).copy(), np.broadcast_to(y2_sum / depth, shape).copy()


@dataclass(frozen=True)
class Diagram(Result):
    """A trainability diagram: ``rho_L[i][j]``, ``zone[i][j]`` at alpha_sa[i], beta[j].

    ``mean_Y2`` is the mean IPR over the L attentions; ``boundaries`` maps "rank",
    "entropy" (and "rescue" for zones with a rescue threshold) to lists of [beta, alpha_sa] points on the level sets (empty unless
    traced; the traced coordinate is an mpf with ``dps`` correct digits, written in
    JSON as a decimal string of exactly ``dps`` significant digits when ``dps`` > 15,
    a float otherwise); ``beta_c0`` is where the first attention freezes (T -> infinity):
    beta_c(q, p) = sqrt(2/(q (q - p))) of the state it reads, (q0, rho0 q0), or
    LN(x) = (1, rho0) in pre-LN blocks (:func:`first_beta_c`).
    """

    beta: list[float]
    alpha_sa: list[float]
    rho_L: list[list[float]]
    zone: list[list[str]]
    thresholds: dict[str, float]
    mean_Y2: list[list[float]]
    boundaries: dict[str, list[list[Any]]]
    depth: int
    rho0: float
    beta_c0: float | None
    architecture: dict[str, Any] = field(default_factory=dict)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    dps: int | None = field(default=None, repr=False)


def diagram(
    *,
    depth: int = 60,
    beta: Any = "0.1:4:64",
    alpha_sa: Any = "0:3:64",
    rho0: Any = 0.3,
    q0: Any = 1.0,
    thresholds: dict[str, Any] | str | None = None,
    boundaries: bool = False,
    boundary_points: int = 16,
    digits: int = 10,
    certify: bool = False,
    **architecture: Any,
) -> Diagram:
    """Zones of the (beta, alpha_SA) plane after ``depth`` blocks (module docstring).

    ``architecture``: the other keys of :class:`Architecture` (Figure-1 defaults). With ``width``
    (finite-width attention, floats) the grid costs about 20 ms per point and layer, guarded by
    ``LIMITS["finite_width"]``; boundaries and certificates (mpmath, balls) raise.
    With ``boundaries``, each level set is traced at up to ``boundary_points``
    grid lines, to ``digits`` digits (mpmath). With ``certify`` (needs ``boundaries``
    and python-flint), each traced point x is certified in ball arithmetic to enclose
    the boundary within x +- 10^(1 - digits) max(1, |x|) (:mod:`symsig.certify`).
    """
    depth = validate.integer("depth", depth, 1)
    arch = Architecture(**architecture)
    check_start(q0, rho0, arch.seq_len)
    rho0, q0 = float(rho0), float(q0)
    if rho0 >= 1:
        raise validate.InputError("rho0 must be < 1 (rho0 = 1 is already collapsed)")
    thr = thresholds_from(thresholds)
    betas, alphas = parse_grid("beta", beta), parse_grid("alpha_sa", alpha_sa)
    validate.limited("grid points", betas.size * alphas.size, "grid")
    for b in betas:
        validate.positive("beta", b)
    for a in alphas:
        validate.nonnegative("alpha_sa", a)
    if arch.width is not None and (boundaries or certify):
        raise validate.InputError("width: boundaries are refined in mpmath (and certified in ball arithmetic), and the "
                                  "finite-width moments are float only; omit boundaries/certify")
    if certify:
        from .certify import check_certifiable

        check_certifiable(arch)  # before any work
    rho_l, mean_y2 = sweep(arch, betas, alphas, depth, rho0, q0)
    traced: dict[str, list[list[Any]]] = {"rank": [], "entropy": []}
    if boundaries:
        traced = trace_boundaries(arch, betas, alphas, rho_l, mean_y2, depth, rho0, q0, thr, boundary_points, digits)
    certificates = _certify(arch, traced, depth, rho0, q0, thr, digits) if certify else []
    grad = None
    if "gradient" in thr:
        from .gradient import grad_wq_scaled_np

        grad = grad_wq_scaled_np(betas[None, :], q0, rho0 * q0, float(arch.sigma_v2), T=arch.seq_len, width=arch.width)
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
        beta_c0=first_beta_c(arch, q0, rho0),
        architecture={k: v for k, v in arch.to_dict().items() if k not in ("beta", "alpha_sa")},
        certificates=certificates,
        dps=digits if boundaries else None,
    )


def first_beta_c(arch: Architecture, q0: float, rho0: float) -> float:
    """beta_c (docs/theory.md §3.3) of the state the first attention reads: (q0, rho0 q0),
    or (1, rho0) when it reads LN(x) (pre-LN blocks, §6.2)."""
    q_read = 1.0 if arch.block in PRE_LN else q0
    return float(beta_c_np(q_read, rho0 * q_read))


def _certify(arch: Architecture, traced: dict[str, list[list[Any]]], depth: int, rho0: float, q0: float,
             thr: dict[str, float], digits: int) -> list[dict[str, Any]]:
    """Ball-arithmetic certificates for every traced boundary point (see symsig.certify)."""
    from .certify import certify_boundary

    if not any(traced.values()):
        raise validate.InputError("certify needs traced boundaries (boundaries=True / --boundaries)")
    base = {k: v for k, v in arch.to_dict().items() if k not in ("beta", "alpha_sa")}
    out = []
    for kind, points in traced.items():
        for b, a in points:
            fixed, x = (a, b) if kind == "entropy" else (b, a)
            with mpmath.workdps(digits + GUARD_DIGITS):
                x = to_mpf(x)
                r = mpmath.mpf(10) ** (1 - digits) * max(1, abs(x))
                lo, hi = (mpmath.nstr(y, digits + 10) for y in (x - r, x + r))
            cert = certify_boundary(kind, fixed=repr(fixed), lo=lo, hi=hi, depth=depth,
                                    rho0=repr(rho0), q0=repr(q0), thresholds=thr, **base)
            out.append(cert.to_dict())
    return out


# ----------------------------------------------------------------- boundaries


def indicators(arch: Architecture, depth: int, rho0: Any, q0: Any, thr: dict[str, Any],
               ctx: Any) -> Callable[[Any, Any], tuple[Any, Any]]:
    """(g_rank, g_entropy)(beta, alpha_sa) of :mod:`symsig.analysis.zones` in context ``ctx``;
    zero on the boundaries."""
    base = arch.to_dict()

    def g(beta: Any, alpha: Any) -> tuple[Any, Any]:
        return indicators_at(Architecture(**(base | {"beta": beta, "alpha_sa": alpha})), depth, rho0, q0, thr, ctx)

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
) -> dict[str, list[list[Any]]]:
    """Level-set points: rank (root in alpha_sa per beta column), entropy (root in beta per alpha row)
    and, when the definition has a rescue threshold, rescue (root of g_rescue in alpha_sa per beta
    column). Only zone boundaries are kept: rank points outside the entropy zone, entropy points
    not rescued, rescue points where the attention is frozen (g_entropy > 0).

    Each point is [beta, alpha_sa] with the grid coordinate a float and the root from
    :func:`correct_digits` (an mpf when ``digits`` > 15, else a float).
    """
    validate.integer("digits", digits, 1)
    rescue = rescue_thresholds(thr)
    out: dict[str, list[list[Any]]] = {"rank": [], "entropy": []} | ({"rescue": []} if rescue else {})
    keep = (lambda x: x) if digits > 15 else float

    def at(t: dict[str, Any], b: Any, a: Any) -> tuple[Any, Any]:  # indicators at digits, on the mpmath iteration
        with mpmath.workdps(digits + GUARD_DIGITS):
            return indicators(arch, depth, rho0, q0, t, MpContext(digits))(b, a)

    def alpha_roots(t: dict[str, Any]):  # (beta, alpha_sa) zeros of g_rank at thresholds t, per beta column
        col_all = zone_indicators(NUMPY, rho0, rho_l, mean_y2, t)[0]
        for j in _lines(betas.size, points):
            col = col_all[:, j]
            for i in np.nonzero(np.sign(col[:-1]) * np.sign(col[1:]) < 0)[0]:
                b = float(betas[j])
                f_in = lambda ctx: (lambda x, g=indicators(arch, depth, rho0, q0, t, ctx): g(b, x)[0])
                lo, hi = float(alphas[i]), float(alphas[i + 1])
                yield b, correct_digits(f_in, lo, hi, digits, narrow=float_bracket(f_in, lo, hi))[1]

    for b, a in alpha_roots(thr):
        if not at(thr, b, a)[1] > 0:  # outside the entropy zone (unrescued there: keep = thr_rank < thr_rescue)
            out["rank"].append([b, keep(a)])
    g_ent = zone_indicators(NUMPY, rho0, rho_l, mean_y2, thr)[1]
    for i in _lines(alphas.size, points):
        row = g_ent[i, :]
        for j in np.nonzero(np.sign(row[:-1]) * np.sign(row[1:]) < 0)[0]:
            a = float(alphas[i])
            f_in = lambda ctx: (lambda x, g=indicators(arch, depth, rho0, q0, thr, ctx): g(x, a)[1])
            lo, hi = float(betas[j]), float(betas[j + 1])
            _, b = correct_digits(f_in, lo, hi, digits, narrow=float_bracket(f_in, lo, hi))
            if rescue is None or at(rescue, b, a)[0] < 0:
                out["entropy"].append([keep(b), a])
    if rescue:
        for b, a in alpha_roots(rescue):
            if at(thr, b, a)[1] > 0:
                out["rescue"].append([b, keep(a)])
    for kind in out:
        out[kind].sort(key=(lambda pt: (pt[1], float(pt[0]))) if kind == "entropy" else (lambda pt: (pt[0], float(pt[1]))))
    return out


#: Extra digits of the root beyond the requested ones, so that rounding to them is checkable.
ROUNDING_GUARD = 5
#: Half-width (relative) of the bracket a float solve hands to the mpmath refinement.
FLOAT_BRACKET = 1e-10


def float_bracket(f_in: Callable[[Any], Callable[[Any], Any]], lo: float, hi: float) -> tuple[float, float] | None:
    """A narrow bracket [x_f - w, x_f + w] (clipped to [lo, hi]) around the float root x_f of
    ``f_in(NUMPY)`` in [lo, hi], w = FLOAT_BRACKET max(1, |x_f|): the mpmath refinement then starts
    within ~1e-10 of the root (a few Illinois steps instead of dozens; :func:`correct_digits`
    falls back to [lo, hi] if the float root is off). None when the floats show no sign change."""
    f_np = f_in(NUMPY)
    try:
        x_f = brentq(lambda x: float(np.squeeze(f_np(x))), lo, hi, xtol=1e-14, rtol=1e-15)
    except ValueError:   # no float sign change on [lo, hi] (a root at the edge of float precision)
        return None
    w = FLOAT_BRACKET * max(1.0, abs(x_f))
    return max(lo, x_f - w), min(hi, x_f + w)


def correct_digits(f_in: Callable[[MpContext], Callable[[mpmath.mpf], mpmath.mpf]], lo: Any, hi: Any,
                   digits: int, narrow: tuple[Any, Any] | None = None) -> tuple[str, mpmath.mpf]:
    """A root x* of f in [lo, hi] as a decimal string of exactly ``digits`` correct significant
    digits (correctly rounded) and as an mpf with more.

    ``f_in(ctx)`` is f evaluated in the mpmath context ``ctx`` (:class:`MpContext`). The root is
    found by :func:`symsig.numerics.roots.bracketed_root` to d = digits + ROUNDING_GUARD digits,
    relative to |x| (a second pass adds the leading zeros of |x| < 1), so |x - x*| <= e =
    10^-d' max(1, |x|) for the last pass's d'. The string is accepted when x - e and x + e
    round to the same ``digits``-digit decimal (then so does x*); otherwise d grows by 10
    (Ziv's strategy). ``narrow``: a tighter bracket (e.g. from a float solve), tried first.
    """
    d = digits + ROUNDING_GUARD
    for _ in range(8):
        ctx = MpContext(d)
        with ctx.working():
            f = f_in(ctx)
            x = None
            if narrow is not None:
                try:
                    x = bracketed_root(f, to_mpf(narrow[0]), to_mpf(narrow[1]), d)
                except validate.InputError:  # the float bracket missed the root at this precision
                    x = None
            if x is None:
                x = bracketed_root(f, to_mpf(lo), to_mpf(hi), d)
            used = d
            if x != 0 and abs(x) < 1:  # relative accuracy: refine past the leading zeros
                w = mpmath.mpf(10) ** -d
                extra = int(mpmath.ceil(-mpmath.log10(abs(x))))
                try:
                    x, used = bracketed_root(f, x - w, x + w, d + extra), d + extra
                except validate.InputError:
                    pass
            e = mpmath.mpf(10) ** -used * max(1, abs(x))
            text = mp_round(x, digits)
            if text == mp_round(x - e, digits) == mp_round(x + e, digits):
                return text, x
        d += 10
    raise RuntimeError(f"could not round the root to {digits} digits")  # pragma: no cover


def boundary_mp(kind: str, *, fixed: Any, bracket: Sequence[Any], depth: int, rho0: Any = "0.3", q0: Any = 1,
                thresholds: dict[str, Any] | str | None = None, digits: int = 30, **architecture: Any) -> mpmath.mpf:
    """One boundary point at ``digits`` digits: alpha_SA at beta = ``fixed`` (kind "rank" or
    "rescue") or beta at alpha_SA = ``fixed`` (kind "entropy"), inside ``bracket``."""
    kind, thr = level_set(kind, thresholds_from(thresholds))
    arch = Architecture(**architecture)
    depth = validate.integer("depth", depth, 1)
    digits = validate.integer("digits", digits, 1)
    check_start(q0, rho0, arch.seq_len)

    def f_in(ctx: Any) -> Callable[[Any], Any]:
        g = indicators(arch, depth, rho0, q0, thr, ctx)
        return (lambda a: g(fixed, a)[0]) if kind == "rank" else (lambda b: g(b, fixed)[1])

    narrow = float_bracket(f_in, float(to_mpf(bracket[0])), float(to_mpf(bracket[1])))
    with mpmath.workdps(digits + GUARD_DIGITS):
        ctx = MpContext(digits)
        f = f_in(ctx)
        if narrow is not None:
            try:
                return bracketed_root(f, to_mpf(narrow[0]), to_mpf(narrow[1]), digits)
            except validate.InputError:   # the float root is off at this precision
                pass
        return bracketed_root(f, to_mpf(bracket[0]), to_mpf(bracket[1]), digits)
