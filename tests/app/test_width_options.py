"""The finite-width options of the command line: --width D of the theory commands, --width-theory of
the Monte Carlo ones; bad input exits with status 2, one line, nothing written."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from symsig.app.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "symsig", *args], capture_output=True, text=True, timeout=300)


def test_propagate_width_json_has_the_same_keys(capsys: pytest.CaptureFixture) -> None:
    base = ["propagate", "--seq-len", "64", "--depth", "3", "--beta", "3", "--json"]
    assert main(base) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(base + ["--width", "128"]) == 0
    wide = json.loads(capsys.readouterr().out)
    assert wide.keys() == plain.keys() and wide["rho"][0] == plain["rho"][0] and wide["Y2"] != plain["Y2"]


@pytest.mark.parametrize("command", [["critical", "--beta", "3", "--rho", "0.3"],
                                     ["gradient", "--beta", "3", "--rho", "0.3"]])
def test_scalar_commands_take_width(command: list[str], capsys: pytest.CaptureFixture) -> None:
    assert main(command + ["--seq-len", "64", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(command + ["--seq-len", "64", "--width", "128", "--json"]) == 0
    wide = json.loads(capsys.readouterr().out)
    moved = "Y2" if command[0] == "critical" else "grad_wq_scaled"
    assert wide.keys() == plain.keys() and wide[moved] != plain[moved]


@pytest.mark.parametrize("args, says", [
    (["propagate", "--width", "64"], "needs seq_len"),
    (["propagate", "--seq-len", "64", "--width", "1"], ">= 2"),
    (["propagate", "--seq-len", "64", "--width", "abc"], "invalid int"),
    (["propagate", "--seq-len", "64", "--width", "64", "--dps", "20"], "double precision"),
    (["propagate", "--seq-len", "64", "--width", "64", "--block", "gc-post-ln", "--causal", "--position", "3"],
     "causal gain-controlled"),
    (["propagate", "--seq-len", "64", "--width", "64", "--block", "llama"], "not derived"),
    (["critical", "--beta", "1", "--seq-len", "64", "--width", "64", "--dps", "30"], "double precision"),
    (["gradient", "--beta", "1", "--rho", "0", "--seq-len", "64", "--width", "64", "--dps", "30"], "double precision"),
    (["gradient", "--beta", "1", "--rho", "0", "--width", "64"], "seq_len"),
    (["prescribe", "--depth", "6", "--seq-len", "64", "--width", "64"], "finite-width evaluations"),
    (["simulate", "--width", "16", "--seq-len", "8", "--depth", "1", "--block", "llama", "--width-theory"], "not derived"),
])
def test_bad_width_input_exits_2_with_one_line(args: list[str], says: str) -> None:
    proc = run(*args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and says in proc.stderr and "Traceback" not in proc.stderr


def test_diagram_boundaries_with_width_write_nothing(tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    proc = run("diagram", "--seq-len", "64", "--width", "64", "--beta", "0.5:3:2", "--alpha-sa", "0:1:2",
               "--depth", "2", "--boundaries", "--out", str(out))
    assert proc.returncode == 2 and "mpmath" in proc.stderr and proc.stderr.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_diagram_and_prescribe_with_width(capsys: pytest.CaptureFixture) -> None:
    assert main(["diagram", "--seq-len", "64", "--width", "64", "--beta", "0.5:3:2", "--alpha-sa", "0:1:2",
                 "--depth", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["architecture"]["width"] == 64
    assert main(["prescribe", "--seq-len", "64", "--width", "64", "--depth", "2", "--resolution", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["architecture"]["width"] == 64
