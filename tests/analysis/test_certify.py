"""Ball-arithmetic certificates of diagram boundaries (python-flint arb)."""
from __future__ import annotations

import mpmath
import pytest

from symsig.analysis.certify import certify_boundary, indicators_arb
from symsig.core.architecture import Architecture
from symsig.analysis.diagram import DEFAULT_THRESHOLDS, boundary_mp, diagram, indicators
from symsig.numerics.contexts import MpContext


@pytest.mark.parametrize("kind,fixed,bracket", [("rank", "1", ("1", "2")), ("entropy", "2", ("1.5", "4"))])
def test_certified_enclosure_of_a_20_digit_root(kind: str, fixed: str, bracket: tuple[str, str]) -> None:
    with mpmath.workdps(45):
        root = boundary_mp(kind, fixed=fixed, bracket=bracket, depth=60, digits=20)
        r = mpmath.mpf(10) ** -18
        lo, hi = mpmath.nstr(root - r, 30), mpmath.nstr(root + r, 30)
        far_lo, far_hi = mpmath.nstr(root + 10 * r, 30), mpmath.nstr(root + 20 * r, 30)
    cert = certify_boundary(kind, fixed=fixed, lo=lo, hi=hi, depth=60)
    assert cert.certified, cert
    # a segment next to the root, not containing it, is not certified (same sign at both ends)
    assert not certify_boundary(kind, fixed=fixed, lo=far_lo, hi=far_hi, depth=60).certified


def test_arb_balls_enclose_the_mpmath_values() -> None:
    """One indicator definition (symsig.analysis.zones), two contexts: the arb balls enclose
    the mpmath values (60 digits requested, 80 carried) to 45 digits."""
    arch = Architecture(beta="2.5", alpha_sa="1.3")
    expected = indicators(arch, 40, "0.3", 1, DEFAULT_THRESHOLDS, MpContext(60))("2.5", "1.3")
    g_arb = indicators_arb(arch, 40, "0.3", "1", DEFAULT_THRESHOLDS, prec=256)
    import flint

    old, flint.ctx.prec = flint.ctx.prec, 256  # read the balls at their own precision
    try:
        for ball, value in zip(g_arb, expected):
            assert ball.rad() < 1e-50
            with mpmath.workdps(60):
                assert abs(mpmath.mpf(ball.mid().str(55, radius=False)) - value) < mpmath.mpf(10) ** -45
    finally:
        flint.ctx.prec = old


def test_undecided_branch_is_not_guessed() -> None:
    # beta = sqrt(2/0.9) to 90 digits at rho0 = 0.1: the ball of beta^2 q (q - p) - 2 (radius
    # ~1e-77 at 256 bits) contains 0, so the REM branch cannot be decided and must not be guessed
    with mpmath.workdps(95):
        beta_c = mpmath.nstr(mpmath.sqrt(mpmath.mpf(2) / mpmath.mpf("0.9")), 90)
    cert = certify_boundary("entropy", fixed="1", lo=beta_c, hi="3", depth=1, rho0="0.1")
    assert not cert.certified and "undecided" in cert.reason


def test_diagram_certifies_its_traced_boundaries() -> None:
    d = diagram(depth=30, beta="0.1:4:16", alpha_sa="0:3:16", boundaries=True, boundary_points=4, digits=10,
                certify=True)
    assert d.certificates and all(c["certified"] for c in d.certificates)
    with pytest.raises(ValueError):  # a quadrature kernel: refused before any work
        diagram(depth=10, beta="0.1:4:4", alpha_sa="0:3:4", certify=True, activation="tanh", boundaries=True)


#: alpha_SA* of the rank boundary at beta = 1 after 12 post-LN ReLU blocks, T = 512, rho0 = 0.3:
#: boundary_mp("rank", fixed="1", bracket=(r - 1e-9, r + 1e-9), depth=12, digits=16, seq_len=512),
#: r the float root 0.5676604055479564 (the mpmath finite-T map, minutes of CPU: hence stored). Not
#: digits=25: its working precision (45 digits) hits an error of the mpmath overlap there (X wrong
#: by up to 7e-7 relative at dps 45 on this trajectory, right at dps 36 and 52; the 25-digit
#: root 0.5676604060141521765397637 is off by 5e-10, and the balls certify that it is not a root).
ROOT_T512 = "ROOT16"


@pytest.mark.slow
def test_certified_finite_t_boundary_point() -> None:
    """At T = 512 the segment root +- 1e-15 root is certified (finite-T moments in balls), the
    segment next to it is not."""
    with mpmath.workdps(40):
        root = mpmath.mpf(ROOT_T512)
        r = root * mpmath.mpf(10) ** -15
        lo, hi = mpmath.nstr(root - r, 30), mpmath.nstr(root + r, 30)
        far_lo, far_hi = mpmath.nstr(root + 10 * r, 30), mpmath.nstr(root + 20 * r, 30)
    common = dict(fixed="1", depth=12, seq_len=512, prec=160)
    cert = certify_boundary("rank", lo=lo, hi=hi, **common)
    assert cert.certified, cert
    assert not certify_boundary("rank", lo=far_lo, hi=far_hi, **common).certified

