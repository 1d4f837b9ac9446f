"""Fuzzing the Python API: hostile keyword values give a result in range or a one-line InputError.

Each public function is called with small valid settings and one to three keywords set to hostile
values (NaN, infinities, negative, denormal, huge and 400-digit integers, words, None, booleans,
containers, complex numbers, numpy scalars). The contract: a result whose ``to_dict()`` holds no
NaN and no value outside its mathematical range, or :class:`symsig.InputError` (a ValueError)
with a one-line message -- never another exception from deep inside, never a hang.
Derandomized (the same cases every run), cheap settings only, as the CLI fuzz.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symsig
from symsig.core.validate import InputError
from symsig.numerics.activations import CLOSED_FORMS
from tests.app.test_fuzz import check_ranges, flatten, numbers, time_limit

HOSTILE: list[Any] = [
    math.nan, math.inf, -math.inf, -1, -1e-3, 0, -0.0, 5e-324, 1e-300, 1e300, 10**400, -(10**400), 2**64,
    "abc", "", "nan", "1e400", None, True, False, [1, 2], {}, complex(1, 1), np.float64("nan"), np.int64(-5),
    np.float32(0.5), "0.5", 0.5, 3, 1.0000000000000002,
]
ARCH = ["beta", "sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa", "alpha_mlp", "block", "activation"]
#: Small valid settings and the keywords fuzzed, per function (sizes kept small: the guards of
#: validate.LIMITS are tested by the hostile values, which are rejected or small).
CALLS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "critical": ({"beta": 2, "rho": 0.1}, ["beta", "rho", "q", "p", "seq_len"]),
    "propagate": ({"depth": 4}, ["depth", "rho0", "q0", "seq_len", "causal", "position", *ARCH]),
    "diagram": ({"depth": 4, "beta": "0.5:3:4", "alpha_sa": "0:2:3"},
                ["depth", "beta", "alpha_sa", "rho0", "q0", "thresholds", "seq_len", *ARCH[1:]]),
    "prescribe": ({"depth": 3, "resolution": 8},
                  ["depth", "rho0", "beta_max", "alpha_max", "resolution", "thresholds", *ARCH[1:]]),
    "conditions": ({"depth": 5, "dps": 15}, ["depth", "eps", "rho0", *ARCH]),
    "gradient": ({"beta": 2, "rho": 0.1}, ["beta", "rho", "q", "sigma_v2", "seq_len"]),
    "simulate": ({"width": 8, "seq_len": 8, "depth": 2, "seeds": 2},
                 ["width", "seq_len", "depth", "seeds", "seed", "rho0", "q0", *ARCH]),
}
EXTRA: dict[str, list[Any]] = {
    "thresholds": [{"rank": math.nan}, {"rank": -1}, {"rank": 2}, {"bogus": 1}, {"entropy": "abc"}, "abc", [1]],
    "block": ["nonsense", "POST-LN", 3], "activation": ["nonsense", "RELU", 3, *sorted(CLOSED_FORMS)],
    "beta": ["0.5:3:4", "0:1:0", "3:1:5", "1:2:100000000"], "alpha_sa": ["0:2:3", "0:1:0", "1:2:100000000"],
}


@st.composite
def calls(draw, name: str) -> dict[str, Any]:
    base, keys = CALLS[name]
    kwargs = dict(base)
    for key in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True)):
        kwargs[key] = draw(st.sampled_from(HOSTILE + EXTRA.get(key, [])))
    return kwargs


def no_nan(data: Any) -> None:
    for x in numbers(list(flatten(data))):
        assert not math.isnan(x), data


@pytest.mark.parametrize("name", sorted(CALLS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
          database=None)
@given(data=st.data())
def test_api_contract(name: str, data: st.DataObject) -> None:
    kwargs = data.draw(calls(name))
    try:
        with time_limit(60, (name, kwargs)):
            result = getattr(symsig, name)(**kwargs)
    except InputError as exc:
        message = str(exc)
        assert message and "\n" not in message, (kwargs, message)
        return
    out = result.to_dict()
    no_nan(out)
    check_ranges(out)


@pytest.mark.parametrize("name, kwargs", [
    ("diagram", {"depth": 4, "beta": "0.5:3:4", "alpha_sa": "0:2:3", "thresholds": math.nan}),  # AttributeError
    ("prescribe", {"depth": 3, "resolution": 8, "thresholds": {"rank": 2}}),  # log(1/thr) < 0: NaN alpha_max
    ("prescribe", {"depth": 3, "resolution": 1e300}),  # numpy "Maximum allowed size exceeded"
    ("simulate", {"width": 8, "seq_len": 8, "depth": 2, "seeds": 2, "rho0": 10**400}),  # OverflowError
    ("simulate", {"width": 8, "seq_len": 8, "depth": 2, "seeds": 2, "q0": 2**64}),  # 6.9 TiB overlap grid
    ("critical", {"beta": [1, 2], "rho": 10**400}),  # OverflowError
    ("diagram", {"depth": 4, "beta": "0.5:3:4", "alpha_sa": "0:2:3", "q0": 5e-324}),  # rho_L = 1 + 7e-12
    ("gradient", {"beta": 2, "rho": 0.1, "seq_len": 10**400}),  # OverflowError
    ("gradient", {"beta": 2**64, "rho": 0.1, "seq_len": 2**64}),  # Y3 = 4e42 returned
    ("critical", {"beta": 2**64, "rho": 0.1, "seq_len": 2**64}),  # minutes in the 15-digit mpmath moments
])
def test_api_findings(name: str, kwargs: dict[str, Any]) -> None:
    """What this fuzz found: each was a traceback from deep inside or a wrong number; now one line."""
    with time_limit(60, (name, kwargs)), pytest.raises(InputError) as info:
        getattr(symsig, name)(**kwargs)
    assert "\n" not in str(info.value)


def test_conditions_rho_c_none_when_nothing_is_frozen() -> None:
    """rho_c = 1 - 2/beta^2 <= 0 (beta <= sqrt 2) is "none", as in critical(); it was -7 at beta = 0.5."""
    assert symsig.conditions(depth=5, dps=15, rho0=0, beta=0.5).rho_c is None
    assert symsig.conditions(depth=5, dps=15, rho0=0, beta=3).rho_c == pytest.approx(7 / 9, rel=1e-14)
