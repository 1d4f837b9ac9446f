"""``symsig crosscheck``: the parser piece and the runner of the command (kept out of cli.py).

Options map one to one onto :func:`symsig.simulation.hf.crosscheck`; ``--plot FILE`` saves the
model against the theories; ``--json`` (added by the caller) prints its ``to_dict()``.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from ..core.names import MODELS
from . import width_options

#: The command's one-line description.
HELP = "theory against stock Hugging Face BERT / GPT-2 re-initialised with the theory's scalings"
#: Float options: name, default, help (None: the architecture's help text).
_FLOATS = (("beta", "0.5", None), ("sigma_w2", "0.2", None), ("sigma_v2", "0.2", None), ("sigma_b2", "4e-4", None),
           ("sigma_o2", "1", "attention output projection variance times d, >= 0 (1 keeps the Gram matrix)"),
           ("alpha_sa", "1", "residual strength around the attention, > 0"),
           ("alpha_mlp", "1", "residual strength around the MLP, > 0"),
           ("rho0", "0.3", "input cosine similarity, 0 <= rho_0 <= 1"),
           ("q0", "1", "input squared norm per feature q_0 > 0"))
_KEYS = ("model", "width", "seq_len", "depth", "heads", "mlp_width", "seeds", "seed", "theory_positions",
         *width_options.THEORY_FLAGS)


def add_arguments(cmd: argparse.ArgumentParser, number: Callable[[str], str], arch_help: Mapping[str, str]) -> None:
    """The options of ``symsig crosscheck`` (``--json`` is added by the caller)."""
    cmd.add_argument("--model", choices=MODELS, default="bert", help="bert (post-LN encoder) or gpt2 (pre-LN decoder)")
    cmd.add_argument("--width", type=int, default=256, metavar="D", help="hidden size d >= 2")
    cmd.add_argument("--seq-len", dest="seq_len", type=int, default=512, metavar="T", help="sequence length T >= 4")
    cmd.add_argument("--depth", type=int, default=12, metavar="L", help="number of blocks L >= 1")
    for name, default, text in _FLOATS:
        cmd.add_argument("--" + name.replace("_", "-"), dest=name, type=number, default=default, metavar="X",
                         help=arch_help[name] if text is None else text)
    cmd.add_argument("--heads", type=int, default=1, metavar="H", help="attention heads (must divide the width)")
    cmd.add_argument("--mlp-width", dest="mlp_width", type=int, default=None, metavar="M",
                     help="MLP intermediate size (default: the width)")
    cmd.add_argument("--seeds", type=int, default=4, metavar="S", help="independent re-initialisations (>= 2 for errors)")
    cmd.add_argument("--seed", type=int, default=0, metavar="K", help="random seed K >= 0")
    cmd.add_argument("--theory-positions", dest="theory_positions", type=int, default=None, metavar="K",
                     help="GPT-2: the theory averages K evenly spaced key counts of the late window (default: all)")
    cmd.add_argument("--no-extra-biases", dest="no_extra_biases", action="store_true",
                     help="zero the biases the theory does not have (b_Q, b_K, b_O)")
    cmd.add_argument("--plot", default=None, metavar="FILE", help="save a PNG/SVG of model vs theory")
    width_options.add_theory(cmd)
    width_options.add_cross_positions(cmd)
    width_options.add_scatter(cmd, "BERT: add the finite-width theory with the networks' scatter (theory_scatter_* "
                                   "columns, theory_scatter_rho_sd against the seeds' spread); ")


def run(args: argparse.Namespace) -> Any:
    """Run :func:`symsig.simulation.hf.crosscheck` with the parsed options (and save ``--plot``)."""
    from ..simulation.hf import crosscheck, plot

    kwargs = {k: getattr(args, k) for k in _KEYS} | {name: float(getattr(args, name)) for name, _, _ in _FLOATS}
    result = crosscheck(**kwargs, extra_biases=not args.no_extra_biases)
    if args.plot:
        plot(result, args.plot)
    return result
