"""The arb enclosures of the finite-T moments contain the mpmath values (recomputed at more digits)."""
from __future__ import annotations

import flint  # a dependency of symsig (ball arithmetic): a missing one must fail, not skip
import mpmath
import pytest

from symsig.numerics import finite_t_balls as balls
from symsig.numerics.special import implementation
from symsig.theory.special import rem_y2


@pytest.mark.parametrize(("s2", "n"), [("1", 16), ("4", 512), ("9", 512), ("0.5", 4), ("0.25", 2)])
def test_y2_ball_encloses_the_mpmath_value(s2: str, n: int) -> None:
    flint.ctx.prec = 110
    ball = balls.rem_y2_ball(flint.arb(s2), n)
    with mpmath.workdps(32):
        exact = implementation(rem_y2, "mpmath")(mpmath.mpf(s2), n)
        assert ball.contains(flint.arb(mpmath.nstr(exact, 32)))
    assert ball.rad() < 1e-26  # tight, not merely true


def test_y2_ball_at_zero_variance_is_exact() -> None:
    flint.ctx.prec = 80
    assert balls.rem_y2_ball(0, 8) == flint.arb(1) / 8
