"""The options of ``symsig train`` and what the command does with them (kept out of cli.py for size).

:func:`add_command` registers the command (the shared architecture options, then :func:`add_arguments`) and
dispatches to :func:`run`, which maps the options one to one onto :func:`symsig.train`.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from . import zone_options
from ..core.architecture import FIGURE1
from ..simulation.train.data import DATA, MARKOV_LENGTH, MARKOV_STATES, MARKOV_SUCCESSORS


def add_command(command: Callable[[str, str], argparse.ArgumentParser], add_architecture: Callable[..., None],
                add_common: Callable[..., None], number: Callable[[str], str]) -> argparse.ArgumentParser:
    """Add ``train`` to the parser of :mod:`symsig.app.cli` (``command(name, help)`` makes a subparser)."""
    cmd = command("train", "train language models across the (beta, alpha_SA) diagram (docs/training.md)")
    add_architecture(cmd, seq_len=False, beta=False, alpha_sa=False)
    add_arguments(cmd, number)
    add_common(cmd, dps=False)
    cmd.set_defaults(run=run, table=None)
    return cmd


def add_arguments(cmd: argparse.ArgumentParser, number: Callable[[str], str]) -> None:
    """Every option of ``symsig train`` except the architecture's (``number``: the CLI's number type)."""
    cmd.add_argument("--beta", default=str(FIGURE1["beta"]), metavar="GRID",
                     help="beta values: X, X,Y,..., or MIN:MAX:N (N points, ends included); each > 0")
    cmd.add_argument("--alpha-sa", dest="alpha_sa", default=str(FIGURE1["alpha_sa"]), metavar="GRID",
                     help="alpha_SA values (same forms as --beta); each >= 0")
    cmd.add_argument("--depth", type=int, default=12, metavar="L", help="number of blocks L >= 1")
    cmd.add_argument("--width", type=int, default=64, metavar="D", help="model width d >= 2")
    cmd.add_argument("--heads", type=int, default=1, metavar="H", help="attention heads (must divide the width)")
    cmd.add_argument("--mlp-width", dest="mlp_width", type=int, default=None, metavar="M",
                     help="MLP hidden width (default: the width)")
    cmd.add_argument("--seq-len", dest="seq_len", type=int, default=32, metavar="T",
                     help="tokens per training window T >= 4 (the theory uses this T)")
    cmd.add_argument("--causal", action="store_true",
                     help="decoder: causal attention and next-token prediction (default: masked-token prediction)")
    cmd.add_argument("--out-proj", dest="out_proj", action="store_true",
                     help="add an attention output projection W_O ~ N(0, 1/d) (the theory has none)")
    cmd.add_argument("--rho0", type=number, default="0.3", metavar="X",
                     help="cosine of the embedding's shared part, 0 <= rho_0 < 1 (the measured input cosine is "
                          "used by the theory)")
    cmd.add_argument("--q0", type=number, default="1", metavar="X", help="embedding squared norm per feature q_0 > 0")
    cmd.add_argument("--token-share", dest="token_share", type=number, default="0.5", metavar="F",
                     help="fraction 0 <= F <= 1 of the non-shared embedding variance carried by the token table "
                          "(the rest: positions)")
    cmd.add_argument("--corpus", default=None, metavar="FILE",
                     help="plain-text UTF-8 file, documents separated by blank lines (default: the built-in story grammar)")
    cmd.add_argument("--data", choices=DATA, default="stories",
                     help="built-in data without --corpus: the story grammar or a random sparse Markov chain "
                          f"({MARKOV_LENGTH}-token sequences)")
    cmd.add_argument("--successors", type=int, default=MARKOV_SUCCESSORS, metavar="K",
                     help="--data markov: possible successors of each token, 1 <= K <= states")
    cmd.add_argument("--stories", type=int, default=4000, metavar="N",
                     help="documents drawn from the built-in data (stories or Markov sequences), N >= 2")
    cmd.add_argument("--vocab-size", dest="vocab_size", type=int, default=None, metavar="V",
                     help="largest vocabulary, special tokens included (V >= 5; rarer words become [UNK]; default: "
                          f"all); --data markov: the chain's states (default {MARKOV_STATES})")
    cmd.add_argument("--data-seed", dest="data_seed", type=int, default=0, metavar="K",
                     help="seed of the corpus and of the held-out batches")
    cmd.add_argument("--mask-prob", dest="mask_prob", type=number, default="0.15", metavar="P",
                     help="masked-token prediction: probability 0 < P <= 1 of masking each token")
    cmd.add_argument("--steps", type=int, default=1000, metavar="N", help="training steps (fixed budget), N >= 1")
    cmd.add_argument("--batch-size", dest="batch_size", type=int, default=32, metavar="B", help="windows per step, B >= 1")
    cmd.add_argument("--lr", default="1e-3", metavar="GRID",
                     help="peak AdamW learning rate(s): X, X,Y,... or MIN:MAX:N; each > 0")
    cmd.add_argument("--warmup", type=int, default=50, metavar="N",
                     help="linear warm-up steps, then a half-cosine decay to 0 at the last step")
    cmd.add_argument("--weight-decay", dest="weight_decay", type=number, default="0.01", metavar="X",
                     help="AdamW weight decay on the weight matrices, >= 0")
    cmd.add_argument("--clip", type=number, default="1", metavar="X", help="gradient-norm clipping, >= 0 (0: none)")
    cmd.add_argument("--eval-every", dest="eval_every", type=int, default=None, metavar="N",
                     help="held-out evaluation every N steps (default: steps / 10)")
    cmd.add_argument("--eval-batches", dest="eval_batches", type=int, default=8, metavar="N",
                     help="held-out batches (fixed, the same for every run)")
    cmd.add_argument("--log-every", dest="log_every", type=int, default=None, metavar="N",
                     help="train loss and gradient norm recorded every N steps (default: steps / 100)")
    cmd.add_argument("--seed", default="0", metavar="K[,K...]", help="weight seed(s) K >= 0: each is a sweep axis value")
    cmd.add_argument("--no-prescribed", dest="no_prescribed", action="store_true",
                     help="do not add the prescribed point of symsig prescribe to the runs")
    zone_options.add(cmd, number)
    cmd.add_argument("--diagram-resolution", dest="diagram_resolution", type=int, default=24, metavar="N",
                     help="theory grid N x N behind the figure's boundaries (0: none)")
    cmd.add_argument("--workers", type=int, default=1, metavar="N",
                     help="N > 1: run the grid points as tasks on a local dask cluster of N processes")
    cmd.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="run the grid points on this dask.distributed scheduler (e.g. tcp://host:8786)")
    cmd.add_argument("--device", default="auto", metavar="DEV", help="auto (CUDA when available), cpu, cuda or cuda:N")
    cmd.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="training precision")
    cmd.add_argument("--threads", type=int, default=1, metavar="N", help="torch CPU threads per run")
    cmd.add_argument("--plot", default=None, metavar="FILE", help="save the loss-over-grid figure (.png or .svg)")
    cmd.add_argument("--plot-lr", dest="plot_lr", default=None, metavar="FILE",
                     help="save the figure of the learning rates that train at each point (.png or .svg)")
    cmd.add_argument("--save", default=None, metavar="FILE", help="save the results as JSON (for symsig report)")


def check_outputs(args: argparse.Namespace) -> None:
    """--plot and --save: right suffix, existing directory (checked before any work)."""
    from pathlib import Path

    for option, path, suffixes in (("--plot", args.plot, (".png", ".svg")), ("--plot-lr", args.plot_lr, (".png", ".svg")),
                                   ("--save", args.save, (".json",))):
        if path is None:
            continue
        if Path(path).suffix.lower() not in suffixes:
            raise ValueError(f"{option} must end in {' or '.join(suffixes)}, got {path!r}")
        if not Path(path).resolve().parent.is_dir():
            raise ValueError(f"{option} directory does not exist: {Path(path).parent}")


def run(args: argparse.Namespace) -> Any:
    """``symsig train``: :func:`symsig.train` with the options; writes --save / --plot; prints the
    table (or returns the result for --json)."""
    from ..simulation.train.sweep import train

    check_outputs(args)
    keys = ("block", "activation", "beta", "alpha_sa", "sigma_w2", "sigma_v2", "sigma_b2", "alpha_mlp", "depth", "width",
            "heads", "mlp_width", "seq_len", "causal", "out_proj", "rho0", "q0", "token_share", "corpus", "data", "successors", "stories",
            "vocab_size", "data_seed", "mask_prob", "steps", "batch_size", "lr", "warmup", "weight_decay", "clip",
            "eval_every", "eval_batches", "log_every", "seed", "diagram_resolution", "workers", "scheduler", "device",
            "dtype", "threads")
    result = train(**{k: getattr(args, k) for k in keys}, prescribed=not args.no_prescribed,
                   thresholds=zone_options.thresholds(args), progress=None if not args.json else False)
    data = result.to_dict()
    if args.save:
        from pathlib import Path

        Path(args.save).write_text(json.dumps(data) + "\n")
        sys.stderr.write(f"wrote {args.save}\n")
    if args.plot:
        from .plots import plot_train_sweep

        plot_train_sweep(data, args.plot)
        sys.stderr.write(f"wrote {args.plot}\n")
    if args.plot_lr:
        from .plots import plot_lr_range

        plot_lr_range(data, args.plot_lr)
        sys.stderr.write(f"wrote {args.plot_lr}\n")
    if not args.json:
        from ..simulation.train.results import table

        sys.stdout.write(table(data) + "\n")
        return None
    return result
