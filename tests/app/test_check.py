"""symsig check: at least 15 published constants, all passing; a wrong value fails."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from symsig.paper_checks import checker


@pytest.mark.slow
def test_check_passes_with_15_entries() -> None:
    proc = subprocess.run([sys.executable, "-m", "symsig", "check", "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    assert data["passed"] and len(data["checks"]) >= 15
    assert all(row["passed"] for row in data["checks"])
    assert sum(row["verdict"] == "disagrees (known)" for row in data["checks"]) >= 2


def test_wrong_published_value_fails(tmp_path) -> None:
    entry = dict(checker.load()[0])
    assert entry["compute"] == "beta_c_rho0"
    entry["published"] = "1.4142135623730951"  # the double nearest sqrt(2): off by 1e-17
    row = checker.run_check(entry)
    assert not row.passed and row.verdict == "FAIL"
    entry["published"] = "sqrt(2)"
    assert checker.run_check(entry).passed


def test_disagreement_must_be_reproduced() -> None:
    entry = next(e for e in checker.load() if e["compute"] == "preln_y2_layer20")
    assert checker.run_check(entry).passed
    wrong = dict(entry, evidence_value=0.80)  # evidence that agrees with the published value
    assert not checker.run_check(wrong).passed


def test_cli_exit_1_on_failure(tmp_path, capsys) -> None:
    from symsig.app.cli import main

    bad = tmp_path / "constants.toml"
    bad.write_text('[[check]]\nname = "wrong"\nsource = "test"\npublished = "1.5"\ntolerance = 1e-10\n'
                   'compute = "beta_c_rho0"\nkind = "agree"\n')
    assert main(["check", "--constants", str(bad)]) == 1
    assert "FAIL" in capsys.readouterr().out
