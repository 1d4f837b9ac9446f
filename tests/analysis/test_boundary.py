"""Boundary curves: exactly N correct digits (recomputed with more), certified balls, closed forms."""
from __future__ import annotations

import csv
import json
from fractions import Fraction

import mpmath
import pytest

from symsig.analysis.boundary import boundary, closed_forms, decimal, depth_grid, exact_grid
from symsig.analysis.conditions import alpha_sa_required, evaluate
from symsig.analysis.diagram import diagram
from symsig.app.cli import main
from symsig.core.architecture import Architecture
from symsig.core.results import mp_round
from symsig.core.validate import InputError
from symsig.theory.conditions import DEPTH, EPS, chi_expr, chi_factors

DEPTH_L = 30  # shallow stacks keep the tests fast; the digits do not depend on it


def _values(b, curve: str, name: str) -> list[str | None]:
    return [pt[name] for pt in b.to_dict()[curve]]


@pytest.fixture(scope="module")
def b20():
    return boundary(depth=DEPTH_L, beta="0.5,2.5", alpha_sa="1,2", depths="5,40", digits=20, progress=False, thresholds="collapse")


@pytest.fixture(scope="module")
def b35():
    return boundary(depth=DEPTH_L, beta="0.5,2.5", alpha_sa="1,2", depths="5,40", digits=35, progress=False, thresholds="collapse")


@pytest.mark.parametrize("curve,name", [("rank", "alpha_sa"), ("entropy", "beta"), ("depth_curve", "alpha_sa")])
def test_every_digit_is_correct(b20, b35, curve: str, name: str) -> None:
    """The 20-digit strings are the 35-digit values rounded to 20 significant digits (exactly)."""
    low, high = _values(b20, curve, name), _values(b35, curve, name)
    assert low and all(x is not None for x in low)
    for x, y in zip(low, high):
        assert len(x.replace(".", "").lstrip("0")) == 20
        with mpmath.workdps(60):
            assert x == mp_round(mpmath.mpf(y), 20)


def test_rank_curve_is_the_exact_residual_of_conditions(b20) -> None:
    """At beta <= sqrt 2 the attention is liquid: alpha_SA*(beta) is the exact residual of §8.3
    (symsig.analysis.conditions.alpha_sa_required, eps = thr_rank), an independent search."""
    with mpmath.workdps(40):
        exact = alpha_sa_required(depth=DEPTH_L, eps="0.01", rho0="0.3", dps=25)
        assert abs(mpmath.mpf(b20.rank[0]["alpha_sa"]) - exact) < mpmath.mpf(10) ** -19 * exact


def test_closed_forms_solve_their_equations(b20) -> None:
    """alpha_linear(L) makes chi^L = eps (§8.3); chi_mlp^L_max = eps; rho_c = 1 - 2/beta*^2."""
    arch = Architecture()
    with mpmath.workdps(40):
        for pt in b20.depth_curve:
            a = pt["alpha_linear"]
            chi = evaluate(chi_expr("post-ln", "relu"), arch.replace(alpha_sa=a), 30)
            assert abs(chi ** pt["depth"] - mpmath.mpf("0.01")) < mpmath.mpf(10) ** -17
        l_max = mpmath.mpf(b20.closed_forms["depth-max"]["value"])
        chi_mlp = evaluate(chi_factors("relu")[1], arch, 30)
        assert abs(chi_mlp ** l_max - mpmath.mpf("0.01")) < mpmath.mpf(10) ** -17
        for pt in b20.entropy:
            assert abs(mpmath.mpf(pt["rho_c"]) - (1 - 2 / mpmath.mpf(pt["beta"]) ** 2)) < mpmath.mpf(10) ** -19
    assert {label for label, *_ in closed_forms("relu")} == {"rho-c", "beta-c0", "alpha-linear", "depth-max"}
    assert "\\epsilon" in b20.closed_forms["alpha-linear"]["latex"]
    assert {EPS, DEPTH} <= dict((label, e) for label, _, e, _ in closed_forms("relu"))["alpha-linear"].free_symbols


def test_certified_balls_contain_the_higher_precision_values(b35) -> None:
    b = boundary(depth=DEPTH_L, beta="0.5,2.5", alpha_sa="1", depths="5", digits=20, certify=True, progress=False,
                 thresholds="collapse")
    pairs = [(b.rank, b35.rank, "alpha_sa"), (b.entropy, b35.entropy[:1], "beta"), (b.depth_curve, b35.depth_curve[:1], "alpha_sa")]
    with mpmath.workdps(60):
        for low, high, name in pairs:
            for pt, ref in zip(low, high):
                ball = pt["ball"]
                assert ball["certified"], ball
                mid, rad, x = mpmath.mpf(ball["mid"]), mpmath.mpf(ball["rad"]), mpmath.mpf(ref[name])
                assert abs(x - mid) <= rad <= mpmath.mpf(10) ** -19 * abs(mid)


def test_no_sign_change_gives_none_and_entropy_zone_is_flagged() -> None:
    b = boundary(depth=DEPTH_L, beta="0.5,3.5", search_alpha="0:0.3:4", digits=10, progress=False)
    assert [pt["alpha_sa"] for pt in b.rank] == [None, None]
    flagged = boundary(depth=DEPTH_L, beta="3.5", digits=10, progress=False).rank
    assert flagged[0]["alpha_sa"] is not None and flagged[0]["entropy_zone"] is True


def test_grids_are_read_exactly() -> None:
    assert exact_grid("beta", "0.1:0.3:3") == [Fraction(1, 10), Fraction(1, 5), Fraction(3, 10)]
    assert exact_grid("beta", "0.5, 2") == [Fraction(1, 2), Fraction(2)]
    assert exact_grid("beta", [0.1, "2"]) == [Fraction(1, 10), Fraction(2)]
    assert depth_grid("10:30:3") == [10, 20, 30]
    assert decimal(Fraction(3, 2), 10) == "1.5" and decimal(Fraction(2), 10) == "2"
    assert decimal(Fraction(1, 3), 5) == "0.33333"
    for bad in ("1:2", "a:2:3", "2:1:3", ""):
        with pytest.raises(InputError):
            exact_grid("beta", bad)
    with pytest.raises(InputError):
        depth_grid([1.5])
    with pytest.raises(InputError):
        boundary(beta="0:1:2", digits=5)  # beta must be > 0
    with pytest.raises(InputError):
        boundary(beta="1", digits=5, alpha_sa_typo=1)


def test_output_files_and_bad_paths(tmp_path) -> None:
    with pytest.raises(InputError):
        boundary(beta="1", out=str(tmp_path / "missing" / "x.csv"))
    with pytest.raises(InputError):
        boundary(beta="1", out=str(tmp_path / "x.txt"))
    b = boundary(depth=DEPTH_L, beta="0.5", alpha_sa="1", digits=12, out=str(tmp_path / "x.csv"), progress=False)
    rows = list(csv.DictReader((tmp_path / "x.csv").open()))
    assert [(r["curve"], r["value"]) for r in rows] == [("rank", b.rank[0]["alpha_sa"]), ("entropy", b.entropy[0]["beta"]),
                                                        ("rescue", b.rescue[0]["alpha_sa"] or "")]
    b.write(tmp_path / "x.json")
    assert json.loads((tmp_path / "x.json").read_text()) == b.to_dict()


def test_diagram_boundaries_keep_their_digits(b35) -> None:
    d = diagram(depth=DEPTH_L, beta="0.5:2.5:2", alpha_sa="0:3:4", boundaries=True, boundary_points=2, digits=35,
                thresholds="collapse")
    rank = d.to_dict()["boundaries"]["rank"]
    assert rank[0][0] == 0.5 and rank[0][1] == b35.rank[0]["alpha_sa"]
    assert isinstance(diagram(depth=5, beta="0.5:2.5:2", alpha_sa="0:3:4", boundaries=True,
                              digits=8).to_dict()["boundaries"]["rank"][0][1], float)


def test_command_line(capsys, b20) -> None:
    assert main(["boundary", "--depth", str(DEPTH_L), "--beta", "0.5", "--digits", "20", "--zones", "collapse",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rank"][0]["alpha_sa"] == b20.rank[0]["alpha_sa"] and data["entropy"] == []
    assert main(["boundary", "--depth", "5", "--alpha-sa", "1", "--digits", "8"]) == 0
    assert "entropy: beta*(alpha_sa)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["boundary", "--beta", "1", "--out", "/nonexistent/x.csv"])
    assert exc.value.code == 2


def test_rescue_curve_is_the_rank_condition_at_the_rescue_threshold() -> None:
    """Calibrated zones: the rescue curve alpha_SA*(beta) keeps exactly thr_rescue of the diversity;
    at liquid beta it is the exact residual of §8.3 at eps = thr_rescue (an independent search);
    it is a zone boundary only where the attention is frozen; entropy points above it are rescued;
    its points certify like rank points."""
    from symsig.analysis.certify import certify_boundary
    from symsig.analysis.propagate import propagate
    from symsig.core.names import ZONE_DEFINITIONS

    keep = ZONE_DEFINITIONS["calibrated"]["rescue"]
    b = boundary(depth=12, beta="0.5,3", alpha_sa="1,4", digits=20, progress=False)
    liquid, frozen = b.rescue
    with mpmath.workdps(40):
        exact = alpha_sa_required(depth=12, eps=str(keep), rho0="0.3", dps=25)
        assert abs(mpmath.mpf(liquid["alpha_sa"]) - exact) < mpmath.mpf(10) ** -19 * exact
    assert not liquid["entropy_zone"] and frozen["entropy_zone"]
    tr = propagate(depth=12, rho0=0.3, beta=3, alpha_sa=float(frozen["alpha_sa"]))
    assert (1 - tr.rho[-1]) / 0.7 == pytest.approx(keep, rel=1e-12)
    assert [pt["rescued"] for pt in b.entropy] == [False, True]     # alpha_SA = 4 lies above the rescue curve
    assert "rescued" not in boundary(depth=12, alpha_sa="1", digits=8, progress=False,
                                     thresholds="collapse").entropy[0]
    with mpmath.workdps(30):
        x, r = mpmath.mpf(frozen["alpha_sa"]), mpmath.mpf(10) ** -15
        cert = certify_boundary("rescue", fixed="3", lo=mpmath.nstr(x - r, 25), hi=mpmath.nstr(x + r, 25), depth=12)
    assert cert.certified and cert.kind == "rescue"
    with pytest.raises(InputError, match="no rescue threshold"):
        certify_boundary("rescue", fixed="3", lo="1", hi="2", depth=12, thresholds="collapse")


def test_diagram_traces_the_rescue_curve_where_the_attention_is_frozen() -> None:
    from symsig.analysis.propagate import propagate

    from symsig.core.names import ZONE_DEFINITIONS

    keep = ZONE_DEFINITIONS["calibrated"]["rescue"]
    d = diagram(depth=12, beta="0.5:4:8", alpha_sa="0:4:8", boundaries=True, boundary_points=8, digits=12)
    assert d.boundaries["rescue"]
    for b, a in d.boundaries["rescue"]:
        tr = propagate(depth=12, rho0=0.3, beta=b, alpha_sa=a)
        assert (1 - tr.rho[-1]) / 0.7 == pytest.approx(keep, rel=1e-9) and sum(tr.Y2[:-1]) / len(tr.Y2[:-1]) > 0.1
    for b, a in d.boundaries["entropy"]:       # entropy points below the rescue curve only
        assert (1 - propagate(depth=12, rho0=0.3, beta=b, alpha_sa=a).rho[-1]) / 0.7 < keep
    assert "rescue" not in diagram(depth=12, beta="0.5:4:4", alpha_sa="0:3:4", boundaries=True, digits=8,
                                   thresholds="collapse").boundaries
