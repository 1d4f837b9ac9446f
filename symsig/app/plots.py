"""Figures: trainability diagrams, trajectories, Figure 3 (matplotlib, Agg backend; PNG or SVG by suffix)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core import validate

COLOURS = {"rank": "#d9534f", "entropy": "#5b7fd6", "trainable": "#7cc47c", "vanishing": "#b0b0b0"}
LABELS = {"rank": "rank collapse", "entropy": "entropy collapse", "trainable": "trainable",
          "vanishing": "vanishing gradient"}


def plot_diagram(diagram: Any, out: str | Path | None = None, *, point: tuple[float, float] | None = None,
                 title: str | None = None, ax: Any = None) -> Any:
    """Draw zones as colours, traced boundaries as curves, beta_c(rho0) dashed, optional user point.

    ``diagram`` is a :class:`symsig.analysis.diagram.Diagram`; ``point`` = (beta, alpha_SA).
    Draws on ``ax`` when given (else on a new figure), saves to ``out`` (.png or .svg) when
    given, and returns the matplotlib Figure.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    own = ax is None
    out = plot_file(out)
    beta, alpha = np.asarray(diagram.beta), np.asarray(diagram.alpha_sa)
    order = ("rank", "entropy", "trainable", "vanishing")
    codes = np.vectorize({z: i for i, z in enumerate(order)}.get)(np.asarray(diagram.zone, dtype=object))
    fig, (ax,) = figure_axes(ax, 1, (6.4, 4.8), dpi=120)
    cmap = ListedColormap([COLOURS[z] for z in order])
    ax.pcolormesh(beta, alpha, codes, cmap=cmap, vmin=-0.5, vmax=len(order) - 0.5, shading="nearest")
    for kind, style, label in (("rank", "k-", "rank collapse boundary"), ("entropy", "k--", "entropy collapse boundary"),
                               ("rescue", "k:", "entropy collapse rescued above")):
        pts = np.asarray(diagram.boundaries.get(kind, []), dtype=float)  # mpf roots at digits > 15
        if pts.size:
            ax.plot(pts[:, 0], pts[:, 1], style, lw=1.6, marker=".", ms=4, label=label)
    if diagram.beta_c0 is not None and beta.min() <= diagram.beta_c0 <= beta.max():
        ax.axvline(diagram.beta_c0, color="white", ls=":", lw=1.5, label=rf"$\beta_c(\rho_0)={diagram.beta_c0:.3g}$")
    if point is not None:
        ax.plot(*point, marker="*", color="gold", mec="k", ms=14, ls="none", label="your point")
    present = {z for row in diagram.zone for z in row}
    handles = [Patch(color=COLOURS[z], label=LABELS[z]) for z in ("trainable", "rank", "entropy", "vanishing")
               if z in present or z != "vanishing"]
    handles += ax.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.85)
    ax.set_xlabel(r"$\beta$ (query/key inverse temperature)")
    ax.set_ylabel(r"$\alpha_{SA}$ (attention residual strength)")
    arch = getattr(diagram, "architecture", {}) or {}
    from ..analysis.zones import definition_of

    ax.set_title(title or f"{arch.get('block', '')} {arch.get('activation', '')}, L = {diagram.depth}, "
                 rf"$\rho_0$ = {diagram.rho0:g}; {definition_of(diagram.thresholds)} zones", fontsize=10)
    if own:  # the caller's figure keeps its own layout
        fig.tight_layout()
    if out is not None:
        fig.savefig(out)
    return fig


def figure_axes(axes: Any, n: int, figsize: tuple[float, float], **figure: Any) -> tuple[Any, list[Any]]:
    """(Figure, n Axes): the caller's ``axes`` (a sequence of exactly ``n`` Axes of one figure; a
    single Axes when n = 1) or a new figure of one row of ``n`` panels. Never touches pyplot."""
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if axes is None:
        fig = Figure(figsize=figsize, **figure)
        return fig, list(fig.subplots(1, n, squeeze=False)[0])
    if isinstance(axes, Axes):
        axes = [axes]
    try:
        axes = list(np.ravel(np.asarray(axes, dtype=object)))
    except TypeError:
        raise validate.InputError(f"axes must be a sequence of {n} matplotlib Axes, got {type(axes).__name__}") from None
    if len(axes) != n or not all(isinstance(a, Axes) for a in axes):
        raise validate.InputError(f"this plot draws {n} panel(s): pass {n} matplotlib Axes, got {len(axes)} "
                                  f"({', '.join(sorted({type(a).__name__ for a in axes})) or 'none'})")
    if len({id(a.figure) for a in axes}) != 1:
        raise validate.InputError("the axes must belong to one figure")
    return axes[0].figure, axes


def plot_file(out: str | Path | None) -> Path | None:
    """``out`` as a Path after checking its suffix (.png or .svg); None stays None."""
    if out is None:
        return None
    out = Path(out)
    if out.suffix.lower() not in (".png", ".svg"):
        raise validate.InputError(f"plot file must end in .png or .svg, got {out.name}")
    return out


def plot_trajectories(
    trajectories: dict[str, Any], out: str | Path | None = None, title: str | None = None,
    simulations: dict[str, Any] | None = None, *, axes: Any = None,
) -> Any:
    """rho and Y2 per layer for each curve (theory lines; Monte Carlo points with 1-SE bars).

    ``trajectories`` maps a label to a :class:`symsig.core.results.Trajectory`;
    ``simulations`` maps the same labels to Monte Carlo results (rho, rho_err, Y2, Y2_err).
    Draws two panels (rho, Y2) on ``axes`` -- a sequence of exactly two Axes of one figure
    (else ValueError) -- or on a new figure; saves to ``out`` (.png or .svg) when given
    and returns the matplotlib Figure.
    """
    out = plot_file(out)
    fig, (ax_rho, ax_y2) = figure_axes(axes, 2, (10, 3.8), layout="constrained")
    for label, traj in trajectories.items():
        layers = range(len(traj.rho))
        (line,) = ax_rho.plot(layers, [float(x) for x in traj.rho], label=f"theory, {label}")
        ax_y2.plot(range(len(traj.Y2) - 1), [float(x) for x in traj.Y2[:-1]], color=line.get_color(), label=f"theory, {label}")
        sim = (simulations or {}).get(label)
        if sim is not None:
            ax_rho.errorbar(range(len(sim.rho)), sim.rho, yerr=sim.rho_err, fmt="o", ms=3, color=line.get_color(),
                            alpha=0.7, label=f"Monte Carlo, {label}")
            ax_y2.errorbar(range(len(sim.Y2)), sim.Y2, yerr=sim.Y2_err, fmt="o", ms=3, color=line.get_color(), alpha=0.7)
    ax_rho.set(xlabel="layer $\\ell$", ylabel="$\\rho_\\ell$", ylim=(-0.02, 1.02), title="cosine similarity")
    ax_y2.set(xlabel="layer $\\ell$", ylabel="$Y_2$", ylim=(-0.02, 1.02), title="attention IPR (entropy collapse)")
    for ax in (ax_rho, ax_y2):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    if out is not None:
        fig.savefig(out, dpi=110)
    return fig


def plot_figure3(
    out: str | Path | None = None,
    betas: Sequence[float] | None = None,
    configs: Sequence[tuple[int, int]] = ((256, 2048), (512, 4096)),
    q: float = 1.0,
    p: float = 0.0,
    sigma_v2: float = 1.0,
    seeds: int = 4,
    mc: bool = True,
    seed: int = 0,
    *,
    ax: Any = None,
) -> Any:
    """Figure 3: scaled E||dL/dW_Q||^2 vs beta; asymptotic and finite-T theory, MC points.

    ``configs`` lists (d, T) pairs; finite-T curves are drawn for each distinct T and
    Monte Carlo points (mean +- standard error over ``seeds``) for each pair when
    ``mc``. Draws on ``ax`` when given (else on a new figure), saves to ``out`` (.png or
    .svg) when given, and returns the matplotlib Figure.
    """
    import matplotlib

    from ..analysis.gradient import grad_wq_scaled_np
    from ..simulation.gradient_mc import simulate_grad_wq_sweep

    out = plot_file(out)
    fig, (ax,) = figure_axes(ax, 1, (6, 4), layout="tight")
    mc_betas = list(betas) if betas is not None else [0.01, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0]
    fine = np.linspace(0.01, max(mc_betas), 120)
    ax.plot(fine, grad_wq_scaled_np(fine, q, p, sigma_v2), "k-", label=r"$T\to\infty$")
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, T in enumerate(sorted({T for _, T in configs})):
        theory = grad_wq_scaled_np(fine, q, p, sigma_v2, T=T)
        ax.plot(fine, theory, "--", color=colors[i % len(colors)], label=f"theory T={T}")
    if mc:
        for j, (d, T) in enumerate(configs):
            sims = simulate_grad_wq_sweep(mc_betas, d, T, q, p, sigma_v2, seeds, seed)
            ax.errorbar(mc_betas, [s.grad_wq_scaled for s in sims], yerr=[s.grad_wq_err for s in sims],
                        fmt="os^v"[j % 4], ms=4, capsize=2, label=f"MC d={d}, T={T}")
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel(r"$\|\partial L/\partial W_Q\|_F^2\,T\,d^{-2}/\sqrt{\log T}$")
    ax.legend(fontsize=8)
    if out is not None:
        fig.savefig(out)
    return fig


#: Line colour of each theory's zone boundaries on the training figure.
THEORY_COLOURS = {"asymptotic": "black", "finite_T": "#c000c0"}


def draw_theory_boundaries(ax: Any, data: dict[str, Any]) -> list[Any]:
    """The predicted zone boundaries of a training sweep on ``ax``; returns their legend handles.

    Zero level sets, on the sweep's finer theory grid, of the zone indicators
    (:func:`symsig.analysis.zones.indicators`): rank collapse (solid), entropy collapse where it is
    not rescued (dashed) and, for definitions with a rescue threshold, the rescue curve where the
    attention is frozen (dotted), for the T -> infinity theory (black) and at the trained T (magenta).
    """
    from matplotlib.lines import Line2D

    from ..analysis.zones import indicators, rescue_thresholds
    from ..numerics.contexts import NUMPY

    rho0, handles = data["input_geometry"]["rho0"], []
    for name, fine in (data.get("diagram") or {}).items():
        if not fine:
            continue
        fb, fa = np.asarray(fine["beta"]), np.asarray(fine["alpha_sa"])
        rho_l, y2, thr = np.asarray(fine["rho_L"]), np.asarray(fine["mean_Y2"]), fine["thresholds"]
        with np.errstate(divide="ignore", invalid="ignore"):
            g_rank, g_ent = (np.nan_to_num(g, neginf=-1e3) for g in indicators(NUMPY, rho0, rho_l, y2, thr))
            rescue = rescue_thresholds(thr)
            g_res = None if rescue is None else np.nan_to_num(indicators(NUMPY, rho0, rho_l, y2, rescue)[0], neginf=-1e3)
        fields = [(g_rank, "-"), (g_ent if g_res is None else np.ma.masked_where(g_res >= 0, g_ent), "--")]
        if g_res is not None:
            fields.append((np.ma.masked_where(g_ent <= 0, g_res), ":"))
        colour = THEORY_COLOURS.get(name, "grey")
        for field, style in fields:
            if fb.size > 1 and fa.size > 1 and field.min() < 0 < field.max():
                ax.contour(fb, fa, field, levels=[0.0], colors=colour, linestyles=style, linewidths=1.6)
        label = "T -> infinity" if name == "asymptotic" else f"T = {data['settings']['seq_len']}"
        handles += [Line2D([], [], color=colour, ls="-", label=f"rank collapse ({label})"),
                    Line2D([], [], color=colour, ls="--", label=f"entropy collapse ({label})")]
        if g_res is not None:
            handles.append(Line2D([], [], color=colour, ls=":", label=f"entropy collapse rescued above ({label})"))
    return handles


def trained_rates(data: dict[str, Any], gain: float = 0.5) -> np.ndarray:
    """(lr, alpha_SA, beta) booleans: every seed's final held-out loss ends more than ``gain`` nats
    below the unigram level (a diverged run has not trained)."""
    lrs, alphas, betas = data["lr"], data["alpha_sa"], data["beta"]
    out = np.ones((len(lrs), len(alphas), len(betas)), dtype=bool)
    seen = np.zeros_like(out)
    for r in data["runs"]:
        c = r["config"]
        if c["label"] != "grid":
            continue
        k, i, j = lrs.index(c["lr"]), alphas.index(c["alpha_sa"]), betas.index(c["beta"])
        ok = not r["diverged"] and data["unigram_loss"] - float(r["final_eval_loss"]) > gain
        out[k, i, j] &= ok
        seen[k, i, j] = True
    return out & seen


def plot_lr_range(data: dict[str, Any], out: str | Path | None = None, *, gain: float = 0.5, title: str | None = None,
                  ax: Any = None) -> Any:
    """The learning rates that train at each (beta, alpha_SA) of a sweep over several rates: colour =
    the largest that trains (:func:`trained_rates`: every seed more than ``gain`` nats below the
    unigram level), text = all that do, the theory's zone boundaries on top
    (:func:`draw_theory_boundaries`). Draws on ``ax`` or a new figure, saves to ``out`` when
    given, returns the Figure."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    out = plot_file(out)
    lrs = list(data["lr"])
    if len(lrs) < 1:
        raise validate.InputError("training results hold no learning rate")
    order = np.argsort(lrs)
    ok = trained_rates(data, gain)[order]
    beta, alpha = np.asarray(data["beta"], float), np.asarray(data["alpha_sa"], float)
    top = np.full(ok.shape[1:], -1)
    for rank in range(len(lrs)):
        top[ok[rank]] = rank
    own = ax is None
    fig, (ax,) = figure_axes(ax, 1, (8.6, 5.0), dpi=120)
    from matplotlib import colormaps

    colours = ["#d0d0d0"] + [colormaps["viridis"](x) for x in np.linspace(0.25, 0.95, len(lrs))]
    ax.pcolormesh(beta, alpha, top + 1, cmap=ListedColormap(colours), vmin=-0.5, vmax=len(lrs) + 0.5,
                  shading="nearest")
    for i, a in enumerate(alpha):
        for j, b in enumerate(beta):
            names = [f"{lrs[order[r]]:g}" for r in range(len(lrs)) if ok[r, i, j]]
            ax.text(b, a, "\n".join(names) or "-", ha="center", va="center", fontsize=6.5)
    handles = [Patch(color=colours[0], label="none trains")]
    handles += [Patch(color=colours[r + 1], label=f"largest: lr {lrs[order[r]]:g}") for r in range(len(lrs))]
    handles += draw_theory_boundaries(ax, data)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, framealpha=0.85)
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel(r"$\alpha_{SA}$")
    s = data["settings"]
    ax.set_title(title or f"learning rates that train (> {gain:g} nat below unigram, every seed): L = {s['depth']}, "
                 f"T = {s['seq_len']}, {s['steps']} steps", fontsize=9)
    if own:
        fig.tight_layout()
    if out is not None:
        fig.savefig(out)
    return fig


def plot_train_sweep(data: dict[str, Any], out: str | Path | None = None, *, title: str | None = None,
                     axes: Any = None) -> Any:
    """Final held-out loss over (beta, alpha_SA), one panel per learning rate, with the
    predicted zone boundaries on top and the prescribed point starred.

    ``data`` is :meth:`symsig.simulation.train.results.TrainSweep.to_dict` (or its JSON).
    Boundaries are the zero level sets, on the sweep's finer theory grid, of
    ln((1 - rho_L)/(1 - rho0)) - ln(thr_rank) (rank collapse, solid) and
    mean Y2 - thr_entropy (entropy collapse, dashed), for the T -> infinity theory
    (black) and at the trained T (magenta). Diverged points are marked "div".
    Draws on ``axes`` -- a sequence of exactly one Axes per learning rate, of one figure
    (else ValueError) -- or on a new figure; saves to ``out`` (.png or .svg) when given and
    returns the matplotlib Figure.
    """
    from matplotlib.lines import Line2D

    out = plot_file(out)
    beta, alpha = np.asarray(data["beta"], float), np.asarray(data["alpha_sa"], float)
    losses = [np.array([[np.nan if v is None else v for v in row] for row in grid], float) for grid in data["loss"]]
    finite = np.concatenate([g[np.isfinite(g)] for g in losses]) if losses else np.zeros(0)
    vmin, vmax = (float(finite.min()), float(max(finite.max(), data["unigram_loss"]))) if finite.size else (0.0, 1.0)
    n = len(data["lr"])
    if n == 0:
        raise validate.InputError("training results hold no learning rate")
    fig, panels = figure_axes(axes, n, (5.6 * n + 0.8, 4.6), dpi=120)
    handles = []
    for k, ax in enumerate(panels):
        grid = losses[k]
        if beta.size > 1 and alpha.size > 1:
            mesh = ax.pcolormesh(beta, alpha, np.ma.masked_invalid(grid), cmap="viridis", vmin=vmin, vmax=vmax,
                                 shading="nearest")
        else:
            bb, aa = np.meshgrid(beta, alpha)
            mesh = ax.scatter(bb.ravel(), aa.ravel(), c=grid.ravel(), cmap="viridis", vmin=vmin, vmax=vmax,
                              marker="s", s=400)
        for i, a in enumerate(alpha):
            for j, b in enumerate(beta):
                v = grid[i, j]
                ax.text(b, a, "div" if not np.isfinite(v) else f"{v:.2f}", ha="center", va="center", fontsize=7,
                        color="red" if not np.isfinite(v) else ("white" if v < (vmin + vmax) / 2 else "black"))
        boundary_handles = draw_theory_boundaries(ax, data)
        if k == 0:
            handles += boundary_handles
        pres = data.get("prescribed")
        if pres:
            ax.plot(pres["beta"], pres["alpha_sa"], marker="*", color="gold", mec="k", ms=15, ls="none")
            loss = (pres.get("loss") or [None] * n)[k]
            ax.annotate("div" if loss is None else f"{loss:.2f}", (pres["beta"], pres["alpha_sa"]),
                        textcoords="offset points", xytext=(8, 6), fontsize=8, color="black",
                        bbox=dict(boxstyle="round,pad=0.15", fc="gold", alpha=0.8))
        ax.set_xlabel(r"$\beta$")
        ax.set_ylabel(r"$\alpha_{SA}$")
        ax.set_title(f"lr = {data['lr'][k]:g}", fontsize=10)
        pad_b = 0.5 * (beta.max() - beta.min()) / max(1, beta.size - 1) or 0.5
        pad_a = 0.5 * (alpha.max() - alpha.min()) / max(1, alpha.size - 1) or 0.5
        ax.set_xlim(beta.min() - pad_b, beta.max() + pad_b)
        ax.set_ylim(alpha.min() - pad_a, alpha.max() + pad_a)
    if data.get("prescribed"):
        handles.append(Line2D([], [], marker="*", color="gold", mec="k", ms=12, ls="none", label="prescribed point"))
    fig.colorbar(mesh, ax=panels, label=f"final held-out loss (nats; unigram {data['unigram_loss']:.2f})")
    if handles:
        panels[0].legend(handles=handles, loc="upper right", fontsize=6.5, framealpha=0.85)
    s = data["settings"]
    fig.suptitle(title or f"{s['block']} {s['activation']}{' causal' if s['causal'] else ''}: L = {s['depth']}, "
                 f"d = {s['width']}, T = {s['seq_len']}, {s['steps']} steps, {len(data['seed'])} seed(s)", fontsize=10)
    if out is not None:
        fig.savefig(out)
    return fig
