"""Every command that takes --dps or --digits: N digits agree with an N + 20 digit recomputation.

The commands are read from the parser, so a new precision option is covered the day it is
added (an unknown one fails here until it has an invocation below). Inputs are decimal
strings that are not binary fractions (0.1, 0.3, 0.2): a path that passed them through
float would be wrong from the 17th digit on and fail.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json

import mpmath
import pytest

from symsig.app.cli import build_parser, main

N = 30
#: One invocation per command with a precision option (the option is appended).
INVOCATIONS = {
    "critical": ["--beta", "3", "--rho", "0.1", "--seq-len", "64"],
    "propagate": ["--beta", "3", "--rho0", "0.3", "--depth", "6", "--sigma-b2", "0.2"],
    "gradient": ["--beta", "3", "--rho", "0.1"],
    "diagram": ["--beta", "0.5:3:3", "--alpha-sa", "0:2:3", "--depth", "6", "--boundaries"],
    "boundary": ["--depth", "6", "--beta", "1", "--alpha-sa", "1", "--search-beta", "0.2:4:6", "--search-alpha", "0:3:6"],
}


def _precision_commands() -> dict[str, str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = {}
    for name, cmd in sub.choices.items():
        flags = {o for a in cmd._actions for o in a.option_strings} & {"--dps", "--digits"}
        if flags:
            out[name] = flags.pop()
    return out


COMMANDS = _precision_commands()


def test_every_precision_command_has_an_invocation() -> None:
    assert set(COMMANDS) == set(INVOCATIONS)


def _json(argv: list[str]) -> object:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*argv, "--json"]) == 0
    return json.loads(out.getvalue())


def _decimals(data: object, path: str = "") -> dict[str, str]:
    """Every decimal string with more than 17 significant digits, by its place in the JSON."""
    if isinstance(data, dict):
        return {k: v for key, value in data.items() for k, v in _decimals(value, f"{path}.{key}").items()}
    if isinstance(data, list):
        return {k: v for i, value in enumerate(data) for k, v in _decimals(value, f"{path}[{i}]").items()}
    if isinstance(data, str):
        try:
            mpmath.mpf(data)
        except (ValueError, TypeError):
            return {}
        digits = sum(c.isdigit() for c in data.lstrip("-0.").replace("e", "|").split("|")[0])
        return {path: data} if digits > 17 else {}
    return {}


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(INVOCATIONS))
def test_n_digits_agree_with_n_plus_20(command: str) -> None:
    flag = COMMANDS[command]
    lo = _decimals(_json([command, *INVOCATIONS[command], flag, str(N)]))
    hi = _decimals(_json([command, *INVOCATIONS[command], flag, str(N + 20)]))
    assert lo and set(lo) <= set(hi), (command, sorted(set(lo) - set(hi))[:5])
    with mpmath.workdps(N + 40):
        for place, text in lo.items():
            a, b = mpmath.mpf(text), mpmath.mpf(hi[place])
            assert abs(a - b) <= mpmath.mpf(10) ** (1 - N) * max(abs(b), mpmath.mpf(10) ** -300), (command, place, text, hi[place])
