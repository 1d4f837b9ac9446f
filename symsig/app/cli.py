"""The ``symsig`` command line (its names, options and JSON keys are a contract).

Every command maps its options one to one onto the keyword arguments of the
function of the same name in :mod:`symsig`; ``--json`` prints that function's
``to_dict()`` and nothing else on stdout. Bad input exits with status 2 and one
line on stderr.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ..core.architecture import FIGURE1
from ..core import validate
from ..core.names import ACTIVATIONS, BLOCKS
from . import width_options, zone_options
from .argv import join_negative_numbers


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("symsig").strip()  # the subcommand, if any
        _fail(f"{where}: {message}" if where else message)


class _Help(argparse.HelpFormatter):
    """Append "(default: X)" to an option's help when it has a meaningful default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in text and action.option_strings:
            text += " (default: %(default)s)"
        return text


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"symsig: error: {message.splitlines()[0] if message else 'invalid input'}\n")
    raise SystemExit(2)


def _number(text: str) -> str:
    """Keep numbers as the user typed them, so mpmath can read them exactly."""
    try:
        float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    return text


#: Help of the architecture options (ranges and meaning; argparse appends the defaults).
_ARCH_HELP = {
    "block": "transformer block (docs/theory.md §6)",
    "activation": "MLP nonlinearity (docs/theory.md §5.6)",
    "beta": "attention inverse temperature beta > 0: W_Q, W_K variance beta sqrt(log T)/d",
    "sigma_w2": "MLP weight variance times fan-in, >= 0",
    "sigma_v2": "value weight variance times d, >= 0",
    "sigma_b2": "bias variance, >= 0",
    "alpha_sa": "residual strength around the attention, >= 0 (h <- alpha h + Attn)",
    "alpha_mlp": "residual strength around the MLP, >= 0",
    "seq_len": "sequence length T >= 2: exact finite-T theory (omitted: T -> infinity)",
}


def _add_architecture(cmd: argparse.ArgumentParser, *, seq_len: bool = True, beta: bool = True, alpha_sa: bool = True) -> None:
    cmd.add_argument("--block", choices=BLOCKS, default=FIGURE1["block"], help=_ARCH_HELP["block"])
    cmd.add_argument("--activation", choices=ACTIVATIONS, default=FIGURE1["activation"], help=_ARCH_HELP["activation"])
    for name in ("beta", "sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa", "alpha_mlp"):
        if (name == "alpha_sa" and not alpha_sa) or (name == "beta" and not beta):
            continue
        cmd.add_argument("--" + name.replace("_", "-"), dest=name, type=_number, default=str(FIGURE1[name]),
                         metavar="X", help=_ARCH_HELP[name])
    if seq_len:
        cmd.add_argument("--seq-len", dest="seq_len", type=int, default=None, metavar="T", help=_ARCH_HELP["seq_len"])


def _add_common(cmd: argparse.ArgumentParser, *, dps: bool = True) -> None:
    cmd.add_argument("--json", action="store_true", help="machine-readable output on stdout (JSON), nothing else there")
    cmd.add_argument("--no-limits", dest="no_limits", action="store_true",
                     help="lift the guards on depth, digits, grid size, width and seeds (huge runs)")
    if dps:
        cmd.add_argument("--dps", type=int, default=None, metavar="N",
                         help="decimal digits N >= 1 (mpmath; JSON numbers become decimal strings when N > 15); "
                              "omitted: double precision")


def _cmd_critical(args: argparse.Namespace) -> Any:
    from ..analysis.critical import critical

    return critical(beta=args.beta, rho=args.rho, q=args.q, p=args.p, seq_len=args.seq_len, dps=args.dps,
                    width=args.theory_width)


def _cmd_propagate(args: argparse.Namespace) -> Any:
    from ..analysis.propagate import propagate

    return propagate(**_arch_kwargs(args), depth=args.depth, rho0=args.rho0, q0=args.q0, dps=args.dps,
                     causal=args.causal, position=args.position, scatter=args.scatter)


def _cmd_report(args: argparse.Namespace) -> Any:
    from .report import print_summary, report

    kwargs = {k: v for k, v in _arch_kwargs(args).items() if k not in ("beta", "seq_len")}
    rep = report(out=args.out, betas=args.beta or ["0.5", "3"], depth=args.depth, rho0=args.rho0, progress=None if not args.json else False,
                 seq_len=args.seq_len or 512, width=args.width, seeds=args.seeds, simulation=args.simulation,
                 train_results=args.train_results, zones=args.zones, **kwargs)
    if not args.json:
        print_summary(rep)
        return None
    return rep


def _cmd_simulate(args: argparse.Namespace) -> Any:
    from ..simulation.stack import simulate

    kwargs = {k: v for k, v in _arch_kwargs(args).items() if k != "seq_len"}
    return simulate(**kwargs, width=args.width, width_theory=args.width_theory, seq_len=args.seq_len, depth=args.depth,
                    seeds=args.seeds, seed=args.seed, rho0=args.rho0, q0=args.q0, progress=None if not args.json else False)


def _cmd_latex(args: argparse.Namespace) -> Any:
    from .latex import latex

    text = latex(out=args.out)
    if args.out:
        sys.stderr.write(f"wrote {args.out}\n")
    else:
        sys.stdout.write(text)
    return None


def _cmd_gradient(args: argparse.Namespace) -> Any:
    from ..analysis.gradient import gradient

    return gradient(beta=args.beta, rho=args.rho, q=args.q, seq_len=args.seq_len, sigma_v2=args.sigma_v2, dps=args.dps,
                    width=args.theory_width)


def _cmd_check(args: argparse.Namespace) -> Any:
    from .check import check

    result = check(progress=None if not args.json else False, path=args.constants)
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    else:
        sys.stdout.write(result.table + "\n")
    return 0 if result.passed else 1


def _cmd_diagram(args: argparse.Namespace) -> Any:
    from ..analysis.diagram import diagram

    kwargs = {k: v for k, v in _arch_kwargs(args).items() if k not in ("beta", "alpha_sa")}
    point = _point(args.point) if args.point else None
    if args.out:
        _check_out(args.out)
    result = diagram(depth=args.depth, beta=args.beta, alpha_sa=args.alpha_sa, rho0=args.rho0, q0=args.q0,
                     thresholds=zone_options.thresholds(args), boundaries=args.boundaries or args.certify, digits=args.digits,
                     certify=args.certify, **kwargs)
    if args.out:
        _write_out(result, args.out, point)
    return result


def _zones_said(thresholds: dict[str, Any]) -> str:
    from ..analysis.zones import definition_of
    from ..core.names import ZONE_DESCRIPTIONS

    return ZONE_DESCRIPTIONS[definition_of(thresholds)]


def _point(text: str) -> tuple[float, float]:
    try:
        b, a = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--point must be BETA,ALPHA_SA, got {text!r}") from None
    return b, a


def _check_out(out: str) -> None:
    """Validate --out before any work, so that bad input writes nothing."""
    validate.output("--out", out, suffixes=(".png", ".svg", ".json"))


def _write_out(result: Any, out: str, point: tuple[float, float] | None) -> None:
    """--out FILE: .png/.svg plot or .json data."""
    from pathlib import Path

    if Path(out).suffix.lower() == ".json":
        Path(out).write_text(json.dumps(result.to_dict()) + "\n")
    else:
        from .plots import plot_diagram

        plot_diagram(result, out, point=point)
    sys.stderr.write(f"wrote {out}\n")


def _cmd_prescribe(args: argparse.Namespace) -> Any:
    from ..analysis.prescribe import prescribe

    kwargs = {k: v for k, v in _arch_kwargs(args).items() if k not in ("beta", "block", "alpha_sa")}
    result = prescribe(depth=args.depth, block=args.block, rho0=args.rho0, thresholds=zone_options.thresholds(args),
                       resolution=args.resolution, **kwargs)
    if not args.json:
        sys.stdout.write(result.summary + "\n")
        return None
    return result


def _arch_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("block", "activation", "beta", "sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa", "alpha_mlp", "seq_len")
    return {k: getattr(args, k) for k in keys if hasattr(args, k)} | width_options.architecture(args)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    fmt = _Help
    parser = _Parser(prog="symsig", formatter_class=fmt,
                     description="Signal propagation through deep transformers at initialisation: REM attention, "
                                 "layer maps, failure modes, trainability diagrams (docs/theory.md).")
    parser.add_argument("--version", action="version", version=f"symsig {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, formatter_class=fmt)

    cmd = command("critical", "beta_c, m, Y2, Y3, rho_c of one attention layer (docs/theory.md §3)")
    cmd.add_argument("--beta", type=_number, required=True, metavar="X", help="inverse temperature beta > 0")
    cmd.add_argument("--rho", type=_number, default=None, metavar="X",
                     help="cosine similarity of the tokens, -1 <= rho <= 1 (with q = 1 unless --q is given)")
    cmd.add_argument("--q", type=_number, default=None, metavar="X", help="squared norm per feature q > 0 (default 1)")
    cmd.add_argument("--p", type=_number, default=None, metavar="X", help="overlap per feature, |p| <= q (default 0)")
    cmd.add_argument("--seq-len", dest="seq_len", type=int, default=None, metavar="T", help=_ARCH_HELP["seq_len"])
    width_options.add(cmd)
    _add_common(cmd)
    cmd.set_defaults(run=_cmd_critical, table=_table_scalars)

    cmd = command("propagate", "q, p, rho, Y2 per layer of a deep stack (docs/theory.md §7.1)")
    _add_architecture(cmd)
    cmd.add_argument("--depth", type=int, default=50, metavar="L", help="number of blocks L >= 0")
    cmd.add_argument("--rho0", type=_number, default="0.3", metavar="X", help="input cosine similarity rho_0")
    cmd.add_argument("--q0", type=_number, default="1", metavar="X", help="input squared norm per feature q_0 > 0")
    cmd.add_argument("--causal", action="store_true", help="decoder: the query at --position sees that many keys")
    cmd.add_argument("--position", type=int, default=None, metavar="t",
                     help="1-based query position 1 <= t <= T (with --causal and --seq-len)")
    width_options.add(cmd)
    width_options.add_scatter(cmd, "with --width (encoders): adds rho_sd, rho_drag; ")
    _add_common(cmd)
    cmd.set_defaults(run=_cmd_propagate, table=_table_layers)

    cmd = command("simulate", "Monte Carlo of random transformers at finite width, theory beside it")
    _add_architecture(cmd, seq_len=False)
    cmd.add_argument("--width", type=int, default=256, metavar="D", help="width d >= 2")
    cmd.add_argument("--seq-len", dest="seq_len", type=int, default=512, metavar="T", help="sequence length T >= 2")
    cmd.add_argument("--depth", type=int, default=12, metavar="L", help="number of blocks L >= 1")
    cmd.add_argument("--seeds", type=int, default=4, metavar="S", help="independent networks (standard errors need S >= 2)")
    cmd.add_argument("--seed", type=int, default=0, metavar="K", help="random seed K >= 0")
    cmd.add_argument("--rho0", type=_number, default="0.3", metavar="X", help="input cosine similarity, 0 <= rho_0 <= 1")
    cmd.add_argument("--q0", type=_number, default="1", metavar="X", help="input squared norm per feature q_0 > 0")
    width_options.add_theory(cmd)
    _add_common(cmd, dps=False)
    cmd.set_defaults(run=_cmd_simulate, table=_table_layers)

    cmd = command("diagram", "trainability diagram over (beta, alpha_SA): rank collapse, entropy collapse, trainable")
    _add_architecture(cmd, beta=False, alpha_sa=False)
    cmd.add_argument("--depth", type=int, default=60, metavar="L", help="number of blocks L >= 1")
    cmd.add_argument("--beta", default="0.1:4:64", metavar="MIN:MAX:N", help="beta grid (N points, ends included)")
    cmd.add_argument("--alpha-sa", dest="alpha_sa", default="0:3:64", metavar="MIN:MAX:N", help="alpha_SA grid")
    cmd.add_argument("--rho0", type=_number, default="0.3", metavar="X", help="input cosine similarity, rho_0 < 1")
    cmd.add_argument("--q0", type=_number, default="1", metavar="X", help="input squared norm per feature q_0 > 0")
    cmd.add_argument("--boundaries", action="store_true", help="trace the zone boundaries by root finding (mpmath)")
    cmd.add_argument("--digits", type=int, default=10, metavar="N", help="correct digits of the traced boundaries")
    cmd.add_argument("--certify", action="store_true",
                     help="certify each traced boundary point with ball arithmetic (python-flint)")
    zone_options.add(cmd, _number, thresholds=("rank", "entropy", "rescue", "gradient"))
    cmd.add_argument("--point", default=None, metavar="BETA,ALPHA_SA", help="mark a point on the plot")
    cmd.add_argument("--out", default=None, metavar="FILE", help="write FILE.png, FILE.svg or FILE.json")
    width_options.add(cmd)
    _add_common(cmd, dps=False)
    cmd.set_defaults(run=_cmd_diagram, table=_table_diagram)

    from . import boundary_cmd

    cmd = command("boundary", boundary_cmd.HELP)
    _add_architecture(cmd, beta=False, alpha_sa=False)
    boundary_cmd.add_arguments(cmd, _number)
    _add_common(cmd, dps=False)
    cmd.set_defaults(run=lambda args: boundary_cmd.run(args, _arch_kwargs(args)), table=boundary_cmd.table)

    cmd = command("prescribe", "recommended (beta, alpha_SA) for an L-layer model, with its margins")
    _add_architecture(cmd, beta=False, alpha_sa=False)
    cmd.add_argument("--depth", type=int, required=True, metavar="L", help="number of blocks L >= 1")
    cmd.add_argument("--rho0", type=_number, default="0.3", metavar="X", help="input cosine similarity, rho_0 < 1")
    zone_options.add(cmd, _number)
    cmd.add_argument("--resolution", type=int, default=128, metavar="N", help="N x N grid of (beta, alpha_SA), N >= 8")
    width_options.add(cmd)
    _add_common(cmd, dps=False)
    cmd.set_defaults(run=_cmd_prescribe, table=None)

    cmd = command("gradient", "scaled E||dL/dW_Q||^2 at initialisation (Result 2 corrected, docs/theory.md §9)")
    cmd.add_argument("--beta", type=_number, required=True, metavar="X", help="inverse temperature beta > 0")
    cmd.add_argument("--rho", type=_number, required=True, metavar="X", help="cosine similarity, -1 <= rho <= 1")
    cmd.add_argument("--q", type=_number, default="1", metavar="X", help="squared norm per feature q > 0")
    cmd.add_argument("--seq-len", dest="seq_len", type=int, default=None, metavar="T", help=_ARCH_HELP["seq_len"])
    cmd.add_argument("--sigma-v2", dest="sigma_v2", type=_number, default="1", metavar="X", help=_ARCH_HELP["sigma_v2"])
    width_options.add(cmd)
    _add_common(cmd)
    cmd.set_defaults(run=_cmd_gradient, table=_table_scalars)

    from . import crosscheck_cmd

    cmd = command("crosscheck", crosscheck_cmd.HELP)
    crosscheck_cmd.add_arguments(cmd, _number, _ARCH_HELP)
    _add_common(cmd, dps=False)
    cmd.set_defaults(run=crosscheck_cmd.run, table=_table_layers)

    from .evidence_cli import add_command as add_evidence
    from .inspect import add_command as add_inspect
    from .train_cli import add_command as add_train
    add_evidence(command, _add_common, _number)
    add_train(command, _add_architecture, _add_common, _number)
    add_inspect(command, _add_common)

    cmd = command("check", "the paper's published constants against ours (table; exit 1 on any failure)")
    cmd.add_argument("--constants", default=None, metavar="FILE",
                     help="a constants TOML file to check instead of the shipped one")
    _add_common(cmd, dps=False)
    cmd.set_defaults(run=_cmd_check, table=None)

    cmd = command("latex", "every formula of the library as a LaTeX document")
    cmd.add_argument("--out", default=None, metavar="FILE", help="write FILE.tex instead of stdout")
    cmd.set_defaults(run=_cmd_latex, table=None, json=False)

    cmd = command("report", "the main job: a self-contained HTML report for one architecture")
    _add_architecture(cmd, beta=False)
    cmd.add_argument("--beta", type=_number, action="append", metavar="X",
                     help="inverse temperature (repeatable; default: 0.5 and 3, as in Figure 1)")
    cmd.add_argument("--depth", type=int, default=50, metavar="L", help="number of blocks L >= 1")
    cmd.add_argument("--rho0", type=_number, default="0.3", metavar="X", help="input cosine similarity, rho_0 < 1")
    cmd.add_argument("--out", default="symsig-report", metavar="DIR", help="output directory")
    zone_options.add(cmd, _number, thresholds=())
    cmd.add_argument("--width", type=int, default=256, metavar="D", help="Monte Carlo width d")
    cmd.add_argument("--seeds", type=int, default=2, metavar="S", help="Monte Carlo networks")
    cmd.add_argument("--simulation", action=argparse.BooleanOptionalAction, default=True,
                     help="Monte Carlo beside the theory (--no-simulation: theory only)")
    cmd.add_argument("--train-results", dest="train_results", default=None, metavar="FILE",
                     help="add a training section from a symsig train --save JSON file")
    _add_common(cmd, dps=False)
    cmd.set_defaults(run=_cmd_report, table=None)
    return parser


def _fmt(x: Any) -> str:
    return "-" if x is None else x if isinstance(x, str) else f"{x:.10g}"


def _table_scalars(data: dict[str, Any]) -> str:
    width = max(len(k) for k in data)
    return "\n".join(f"{k:<{width}}  {_fmt(v)}" for k, v in data.items())


def _table_diagram(data: dict[str, Any]) -> str:
    """Zones as a character map: rows alpha_SA (top = largest), columns beta."""
    mark = {"rank": "R", "entropy": "E", "trainable": ".", "vanishing": "V"}
    lines = [f"zones after L = {data['depth']} blocks (R rank collapse, E entropy collapse, V vanishing gradient, "
             ". trainable)"]
    for a, row in reversed(list(zip(data["alpha_sa"], data["zone"]))):
        lines.append(f"alpha_SA {a:6.3f} |" + "".join(mark[z] for z in row))
    lines.append(f"beta: {data['beta'][0]:g} .. {data['beta'][-1]:g} ({len(data['beta'])} points); thresholds {data['thresholds']}: {_zones_said(data['thresholds'])}")
    if data.get("certificates"):
        n_ok = sum(c["certified"] for c in data["certificates"])
        lines.append(f"boundary points certified (ball arithmetic): {n_ok}/{len(data['certificates'])}")
    return "\n".join(lines)


def _table_layers(data: dict[str, Any]) -> str:
    lists = {k: v for k, v in data.items() if isinstance(v, list)}
    keys = [k for k in lists if k not in ("window", "theory_positions", "positions")]   # those are not layers
    n_rows = max(len(data[k]) for k in keys)
    # per-attention lists (length L) describe blocks 1..L: right-align them with the layers
    cell = lambda k, i: _fmt(data[k][i - (n_rows - len(data[k]))]) if i >= n_rows - len(data[k]) else "-"
    rows = [["layer", *keys]] + [[str(i), *(cell(k, i) for k in keys)] for i in range(n_rows)]
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    other = [f"{k}: {' '.join(_fmt(x) for x in v)}" for k, v in lists.items() if k not in keys]
    return "\n".join(["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows] + other)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symsig`` console script."""
    args = build_parser().parse_args(join_negative_numbers(sys.argv[1:] if argv is None else argv))
    run: Callable[[argparse.Namespace], Any] = args.run
    try:
        with validate.no_limits() if getattr(args, "no_limits", False) else contextlib.nullcontext():
            result = run(args)
    except ValueError as exc:  # validate.InputError and friends: the user's input
        _fail(str(exc))
    if result is None:  # the command printed its own output
        return 0
    if isinstance(result, int):  # the command printed its own output and chose the exit status
        return result
    data = result.to_dict()
    if args.json:
        sys.stdout.write(json.dumps(data) + "\n")
    else:
        sys.stdout.write(args.table(data) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
