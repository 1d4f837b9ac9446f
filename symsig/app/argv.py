"""Command-line words before argparse sees them."""
from __future__ import annotations

from collections.abc import Sequence


def join_negative_numbers(argv: Sequence[str]) -> list[str]:
    """``--rho -1e-3`` -> ``--rho=-1e-3`` (grids ``-1,1``, ``-1:1:5`` too): argparse takes "-1e-3" for an option."""
    out: list[str] = []
    for token in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and token.startswith("-") and is_number(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def is_number(text: str) -> bool:
    """A number, or numbers separated by commas or colons (a grid)."""
    try:
        [float(part) for part in text.replace(":", ",").split(",")]
    except ValueError:
        return False
    return True
