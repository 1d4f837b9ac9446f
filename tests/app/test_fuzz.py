"""Fuzzing every command: any input gives a valid result or exit 2 with one line.

For each command of the CLI (taken from the parser itself, so a new option is fuzzed the day
it is added) hypothesis sets one to three options to hostile values (NaN, infinities,
out-of-range, 400-digit integers, denormals, words, grids of absurd size) on top of small
valid settings, runs the command in-process and asserts the contract: exit status 0 (1 for
``check``) with valid output, or 2 with exactly one line on stderr and nothing on stdout;
never a traceback, never NaN or a value outside its mathematical range in the JSON,
never a hang (each run is cut off after ``DEADLINE`` seconds).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import signal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symsig.app.cli import build_parser, main

DEADLINE = 60
HOSTILE = ["0", "-0", "-1", "-1e-3", "1e-400", "1e400", "5e-324", "1e-300", "1e300", "1e160", "nan", "inf", "-inf",
           "abc", "", "1" * 400, "-" + "9" * 400, "0.1", "3", "2", "1.0000000000000001",
           "0.999999999999999999999999999999", "1:2:3", "0:1:100000000", "3:1:5", "0:1:0", "1,2", "1e3", "2.5",
           "100000000", "10000000"]
#: Small valid settings so that accepted inputs finish quickly.
SMALL = {"simulate": ["--width", "8", "--seq-len", "8", "--depth", "2", "--seeds", "2"],
         "crosscheck": ["--width", "8", "--seq-len", "8", "--depth", "1", "--seeds", "2"],
         "report": ["--depth", "2", "--no-simulation"],
         "diagram": ["--beta", "0.5:3:4", "--alpha-sa", "0:2:3", "--depth", "4"],
         "propagate": ["--depth", "4"], "prescribe": ["--depth", "3"],
         "critical": ["--beta", "2"], "gradient": ["--beta", "2", "--rho", "0.1"],
         "boundary": ["--depth", "3", "--digits", "6", "--beta", "1", "--alpha-sa", "1", "--search-beta", "0.2:4:6",
                      "--search-alpha", "0:3:6"]}
#: Commands too slow for hostile-but-valid inputs in-process, fuzzed on their cheap options only.
SKIP_OPTIONS = {"check": {"--constants"}, "report": {"--out"}, "latex": {"--out"},
                "boundary": {"--seq-len", "--certify", "--digits", "--depths"},
                # finite T outside the X table (e^3 <= T <= e^8) is slow on a whole grid, not hung:
                # prescribe --depth 3 --seq-len 1e8 takes 90 s (direct overlap at every point)
                "prescribe": {"--seq-len"}, "diagram": {"--seq-len"},
                # the network's size and depth set the Monte Carlo's cost (guarded by validate.LIMITS,
                # tested among the known hostile inputs); fuzzed here: the architecture's values
                "simulate": {"--depth", "--seeds", "--width", "--seq-len"},
                "crosscheck": {"--depth", "--seeds", "--width", "--seq-len"},
                # finite T at dps N evaluates the moments at N + 20 digits in mpmath (seconds to a
                # minute); the dps paths are checked by tests/app/test_precision.py
                "gradient": {"--dps"}, "critical": {"--dps"}, "propagate": {"--dps"}}
#: Commands with their own bad-input tests, too slow to fuzz in-process (training, Hugging Face configs).
OWN_TESTS = ("check", "latex", "train", "inspect")
#: JSON keys and their mathematical ranges.
RANGES = {"rho": (-1, 1), "rho_L": (-1, 1), "theory_rho": (-1, 1), "rho_c": (-1, 1), "Y2": (0, 1), "Y3": (0, 1),
          "theory_Y2": (0, 1), "m": (0, 1), "mean_Y2": (0, 1)}

PARSER = build_parser()
SUB = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction))
COMMANDS = {name: [a for a in cmd._actions if a.option_strings and a.dest not in ("help", "json")
                   and not set(a.option_strings) & SKIP_OPTIONS.get(name, set())]
            for name, cmd in SUB.choices.items() if name not in OWN_TESTS}


class Hang(Exception):
    pass


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()

    def alarm(*_):
        raise Hang(f"no answer after {DEADLINE} s: {argv}")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(DEADLINE)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code, out.getvalue(), err.getvalue()


def _reject_constant(name: str) -> float:
    raise AssertionError(f"JSON contains {name}")


def _check_ranges(data, path="") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in RANGES:
                lo, hi = RANGES[key]
                for x in _numbers(value):
                    assert lo - 1e-12 <= x <= hi + 1e-12, f"{path}{key} = {x} outside [{lo}, {hi}]"
            _check_ranges(value, f"{path}{key}.")
    elif isinstance(data, list):
        for item in data:
            _check_ranges(item, path)


def _numbers(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        yield float(value)
    elif isinstance(value, str):
        try:
            yield float(value)
        except ValueError:
            return
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)


@st.composite
def invocations(draw) -> list[str]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    argv = [name, *SMALL.get(name, []), "--json"]
    for action in draw(st.lists(st.sampled_from(COMMANDS[name]), min_size=1, max_size=3, unique_by=lambda a: a.dest)):
        flag = action.option_strings[-1]
        if action.nargs == 0:
            argv.append(flag)
        elif action.choices:
            argv += [flag, draw(st.sampled_from([*action.choices, "nonsense", ""]))]
        else:
            value = draw(st.one_of(st.sampled_from(HOSTILE), st.floats(allow_nan=False).map(repr),
                                   st.integers(-10, 10**6).map(str)))
            argv.append(f"{flag}={value}")
    return argv


@pytest.mark.fuzz  # opt-in (`make fuzz`): slow valid inputs near the deadline make it timing-dependent
# derandomize: CI runs the same 100 cases every time (a new finding must not fail a colleague's
# submission at random); explore other cases with --hypothesis-seed=N and derandomize off
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(invocations())
def test_cli_contract(argv: list[str]) -> None:
    code, out, err = _run(argv)
    assert "Traceback" not in err, err
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("symsig: error:"), err
        assert out == "", out
        return
    assert code == 0, (code, err[-2000:])
    data = json.loads(out, parse_constant=_reject_constant)
    _check_ranges(data)
    for x in _numbers(list(_flatten(data))):
        assert math.isfinite(x), x


def _flatten(data):
    if isinstance(data, dict):
        for value in data.values():
            yield from _flatten(value)
    elif isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    else:
        yield data


@pytest.mark.parametrize("argv", [
    ["propagate", "--depth", "20", "--rho0=-0.1", "--json"],
    ["prescribe", "--depth", "12", "--rho0", "-1", "--json"],
    ["prescribe", "--depth", "12", "--rho0", "2", "--json"],
    ["critical", "--beta", "3", "--rho", "0.999999999999999999999999999999", "--dps", "40", "--json"],
    ["critical", "--beta", "3", "--rho", "1.0000000000000001", "--dps", "30", "--json"],
    ["propagate", "--depth", "10000", "--beta", "3", "--rho0", "0.3", "--json"],
    ["critical", "--beta", "1e160", "--json"], ["critical", "--beta", "5e-324", "--json"],
    ["propagate", "--sigma-w2", "1e300", "--depth", "3", "--json"],
    ["propagate", "--alpha-mlp", "0", "--sigma-w2", "0", "--sigma-b2", "0", "--depth", "3", "--json"],
    ["latex", "--out", "/proc/f.tex"], ["diagram", "--out", "/nonexistent/dir/d.png", "--depth", "2"],
    ["report", "--out", "/proc/r", "--no-simulation", "--depth", "2"],
    ["diagram", "--beta", "0:1:100000", "--alpha-sa", "0:1:20000", "--json"],
    ["propagate", "--depth", "10000000", "--json"], ["propagate", "--depth", "3", "--dps", "100000", "--json"],
    ["diagram", "--digits", "10000", "--boundaries", "--depth", "3", "--beta", "0.5:3:3", "--alpha-sa", "0:2:3"],
    ["critical", "--beta", "3", "--rho", "-1e-3", "--json"],
    ["critical", "--beta", "1" * 400, "--json"], ["propagate", "--depth", "1" * 400, "--json"],
    ["simulate", "--seq-len", "1000000", "--width", "8", "--depth", "1", "--seeds", "1", "--json"],
    ["simulate", "--width", "8", "--seq-len", "8", "--depth", "2", "--seeds", "1", "--json"],
    ["gradient", "--beta", "1e160", "--rho", "0.1", "--json"], ["boundary", "--digits", "100000", "--json"],
    ["crosscheck", "--width", "8", "--seq-len", "8", "--depth", "1", "--seeds", "2", "--beta", "228198907619016.0",
     "--json"],
    ["prescribe", "--depth", "3", "--json", "--rho0=1.0000000000000001"], ["prescribe", "--depth", "3", "--rho0", "1"],
])
def test_known_hostile_inputs(argv: list[str]) -> None:
    """The inputs of the issue that once gave tracebacks, wrong numbers or hangs."""
    code, out, err = _run(argv)
    assert "Traceback" not in err, err
    assert code in (0, 2), (code, err)
    if code == 2:
        assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    elif "--json" in argv:
        data = json.loads(out, parse_constant=_reject_constant)
        _check_ranges(data)
