"""Ball-arithmetic certificates of diagram boundaries (python-flint arb)."""
from __future__ import annotations

import mpmath
import pytest

from symsig.analysis.certify import certify_boundary, indicators_arb
from symsig.core.architecture import Architecture
from symsig.analysis.diagram import DEFAULT_THRESHOLDS, boundary_mp, diagram, indicators
from symsig.numerics.contexts import MpContext


@pytest.mark.parametrize("kind,fixed,bracket,depth,thr", [
    ("rank", "1", ("1", "2"), 60, "collapse"), ("entropy", "2", ("1.5", "4"), 60, "collapse"),
    ("rank", "1", ("1", "4"), 12, None), ("entropy", "3", ("1", "4"), 12, None)])  # None: the calibrated default
def test_certified_enclosure_of_a_20_digit_root(kind: str, fixed: str, bracket: tuple[str, str], depth: int,
                                                thr: str | None) -> None:
    with mpmath.workdps(45):
        root = boundary_mp(kind, fixed=fixed, bracket=bracket, depth=depth, digits=20, thresholds=thr)
        r = mpmath.mpf(10) ** -18
        lo, hi = mpmath.nstr(root - r, 30), mpmath.nstr(root + r, 30)
        far_lo, far_hi = mpmath.nstr(root + 10 * r, 30), mpmath.nstr(root + 20 * r, 30)
    cert = certify_boundary(kind, fixed=fixed, lo=lo, hi=hi, depth=depth, thresholds=thr)
    assert cert.certified, cert
    # a segment next to the root, not containing it, is not certified (same sign at both ends)
    assert not certify_boundary(kind, fixed=fixed, lo=far_lo, hi=far_hi, depth=depth, thresholds=thr).certified


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


@pytest.mark.slow
def test_certified_finite_t_boundary_point() -> None:
    """At T = 512 (depth 12, beta = 1, collapse zones) the segment around the float root (tables and float
    quadratures, accurate to ~1e-10) of half-width 1e-9 is certified, the one next to it is not.

    Not against boundary_mp, which costs minutes per indicator evaluation here (mpmath E[Y2] and X at
    every layer). Its earlier values (0.56766040601415... at 25 digits, 0.56766040534962... at 16) came
    from an mpmath overlap that was wrong at some working precisions (fixed; tests in
    tests/numerics/test_finite_t_overlap_mp.py); the balls certified that neither was a root.
    """
    import numpy as np
    from scipy.optimize import brentq

    from symsig.numerics.contexts import NUMPY

    from symsig.core.names import ZONE_DEFINITIONS

    g = indicators(Architecture(seq_len=512), 12, 0.3, 1.0, ZONE_DEFINITIONS["collapse"], NUMPY)
    root = brentq(lambda a: float(np.squeeze(g(1.0, a)[0])), 0.5, 0.7, xtol=1e-15)
    common = dict(fixed="1", depth=12, seq_len=512, prec=160, thresholds="collapse")
    cert = certify_boundary("rank", lo=repr(root - 1e-9), hi=repr(root + 1e-9), **common)
    assert cert.certified, cert
    assert not certify_boundary("rank", lo=repr(root + 1e-8), hi=repr(root + 2e-8), **common).certified
