"""The command-line contract: options, JSON keys, exit status 2 on bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import mpmath
import pytest

from symsig.app.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "symsig", *args], capture_output=True, text=True, timeout=300)


def test_critical_json_sixty_digits() -> None:
    proc = run("critical", "--beta", "3", "--rho", "0", "--dps", "60", "--json")
    assert proc.returncode == 0 and proc.stderr == ""
    data = json.loads(proc.stdout)
    assert set(data) == {"beta_c", "m", "Y2", "Y3", "rho_c"}
    with mpmath.workdps(100):
        assert data["beta_c"] == mpmath.nstr(mpmath.sqrt(2), 60)
        assert data["Y2"] == mpmath.nstr(1 - mpmath.sqrt(2) / 3, 60)


def test_critical_rho_c_null_below_threshold(capsys: pytest.CaptureFixture) -> None:
    assert main(["critical", "--beta", "1.2", "--rho", "0", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rho_c"] is None and data["Y2"] == 0 and isinstance(data["m"], float)


def test_propagate_json_keys_and_lengths(capsys: pytest.CaptureFixture) -> None:
    args = ["propagate", "--block", "post-ln", "--activation", "relu", "--beta", "3", "--sigma-w2", "0.2",
            "--sigma-v2", "0.2", "--sigma-b2", "4e-4", "--alpha-sa", "1", "--alpha-mlp", "1", "--depth", "7",
            "--rho0", "0.3", "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"q", "p", "rho", "Y2"}
    assert all(len(v) == 8 for v in data.values()) and data["rho"][0] == 0.3
    assert main(args + ["--dps", "30"]) == 0
    hp = json.loads(capsys.readouterr().out)
    assert all(isinstance(x, str) for x in hp["rho"])
    assert abs(float(hp["rho"][7]) - data["rho"][7]) < 1e-14


def test_propagate_table(capsys: pytest.CaptureFixture) -> None:
    assert main(["propagate", "--depth", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["layer", "q", "p", "rho", "Y2"] and len(out) == 5


def test_propagate_scatter_columns(capsys: pytest.CaptureFixture) -> None:
    """--scatter adds one network's spread of rho and the drag; rho is then the mean over networks."""
    args = ["propagate", "--depth", "3", "--width", "128", "--seq-len", "128", "--scatter", "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"q", "p", "rho", "Y2", "rho_sd", "rho_drag"} and all(len(v) == 4 for v in data.values())
    assert all(0 < s < 0.1 for s in data["rho_sd"]) and all(x < 0 for x in data["rho_drag"])


def test_crosscheck_table_keeps_the_window_out_of_the_layer_columns(capsys: pytest.CaptureFixture) -> None:
    """The measured window and the theory's key counts are not per-layer lists: they follow the table."""
    assert main(["crosscheck", "--model", "gpt2", "--width", "16", "--seq-len", "16", "--depth", "2",
                 "--seeds", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[0] == "layer" and "window" not in lines[0] and len(lines) == 1 + 3 + 2
    assert lines[-2] == "window: 12 15" and lines[-1] == "theory_positions: 13 14 15 16"


@pytest.mark.parametrize(
    "args",
    [
        ["critical", "--beta", "0", "--rho", "0"],
        ["critical", "--beta", "-1"],
        ["critical", "--beta", "1", "--rho", "1.5"],
        ["critical", "--beta", "1", "--q", "1", "--p", "2"],
        ["critical", "--beta", "abc"],
        ["propagate", "--sigma-w2", "-0.1"],
        ["propagate", "--block", "nope"],
        ["propagate", "--depth", "-3"],
        ["propagate", "--seq-len", "1"],
        ["propagate", "--dps", "0"],
        ["propagate", "--scatter"],
        ["propagate", "--scatter", "--width", "64", "--seq-len", "64", "--causal", "--position", "3"],
        ["crosscheck", "--model", "gpt2", "--width", "16", "--seq-len", "16", "--heads", "2", "--scatter"],
        ["nonsense"],
    ],
)
def test_bad_input_exit_2_one_line(args: list[str]) -> None:
    proc = run(*args, "--json") if args[0] != "nonsense" else run(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symsig: error:") and "Traceback" not in proc.stderr


def test_diagram_json_and_outputs(tmp_path, capsys: pytest.CaptureFixture) -> None:
    args = ["diagram", "--depth", "20", "--beta", "0.2:3:8", "--alpha-sa", "0:2:5", "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"beta", "alpha_sa", "rho_L", "zone", "thresholds"} <= set(data)
    assert len(data["rho_L"]) == 5 and len(data["rho_L"][0]) == 8
    assert {z for row in data["zone"] for z in row} <= {"rank", "entropy", "trainable"}
    png, js = tmp_path / "d.png", tmp_path / "d.json"
    assert main(args[:-1] + ["--out", str(png), "--point", "0.5,1.5"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(args[:-1] + ["--out", str(js)]) == 0
    assert json.loads(js.read_text())["zone"] == data["zone"]


def test_diagram_bad_out_writes_nothing(tmp_path) -> None:
    proc = run("diagram", "--out", str(tmp_path / "d.pdf"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_prescribe_and_gradient(capsys: pytest.CaptureFixture) -> None:
    assert main(["prescribe", "--depth", "30", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["beta"] > 0 and data["alpha_sa"] >= 0 and "summary" in data
    assert main(["gradient", "--beta", "3", "--rho", "0", "--json"]) == 0
    g = json.loads(capsys.readouterr().out)
    m = 2**0.5 / 3
    assert g["grad_wq_scaled"] == pytest.approx(3 * m * (1 - m) / 3, rel=1e-14)


def test_propagate_causal_position(capsys: pytest.CaptureFixture) -> None:
    """The decoder query at position T sees all T keys: it equals the encoder map at finite T."""
    base = ["propagate", "--beta", "3", "--depth", "3", "--seq-len", "64", "--json"]
    assert main(base + ["--causal", "--position", "64"]) == 0
    causal = json.loads(capsys.readouterr().out)
    assert main(base) == 0
    encoder = json.loads(capsys.readouterr().out)
    assert causal["rho"] == pytest.approx(encoder["rho"], rel=1e-12)
    assert main(base + ["--causal", "--position", "8"]) == 0
    early = json.loads(capsys.readouterr().out)
    assert early["Y2"][0] > causal["Y2"][0]  # fewer keys: more concentrated attention


def test_every_option_has_help_and_version() -> None:
    import argparse

    from symsig import __version__
    from symsig.app.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {opt.option_strings}" for name, cmd in sub.choices.items() for opt in cmd._actions
               if opt.option_strings and not opt.help]
    assert not missing
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"symsig {__version__}"


def test_console_script_and_negative_numbers() -> None:
    import shutil
    from pathlib import Path

    script = Path(sys.executable).with_name("symsig")
    assert script.exists() or shutil.which("symsig"), "the symsig console script is installed"
    proc = subprocess.run([str(script), "critical", "--beta", "3", "--rho", "-1e-3", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rho_c"] == pytest.approx(7 / 9)
