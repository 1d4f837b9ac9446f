"""Execute every notebook in notebooks/ top to bottom (nbclient); any error fails the test.

Each notebook ends with an ``assert`` on a quantitative theory-vs-simulation
agreement, so a notebook that runs but disagrees also fails. The kernel is the
interpreter running pytest (the project venv): a throw-away kernelspec pointing
at ``sys.executable`` is used, so a user-level "python3" kernelspec cannot
substitute another Python. BLAS is pinned to one thread (shared CI cores).

Set ``SYMSIG_FIGDIR`` to keep the figures as PNG files; executed outputs are
never written back to the .ipynb files.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

import ipykernel  # noqa: F401  (the test extra installs the kernel; a missing one must fail, not skip)
import nbclient
import nbformat

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TIMEOUT = 300  # seconds per notebook (also the per-cell timeout); each takes about a minute on 2 cores
KERNEL_NAME = "symsig-test-python"


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kernelspec directory whose only kernel runs this interpreter."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / KERNEL_NAME
    spec.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "symsig test", "language": "python"}))
    return root


def test_notebooks_exist() -> None:
    assert len(NOTEBOOKS) >= 6, [p.name for p in NOTEBOOKS]


def test_notebooks_are_stored_without_outputs() -> None:
    """Committed notebooks carry no outputs (small diffs, no embedded images)."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, kernel_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]))
    client = nbclient.NotebookClient(
        nb, km=km, timeout=TIMEOUT, kernel_name=KERNEL_NAME, allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    print(f"{path.name}: {elapsed:.1f} s")
    assert elapsed < TIMEOUT, f"{path.name} took {elapsed:.0f} s (limit {TIMEOUT} s)"
