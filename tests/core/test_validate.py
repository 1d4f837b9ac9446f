"""Validation is exact (decimal spellings, not doubles), one line, with size guards."""
from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from symsig.core import validate as v


@pytest.mark.parametrize("x, want", [("1.0000000000000001", Fraction(10**16 + 1, 10**16)), (0.1, Fraction(1, 10)),
                                     ("1e-3", Fraction(1, 1000)), (mpmath.mpf(0.5), Fraction(1, 2)),
                                     (mpmath.mpf(-0.375), Fraction(-3, 8)), (mpmath.mpf(0), Fraction(0)),
                                     (np.float64(0.25), Fraction(1, 4)), (np.int64(7), Fraction(7)), (3, Fraction(3))])
def test_exact_reads_the_decimal_spelling(x, want) -> None:
    assert v.exact("x", x) == want


def test_comparisons_are_exact() -> None:
    with pytest.raises(v.InputError, match="rho must lie in"):
        v.correlation("rho", "1.0000000000000001")
    assert v.correlation("rho", "0.999999999999999999999999999999") == 1.0  # inside, although it rounds to 1
    with pytest.raises(v.InputError):
        v.positive("beta", "-1e-400")
    with pytest.raises(v.InputError):
        v.overlap("1", "1.00000000000000000001")


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "abc", "", None, True, "1e99999999999", float("nan")])
def test_bad_numbers_are_one_line(bad) -> None:
    with pytest.raises(v.InputError) as info:
        v.number("x", bad)
    assert "\n" not in str(info.value)


def test_guards_and_their_override() -> None:
    with pytest.raises(v.InputError, match="--no-limits"):
        v.integer("depth", 10**7, 0, limit="depth")
    with v.no_limits():
        assert v.integer("depth", 10**7, 0, limit="depth") == 10**7
    with pytest.raises(v.InputError):
        v.dps(100_000)
    assert v.integer("depth", "1e3", 0) == 1000
    with pytest.raises(v.InputError, match="integer"):
        v.integer("depth", "2.5", 0)


def test_did_you_mean() -> None:
    with pytest.raises(v.InputError, match="did you mean 'post-ln'"):
        v.choice("block", "post_ln", ("post-ln", "pre-ln"))
    with pytest.raises(v.InputError, match="did you mean 'sigma_w2'"):
        v.keywords("propagate", {"sigma_w": 1}, ("sigma_w2", "sigma_v2"))


@given(st.fractions(min_value=-10**6, max_value=10**6, max_denominator=10**9))
def test_exact_round_trips_decimal_strings(x: Fraction) -> None:
    text = f"{x.numerator}/{x.denominator}"
    with pytest.raises(v.InputError):  # a ratio is not a decimal spelling
        v.exact("x", text)
    assert v.exact("x", x) == x
