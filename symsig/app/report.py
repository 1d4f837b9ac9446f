"""``symsig report``: the main job, a self-contained HTML page for one architecture.

Default: the paper's Figure-1 BERT setting (post-LN, ReLU, sigma_w2 = sigma_v2 = 0.2,
sigma_b2 = 4e-4, alpha = 1, L = 50) at beta = 0.5 and 3 from rho_0 = 0.3. The page
holds the critical values at 50 digits, the trajectories (table and plot), and
whatever further sections are available; images are embedded, so the page has no
external dependencies. Progress goes to stderr.
"""
from __future__ import annotations

import base64
import html
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.critical import critical
from ..analysis.propagate import propagate
from ..core import validate
from ..core.progress import Progress
from ..core.architecture import Architecture

DIGITS = 50


@dataclass(frozen=True)
class Report:
    """Where the report was written and the numbers in it."""

    path: str
    png: str
    critical: dict[str, Any]
    trajectories: dict[str, dict[str, Any]]
    dps: int | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "png": self.png, "critical": self.critical, "trajectories": self.trajectories}


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, sections: list[tuple[str, str]]) -> str:
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
        "font-family:monospace;font-size:13px;text-align:right}th{background:#f3f3f3}"
        "img{max-width:100%}code{background:#f6f6f6}pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6}"
        ".formula{overflow-x:auto;overflow-y:hidden;max-width:100%;padding:.3em 0 .3em 1.5em;white-space:nowrap}"
        ".formula math{display:inline math;math-style:normal;font-size:1.15em}"
        "p.label{margin:1.2em 0 0;color:#555;font-size:13px}details{margin:0 0 .5em;font-size:12px}"
        "summary{cursor:pointer;color:#555}"
    )
    body = "".join(f"<section><h2>{html.escape(h)}</h2>{content}</section>" for h, content in sections)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'/><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def report(
    *,
    out: str | Path = "symsig-report",
    betas: Sequence[Any] = (0.5, 3),
    depth: int = 50,
    rho0: Any = 0.3,
    seq_len: int = 512,
    width: int = 256,
    seeds: int = 2,
    simulation: bool = True,
    progress: bool | None = None,
    train_results: str | Path | dict[str, Any] | None = None,
    zones: dict[str, Any] | str | None = None,
    **architecture: Any,
) -> Report:
    """Write ``out/index.html`` (plus the PNGs it embeds) for one architecture.

    Theory at T -> infinity and at the exact finite ``seq_len``; Monte Carlo of a real
    random network of width ``width`` and length ``seq_len`` (``seeds`` draws) unless
    ``simulation`` is False; the trainability diagram with the user's (beta, alpha_SA)
    points marked; the prescription for this depth; the critical conditions; the formulas
    used, as MathML with their LaTeX (:mod:`symsig.app.mathml`). ``train_results`` (a
    ``symsig train --save`` JSON file or its dict) adds a section with the training sweep's
    figure and agreement statistics. ``zones``: the zone definition or thresholds of the diagram
    and the prescription (default: the calibrated zones, :mod:`symsig.analysis.zones`).
    """
    from ..analysis.conditions import conditions
    from ..analysis.diagram import diagram
    from ..analysis.prescribe import prescribe
    from ..analysis.zones import definition_of, thresholds_from
    from ..core.names import ZONE_DESCRIPTIONS
    from .latex import formulas as latex_formulas
    from .plots import plot_diagram, plot_trajectories

    arch = Architecture(**{k: v for k, v in architecture.items() if k not in ("beta", "seq_len")})
    depth = validate.integer("depth", depth, 1)
    validate.correlation("rho0", rho0)
    seq_len = validate.integer("seq_len", seq_len, 2)
    width = validate.integer("width", width, 2)
    for b in betas:
        validate.positive("beta", b)
    training = load_training(train_results) if train_results is not None else None
    thr = thresholds_from(zones)
    out_dir = validate.output("out", out, directory=True)
    steps = 7
    bar, reached = Progress(steps, "report", progress), [0]

    def tick(i: int, what: str) -> None:  # part i of the report starts (i = steps: done)
        bar.step(what, n=i - reached[0])
        reached[0] = i
        if i == steps:
            bar.close()
    fields = {k: v for k, v in arch.to_dict().items() if k not in ("beta", "seq_len")}

    tick(0, "critical values (50 digits)")
    crit = {str(b): critical(beta=b, rho=rho0, dps=DIGITS).to_dict() for b in betas}
    tick(1, "theory trajectories")
    trajs = {f"beta = {b}": propagate(beta=b, depth=depth, rho0=rho0, **fields) for b in betas}
    finite = {f"beta = {b}": propagate(beta=b, depth=depth, rho0=rho0, seq_len=seq_len, **fields) for b in betas}
    tick(2, f"Monte Carlo (d = {width}, T = {seq_len}, {seeds} seeds)")
    sims = {}
    if simulation:
        from ..simulation.stack import simulate_stack

        for b in betas:
            sims[f"beta = {b}"] = simulate_stack(
                **{k: (float(v) if k not in ("block", "activation") else v) for k, v in fields.items()},
                beta=float(b), depth=depth, width=width, seq_len=seq_len, rho0=float(rho0), seeds=seeds, seed=0,
            )
    tick(3, "trainability diagram")
    diag_fields = {k: v for k, v in fields.items() if k != "alpha_sa"}
    presc = prescribe(depth=depth, block=arch.block, rho0=float(rho0), thresholds=thr,
                      **{k: v for k, v in diag_fields.items() if k != "block"})
    fallback = None  # where the calibrated zones leave no room, the collapse zones still say where collapse sets in
    if presc.beta is None and definition_of(thr) == "calibrated":
        fallback = prescribe(depth=depth, block=arch.block, rho0=float(rho0), thresholds="collapse",
                             **{k: v for k, v in diag_fields.items() if k != "block"})
    alpha_top = max(3.0, 1.25 * (presc.alpha_sa or 0.0), 1.25 * float(arch.alpha_sa))  # the prescription in view
    diag = diagram(depth=depth, beta="0.05:4:96", alpha_sa=f"0:{alpha_top:.3g}:96", rho0=rho0, boundaries=True,
                   digits=8, thresholds=thr, **diag_fields)
    tick(4, "conditions")
    cond = {str(b): conditions(depth=depth, rho0=rho0, dps=30, beta=b, **fields) for b in betas}
    tick(5, "plots and page")
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"{arch.block}, {arch.activation}, L = {depth}"
    plot_trajectories(finite, out_dir / "trajectories.png", title + f" (theory at T = {seq_len})", sims)
    png = (out_dir / "trajectories.png").read_bytes()
    plot_diagram(diag, out_dir / "diagram.png", point=(float(betas[0]), float(arch.alpha_sa)))
    for b in betas[1:]:  # mark every user point: redraw with the last one (the plot takes one point)
        plot_diagram(diag, out_dir / f"diagram-beta{b}.png", point=(float(b), float(arch.alpha_sa)))

    settings = ", ".join(f"{k} = {v}" for k, v in fields.items() if v is not None)
    crit_rows = [[b, k, "-" if v is None else v] for b, vals in crit.items() for k, v in vals.items()]
    every = max(1, depth // 10)
    traj_rows = []
    for layer in range(0, depth + 1, every):
        row: list[Any] = [layer]
        for key in trajs:
            row += [f"{float(trajs[key].rho[layer]):.5f}", f"{float(finite[key].rho[layer]):.5f}"]
            sim = sims.get(key)
            row.append(f"{sim.rho[layer]:.4f} ± {sim.rho_err[layer]:.4f}" if sim is not None else "-")
        traj_rows.append(row)
    traj_head = ["layer"] + [f"{h} ({k})" for k in trajs for h in ("rho T→∞", f"rho T={seq_len}", "rho MC")]
    cond_rows = [[b, k, "-" if v is None else v] for b, c in cond.items() for k, v in c.to_dict().items()]
    formulas = "".join(
        formula_html(f) for f in latex_formulas() if f.section in ("REM", "Layer maps") or f.label.startswith(arch.block)
    )
    sections = [
        ("Setting", f"<p><code>{html.escape(settings)}</code>, rho_0 = {rho0}, depth L = {depth}, "
                    f"T = {seq_len}; Monte Carlo width d = {width}, {seeds} seeds.</p>"),
        (
            f"Critical values at rho_0 ({DIGITS} digits)",
            "<p>beta_c = sqrt(2/(q(q-p))), m = min(1, beta_c/beta), Y2 = 1 - m (Poisson–Dirichlet), "
            "rho_c = 1 - 2/(beta^2 q^2).</p>" + _table(["beta", "quantity", "value"], crit_rows),
        ),
        (
            "Trajectories: theory and Monte Carlo",
            _img(png, "trajectories")
            + "<p>Lines: exact finite-T theory; points: Monte Carlo of random networks (±1 standard error). "
            "The network's rho can sit slightly below the theory when T/d is not small (finite-width "
            "correction of relative size up to T/d in 1 - rho per attention layer).</p>"
            + _table(traj_head, traj_rows),
        ),
        (
            "Trainability diagram",
            _img((out_dir / "diagram.png").read_bytes(), "diagram")
            + "".join(_img((out_dir / f"diagram-beta{b}.png").read_bytes(), f"diagram beta {b}") for b in betas[1:])
            + f"<p>Zones after L = {depth} blocks, {html.escape(ZONE_DESCRIPTIONS[definition_of(diag.thresholds)])}, "
            f"thresholds {html.escape(str(diag.thresholds))}; "
            "boundaries traced by root finding (8 digits). The star is your (beta, alpha_SA).</p>",
        ),
        ("Prescription", f"<p>{html.escape(presc.summary)}</p>" + (
            "" if fallback is None else
            f"<p>By the collapse zones instead (away from the collapse itself, not calibrated against training): "
            f"{html.escape(fallback.summary)}</p>")),
        ("Critical conditions (30 digits)", _table(["beta", "quantity", "value"], cond_rows)),
        evidence_section(arch.block),
        ("Formulas used", "<p>Printed from the library's SymPy expressions (MathML); "
                          "each formula's LaTeX is under it.</p>" + formulas),
    ]
    if training is not None:
        sections.insert(-1, training_section(training, out_dir))
    page = out_dir / "index.html"
    tmp = out_dir / "index.html.tmp"
    tmp.write_text(_page("symsig report: signal propagation at initialisation", sections))
    tmp.replace(page)
    tick(steps, "done")
    return Report(
        path=str(page.resolve()),
        png=str((out_dir / "trajectories.png").resolve()),
        critical=crit,
        trajectories={k: t.to_dict() for k, t in finite.items()},
    )


def load_training(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """The JSON of ``symsig train --save`` (a path) or the dict itself, checked for its keys."""
    import json

    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        if not path.is_file():
            raise validate.InputError(f"training results file not found: {path}")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise validate.InputError(f"training results file is not JSON: {path}") from None
    missing = [k for k in ("beta", "alpha_sa", "lr", "loss", "agreement", "settings") if k not in data]
    if missing:
        raise validate.InputError(f"not a symsig train result (missing {', '.join(missing)})")
    return data


def training_section(data: dict[str, Any], out_dir: Path) -> tuple[str, str]:
    """(heading, HTML) of the training sweep: figure, setting, agreement per learning rate."""
    from .plots import plot_train_sweep

    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / "training.png"
    plot_train_sweep(data, png)
    s = data["settings"]
    fmt = lambda x: "-" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))  # noqa: E731
    rows = []
    for entry in data["agreement"]:
        for theory in ("asymptotic", "finite_T"):
            a = entry.get(theory)
            if a:
                rows.append([f"{entry['lr']:g}", theory, fmt(entry["prescribed_loss"]), fmt(a["auc"]),
                             fmt(a["spearman_rho_L"]), fmt(a["spearman_Y2"]), fmt(a.get("collapsed_worse")),
                             fmt(a.get("trainable_worse"))])
    text = (f"<p>{s['block']} {s['activation']}{' (causal)' if s['causal'] else ''}, L = {s['depth']}, d = {s['width']}, "
            f"T = {s['seq_len']}, {s['steps']} steps of batch {s['batch_size']}, {len(data['runs'])} runs in "
            f"{data['seconds']:.0f} s; unigram loss {data['unigram_loss']:.3f}. Lines: predicted zone boundaries "
            "(black T → ∞, magenta finite T); star: the prescribed point (docs/training.md).</p>")
    table = _table(["lr", "theory", "prescribed loss", "AUC", "Spearman rho_L", "Spearman Y2",
                    "collapsed worse", "trainable worse"], rows)
    return "Training across the diagram", _img(png.read_bytes(), "training sweep") + text + table


def evidence_section(block: str) -> tuple[str, str]:
    """The shipped evidence table's rows for ``block`` (its encoder and decoder cells): how far
    each theory sits from random networks, in standard errors (docs/finite_width.md §10)."""
    from ..simulation.evidence_grid import ARCHITECTURES, DEPTH, SEEDS, cells, null_max_z, stored_rows

    title = "Evidence: theory against random networks"
    text = (f"<p>Max over {DEPTH} blocks of |theory - Monte Carlo| / standard error ({SEEDS} networks per row) "
            "for rho and Y2: the paper's T -> infinity maps (T->inf), the exact finite-T maps (T), and finite T "
            "with the first-order 1/d correction (T,d), that with the networks' scatter and its drag (T,d,s; encoder "
            "rows) and the decoder's cross-position Gram (T,x; causal rows). For an exact theory this maximum has median "
            f"{null_max_z(0.5):.2f} and 95% quantile {null_max_z(0.95):.2f} (Student t over {DEPTH} independent "
            "layers). All cells: <code>symsig evidence --stored</code>.</p>")
    rows = [r for r in stored_rows() if ARCHITECTURES[r["arch"]][0] == block]
    if not rows:
        return title, text + f"<p>No cell of the table uses the {html.escape(block)} block.</p>"
    return title, text + _table(*cells(rows))


def formula_html(f: Any) -> str:
    """One formula of :func:`symsig.app.latex.formulas`: its label, the equation as MathML in a
    box that scrolls sideways when wide, and its LaTeX (collapsed) for copy-paste."""
    from .mathml import equation

    tex = f.tex()
    return (f"<p class='label'>{html.escape(f.section)}: {html.escape(f.label)}</p>"
            f"<div class='formula'>{equation(f.lhs, f.expr, tex)}</div>"
            f"<details><summary>LaTeX</summary><pre>{html.escape(tex)}</pre></details>")


def _img(png: bytes, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'/>"


def print_summary(rep: Report, stream: Any = None) -> None:
    """The human-readable summary ``symsig report`` prints (on ``stream``, default stdout)."""
    stream = sys.stdout if stream is None else stream
    for b, vals in rep.critical.items():
        stream.write(f"beta = {b}:\n")
        for k, v in vals.items():
            stream.write(f"  {k:<6} = {v}\n")
    keys = list(rep.trajectories)
    stream.write("layer  " + "  ".join(f"rho[{k}]" for k in keys) + "\n")
    depth = len(rep.trajectories[keys[0]]["rho"]) - 1
    for layer in range(0, depth + 1, max(1, depth // 10)):
        stream.write(f"{layer:5d}  " + "  ".join(f"{rep.trajectories[k]['rho'][layer]:>{len(k) + 5}.6f}" for k in keys) + "\n")
    stream.write(f"plot:   {rep.png}\nreport: {rep.path}\n")
