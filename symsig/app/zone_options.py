"""The zone options every command that draws zones shares: ``--zones NAME`` and the thresholds
that override it (one definition of their names, defaults and help).

Import-light (``symsig --help`` stays fast): the definitions live in :mod:`symsig.core.names`.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..core.names import DEFAULT_ZONES, ZONE_DEFINITIONS

#: threshold name -> (option, help); the help's default is the default definition's value.
OPTIONS: dict[str, tuple[str, str]] = {
    "rank": ("--rank-threshold", "rank collapse when 1 - rho_L < X (1 - rho_0)"),
    "entropy": ("--entropy-threshold", "entropy collapse when the mean attention IPR Y2 > X"),
    "rescue": ("--rescue-threshold", "no entropy collapse where 1 - rho_L >= X (1 - rho_0): a strong residual "
               "carries the tokens (a value above the rank threshold)"),
    "gradient": ("--gradient-threshold", "optional zone: scaled first-layer query gradient below X is 'vanishing' "
                 "(off by default)"),
}


def add(cmd: argparse.ArgumentParser, number: Callable[[str], Any], *,
        thresholds: tuple[str, ...] = ("rank", "entropy", "rescue")) -> None:
    """``--zones`` and the threshold options named in ``thresholds``."""
    described = "; ".join(f"{name}: " + ", ".join(f"{k} {x:g}" for k, x in v.items()) for name, v in ZONE_DEFINITIONS.items())
    cmd.add_argument("--zones", choices=tuple(ZONE_DEFINITIONS), default=DEFAULT_ZONES,
                     help=f"zone definition ({described}; docs/training.md, Calibrated zones)")
    for key in thresholds:
        option, text = OPTIONS[key]
        default = ZONE_DEFINITIONS[DEFAULT_ZONES].get(key)
        suffix = f" (default {default:g}, the {DEFAULT_ZONES} zones)" if default is not None else ""
        cmd.add_argument(option, dest=f"{key}_threshold", type=number, default=None, metavar="X", help=text + suffix)


def thresholds(args: argparse.Namespace) -> dict[str, Any]:
    """The thresholds the options ask for: the named definition, updated by the explicit ones."""
    out: dict[str, Any] = dict(ZONE_DEFINITIONS[args.zones])
    for key in OPTIONS:
        value = getattr(args, f"{key}_threshold", None)
        if value is not None:
            out[key] = value
    return out
