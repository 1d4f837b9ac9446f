"""``symsig check``: run the published-constants checks of ``paper_checks/``."""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: paper_checks/ sits beside the package in the repository.
PAPER_CHECKS = Path(__file__).resolve().parents[2] / "paper_checks"


def _checker() -> Any:
    path = PAPER_CHECKS / "checker.py"
    if not path.exists():
        raise ValueError(f"paper_checks/ not found beside the package ({PAPER_CHECKS}); run from a source checkout")
    spec = importlib.util.spec_from_file_location("symsig_paper_checks", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class CheckResult:
    """Rows of the check table; ``passed`` is False if any check failed."""

    rows: list[Any]
    table: str
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [r.to_dict() for r in self.rows]}


def _progress(i: int, n: int, what: str) -> None:
    sys.stderr.write(f"\r[{i}/{n}] {what[:60]:<60}" + ("\n" if i == n else ""))
    sys.stderr.flush()


def check(*, progress: bool = False) -> CheckResult:
    """Run every entry of ``paper_checks/constants.toml`` and tabulate the verdicts."""
    checker = _checker()
    rows = checker.check_all(progress=_progress if progress else None)
    return CheckResult(rows, checker.table(rows), all(r.passed for r in rows))
