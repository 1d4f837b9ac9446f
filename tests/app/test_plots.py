"""The plots' contract: draw on the caller's axes (or a new figure), save when asked, return the
Figure, never touch pyplot; a wrong number of axes is a ValueError naming how many are needed."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from symsig.analysis.propagate import propagate
from symsig.app.plots import plot_figure3, plot_lr_range, plot_train_sweep, plot_trajectories, trained_rates

#: A hand-made ``symsig train`` result (2 learning rates on a 2 x 3 grid, one diverged point).
SWEEP = {
    "beta": [0.5, 1.5, 3.0], "alpha_sa": [0.2, 1.2], "lr": [1e-3, 3e-3], "unigram_loss": 4.0,
    "loss": [[[2.0, 2.5, 3.5], [1.8, 2.2, None]], [[2.1, 2.4, 3.9], [1.7, 2.0, 3.0]]],
    "input_geometry": {"rho0": 0.3}, "diagram": {}, "seed": [0],
    "prescribed": {"beta": 1.0, "alpha_sa": 1.0, "loss": [1.9, None]},
    "settings": {"block": "post-ln", "activation": "relu", "causal": False, "depth": 2, "width": 16, "seq_len": 8,
                 "steps": 3},
}


@pytest.fixture(scope="module")
def trajectories() -> dict:
    return {f"beta = {b}": propagate(beta=b, depth=4, rho0=0.3) for b in (0.5, 3)}


def test_no_pyplot() -> None:
    """The plots build matplotlib Figures directly: importing them never loads pyplot."""
    import subprocess

    code = "import symsig.app.plots, sys; assert 'matplotlib.pyplot' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_trajectories_contract(trajectories, tmp_path) -> None:
    fig = plot_trajectories(trajectories, tmp_path / "t.png", "title")
    assert isinstance(fig, Figure) and len(fig.axes) == 2 and (tmp_path / "t.png").stat().st_size > 1000
    mine = Figure()
    axes = mine.subplots(2, 2)
    assert plot_trajectories(trajectories, axes=axes[1]) is mine
    assert len(axes[1][0].lines) == 2 and len(axes[1][1].lines) == 2 and not axes[0][0].lines
    for wrong in (axes[0][0], list(axes.ravel()), [], [axes[0][0], Figure().subplots()]):
        with pytest.raises(ValueError, match="2 matplotlib Axes|one figure"):
            plot_trajectories(trajectories, axes=wrong)
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        plot_trajectories(trajectories, tmp_path / "t.jpg")


def test_figure3_contract(tmp_path) -> None:
    ax = Figure().subplots()
    fig = plot_figure3(tmp_path / "f.svg", betas=[0.5, 2.0], configs=((16, 32),), mc=False, ax=ax)
    assert fig is ax.figure and len(ax.lines) == 2 and (tmp_path / "f.svg").stat().st_size > 1000
    assert isinstance(plot_figure3(betas=[1.0], configs=((16, 32),), mc=False), Figure)
    with pytest.raises(ValueError, match="1 matplotlib Axes"):
        plot_figure3(betas=[1.0], mc=False, ax=list(Figure().subplots(1, 2)))


def test_train_sweep_contract(tmp_path) -> None:
    fig = plot_train_sweep(SWEEP, tmp_path / "s.png")
    assert isinstance(fig, Figure) and (tmp_path / "s.png").stat().st_size > 10_000
    mine = Figure()
    axes = mine.subplots(1, 3)
    assert plot_train_sweep(SWEEP, axes=axes[:2]) is mine
    assert [a.get_title() for a in axes[:2]] == ["lr = 0.001", "lr = 0.003"] and not axes[2].collections
    texts = [t.get_text() for t in axes[0].texts]
    assert "div" in texts and "2.00" in texts  # the diverged point and a loss
    with pytest.raises(ValueError, match="2 panel"):
        plot_train_sweep(SWEEP, axes=axes)
    with pytest.raises(ValueError, match="2 panel"):
        plot_train_sweep(SWEEP, axes=axes[0])
    with pytest.raises(ValueError, match=r"2 matplotlib Axes, got 1 \(int\)"):
        plot_train_sweep(SWEEP, axes=3)
    assert np.isfinite(fig.axes[0].get_xlim()).all()


def _run(lr: float, alpha: float, beta: float, loss: float, seed: int = 0, diverged: bool = False) -> dict:
    return {"config": {"label": "grid", "lr": lr, "alpha_sa": alpha, "beta": beta, "seed": seed},
            "final_eval_loss": loss, "diverged": diverged}


def test_trained_rates_by_hand(tmp_path) -> None:
    """Trained = every seed more than `gain` nats below the unigram level (4.0 here); a diverged
    run, a run 0.4 nat below, or a missing run has not trained."""
    runs = [_run(1e-3, 0.2, 0.5, 3.0), _run(1e-3, 0.2, 0.5, 2.0, seed=1),  # both seeds train
            _run(1e-3, 0.2, 1.5, 3.0), _run(1e-3, 0.2, 1.5, 3.6, seed=1),  # one seed does not
            _run(3e-3, 0.2, 0.5, 1.0), _run(3e-3, 1.2, 0.5, 0.0, diverged=True), _run(1e-3, 1.2, 3.0, 3.49)]
    data = SWEEP | {"runs": runs}
    ok = trained_rates(data)
    assert ok.shape == (2, 2, 3) and ok.sum() == 3
    assert ok[0, 0, 0] and ok[1, 0, 0] and ok[0, 1, 2] and not ok[0, 0, 1] and not ok[1, 1, 0]
    assert trained_rates(data, gain=0.6).sum() == 2
    ax = Figure().subplots()
    fig = plot_lr_range(data, tmp_path / "lr.png", ax=ax)
    assert fig is ax.figure and (tmp_path / "lr.png").stat().st_size > 5_000
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("-") == 4 and "0.001\n0.003" in texts  # cells with no rate, and with both
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["none trains", "largest: lr 0.001", "largest: lr 0.003"]
