"""``symsig train`` end to end: a tiny sweep through the command line, the dask sweep equal to
the local one, bad input, the agreement statistics and the report section."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from symsig.app.cli import main
from symsig.simulation.train import results as R

TINY = ["--beta", "0.5,3", "--alpha-sa", "0.2,1.2", "--depth", "2", "--width", "16", "--seq-len", "8",
        "--steps", "30", "--batch-size", "8", "--stories", "200", "--eval-batches", "2", "--warmup", "3",
        "--lr", "3e-3", "--diagram-resolution", "5", "--device", "cpu"]
TINY_KW = dict(beta=[0.5, 3.0], alpha_sa=[0.2, 1.2], depth=2, width=16, seq_len=8, steps=12, batch_size=8,
               stories=200, eval_batches=2, warmup=2, lr=3e-3, diagram_resolution=0, device="cpu", progress=False)


def test_tiny_sweep_through_the_command_line(tmp_path, capsys) -> None:
    plot, save = tmp_path / "sweep.png", tmp_path / "sweep.json"
    assert main(["train", *TINY, "--json", "--plot", str(plot), "--save", str(save)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(save.read_text()) and plot.stat().st_size > 10_000
    assert data["beta"] == [0.5, 3.0] and data["alpha_sa"] == [0.2, 1.2] and data["lr"] == [0.003]
    labels = [r["config"]["label"] for r in data["runs"]]
    assert labels.count("grid") == 4 and labels.count("prescribed") == 1
    assert np.array(data["loss"], dtype=float).shape == (1, 2, 2)
    for run in data["runs"]:
        assert not run["diverged"] and run["config"]["steps"] == 30
        # 30 AdamW steps take every model well below its initial loss (log V + O(1) nats)
        assert run["final_eval_loss"] < run["initial_eval_loss"] - 0.2
        assert [s for s, _ in run["eval_loss"]] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
        assert len(run["train_loss"]) == 30 and all(g > 0 for _, g in run["grad_norm"])
        init = run["init"]
        assert len(init["rho"]) == len(init["theory_rho"]) == 3 and len(init["Y2"]) == len(init["theory_Y2"]) == 2
        assert init["rho0"] == pytest.approx(data["input_geometry"]["rho0"])  # one seed: one embedding draw
    for theory in R.THEORIES:
        th = data["theory"][theory]
        assert np.array(th["rho_L"]).shape == (2, 2) and th["prescribed"]["zone"] in ("trainable", "rank", "entropy")
        assert np.array(data["diagram"][theory]["rho_L"]).shape == (5, 5)
        ag = data["agreement"][0][theory]
        assert set(ag) >= {"auc", "spearman_rho_L", "spearman_Y2", "zones", "collapsed_worse", "trainable_worse"}
    assert data["prescribed"]["loss"][0] == data["agreement"][0]["prescribed_loss"]
    # the text table
    assert main(["train", *TINY[:-2], "--steps", "2", "--no-prescribed", "--diagram-resolution", "0"]) == 0
    text = capsys.readouterr().out
    assert "final held-out loss at lr = 0.003" in text and "4 runs in" in text


@pytest.mark.slow
def test_dask_sweep_equals_local() -> None:
    """The grid points as tasks on a 2-process LocalCluster return what the local loop returns."""
    from symsig.simulation.train.sweep import train

    local = train(**TINY_KW, seed=[0, 1]).to_dict()
    dist = train(**TINY_KW, seed=[0, 1], workers=2).to_dict()
    strip = lambda runs: [{k: v for k, v in r.items() if k not in ("seconds", "cpu_seconds")} for r in runs]  # noqa: E731
    assert strip(local["runs"]) == strip(dist["runs"])
    for key in ("loss", "agreement", "theory", "prescribed", "input_geometry"):
        assert local[key] == dist[key], key


@pytest.mark.parametrize("args, message", [
    (["--beta", "0"], "beta must be > 0"),
    (["--beta", "one"], "beta must be a number"),
    (["--alpha-sa", "-1,1"], "alpha_sa must be >= 0"),
    (["--beta", "2:1:3"], "MAX < MIN"),
    (["--width", "16", "--heads", "3"], "must divide"),
    (["--causal", "--block", "gc-post-ln"], "gain control"),
    (["--corpus", "/nonexistent/corpus.txt"], "not found"),
    (["--plot", "out.txt"], "--plot must end in .png or .svg"),
    (["--save", "out.png"], "--save must end in .json"),
    (["--lr", "0,1e-3"], "lr must be > 0"),
    (["--device", "tpu"], "device must be"),
    (["--seed", "-1"], "seed must be an integer >= 0"),
    (["--seed", "1.5"], "seed must be an integer"),
    (["--mask-prob", "0"], "mask_prob must lie in"),
    (["--token-share", "2"], "token_share must lie in"),
    (["--rho0", "1"], "rho0 must lie in"),
    (["--steps", "0"], "steps must be an integer >= 1"),
    (["--depth", "ten"], "invalid int value"),
    (["--dtype", "float16"], "invalid choice"),
    (["--diagram-resolution", "1"], "diagram_resolution"),
    (["--entropy-threshold", "0"], "threshold entropy must lie in (0, 1]"),
    (["--data", "markov", "--vocab-size", "6", "--successors", "7"], "successors (7) must be at most"),
    (["--data", "markov", "--successors", "0"], "successors must be an integer >= 1"),
    (["--data", "poems"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(args, message, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--steps", "1", "--depth", "1", "--width", "8", "--seq-len", "4", "--stories", "20", *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and err.startswith("symsig: error:") and message in err, err


def test_agreement_statistics_by_hand() -> None:
    """AUC, Spearman and the prescribed-point fractions on a hand-made 2 x 3 grid."""
    theory = {"zone": [["trainable", "trainable", "entropy"], ["rank", "trainable", "entropy"]],
              "rho_L": [[0.5, 0.6, 0.7], [0.999, 0.4, 0.8]], "mean_Y2": [[0.0, 0.05, 0.5], [0.01, 0.02, 0.6]]}
    loss = np.array([[1.0, 1.2, 3.0], [2.9, 0.9, math.inf]])
    a = R.agreement_one(loss, theory, prescribed_loss=1.0)
    assert a["auc"] == 1.0  # every trainable point beats every collapsed one
    assert a["collapsed_worse"] == 1.0 and a["trainable_worse"] == pytest.approx(1 / 3)
    assert a["zones"]["entropy"] == {"count": 2, "median_loss": math.inf}
    # Y2 ranks (1,4,5,2,3,6) vs loss ranks (2,3,5,4,1,6): sum d^2 = 10, rho = 1 - 6 * 10 / (6 * 35)
    assert a["spearman_Y2"] == pytest.approx(1 - 60 / 210, rel=1e-12)
    assert R.auc(np.array([1.0, math.inf]), np.array([math.inf])) == 0.75  # inf vs inf is a tie
    assert R.auc(np.array([]), np.array([1.0])) is None and R.spearman(np.ones(4), np.arange(4.0)) is None


def test_report_section_from_saved_results(tmp_path, capsys) -> None:
    from symsig.app.report import load_training, training_section
    from symsig.core.validate import InputError

    save = tmp_path / "t.json"
    assert main(["train", *TINY[:-4], "--steps", "3", "--diagram-resolution", "4", "--save", str(save), "--json"]) == 0
    capsys.readouterr()
    heading, html = training_section(load_training(str(save)), tmp_path / "rep")
    assert heading == "Training across the diagram" and "data:image/png;base64," in html and "AUC" in html
    assert (tmp_path / "rep" / "training.png").exists()
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InputError, match="not a symsig train result"):
        load_training(str(tmp_path / "bad.json"))


def test_public_api() -> None:
    import symsig
    from symsig.simulation.train.sweep import train

    assert symsig.train is train


def test_missing_theory_is_a_note_not_a_failure() -> None:
    """Gain control at alpha_SA = 0 has no T -> infinity value (0/0 in the layer map): the runs
    still train, the asymptotic theory and the prescription are reported as notes."""
    from symsig.simulation.train.sweep import train

    out = train(**(TINY_KW | dict(alpha_sa=[0.0], beta=[1.0], steps=2)), block="gc-post-ln").to_dict()
    assert len(out["runs"]) == 1 and "asymptotic" not in out["theory"] and "finite_T" in out["theory"]
    assert any("prescribe" in n for n in out["notes"]) and any("asymptotic" in n for n in out["notes"])


def test_prescribed_point_is_computed_at_the_trained_length() -> None:
    """The prescribed run uses ``prescribe`` at the trained T (finite-T theory) and the measured rho0;
    at T = 8 (below the tabulated overlap, so the finite-T grid is refused) it falls back to
    T -> infinity and says so in a note."""
    from symsig.analysis.prescribe import prescribe
    from symsig.simulation.train.sweep import train

    kw = TINY_KW | dict(beta=[1.0], alpha_sa=[1.0], steps=1)
    out = train(**(kw | dict(seq_len=24))).to_dict()
    p = prescribe(depth=2, seq_len=24, rho0=out["input_geometry"]["rho0"])
    assert out["prescribed"]["seq_len"] == 24 and (out["prescribed"]["beta"], out["prescribed"]["alpha_sa"]) == (p.beta, p.alpha_sa)
    assert p.beta < prescribe(depth=2, rho0=out["input_geometry"]["rho0"]).beta  # finite T freezes earlier
    short = train(**kw).to_dict()
    assert short["prescribed"]["seq_len"] is None and any("at T = 8" in n for n in short["notes"])
