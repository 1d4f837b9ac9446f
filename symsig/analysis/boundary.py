"""Zone boundaries as curves, each point to a requested number of correct digits
(docs/theory.md §7.3-7.4).

The zone indicators g_rank, g_entropy of :mod:`symsig.analysis.zones` after L blocks from
(q0, rho0 q0), other parameters fixed, define three curves:

* ``rank``: alpha_SA*(beta) at each beta of a grid, the zeros of alpha -> g_rank(beta, alpha)
  (1 - rho_L = thr_rank (1 - rho0)): below it the tokens collapse. A point whose
  g_entropy > 0 lies inside the entropy zone (``entropy_zone``: not a zone boundary there).
* ``entropy``: beta*(alpha_SA) at each alpha_SA of a grid, the zeros of beta -> g_entropy
  (mean_{l<L} Y2_l = thr_entropy): above it the attention freezes. For zones with a rescue
  threshold a point is ``rescued`` when g_rescue >= 0 there (no zone boundary there).
* ``rescue`` (zones with a rescue threshold): alpha_SA*(beta) on the rank curve's beta grid,
  the zeros of alpha -> g_rescue (1 - rho_L = thr_rescue (1 - rho0)): above it entropy collapse
  is rescued. A zone boundary where ``entropy_zone`` (g_entropy > 0) holds.
* ``depth`` (how deep can I go): at fixed beta, alpha_SA*(L) at each depth L of a grid, the
  zeros of alpha -> g_rank at depth L: the residual strength needed to keep thr_rank of the
  diversity over L blocks. L is trainable at (beta, alpha_SA) iff alpha_SA > alpha_SA*(L)
  and the point is not in the entropy zone (``entropy_zone`` at the boundary point); for
  post-LN blocks the linearised rule has no solution once L >= L_max = log(thr)/log(chi_mlp)
  (docs/theory.md §8.3), printed with the curve.

Zeros are bracketed by sign changes of the float indicators on a search grid (every sign
change is reported; no change: the value is None), narrowed by a float solve, and refined
on the mpmath iteration by :func:`symsig.analysis.diagram.correct_digits`: every value is a
decimal string of exactly ``digits`` correctly rounded significant digits. Grid values are
read exactly ('0.5:3:6' is 1/2, 1, ..., 3; other steps are exact rationals). With
``certify`` each point gets a ball (midpoint, radius 10^-digits |x|) certified by
:func:`symsig.analysis.certify.certify_boundary` to contain a zero of the indicator.
Closed forms (T -> infinity, post-LN, closed-form activations) are printed beside the
exact values: the linearised alpha_SA(L, eps) (§8.3) beside the rank and depth curves,
rho_c(beta*) = 1 - 2/beta*^2 beside the entropy curve.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from decimal import ROUND_CEILING, Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..core import validate
from ..core.architecture import Architecture
from ..core.progress import Progress
from ..core.results import Result, mp_round
from ..numerics.contexts import NUMPY, MpContext
from ..numerics.iterate import check_start
from ..numerics.precision import GUARD_DIGITS
from ..theory import rem
from ..theory.conditions import CLOSED, DEPTH, EPS, alpha_sa_linear_expr, chi_factors, rho_c_expr
from ..theory.symbols import LATEX_NAMES, p, q
from .conditions import evaluate
from .diagram import correct_digits, float_bracket, indicators, sweep
from .zones import rescue_thresholds, thresholds_from

CURVES = ("rank", "entropy", "rescue", "depth")
OUTPUT_SUFFIXES = (".csv", ".json")
#: Search grids' default sizes (sign changes between neighbours bracket the zeros).
SEARCH_POINTS = 64


# ------------------------------------------------------------------ closed forms


def closed_forms(activation: Any = "relu") -> list[tuple[str, str, sp.Expr, str]]:
    """(label, LaTeX left side, expression, meaning) of the closed forms printed beside the curves."""
    out = [("rho-c", r"\rho_c", rho_c_expr(), "freezing cosine at beta (the attention reads q = 1)"),
           ("beta-c0", r"\beta_c", rem.beta_c(), "freezing inverse temperature of the state (q, p)")]
    if activation in ("relu", "linear"):
        out.append(("alpha-linear", r"\alpha_{SA}^{\mathrm{lin}}", sp.sqrt(alpha_sa_linear_expr(activation)),
                    "linearised residual keeping epsilon of the diversity over L post-LN blocks (§8.3)"))
    if activation in CLOSED:
        out.append(("depth-max", r"L_{\max}", sp.log(EPS) / sp.log(chi_factors(activation)[1]),
                    "no alpha_SA keeps epsilon of the diversity beyond this depth (post-LN, linearised, §8.3)"))
    return out


def _latex(expr: sp.Expr) -> str:
    return sp.latex(expr, symbol_names=LATEX_NAMES | {EPS: r"\epsilon"})


def _closed(arch: Architecture, depth: int, thr: float, digits: int, q_read: Any, rho0: Any) -> dict[str, Any]:
    """The closed forms of :func:`closed_forms` with their values here (None where they do not apply)."""
    exact = not arch.finite_t and arch.block == "post-ln" and isinstance(arch.activation, str)
    out: dict[str, Any] = {}
    for label, lhs, expr, meaning in closed_forms(arch.activation if isinstance(arch.activation, str) else ""):
        value = None
        if label == "beta-c0" and not arch.finite_t:  # at the state the first attention reads
            q1 = sp.Rational(str(q_read))
            value = _evaluate(expr.xreplace({q: q1, p: q1 * sp.Rational(str(rho0))}), arch, digits, {})
        elif label in ("alpha-linear", "depth-max") and exact:
            value = _evaluate(expr.subs(DEPTH, depth), arch, digits, {"epsilon": thr})
        out[label] = {"latex": f"{lhs} = {_latex(expr)}", "meaning": meaning, "value": value}
    return out


def _evaluate(expr: sp.Expr, arch: Architecture, digits: int, extra: dict[str, Any]) -> str | None:
    """``expr`` at the architecture's parameters and ``extra`` symbols (by name), ``digits`` digits."""
    sub = {s: sp.Rational(str(extra[s.name])) for s in expr.free_symbols if s.name in extra}
    value = evaluate(expr.xreplace(sub), arch, digits)
    return mp_round(value, digits) if isinstance(value, mpmath.mpf) and mpmath.isfinite(value) else None


def _alpha_linear(closed: dict[str, Any], arch: Architecture, depth: int, thr: float, digits: int) -> str | None:
    """The linearised residual of §8.3 at depth L (None where it does not apply or has no solution)."""
    if "alpha-linear" not in closed or arch.finite_t or arch.block != "post-ln":
        return None
    a2 = alpha_sa_linear_expr(arch.activation).subs(DEPTH, depth)
    if not mpmath.mpf(_evaluate(a2, arch, digits, {"epsilon": thr}) or -1) >= 0:  # k >= 1: no residual suffices
        return None
    return _evaluate(sp.sqrt(a2), arch, digits, {"epsilon": thr})


# ------------------------------------------------------------------ grids


def exact_grid(name: str, spec: Any) -> list[Fraction]:
    """'MIN:MAX:N' (N points, ends included), 'X,Y,...' or numbers, read exactly as written (Fractions)."""
    try:
        if isinstance(spec, str) and ":" not in spec:
            spec = spec.split(",")
        if isinstance(spec, str):
            parts = spec.split(":")
            if len(parts) != 3:
                raise validate.InputError(f"{name} must be 'MIN:MAX:N', got {spec!r}")
            lo, hi = (Fraction(x.strip()) for x in parts[:2])
            n = validate.integer(f"{name} N", parts[2], 1)
            if hi < lo:
                raise validate.InputError(f"{name}: MAX < MIN in {spec!r}")
            return [lo] if n == 1 else [lo + (hi - lo) * i / (n - 1) for i in range(n)]
        values = [spec] if isinstance(spec, int | float | Fraction) else list(spec)
        out = [x if isinstance(x, Fraction) else Fraction(repr(x) if isinstance(x, float) else str(x)) for x in values]
    except (ValueError, TypeError, ZeroDivisionError):
        raise validate.InputError(f"{name} must be 'MIN:MAX:N' or a sequence of numbers, got {spec!r}") from None
    if not out:
        raise validate.InputError(f"{name} grid is empty")
    return out


def depth_grid(spec: Any) -> list[int]:
    """Depths: 'MIN:MAX:N' (rounded to integers, duplicates dropped) or integers >= 1."""
    values = exact_grid("depths", spec)
    out = sorted({round(x) for x in values})
    if not isinstance(spec, str) and any(x != round(x) for x in values):
        raise validate.InputError("depths must be integers")
    for x in out:
        validate.integer("depth", x, 1)
    return out


def decimal(x: Fraction, digits: int) -> str:
    """A grid value as a decimal: exact when it terminates, else ``digits`` significant digits."""
    den = x.denominator
    for f in (2, 5):
        while den % f == 0:
            den //= f
    if den == 1:
        text = format(Decimal(x.numerator) / Decimal(x.denominator), "f") if x.denominator > 1 else str(x.numerator)
        return text.rstrip("0").rstrip(".") if "." in text else text
    with mpmath.workdps(digits + GUARD_DIGITS):
        return mp_round(mpmath.mpf(x.numerator) / x.denominator, digits)


# ------------------------------------------------------------------ result


@dataclass(frozen=True)
class Boundary(Result):
    """Boundary curves (module docstring). Values are decimal strings of exactly ``digits``
    correct significant digits, or None where the search grid has no sign change.

    ``rank``: points {beta, alpha_sa, alpha_linear, entropy_zone}; ``entropy``: {alpha_sa,
    beta, rho_c, rescued}; ``rescue``: {beta, alpha_sa, entropy_zone}; ``depth_curve``: {depth, alpha_sa, alpha_linear, entropy_zone} at
    beta = ``at_beta``; with certification each point has ``ball`` {mid, rad, certified,
    reason}. ``closed_forms``: label -> {latex, meaning, value (None if not applicable)}.
    """

    digits: int
    depth: int
    rho0: str
    thresholds: dict[str, float]
    rank: list[dict[str, Any]]
    entropy: list[dict[str, Any]]
    depth_curve: list[dict[str, Any]]
    at_beta: str | None
    rescue: list[dict[str, Any]]
    closed_forms: dict[str, dict[str, Any]]
    architecture: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per point (the CSV)."""
        out = []
        for curve, points, fixed, value in (("rank", self.rank, "beta", "alpha_sa"),
                                            ("entropy", self.entropy, "alpha_sa", "beta"),
                                            ("rescue", self.rescue, "beta", "alpha_sa"),
                                            ("depth", self.depth_curve, "depth", "alpha_sa")):
            for pt in points:
                ball = pt.get("ball") or {}
                closed = "rho_c" if curve == "entropy" else "alpha_linear"
                out.append({"curve": curve, "fixed": fixed, "fixed_value": pt[fixed], "name": value,
                            "value": pt[value], "closed_form": closed, "closed_value": pt.get(closed),
                            "entropy_zone": pt.get("entropy_zone"), "rescued": pt.get("rescued"),
                            "ball_mid": ball.get("mid"),
                            "ball_rad": ball.get("rad"), "certified": ball.get("certified")})
        return out

    def write(self, path: str | Path) -> None:
        """Write ``path``: .csv (:meth:`rows`) or .json (:meth:`to_dict`)."""
        target = Path(path)
        if target.suffix.lower() == ".json":
            target.write_text(json.dumps(self.to_dict()) + "\n")
            return
        rows = self.rows()
        with target.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["curve"])
            writer.writeheader()
            writer.writerows(rows)


# ------------------------------------------------------------------ computation


class _Curves:
    """Shared state of one :func:`boundary` call (architecture, start, thresholds, precision)."""

    def __init__(self, arch: Architecture, rho0: Any, q0: Any, thr: dict[str, float], digits: int,
                 certify: bool, prec: int | None, bar: Progress) -> None:
        self.arch, self.rho0, self.q0, self.thr, self.digits = arch, rho0, q0, thr, digits
        self.certify, self.bar = certify, bar
        self.prec = prec or int((digits + 25) * 3.33) + 32

    def zeros(self, kind: str, depth: int, fixed: Fraction, grid: np.ndarray, g_grid: np.ndarray) -> list[dict[str, Any]]:
        """Every zero of the ``kind`` indicator along ``grid`` (values g_grid) at the fixed coordinate."""
        which = 1 if kind == "entropy" else 0  # "rank" and "depth": g_rank, zero in alpha_SA
        point = (lambda x: (x, fixed)) if kind == "entropy" else (lambda x: (fixed, x))

        def f_in(ctx: Any) -> Callable[[Any], Any]:
            g = indicators(self.arch, depth, self.rho0, self.q0, self.thr, ctx)
            return lambda x: g(*point(x))[which]

        found = []
        for i in np.nonzero(np.sign(g_grid[:-1]) * np.sign(g_grid[1:]) < 0)[0]:
            lo, hi = float(grid[i]), float(grid[i + 1])
            text, x = correct_digits(f_in, lo, hi, self.digits, narrow=float_bracket(f_in, lo, hi))
            with mpmath.workdps(self.digits + GUARD_DIGITS):
                x_text = mpmath.nstr(x, self.digits + 10)
                entropy = indicators(self.arch, depth, self.rho0, self.q0, self.thr,
                                     MpContext(self.digits))(*point(x))[1] > 0
                rescue = rescue_thresholds(self.thr)
                rescued = None if kind != "entropy" or rescue is None else bool(
                    indicators(self.arch, depth, self.rho0, self.q0, rescue, MpContext(self.digits))(*point(x))[0] >= 0)
            pt: dict[str, Any] = {"value": text, "exact": x_text, "entropy_zone": bool(entropy), "rescued": rescued}
            if self.certify:
                pt["ball"] = self.ball(kind, depth, fixed, x)
            found.append(pt)
        self.bar.step()
        return found

    def ball(self, kind: str, depth: int, fixed: Fraction, x: mpmath.mpf) -> dict[str, Any]:
        """A certified ball mid +- rad, rad = 10^-digits |x| (exact decimals: [lo, hi] = [mid - rad, mid + rad])."""
        from .certify import certify_boundary

        with mpmath.workdps(self.digits + GUARD_DIGITS):
            r = mpmath.mpf(10) ** -self.digits * max(abs(x), mpmath.mpf(10) ** -self.digits)
            lo, hi = (mpmath.nstr(y, self.digits + 10, min_fixed=-mpmath.inf, max_fixed=mpmath.inf)
                      for y in (x - r, x + r))
        cert = certify_boundary("entropy" if kind == "entropy" else "rank", fixed=fixed, lo=lo, hi=hi, depth=depth,
                                rho0=self.rho0, q0=self.q0, thresholds=self.thr, prec=self.prec,
                                **_arch_kwargs(self.arch))
        with localcontext() as dctx:
            dctx.prec = 4 * self.digits + 40
            mid, rad = (Decimal(lo) + Decimal(hi)) / 2, (Decimal(hi) - Decimal(lo)) / 2
            rad = rad.quantize(Decimal(1).scaleb(rad.adjusted() - 2), rounding=ROUND_CEILING)  # 3 digits, up
        return {"mid": str(mid), "rad": str(rad), "certified": cert.certified, "reason": cert.reason}


def _arch_kwargs(arch: Architecture) -> dict[str, Any]:
    return {k: v for k, v in arch.to_dict().items() if k not in ("beta", "alpha_sa")} | \
        ({"activation": arch.activation} if not isinstance(arch.activation, str) else {})


def _search(name: str, spec: Any, default: str) -> np.ndarray:
    values = np.array([float(x) for x in exact_grid(name, default if spec is None else spec)])
    if values.size < 2:
        raise validate.InputError(f"{name} needs at least 2 points")
    return values


def boundary(
    *,
    depth: int = 60,
    beta: Any = None,
    alpha_sa: Any = None,
    depths: Any = None,
    at_beta: Any = None,
    rho0: Any = "0.3",
    q0: Any = 1,
    thresholds: dict[str, Any] | str | None = None,
    digits: int = 20,
    certify: bool = False,
    search_alpha: Any = None,
    search_beta: Any = None,
    prec: int | None = None,
    out: str | Path | None = None,
    progress: bool | None = None,
    **architecture: Any,
) -> Boundary:
    """The zone boundaries as curves, every point to ``digits`` correct digits (module docstring).

    ``beta``: grid of the rank curve alpha_SA*(beta); ``alpha_sa``: grid of the entropy curve
    beta*(alpha_SA); ``depths`` (with ``at_beta``, default the architecture's beta): grid of
    the depth curve alpha_SA*(L). Grids are 'MIN:MAX:N' or sequences; when none is given,
    the rank curve on '0.5:3:6' and the entropy curve on '0:3:7'. ``search_alpha``,
    ``search_beta``: the search grids (defaults '0:A:64', A = max(4, twice the large-L
    residual of §8.3), and '0.05:8:64'). ``certify``: a certified ball per point
    (python-flint; ``prec`` bits, default about digits + 25 digits). ``out``: write .csv
    or .json (checked before any work). ``architecture``: the other keys of
    :class:`Architecture` (not beta, alpha_sa).
    """
    target = validate.output("out", out, suffixes=OUTPUT_SUFFIXES) if out is not None else None
    depth = validate.integer("depth", depth, 1)
    digits = validate.integer("digits", digits, 1)
    validate.keywords("boundary", architecture,
                      [f.name for f in fields(Architecture) if f.name not in ("beta", "alpha_sa")])
    if beta is None and alpha_sa is None and depths is None:
        beta, alpha_sa = "0.5:3:6", "0:3:7"
    betas = exact_grid("beta", beta) if beta is not None else []
    alphas = exact_grid("alpha_sa", alpha_sa) if alpha_sa is not None else []
    depth_list = depth_grid(depths) if depths is not None else []
    arch = Architecture(**architecture)
    fixed_beta = exact_grid("at_beta", arch.beta if at_beta is None else at_beta)[0]
    for b in [*betas, fixed_beta]:
        validate.positive("beta", b)
    for a in alphas:
        validate.nonnegative("alpha_sa", a)
    check_start(q0, rho0, arch.seq_len)
    if not Fraction(str(rho0)) < 1:
        raise validate.InputError("rho0 must be < 1 (rho0 = 1 is already collapsed)")
    thr = thresholds_from(thresholds)
    if certify:
        from .certify import check_certifiable

        check_certifiable(arch)  # before any work
    deepest = max([depth, *depth_list])
    big = max(4.0, 2 * np.sqrt((float(arch.sigma_v2) + float(arch.sigma_b2)) * deepest / np.log(1 / thr["rank"])))
    s_alpha = _search("search_alpha", search_alpha, f"0:{big:.6g}:{SEARCH_POINTS}")
    s_beta = _search("search_beta", search_beta, f"0.05:8:{SEARCH_POINTS}")
    if s_beta.min() <= 0 or s_alpha.min() < 0:
        raise validate.InputError("search grids need beta > 0 and alpha_SA >= 0")
    from ..theory.conditions import PRE_LN

    q_read = 1 if arch.block in PRE_LN else q0
    closed = _closed(arch, depth, thr["rank"], digits, q_read, rho0)
    rank, entropy, rescue, depth_curve = [], [], [], []
    rescue_thr = rescue_thresholds(thr)
    with Progress(len(betas) * (1 + (rescue_thr is not None)) + len(alphas) + len(depth_list), "boundary",
                  progress) as bar:
        run = _Curves(arch, rho0, q0, thr, digits, certify, prec, bar)
        start = (rho0, q0)
        if betas:
            rho_l, y2 = sweep(arch, np.array([float(b) for b in betas]), s_alpha, depth, *map(float, start))
            g = _indicator_grid(rho_l, y2, rho0, thr)
            a_lin = _alpha_linear(closed, arch, depth, thr["rank"], digits)
            for j, b in enumerate(betas):
                rank += _points(run.zeros("rank", depth, b, s_alpha, g[0][:, j]), "beta", decimal(b, digits),
                                "alpha_sa", {"alpha_linear": a_lin})
            if rescue_thr is not None:  # g_rescue is g_rank at the rescue threshold
                rescue_run = _Curves(arch, rho0, q0, rescue_thr, digits, certify, prec, bar)
                g_res = _indicator_grid(rho_l, y2, rho0, rescue_thr)[0]
                for j, b in enumerate(betas):
                    rescue += _points(rescue_run.zeros("rank", depth, b, s_alpha, g_res[:, j]), "beta",
                                      decimal(b, digits), "alpha_sa", {})
        if alphas:
            rho_l, y2 = sweep(arch, s_beta, np.array([float(a) for a in alphas]), depth, *map(float, start))
            g = _indicator_grid(rho_l, y2, rho0, thr)
            for i, a in enumerate(alphas):
                pts = _points(run.zeros("entropy", depth, a, s_beta, g[1][i, :]), "alpha_sa", decimal(a, digits),
                              "beta", {})
                for pt in pts:
                    pt.pop("entropy_zone", None)
                    if rescue_thr is None:
                        pt.pop("rescued", None)
                    pt["rho_c"] = None if pt["beta"] is None else _evaluate(
                        rho_c_expr(), arch.replace(beta=pt.pop("exact")), digits, {})
                entropy += pts
        for L in depth_list:
            rho_l, y2 = sweep(arch, np.array([float(fixed_beta)]), s_alpha, L, *map(float, start))
            g = _indicator_grid(rho_l, y2, rho0, thr)
            a_lin = _alpha_linear(closed, arch, L, thr["rank"], digits)
            depth_curve += _points(run.zeros("depth", L, fixed_beta, s_alpha, g[0][:, 0]), "depth", L, "alpha_sa",
                                   {"alpha_linear": a_lin})
    for pts in (rank, rescue, depth_curve):
        for pt in pts:
            pt.pop("exact", None)
            pt.pop("rescued", None)
    result = Boundary(digits=digits, depth=depth, rho0=str(rho0), thresholds=thr, rank=rank, entropy=entropy,
                      depth_curve=depth_curve, at_beta=decimal(fixed_beta, digits) if depth_list else None,
                      rescue=rescue,
                      closed_forms=closed,
                      architecture={k: v for k, v in arch.to_dict().items() if k not in ("beta", "alpha_sa")})
    if target is not None:
        result.write(target)
    return result


def _indicator_grid(rho_l: np.ndarray, y2: np.ndarray, rho0: Any, thr: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    from .zones import indicators as zone_indicators

    return zone_indicators(NUMPY, float(rho0), rho_l, y2, thr)


def _points(found: Sequence[dict[str, Any]], fixed: str, fixed_value: Any, name: str,
            extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Point records: the fixed coordinate, the value (None when there is no zero), extras."""
    if not found:
        return [{fixed: fixed_value, name: None, **extra}]
    out = []
    for pt in found:
        rec = {fixed: fixed_value, name: pt["value"], **extra, "entropy_zone": pt["entropy_zone"], "exact": pt["exact"],
               "rescued": pt["rescued"]}
        if "ball" in pt:
            rec["ball"] = pt["ball"]
        out.append(rec)
    return out


__all__ = ["Boundary", "CURVES", "boundary", "closed_forms", "decimal", "depth_grid", "exact_grid"]
