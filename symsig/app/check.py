"""``symsig check``: the published constants against ours (:mod:`symsig.paper_checks`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.progress import Progress


@dataclass(frozen=True)
class CheckResult:
    """Rows of the check table; ``passed`` is False if any check failed."""

    rows: list[Any]
    table: str
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [r.to_dict() for r in self.rows]}


def check(*, progress: bool | None = None, path: str | Path | None = None) -> CheckResult:
    """Run every entry of the constants file (default: the shipped ``constants.toml``) and tabulate.

    ``progress``: a bar on stderr (None: only on a terminal).
    """
    from ..paper_checks import checker

    entries = checker.load(Path(path) if path is not None else checker.DATA)
    rows = []
    with Progress(len(entries), "check", progress) as bar:
        for entry in entries:
            rows.append(checker.run_check(entry))
            bar.step(entry["name"])
    return CheckResult(rows, checker.table(rows), all(r.passed for r in rows))
