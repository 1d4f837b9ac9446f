"""The evidence table: the theories against one Monte Carlo per architecture and size
(docs/finite_width.md §10).

For every cell (architecture, d, T, beta) of :data:`GRID`, ``seeds`` random networks of
``depth`` blocks are drawn once (seed: CRC32 of the cell's name, so any cell is reproduced
alone) and compared, layer by layer, with the theories started from the measured input
geometry (q_0, rho_0):

* ``T->inf``: the paper's maps (T -> infinity REM moments, d -> infinity);
* ``T``: the exact finite-T REM moments at the simulated T, d -> infinity;
* ``T,d``: the same with attention and LayerNorm at first order in 1/d at the simulated d;
* ``T,d,s`` (encoder cells only): ``T,d`` with the networks' scatter of (q, p) and its drag on the mean
  (:mod:`symsig.analysis.scatter`), started where its mean cosine is the measured rho_0;
* ``T,x`` (causal cells only): finite T, d -> infinity, with the tokens' cross-position Gram
  (:mod:`symsig.analysis.positions`) instead of each position's own geometry.

Statistic: z_l = (MC_l - theory_l) / SE_l, SE_l the standard error over seeds, for rho after
every block l = 1..L and for the IPR Y2 of every attention; a cell reports max_l |z_l| per
theory and statistic. Causal cells (a post-LN decoder) compare the late window, the last T/4
tokens: rho is the mean cosine over the window's pairs, Y2 the mean over its queries; the
theories average the per-position maps over the window (every stride-th position, at most
:data:`POSITIONS` of them; n = t keys at finite T, beta_t = beta sqrt(log T / log t) at
T -> infinity). Settings other than the block and beta are the Figure-1 ones (ReLU,
sigma_w2 = sigma_v2 = 0.2, sigma_b2 = 4e-4, alpha = 1), from rho_0 = 0.3.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..core import validate
from ..core.architecture import FIGURE1, late_window
from ..core.names import EVIDENCE_ARCHITECTURES, EVIDENCE_SEEDS
from ..core.progress import Progress
from ..core.results import Result, jsonable
from ..core.stats import mean_err
from ..core.validate import InputError

#: Architecture name -> (block, causal).
ARCHITECTURES = EVIDENCE_ARCHITECTURES
SIZES: tuple[tuple[int, int], ...] = ((128, 512), (256, 512), (720, 512), (256, 256), (512, 128))
BETAS: tuple[float, ...] = (0.5, 1.5, 3.0)
#: Every cell of the table: (architecture, d, T, beta).
GRID: tuple[tuple[str, int, int, float], ...] = tuple(
    (a, d, t, b) for a in ARCHITECTURES for d, t in SIZES for b in BETAS)
#: The theories; "T,d,s" (with the networks' scatter) only in encoder cells, "T,x" (the decoder's
#: cross-position Gram, d -> infinity) only in causal cells.
THEORIES: tuple[str, ...] = ("T->inf", "T", "T,d", "T,d,s", "T,x")
STATS: tuple[str, ...] = ("rho", "Y2")
DEPTH, SEEDS, RHO0, POSITIONS = 12, EVIDENCE_SEEDS, 0.3, 16
#: Everything but the block and beta: the Figure-1 setting.
FIXED: dict[str, Any] = {k: FIGURE1[k] for k in ("activation", "sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa",
                                                  "alpha_mlp")}
STORED = "evidence_table.json"


def cell_seed(arch: str, width: int, seq_len: int, beta: float) -> int:
    """The cell's Monte Carlo seed: CRC32 of its name (one cell reproduces alone)."""
    return zlib.crc32(f"{arch}/d{width}/T{seq_len}/beta{beta:g}".encode())


def _window_positions(seq_len: int) -> tuple[tuple[int, int], list[int]]:
    """The late window [T - T/4, T) (0-based) and the 1-based positions the theory averages."""
    window = late_window(seq_len)
    stride = max(1, (window.stop - window.start) // POSITIONS)
    return (window.start, window.stop), list(range(seq_len, window.start, -stride))[::-1]


def _theory(arch: str, beta: float, seq_len: int | None, width: int | None, q0: float, rho0: float,
            depth: int, sim_seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """rho after blocks 0..L and Y2 of attentions 1..L of one theory (seq_len None: T -> infinity)."""
    from ..analysis.propagate import causal_beta, causal_positions, propagate

    block, causal = ARCHITECTURES[arch]
    if not causal:
        tr = propagate(block=block, beta=beta, seq_len=seq_len, width=width, depth=depth, rho0=rho0, q0=q0, **FIXED)
        return np.asarray(tr.rho), np.asarray(tr.Y2[:depth])
    positions = _window_positions(sim_seq_len)[1]
    if seq_len is None:  # the paper's decoder form: the T -> infinity map at beta_t, position by position
        trs = [propagate(block=block, beta=causal_beta(beta, sim_seq_len, t), seq_len=None, depth=depth, rho0=rho0,
                         q0=q0, **FIXED) for t in positions]
        return (np.mean([tr.rho for tr in trs], axis=0), np.mean([tr.Y2[:depth] for tr in trs], axis=0))
    out = causal_positions(positions=positions, block=block, beta=beta, seq_len=seq_len, width=width, depth=depth,
                           rho0=rho0, q0=q0, **FIXED)
    return out["rho"].mean(axis=1), out["Y2"].mean(axis=1)


def _scatter_theory(block: str, beta: float, seq_len: int, width: int, q0: float, rho0: float,
                    depth: int) -> tuple[np.ndarray, np.ndarray]:
    """``T,d,s``: rho and Y2 with the networks' scatter, from the nominal rho_0 whose mean cosine over
    networks is the measured one (Gaussian tokens' mean cosine is rho_0 - O(1/d))."""
    from ..analysis.propagate import propagate
    from ..analysis.scatter import nominal_rho0

    kw = dict(block=block, beta=beta, seq_len=seq_len, width=width, q0=q0, **FIXED)
    tr = propagate(**kw, depth=depth, rho0=nominal_rho0(rho0, width=width, seq_len=seq_len, q0=q0), scatter=True)
    return np.asarray(tr.rho), np.asarray(tr.Y2[:depth])


def evidence_cell(arch: str, width: int, seq_len: int, beta: float, *, seeds: int = SEEDS,
                  depth: int = DEPTH) -> dict[str, Any]:
    """One row of the table: the Monte Carlo (mean, SE per layer), the three theories and max |z|."""
    from ..analysis.propagate import late_tokens
    from .stack import simulate_stack

    if arch not in ARCHITECTURES:
        raise InputError(f"unknown architecture {arch!r}; expected one of {tuple(ARCHITECTURES)}")
    block, causal = ARCHITECTURES[arch]
    window = _window_positions(seq_len)[0] if causal else None
    sim = simulate_stack(block=block, beta=beta, depth=depth, width=width, seq_len=seq_len, rho0=RHO0,
                         seeds=seeds, seed=cell_seed(arch, width, seq_len, beta), causal=causal, window=window,
                         **FIXED)
    if causal:
        mc = {"rho": (sim.rho_window, sim.rho_window_err),
              "Y2": mean_err(sim.per_seed["Y2_pos"][:, :, window[0]:window[1]].mean(axis=2))}
    else:
        mc = {"rho": (sim.rho, sim.rho_err), "Y2": (sim.Y2, sim.Y2_err)}
    q0, rho0 = float(sim.q[0]), float(mc["rho"][0][0])
    row: dict[str, Any] = {"arch": arch, "width": width, "seq_len": seq_len, "beta": beta, "seeds": seeds,
                           "depth": depth, "seed": cell_seed(arch, width, seq_len, beta)}
    theories = {name: _theory(arch, beta, t, d, q0, rho0, depth, seq_len)
                for name, t, d in zip(THEORIES, (None, seq_len, seq_len), (None, None, width))}
    if not causal:
        theories["T,d,s"] = _scatter_theory(block, beta, seq_len, width, q0, rho0, depth)
    if causal:
        cross = late_tokens(window=window[1] - window[0], depth=depth, rho0=rho0, q0=q0, cross_positions=True,
                            block=block, beta=beta, seq_len=seq_len, **FIXED)
        theories["T,x"] = (np.asarray(cross.rho), np.asarray(cross.Y2))
    for i, stat in enumerate(STATS):
        mean, err = (np.asarray(x, dtype=float) for x in mc[stat])
        layers = slice(1, None) if stat == "rho" else slice(None)  # rho_0 is where every theory starts
        row[stat] = {"mc": mean.tolist(), "se": err.tolist()}
        for name, values in theories.items():
            z = (mean[layers] - values[i][layers]) / err[layers]
            row[stat][name] = values[i].tolist()
            row[stat]["max_z " + name] = float(np.max(np.abs(z)))
    return row


@dataclass(frozen=True)
class Evidence(Result):
    """``symsig evidence``: per cell, max over depth of |theory - Monte Carlo| / SE for rho and Y2,
    for the theories (``T->inf``, ``T``, ``T,d``, and in causal cells ``T,x``); ``rows`` hold the
    per-layer values too."""

    rows: list[dict[str, Any]]
    stored: bool

    def to_dict(self) -> dict[str, Any]:
        return {"rows": jsonable(self.rows), "stored": self.stored}


def stored_rows() -> list[dict[str, Any]]:
    """The table shipped with the package (regenerated by ``symsig evidence --out``)."""
    return json.loads(resources.files("symsig.simulation").joinpath(STORED).read_text())["rows"]


def _select(arch: str | None, width: int | None, seq_len: int | None, beta: float | None) -> list[tuple]:
    cells = [c for c in GRID if (arch is None or c[0] == arch) and (width is None or c[1] == width)
             and (seq_len is None or c[2] == seq_len) and (beta is None or c[3] == beta)]
    if not cells:
        raise InputError(f"no cell of the table has arch={arch}, width={width}, seq_len={seq_len}, beta={beta}; "
                         f"architectures {tuple(ARCHITECTURES)}, (d, T) in {SIZES}, beta in {BETAS}")
    return cells


def evidence(*, stored: bool = False, arch: str | None = None, width: int | None = None, seq_len: int | None = None,
             beta: float | None = None, seeds: int = SEEDS, out: str | Path | None = None,
             progress: bool | None = None) -> Evidence:
    """The evidence table (module docstring): the shipped one (``stored``), or recomputed for the
    cells that match ``arch``, ``width``, ``seq_len`` and ``beta`` (None: all), ``seeds`` networks
    each (the whole grid at 16 seeds: about 10 minutes on 2 cores). ``out``: also write the rows as
    JSON (the shipped file's format)."""
    if arch is not None and arch not in ARCHITECTURES:
        raise InputError(f"unknown architecture {arch!r}; expected one of {tuple(ARCHITECTURES)}")
    beta = None if beta is None else float(validate.positive("beta", beta))
    cells = _select(arch, width, seq_len, beta)
    target = None if out is None else validate.output("out", out, suffixes=(".json",))
    if stored:
        keys = set(cells)
        result = Evidence([r for r in stored_rows() if (r["arch"], r["width"], r["seq_len"], r["beta"]) in keys], True)
    else:
        seeds = validate.integer("seeds", seeds, 2, limit="seeds")
        rows = []
        with Progress(len(cells), "evidence", progress) as bar:
            for cell in cells:
                bar.step(f"{cell[0]} d={cell[1]} T={cell[2]} beta={cell[3]:g}", n=0)
                rows.append(evidence_cell(*cell, seeds=seeds))
                bar.step()
        result = Evidence(rows, False)
    if target is not None:
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result.to_dict(), indent=1) + "\n")
        tmp.replace(target)
    return result


def cells(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the max |z| table (the text table and the report's HTML one)."""
    head = ["arch", "d", "T", "beta"] + [f"{s} {t}" for s in STATS for t in THEORIES]
    body = [[r["arch"], str(r["width"]), str(r["seq_len"]), f"{r['beta']:g}"]
            + [f"{r[s]['max_z ' + t]:.1f}" if t in r[s] else "-" for s in STATS for t in THEORIES] for r in rows]
    return head, body


def null_max_z(level: float, seeds: int = SEEDS, depth: int = DEPTH) -> float:
    """The ``level`` quantile of max |z| over ``depth`` layers for an exact theory: z_l = (mean -
    truth) / SE over ``seeds`` Gaussian draws is Student t with seeds - 1 degrees of freedom, and
    with the layers taken independent P(max |t| <= c) = (2 F(c) - 1)^depth. (Layers of one stack
    are positively correlated, which lowers the quantile a little.)"""
    from scipy import stats

    return float(stats.t.ppf(1 - (1 - level ** (1 / depth)) / 2, seeds - 1))


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a fixed-width text table of max |z|, with what an exact theory would give
    (docs/finite_width.md §10 prints it)."""
    head, body = cells(rows)
    widths = [max(len(x[j]) for x in [head, *body]) for j in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(x, widths)) for x in [head, *body]]
    if rows:
        seeds, depth = rows[0]["seeds"], rows[0]["depth"]
        lines.append(f"exact theory ({seeds} seeds, {depth} layers): max |z| has median "
                     f"{null_max_z(0.5, seeds, depth):.2f}, 95% quantile {null_max_z(0.95, seeds, depth):.2f}")
    return "\n".join(lines)
