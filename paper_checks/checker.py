"""The checker behind ``symsig check``: published constants (constants.toml) vs ours.

Each entry of ``constants.toml`` names a computation here (``compute``); the
published value is parsed with SymPy and evaluated at 60 digits, ours comes from
the library at 50 digits (or float where the library computes in float, stated
by the tolerance). ``kind = "disagree"`` entries are known disagreements with the
published text: they pass when our computation reproduces the disagreement.
"""
from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mpmath
import sympy as sp

DATA = Path(__file__).with_name("constants.toml")
DPS = 50
FIG1 = dict(sigma_w2="0.2", sigma_v2="0.2", sigma_b2="4e-4", alpha_sa=1, alpha_mlp=1)


def _crit(**kw: Any) -> Any:
    from symsig.analysis.critical import critical

    return critical(dps=DPS, **kw)


def _finite_y2(beta: Any, T: int) -> float:
    from symsig.numerics.finite_t import rem_moments_np

    return float(rem_moments_np(beta, 1.0, 0.0, T).Y2)


def _overlap(T: int) -> float:
    from symsig.numerics.finite_t import x_overlap_np

    return float(x_overlap_np(5.0, 1.0, 0.8, T))


def _depth_scale() -> Any:
    from symsig.core.architecture import Architecture
    from symsig.analysis.conditions import evaluate
    from symsig.theory.conditions import depth_scale_expr

    return evaluate(depth_scale_expr("post-ln", "relu"), Architecture(**FIG1), DPS)


def _chi_closed_vs_numeric() -> tuple[Any, Any]:
    """(closed-form chi, one-sided numerical derivative of the iterated map) at Figure-1 parameters, erf.

    erf is smooth at rho = 1, so the numerical slope is accurate to the working digits.
    """
    from symsig.core.architecture import Architecture
    from symsig.analysis.conditions import chi_numeric, evaluate
    from symsig.theory.conditions import chi_expr

    arch = dict(FIG1, activation="erf")
    return evaluate(chi_expr("post-ln", "erf"), Architecture(**arch), 30), chi_numeric(dps=30, **arch)


def _grad_bracket_pd() -> Any:
    from symsig.analysis.gradient import grad_wq_scaled

    return grad_wq_scaled(3, 1, 0, dps=30).bracket


def _grad_finite() -> float:
    from symsig.analysis.gradient import grad_wq_scaled

    return float(grad_wq_scaled(1.0, 1.0, 0.0, T=4096).grad_wq_scaled)


def _transcribed_bracket() -> Any:
    """(q - p)(Y2 - 2 Y3) + p Y2^2 at q = 1, p = 0, beta = 3 under Poisson-Dirichlet."""
    q, p = 1, 0
    res = _crit(beta=3, q=q, p=p)
    y2, y3 = mpmath.mpf(res.Y2), mpmath.mpf(res.Y3)
    return (q - p) * (y2 - 2 * y3) + p * y2**2


def _preln_y2_layer20() -> float:
    """Y2 of the 20th pre-LN attention, LN variables and exact finite T (T = 256)."""
    from symsig.analysis.propagate import propagate

    traj = propagate(block="pre-ln", beta=2, depth=20, rho0=0, seq_len=256, **{k: float(v) for k, v in FIG1.items()})
    return float(traj.Y2[19])


COMPUTE: dict[str, Callable[[], Any]] = {
    "beta_c_rho0": lambda: _crit(beta=3, rho=0).beta_c,
    "rho_c_beta3": lambda: _crit(beta=3, rho=0).rho_c,
    "rho_c_beta2": lambda: _crit(beta=2, rho=0).rho_c,
    "y2_beta3_rho0": lambda: _crit(beta=3, rho=0).Y2,
    "y2_beta5_rho08": lambda: _crit(beta=5, rho="0.8").Y2,
    "y2_at_switch": lambda: _crit(beta=2, rho="0.5").Y2,
    "y3_beta3_rho0": lambda: _crit(beta=3, rho=0).Y3,
    "y2sq_beta3_rho0": lambda: _y2sq_pd(),
    "y2_finite_512_beta1": lambda: _finite_y2(1.0, 512),
    "y2_finite_512_beta2": lambda: _finite_y2(2.0, 512),
    "y2_finite_512_beta3": lambda: _finite_y2(3.0, 512),
    "y2_finite_2p20_beta15": lambda: _finite_y2(1.5, 2**20),
    "x_rho08_beta5_T64": lambda: _overlap(64),
    "x_rho08_beta5_T512": lambda: _overlap(512),
    "depth_scale_fig1": _depth_scale,
    "chi_closed_vs_numeric": _chi_closed_vs_numeric,
    "grad_bracket_pd": _grad_bracket_pd,
    "grad_beta1_T4096": _grad_finite,
    "grad_bracket_transcribed": _transcribed_bracket,
    "preln_y2_layer20": _preln_y2_layer20,
}


def _y2sq_pd() -> Any:
    from symsig.theory import rem
    from symsig.theory.symbols import m

    with mpmath.workdps(DPS + 10):
        mm = mpmath.sqrt(2) / 3
        return sp.lambdify(m, rem.y2_squared_pd(), "mpmath")(mm)


@dataclass(frozen=True)
class Row:
    """One line of the ``symsig check`` table."""

    name: str
    source: str
    published: str
    ours: str
    difference: str
    verdict: str
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _number(text: str) -> mpmath.mpf | None:
    """The published value at 60 digits (None if it is not a number, e.g. 'nonnegative')."""
    try:
        value = sp.sympify(text)
    except (sp.SympifyError, SyntaxError, TypeError):
        return None
    with mpmath.workdps(60):
        return mpmath.mpf(str(sp.N(value, 60))) if value.is_number else None


def run_check(entry: dict[str, Any]) -> Row:
    """Compute one entry and judge it."""
    ours = COMPUTE[entry["compute"]]()
    published = _number(entry["published"])
    with mpmath.workdps(60):
        tol = mpmath.mpf(entry["tolerance"])
        if isinstance(ours, tuple):  # (reference, value): both ours, compared with each other
            reference, ours = (mpmath.mpf(x) for x in ours)
        else:
            reference = published
        value = mpmath.mpf(ours)
        if entry["kind"] == "disagree":
            if published is None:  # a qualitative claim: the published form gives a negative "squared norm"
                passed, diff = bool(value < -tol), "-"
            else:  # ours is off the published value and on our independent evidence
                d = abs(value - published)
                on_evidence = abs(value - mpmath.mpf(entry["evidence_value"])) <= mpmath.mpf(entry["evidence_tolerance"])
                passed, diff = bool(d > tol and on_evidence), mpmath.nstr(d, 3)
            verdict = "disagrees (known)" if passed else "FAIL: disagreement not reproduced"
        else:
            d = abs(value - reference)
            passed = bool(d <= tol)
            diff, verdict = mpmath.nstr(d, 3), "pass" if passed else "FAIL"
        shown = mpmath.nstr(value, 20 if tol < 1e-12 else 8)
    return Row(entry["name"], entry["source"], entry["published"], shown, diff, verdict, passed)


def load(path: Path = DATA) -> list[dict[str, Any]]:
    """The entries of ``constants.toml``."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)["check"]


def table(rows: list[Row]) -> str:
    """Plain-text table: constant, published, ours, difference, verdict."""
    cols = [("constant", 58), ("published", 26), ("ours", 22), ("difference", 10), ("verdict", 18)]
    lines = ["  ".join(h.ljust(w) for h, w in cols)]
    for r in rows:
        cells = (r.name, r.published, r.ours, r.difference, r.verdict)
        lines.append("  ".join(str(c)[:w].ljust(w) for c, (_, w) in zip(cells, cols)))
    n_pass = sum(r.passed for r in rows)
    lines.append(f"{n_pass}/{len(rows)} checks passed" + ("" if n_pass == len(rows) else "; FAILURES above"))
    return "\n".join(lines)

