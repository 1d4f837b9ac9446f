"""``symsig evidence``: the evidence table of the finite-width theory (docs/finite_width.md §10)."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_command(command: Callable[[str, str], argparse.ArgumentParser], add_common: Callable[..., None],
                number: Callable[[str], str]) -> argparse.ArgumentParser:
    """Add ``evidence`` to the parser of :mod:`symsig.app.cli` (``command(name, help)`` makes a subparser)."""
    from ..core.names import EVIDENCE_ARCHITECTURES, EVIDENCE_SEEDS

    cmd = command("evidence", "max |theory - Monte Carlo| over depth in standard errors, for the T -> infinity, "
                              "finite-T and finite-width theories (docs/finite_width.md §10)")
    cmd.add_argument("--stored", action="store_true", help="print the table shipped with symsig (no computation)")
    cmd.add_argument("--arch", choices=tuple(EVIDENCE_ARCHITECTURES), default=None, help="only this architecture")
    cmd.add_argument("--width", type=int, default=None, metavar="D", help="only cells of width d = D")
    cmd.add_argument("--seq-len", dest="seq_len", type=int, default=None, metavar="T", help="only cells of length T")
    cmd.add_argument("--beta", type=number, default=None, metavar="X", help="only cells at this beta")
    cmd.add_argument("--seeds", type=int, default=EVIDENCE_SEEDS, metavar="S", help="networks per cell, S >= 2")
    cmd.add_argument("--out", default=None, metavar="FILE", help="also write the rows to FILE (.json)")
    add_common(cmd, dps=False)
    cmd.set_defaults(run=_run, table=_table)
    return cmd


def _run(args: argparse.Namespace) -> Any:
    from ..simulation.evidence_grid import evidence

    return evidence(stored=args.stored, arch=args.arch, width=args.width, seq_len=args.seq_len, beta=args.beta,
                    seeds=args.seeds, out=args.out, progress=None if not args.json else False)


def _table(data: dict[str, Any]) -> str:
    from ..simulation.evidence_grid import table

    return table(data["rows"])
