"""The result of a training sweep and how well the theory ranks it (no torch).

Agreement statistics, per learning rate, for each theory variant (``asymptotic``:
the T -> infinity diagram of ``symsig diagram``; ``finite_T``: the same at the
trained sequence length, ``symsig diagram --seq-len T``). A grid point's loss is
its final held-out loss averaged over seeds, +inf when a seed diverged.

* ``auc``: the probability that a point the theory calls trainable ends with a lower
  loss than a point it calls collapsed (rank or entropy), ties counted 1/2
  (the Mann-Whitney statistic U / (n_trainable n_collapsed)); 1 = the zones rank the
  losses perfectly, 0.5 = no better than chance; null when a side is empty.
* ``spearman_rho_L``, ``spearman_Y2``: Spearman rank correlation of the loss with the
  theory's rho_L (token similarity after the last block) and with the mean attention
  IPR (both should be positive if more collapse at initialisation means worse training).
* ``collapsed_worse``: the fraction of collapsed points whose loss exceeds the
  prescribed point's by more than MARGIN nats; ``trainable_worse``: the same for
  points called trainable (the misses of the prediction).
* per zone: the number of points and the median loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.results import Result

#: Nats by which a loss must exceed the prescribed point's to count as clearly worse.
MARGIN = 0.1
THEORIES = ("asymptotic", "finite_T")
COLLAPSED = ("rank", "entropy")


@dataclass(frozen=True)
class TrainSweep(Result):
    """Runs over the grid beta x alpha_sa x lr x seed (plus the prescribed point).

    ``runs``: one record per run (:func:`symsig.simulation.train.loop.run`);
    ``loss[k][i][j]``: final held-out loss at lr[k], alpha_sa[i], beta[j], mean over
    seeds (null when a seed diverged); ``prescribed``: the point of ``symsig prescribe``
    for this architecture and input geometry at the trained T (``seq_len``; None: T -> infinity,
    where the finite-T grid was refused), with its loss per lr;
    ``theory[v]``: rho_L, mean_Y2 and zone on the grid (and at the prescribed point)
    for each variant v of THEORIES; ``diagram[v]``: the same on a finer grid for the
    figure (empty when not computed); ``agreement``: per lr (module docstring);
    ``input_geometry``: the measured (q0, rho0) of the embedded held-out tokens the
    theory starts from; ``notes``: what could not be computed (e.g. a theory variant
    without a value on the grid); ``seconds``: wall-clock time of the sweep; ``cpu_seconds``: CPU
    time of its runs (summed over processes) plus that of this process.
    """

    beta: list[float]
    alpha_sa: list[float]
    lr: list[float]
    seed: list[int]
    loss: list[list[list[float | None]]]
    unigram_loss: float
    prescribed: dict[str, Any] | None
    theory: dict[str, dict[str, Any]]
    diagram: dict[str, dict[str, Any]]
    agreement: list[dict[str, Any]]
    input_geometry: dict[str, float]
    thresholds: dict[str, float]
    settings: dict[str, Any]
    notes: list[str]
    seconds: float
    cpu_seconds: float
    runs: list[dict[str, Any]] = field(default_factory=list)


def mean_loss(runs: list[dict[str, Any]]) -> float:
    """Mean final held-out loss over runs (seeds); inf if any diverged; nan if none."""
    if not runs:
        return math.nan
    vals = [math.inf if r["diverged"] else float(r["final_eval_loss"]) for r in runs]
    return float(np.mean(vals))


def loss_grid(runs: list[dict[str, Any]], betas: list[float], alphas: list[float], lr: float) -> np.ndarray:
    """(len(alphas), len(betas)) mean final losses of the grid runs at learning rate ``lr``."""
    out = np.full((len(alphas), len(betas)), math.nan)
    for i, a in enumerate(alphas):
        for j, b in enumerate(betas):
            out[i, j] = mean_loss([r for r in runs if r["config"]["label"] == "grid" and r["config"]["lr"] == lr
                                   and r["config"]["beta"] == b and r["config"]["alpha_sa"] == a])
    return out


def auc(good: np.ndarray, bad: np.ndarray) -> float | None:
    """P(good < bad) + P(good == bad) / 2 over all pairs (the Mann-Whitney U / (n m))."""
    if good.size == 0 or bad.size == 0:
        return None
    with np.errstate(invalid="ignore"):  # inf - inf: both diverged, a tie
        diff = good[:, None] - bad[None, :]
        wins = (diff < 0).sum() + 0.5 * ((diff == 0) | np.isnan(diff)).sum()
    return float(wins / diff.size)


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman rank correlation (average ranks for ties; inf ranks last); null if undefined."""
    from scipy.stats import rankdata

    if x.size < 3:
        return None
    rx, ry = rankdata(x), rankdata(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def agreement_one(loss: np.ndarray, theory: dict[str, Any], prescribed_loss: float | None) -> dict[str, Any]:
    """The statistics of the module docstring for one lr and one theory variant."""
    zone = np.asarray(theory["zone"], dtype=object).ravel()
    vals = loss.ravel()
    good, bad = vals[zone == "trainable"], vals[np.isin(zone, COLLAPSED)]
    out: dict[str, Any] = {
        "auc": auc(good, bad),
        "spearman_rho_L": spearman(np.asarray(theory["rho_L"]).ravel(), vals),
        "spearman_Y2": spearman(np.asarray(theory["mean_Y2"]).ravel(), vals),
        "zones": {z: {"count": int((zone == z).sum()),
                      "median_loss": float(np.median(vals[zone == z])) if (zone == z).any() else None}
                  for z in ("trainable", *COLLAPSED)},
    }
    if prescribed_loss is not None and math.isfinite(prescribed_loss):
        for name, part in (("collapsed_worse", bad), ("trainable_worse", good)):
            out[name] = float(np.mean(part > prescribed_loss + MARGIN)) if part.size else None
    return out


def agreement(runs: list[dict[str, Any]], betas: list[float], alphas: list[float], lrs: list[float],
              theory: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per learning rate: the prescribed loss and :func:`agreement_one` for each theory variant."""
    out = []
    for lr in lrs:
        grid = loss_grid(runs, betas, alphas, lr)
        pres = [r for r in runs if r["config"]["label"] == "prescribed" and r["config"]["lr"] == lr]
        pres_loss = mean_loss(pres) if pres else None
        entry: dict[str, Any] = {"lr": lr, "prescribed_loss": pres_loss}
        for v in THEORIES:
            if v in theory:
                entry[v] = agreement_one(grid, theory[v], pres_loss)
        out.append(entry)
    return out


def table(data: dict[str, Any]) -> str:
    """Human-readable summary of a sweep's JSON (``symsig train`` without --json)."""
    mark = {"rank": "R", "entropy": "E", "trainable": ".", "vanishing": "V"}
    lines = []
    th = data["theory"]
    for k, lr in enumerate(data["lr"]):
        lines.append(f"final held-out loss at lr = {lr:g} (mean over {len(data['seed'])} seed(s); unigram "
                     f"{data['unigram_loss']:.3f}); zone letters: asymptotic/finite-T theory")
        lines.append("alpha_SA \\ beta " + "".join(f"{b:>11.3g}" for b in data["beta"]))
        for i in reversed(range(len(data["alpha_sa"]))):
            cells = []
            for j in range(len(data["beta"])):
                v = data["loss"][k][i][j]
                z = "".join(mark[th[t]["zone"][i][j]] for t in THEORIES if t in th) or "?"
                cells.append(f"{'div' if v is None else f'{v:.3f}':>8} {z:<2}")
            lines.append(f"{data['alpha_sa'][i]:>15.3g} " + "".join(cells))
        ag = data["agreement"][k]
        if data["prescribed"]:
            p = data["prescribed"]
            at = f"T = {p['seq_len']}" if p.get("seq_len") else "T -> infinity"
            lines.append(f"prescribed at {at} (beta, alpha_SA) = ({p['beta']:.3g}, {p['alpha_sa']:.3g}): loss "
                         f"{_num(ag['prescribed_loss'])}")
        for t in THEORIES:
            if t in ag:
                a = ag[t]
                lines.append(f"  {t:<10} AUC {_num(a['auc'])}  Spearman(loss, rho_L) {_num(a['spearman_rho_L'])}  "
                             f"Spearman(loss, Y2) {_num(a['spearman_Y2'])}  collapsed worse than prescribed "
                             f"{_num(a.get('collapsed_worse'))}  trainable worse {_num(a.get('trainable_worse'))}")
    lines += [f"note: {n}" for n in data["notes"]]
    lines.append(f"{len(data['runs'])} runs in {data['seconds']:.0f} s (CPU time {data['cpu_seconds']:.0f} s)")
    return "\n".join(lines)


def _num(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3f}"
