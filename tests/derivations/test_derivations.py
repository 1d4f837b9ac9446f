"""Every derivation script runs to the end (each asserts its result equals the library's)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = sorted(p for p in (Path(__file__).resolve().parents[2] / "derivations").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_derivation_runs(script: Path, tmp_path: Path) -> None:
    out = tmp_path / f"{script.stem}.tex"
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]  # every script asserts its own steps
    assert out.exists() and "\\begin{" in out.read_text()
