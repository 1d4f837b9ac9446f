"""The built wheel is complete and works from any directory, without the source checkout."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_lists_every_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    tree = {".".join(p.relative_to(ROOT).parts[:-1]) for p in (ROOT / "symsig").rglob("__init__.py")}
    mapped = {name for name in config["package-dir"]}
    assert set(config["packages"]) == tree | mapped


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True, timeout=600)
    (path,) = out.glob("symsig-*.whl")
    return path


def test_wheel_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("symsig/py.typed", "symsig/paper_checks/constants.toml", "symsig/paper_checks/checker.py",
                   "symsig/__main__.py"):
        assert needed in names, needed
    assert any(n.startswith("symsig/numerics/") and n.endswith(".npz") for n in names)
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "symsig-report/", "benchmarks/")) for n in names)


@pytest.mark.slow
def test_wheel_works_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """Fresh venv with only the wheel installed (its dependencies borrowed from the test
    environment's site-packages, whose editable symsig is *not* activated), run from /tmp."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)  # a wheel is a zip of the site-packages tree (pure Python)
    entry = venv / "bin" / "symsig"
    entry.write_text(f"#!{py}\nimport sys\nfrom symsig.app.cli import main\nsys.exit(main())\n")
    entry.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), cwd=work, env=env, capture_output=True, text=True, timeout=600)

    where = run(str(py), "-c", "import symsig; print(symsig.__file__)")
    assert where.returncode == 0 and str(ROOT) not in where.stdout and site in where.stdout, where
    assert run(str(entry), "--version").stdout.startswith("symsig ")
    crit = run(str(py), "-m", "symsig", "critical", "--beta", "3", "--rho", "0", "--json")
    assert crit.returncode == 0 and '"rho_c": 0.7777777777777778' in crit.stdout, crit.stderr
    assert run(str(entry), "latex", "--out", "f.tex").returncode == 0 and (work / "f.tex").stat().st_size > 1000
    rep = run(str(entry), "report", "--no-simulation", "--depth", "4", "--out", "r")
    assert rep.returncode == 0 and (work / "r" / "index.html").exists(), rep.stderr[-2000:]
    chk = run(str(entry), "check")
    assert chk.returncode == 0, chk.stdout[-2000:] + chk.stderr[-2000:]
