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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import validate
from .architecture import Architecture
from .critical import critical
from .propagate import Trajectory, propagate

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


def _progress(step: int, total: int, what: str) -> None:
    width = 24
    done = int(width * step / total)
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {step}/{total} {what:<40}")
    if step == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def plot_trajectories(trajectories: dict[str, Trajectory], path: Path, title: str) -> bytes:
    """rho and Y2 per layer for each beta; saved to ``path`` (PNG), PNG bytes returned."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_rho, ax_y2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for label, traj in trajectories.items():
        layers = range(len(traj.rho))
        ax_rho.plot(layers, [float(x) for x in traj.rho], marker=".", label=label)
        ax_y2.plot(layers, [float(x) for x in traj.Y2], marker=".", label=label)
    ax_rho.set(xlabel="layer $\\ell$", ylabel="$\\rho_\\ell$", ylim=(-0.02, 1.02), title="cosine similarity")
    ax_y2.set(xlabel="layer $\\ell$", ylabel="$Y_2$", ylim=(-0.02, 1.02), title="attention IPR (entropy collapse)")
    for ax in (ax_rho, ax_y2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, sections: list[tuple[str, str]]) -> str:
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
        "font-family:monospace;font-size:13px;text-align:right}th{background:#f3f3f3}"
        "img{max-width:100%}code{background:#f6f6f6}"
    )
    body = "".join(f"<section><h2>{html.escape(h)}</h2>{content}</section>" for h, content in sections)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def report(
    *,
    out: str | Path = "symsig-report",
    betas: Sequence[Any] = (0.5, 3),
    depth: int = 50,
    rho0: Any = 0.3,
    progress: bool = True,
    **architecture: Any,
) -> Report:
    """Write ``out/index.html`` (and ``out/trajectories.png``) for one architecture."""
    arch = Architecture(**{k: v for k, v in architecture.items() if k != "beta"})
    depth = validate.integer("depth", depth, 1)
    validate.correlation("rho0", rho0)
    for b in betas:
        validate.positive("beta", b)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tick: Callable[[int, str], None] = (lambda i, w: _progress(i, 3, w)) if progress else (lambda i, w: None)

    tick(0, "critical values (50 digits)")
    crit = {str(b): critical(beta=b, rho=rho0, dps=DIGITS).to_dict() for b in betas}
    tick(1, "trajectories")
    fields = {k: v for k, v in arch.to_dict().items() if k != "beta"}
    trajs = {f"beta = {b}": propagate(beta=b, depth=depth, rho0=rho0, **fields) for b in betas}
    tick(2, "plots and page")
    png = plot_trajectories(trajs, out_dir / "trajectories.png", f"{arch.block}, {arch.activation}, L = {depth}")

    settings = ", ".join(f"{k} = {v}" for k, v in fields.items() if v is not None)
    crit_rows = [[b, k, "-" if v is None else v] for b, vals in crit.items() for k, v in vals.items()]
    every = max(1, depth // 10)
    traj_rows = [
        [layer, *(f"{float(t.rho[layer]):.6f}" for t in trajs.values()), *(f"{float(t.Y2[layer]):.6f}" for t in trajs.values())]
        for layer in range(0, depth + 1, every)
    ]
    sections = [
        ("Setting", f"<p><code>{html.escape(settings)}</code>, rho_0 = {rho0}, depth L = {depth}.</p>"),
        (
            f"Critical values at rho_0 ({DIGITS} digits)",
            "<p>beta_c = sqrt(2/(q(q-p))), m = min(1, beta_c/beta), Y2 = 1 - m (Poisson–Dirichlet), "
            "rho_c = 1 - 2/(beta^2 q^2).</p>" + _table(["beta", "quantity", "value"], crit_rows),
        ),
        (
            "Trajectories (theory, T → ∞)",
            f"<img alt='trajectories' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
            + _table(["layer", *(f"rho ({k})" for k in trajs), *(f"Y2 ({k})" for k in trajs)], traj_rows),
        ),
    ]
    page = out_dir / "index.html"
    page.write_text(_page("symsig report: signal propagation at initialisation", sections))
    tick(3, "done")
    return Report(
        path=str(page.resolve()),
        png=str((out_dir / "trajectories.png").resolve()),
        critical=crit,
        trajectories={k: t.to_dict() for k, t in trajs.items()},
    )


def print_summary(rep: Report, stream: Any = sys.stdout) -> None:
    """The human-readable summary ``symsig report`` prints."""
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
