"""The arb enclosure of the finite-T overlap X contains the mpmath value recomputed at more digits."""
from __future__ import annotations

import flint  # a dependency of symsig (ball arithmetic): a missing one must fail, not skip
import mpmath
import pytest

from symsig.numerics import finite_t_balls
from symsig.numerics.balls import Uncertain
from symsig.numerics.finite_t import overlap
from symsig.numerics.overlap_balls import rem_x_ball


def _reference(s2: str, r: str, n: int) -> flint.arb:
    """X at 36 digits (mpmath), as a ball of radius 10^-33 X: 3 digits more than the balls aim at."""
    value = overlap(s2, r, n, dps=36)
    return flint.arb(mpmath.nstr(value, 36)) + flint.arb(0, float(value) * 1e-33)


# T = 32 and 512; r in (0, 1) and < 0 (p < 0 happens in the map: anti-correlated tokens);
# s2 from a nearly uniform attention (0.2) to a frozen one (12)
@pytest.mark.parametrize(("s2", "r", "n"), [("1", "0.3", 32), ("4", "0.5", 512), ("3", "-0.4", 512),
                                            ("0.2", "0.9", 512), ("12", "0.3", 512)])
def test_x_ball_encloses_the_mpmath_value(s2: str, r: str, n: int) -> None:
    flint.ctx.prec = 100
    ball = rem_x_ball(flint.arb(s2), flint.arb(r), n)
    assert ball.contains(_reference(s2, r, n))
    # tight, not merely true: about 26 digits at 100 bits (L2^(n-1) multiplies the rounding by n)
    assert ball.rad() < 1e-25 * ball.mid()


def test_x_ball_at_moderate_accuracy_is_wider_but_true() -> None:
    flint.ctx.prec = 100
    with finite_t_balls.accuracy(15):
        ball = rem_x_ball(flint.arb(6), flint.arb("0.8"), 512)
    assert ball.contains(_reference("6", "0.8", 512))
    assert 1e-28 < ball.rad() < 1e-13


@pytest.mark.slow
def test_x_ball_of_an_input_ball_encloses_its_ends() -> None:
    flint.ctx.prec = 80
    s2 = flint.arb(4) + flint.arb(0, 1e-6)
    ball = rem_x_ball(s2, flint.arb("0.5"), 512)
    for end in ("3.999999", "4.000001"):
        assert ball.contains(_reference(end, "0.5", 512))


def test_x_ball_exact_limits_and_refusals() -> None:
    flint.ctx.prec = 80
    assert rem_x_ball(0, "0.3", 8) == flint.arb(1) / 8
    assert rem_x_ball(2, 0, 8) == flint.arb(1) / 8
    assert rem_x_ball(2, "0.3", 1) == 1
    assert rem_x_ball(2, 1, 16).overlaps(finite_t_balls.rem_y2_ball(2, 16))  # r = 1: X = E[Y2]
    with pytest.raises(Uncertain, match="correlation"):
        rem_x_ball(2, flint.arb(0, 1e-3), 8)  # the sign of r undecided
    with pytest.raises(Uncertain, match="variance"):
        rem_x_ball(flint.arb(0, 1e-3), "0.3", 8)
