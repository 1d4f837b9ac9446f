"""The finite-width options (docs/finite_width.md §7): ``--width D`` of the theory commands and
``--width-theory`` of the Monte Carlo commands, whose own ``--width`` is the network's width.

Import-light (``symsig --help`` stays fast).
"""
from __future__ import annotations

import argparse
from typing import Any

HELP = ("width d >= 2: attention and LayerNorm at first order in 1/d, also causal and gain-controlled "
        "(docs/finite_width.md; needs --seq-len, floats only; omitted: d -> infinity)")
THEORY_HELP = ("add the finite-width theory at the network's width beside the finite-T one (theory_width_* "
               "columns; post-LN, pre-LN and gain-controlled blocks, GPT-2 causal, one head; docs/finite_width.md §7)")


def add(cmd: argparse.ArgumentParser) -> None:
    """``--width D``: the theory's width (dest ``theory_width``; the architecture key ``width``)."""
    cmd.add_argument("--width", dest="theory_width", type=int, default=None, metavar="D", help=HELP)


def add_theory(cmd: argparse.ArgumentParser) -> None:
    """``--width-theory``: a Monte Carlo command also reports the theory at its network's width."""
    cmd.add_argument("--width-theory", dest="width_theory", action="store_true", help=THEORY_HELP)


#: The opt-in theory columns of ``crosscheck`` (argument names of :func:`symsig.simulation.hf.crosscheck`).
THEORY_FLAGS = ("width_theory", "cross_positions", "scatter")


def add_cross_positions(cmd: argparse.ArgumentParser) -> None:
    """``--cross-positions``: crosscheck's GPT-2 also reports the decoder theory with the cross-position Gram."""
    cmd.add_argument("--cross-positions", dest="cross_positions", action="store_true",
                     help="GPT-2: add the decoder theory with the tokens' cross-position Gram (theory_cross_* "
                          "columns; with --width-theory also theory_cross_width_*; docs/theory.md §6.4)")


def add_scatter(cmd: argparse.ArgumentParser, what: str) -> None:
    """``--scatter``: carry each network's O(1/sqrt(d)) scatter of (q, p) and its drag on the mean."""
    cmd.add_argument("--scatter", action="store_true",
                     help=f"{what}carry each network's O(1/sqrt(d)) scatter of (q, p) beside the mean and its "
                          "curvature drag on it (docs/finite_width.md §11)")


def architecture(args: argparse.Namespace) -> dict[str, Any]:
    """``{"width": D}`` when ``--width D`` of the theory was given, else ``{}``."""
    width = getattr(args, "theory_width", None)
    return {} if width is None else {"width": width}
