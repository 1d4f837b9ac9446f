"""Fuzzing every command: any input gives a valid result or exit 2 with one line.

For each command of the CLI (taken from the parser itself, so a new option is fuzzed the day
it is added) hypothesis sets one to three options to hostile values (NaN, infinities,
out-of-range, 400-digit integers, denormals, words, grids of absurd size) on top of small
valid settings, runs the command in-process and asserts the contract: exit status 0 (1 for
``check``) with valid output, or 2 with exactly one line on stderr and nothing on stdout;
never a traceback, never NaN or a value outside its mathematical range in the JSON,
never a hang (each run is cut off after ``DEADLINE`` seconds).

The generic fuzz runs in ``make test``: derandomized (the same cases every run) and drawn
from cheap values only (each case well under a second; :data:`SKIP_OPTIONS` and the grid
commands' activations below say what is left out and why). Valid inputs that are slow by
nature are listed in :data:`EXPENSIVE_VALID` and run by ``make fuzz`` (marker ``fuzz``).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import signal
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symsig.app.cli import build_parser, main
from symsig.numerics.activations import CLOSED_FORMS

DEADLINE = 60
HOSTILE = ["0", "-0", "-1", "-1e-3", "1e-400", "1e400", "5e-324", "1e-300", "1e300", "1e160", "nan", "inf", "-inf",
           "abc", "", "1" * 400, "-" + "9" * 400, "0.1", "3", "2", "1.0000000000000001",
           "0.999999999999999999999999999999", "1:2:3", "0:1:100000000", "3:1:5", "0:1:0", "1,2", "1e3", "2.5",
           "100000000", "10000000"]

#: Where the fuzzed commands run: a fuzzed --out/--plot value that is a valid file name is
#: written there, not into the repository (a fuzz run once left '3:1:5.png' in it).
SCRATCH = tempfile.mkdtemp(prefix="symsig-fuzz-")


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
                # the direct overlap at every distinct grid state (EXPENSIVE_VALID; progress bar)
                "prescribe": {"--seq-len"}, "diagram": {"--seq-len"},
                # the network's size and depth set the Monte Carlo's cost (guarded by validate.LIMITS,
                # tested among the known hostile inputs); fuzzed here: the architecture's values
                "simulate": {"--depth", "--seeds", "--width", "--seq-len"},
                "crosscheck": {"--depth", "--seeds", "--width", "--seq-len"},
                # finite T at dps N evaluates the moments at N + 20 digits in mpmath (seconds to a
                # minute); the dps paths are checked by tests/app/test_precision.py
                "gradient": {"--dps"}, "critical": {"--dps"}, "propagate": {"--dps"}}
#: Commands that evaluate a whole grid: fuzzed with closed-form activations only. A quadrature
#: activation costs (grid points) x (nodes per axis)^2 per layer, and the nodes grow like sqrt(q):
#: prescribe --activation gelu_tanh --sigma-b2 488 runs for minutes (valid; see EXPENSIVE_VALID).
GRID_COMMANDS = ("diagram", "prescribe", "boundary", "report")
#: Commands with their own bad-input tests, too slow to fuzz in-process (training, Hugging Face configs,
#: the evidence grid: tests/simulation/test_evidence.py).
OWN_TESTS = ("check", "latex", "train", "inspect", "evidence")
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


@contextlib.contextmanager
def time_limit(seconds: int, what: object):
    """Raise :class:`Hang` in the block after ``seconds`` (a hang is a failure, not a stuck suite)."""

    def alarm(*_):
        raise Hang(f"no answer after {seconds} s: {what}")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _run(argv: list[str], deadline: int = DEADLINE) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with time_limit(deadline, argv), contextlib.chdir(SCRATCH), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def reject_constant(name: str) -> float:
    raise AssertionError(f"JSON contains {name}")


def check_ranges(data, path="") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in RANGES:
                lo, hi = RANGES[key]
                for x in numbers(value):
                    assert lo - 1e-12 <= x <= hi + 1e-12, f"{path}{key} = {x} outside [{lo}, {hi}]"
            check_ranges(value, f"{path}{key}.")
    elif isinstance(data, list):
        for item in data:
            check_ranges(item, path)


def numbers(value):
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) < 2**1023:  # larger: a seed of 400 digits, echoed (an int is never NaN)
            yield float(value)
    elif isinstance(value, float):
        yield value
    elif isinstance(value, str):
        try:
            yield float(value)
        except ValueError:
            return
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)


@st.composite
def invocations(draw) -> list[str]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    argv = [name, *SMALL.get(name, []), "--json"]
    for action in draw(st.lists(st.sampled_from(COMMANDS[name]), min_size=1, max_size=3, unique_by=lambda a: a.dest)):
        flag = action.option_strings[-1]
        if action.nargs == 0:
            argv.append(flag)
        elif action.choices:
            choices = [c for c in action.choices
                       if not (name in GRID_COMMANDS and action.dest == "activation" and c not in CLOSED_FORMS)]
            argv += [flag, draw(st.sampled_from([*choices, "nonsense", ""]))]
        else:
            # integers stay small (sizes and depths: the big ones are in HOSTILE, where the guards
            # of validate.LIMITS reject them); floats of any size (values, not sizes)
            value = draw(st.one_of(st.sampled_from(HOSTILE), st.floats(allow_nan=False).map(repr),
                                   st.integers(-10, 300).map(str)))
            argv.append(f"{flag}={value}")
    return argv


# derandomize: every run draws the same 100 cases (a new finding must not fail a colleague's
# submission at random); explore other cases with derandomize off and --hypothesis-seed=N
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
          database=None)
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
    data = json.loads(out, parse_constant=reject_constant)
    check_ranges(data)
    for x in numbers(list(flatten(data))):
        assert math.isfinite(x), x


def flatten(data):
    if isinstance(data, dict):
        for value in data.values():
            yield from flatten(value)
    elif isinstance(data, list):
        for item in data:
            yield from flatten(item)
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
    # mpmath finite-T moments at a huge logit variance: minutes, silently (now the node guard)
    ["critical", "--beta", "1e4", "--rho", "0", "--seq-len", "512", "--dps", "20", "--json"],
    ["gradient", "--beta", "1e6", "--rho", "0", "--seq-len", "512", "--dps", "20", "--json"],
])
def test_known_hostile_inputs(argv: list[str]) -> None:
    """The inputs of the issue that once gave tracebacks, wrong numbers or hangs."""
    code, out, err = _run(argv)
    assert "Traceback" not in err, err
    assert code in (0, 2), (code, err)
    if code == 2:
        assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    elif "--json" in argv:
        data = json.loads(out, parse_constant=reject_constant)
        check_ranges(data)


def test_finite_t_outside_the_x_table_is_guarded() -> None:
    """A grid at a sequence length outside the shipped X table ran silently for ten minutes;
    it now stops at the guard on the direct method (seconds) and names --no-limits."""
    code, out, err = _run(["prescribe", "--depth", "3", "--seq-len", "100000000", "--json"], deadline=120)
    assert code == 2 and out == "", (code, err)
    assert len(err.strip().splitlines()) == 1 and "--no-limits" in err and "X is tabulated" in err, err


#: Valid inputs that are slow by nature (not hangs: each finishes, with a progress bar on a
#: terminal), kept out of the generic fuzz and run by ``make fuzz``. Measured on one core of
#: the development machine: see each comment.
EXPENSIVE_VALID = [
    # finite T outside the shipped X table (e^3 <= T <= e^8): the direct method at every distinct
    # grid state, 2-90 ms each (128 x 128 grid, 3 layers; minutes; guarded by LIMITS["overlap"])
    ["prescribe", "--depth", "3", "--seq-len", "100000000", "--json", "--no-limits"],
    # a quadrature activation at large q: ~500 nodes per axis per grid point (minutes)
    ["prescribe", "--depth", "3", "--activation", "gelu_tanh", "--sigma-b2=488", "--json"],
    # the boundary's root finding with a quadrature activation (seconds per bracket)
    ["boundary", "--depth", "3", "--digits", "6", "--beta", "1", "--alpha-sa", "1", "--activation", "tanh", "--json"],
    # finite-T gradient moments at dps N are evaluated at N + 20 digits in mpmath
    ["gradient", "--beta", "2", "--rho", "0.1", "--seq-len", "64", "--dps", "30", "--json"],
]


@pytest.mark.slow
@pytest.mark.fuzz  # opt-in (`make fuzz`): minutes each, so also slow (kept out of `-m "not slow"` runs)
@pytest.mark.parametrize("argv", EXPENSIVE_VALID, ids=lambda argv: " ".join(argv[:4]))
def test_expensive_valid_inputs(argv: list[str]) -> None:
    code, out, err = _run(argv, deadline=1800)
    assert code == 0 and "Traceback" not in err, err[-2000:]
    data = json.loads(out, parse_constant=reject_constant)
    check_ranges(data)
    assert all(math.isfinite(x) for x in numbers(list(flatten(data))))
