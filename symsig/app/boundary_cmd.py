"""``symsig boundary``: the parser piece and the runner of the command (kept out of cli.py).

Options map one to one onto :func:`symsig.analysis.boundary.boundary`; ``--json`` prints
its ``to_dict()``; ``--out FILE.csv|.json`` writes the points (checked before any work).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from . import zone_options

#: The command's one-line description.
HELP = "zone boundaries as curves to N correct digits (rank alpha_SA*(beta), entropy beta*(alpha_SA), depth)"


def add_arguments(cmd: argparse.ArgumentParser, number: Callable[[str], str]) -> None:
    """The options of ``symsig boundary`` (architecture and ``--json`` are added by the caller)."""
    cmd.add_argument("--depth", type=int, default=60, metavar="L", help="number of blocks L >= 1")
    cmd.add_argument("--beta", default=None, metavar="GRID",
                     help="rank curve alpha_SA*(beta) at these beta: MIN:MAX:N or X,Y,... (exact decimals)")
    cmd.add_argument("--alpha-sa", dest="alpha_sa", default=None, metavar="GRID",
                     help="entropy curve beta*(alpha_SA) at these alpha_SA")
    cmd.add_argument("--depths", default=None, metavar="GRID",
                     help="depth curve alpha_SA*(L) at these depths L, at beta = --at-beta")
    cmd.add_argument("--at-beta", dest="at_beta", type=number, default=None, metavar="X",
                     help="beta of the depth curve (default 0.5)")
    cmd.add_argument("--rho0", type=number, default="0.3", metavar="X", help="input cosine similarity, rho_0 < 1")
    cmd.add_argument("--q0", type=number, default="1", metavar="X", help="input squared norm per feature q_0 > 0")
    cmd.add_argument("--digits", type=int, default=20, metavar="N", help="correct significant digits of every point")
    cmd.add_argument("--certify", action="store_true",
                     help="a certified ball (midpoint, radius 10^-N |x|) per point (ball arithmetic, python-flint)")
    cmd.add_argument("--search-alpha", dest="search_alpha", default=None, metavar="MIN:MAX:N",
                     help="alpha_SA search grid of the rank and depth curves")
    cmd.add_argument("--search-beta", dest="search_beta", default=None, metavar="MIN:MAX:N",
                     help="beta search grid of the entropy curve (default 0.05:8:64)")
    zone_options.add(cmd, number)
    cmd.add_argument("--out", default=None, metavar="FILE", help="write FILE.csv or FILE.json")


def run(args: argparse.Namespace, architecture: dict[str, Any]) -> Any:
    """Run the command; returns the :class:`symsig.analysis.boundary.Boundary`."""
    from ..analysis.boundary import boundary

    kwargs = {k: v for k, v in architecture.items() if k not in ("beta", "alpha_sa")}
    result = boundary(depth=args.depth, beta=args.beta, alpha_sa=args.alpha_sa, depths=args.depths,
                      at_beta=args.at_beta, rho0=args.rho0, q0=args.q0, thresholds=zone_options.thresholds(args),
                      digits=args.digits, certify=args.certify, search_alpha=args.search_alpha,
                      search_beta=args.search_beta, out=args.out, progress=None if not args.json else False,
                      **kwargs)
    if args.out:
        sys.stderr.write(f"wrote {args.out}\n")
    return result


def table(data: dict[str, Any]) -> str:
    """The curves as text: one line per point, closed form beside."""
    from ..analysis.zones import definition_of
    from ..core.names import ZONE_DESCRIPTIONS

    lines = [f"zone boundaries after L = {data['depth']} blocks, {data['digits']} digits, thresholds {data['thresholds']}: "
             f"{ZONE_DESCRIPTIONS[definition_of(data['thresholds'])]}"]
    for curve, fixed, name, closed in (("rank", "beta", "alpha_sa", "alpha_linear"),
                                       ("entropy", "alpha_sa", "beta", "rho_c"),
                                       ("rescue", "beta", "alpha_sa", None),
                                       ("depth_curve", "depth", "alpha_sa", "alpha_linear")):
        if not data.get(curve):
            continue
        where = f" at beta = {data['at_beta']}" if curve == "depth_curve" else ""
        lines.append(f"{curve}{where}: {name}*({fixed})" + (f"   [{closed} beside]" if closed else
                                                           "   (entropy collapse rescued above it)"))
        for pt in data[curve]:
            if curve == "rescue":
                mark = "" if pt[name] is None else (" (attention frozen: a zone boundary)" if pt.get("entropy_zone")
                                                    else " (attention not frozen here)")
            else:
                mark = " (inside the entropy zone)" if pt.get("entropy_zone") else (
                    " (rescued: no zone boundary)" if pt.get("rescued") else "")
            ball = pt.get("ball")
            cert = f"  certified +- {ball['rad']}" if ball and ball["certified"] else (
                f"  not certified: {ball['reason']}" if ball else "")
            beside = f"   {closed} = {pt.get(closed) or '-'}" if closed else ""
            lines.append(f"  {fixed} = {pt[fixed]}: {name} = {pt[name] or '-'}{beside}{mark}{cert}")
    for label, form in data["closed_forms"].items():
        if form["value"] is not None:
            lines.append(f"{label}: {form['value']}   ({form['meaning']})")
    return "\n".join(lines)
