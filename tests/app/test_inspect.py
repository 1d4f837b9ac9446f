"""``symsig inspect --hf-config``: configs written here (no network), their mapping onto symsig's
parameters, the verdict's speed, and (slow) fresh stock models against the verdict's trajectory."""
from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symsig.app.inspect import inspect
from symsig.app.stock import read_config, stock, window_keys

#: Stock configurations as their config.json files spell them (published shapes).
BERT_BASE = {"model_type": "bert", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "hidden_act": "gelu", "max_position_embeddings": 512,
             "initializer_range": 0.02, "layer_norm_eps": 1e-12, "type_vocab_size": 2, "vocab_size": 30522}
GPT2 = {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_inner": None,
        "activation_function": "gelu_new", "n_positions": 1024, "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-5, "vocab_size": 50257}
LLAMA2_7B = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 32, "intermediate_size": 11008, "hidden_act": "silu",
             "max_position_embeddings": 4096, "initializer_range": 0.02, "rms_norm_eps": 1e-5, "vocab_size": 32000}
QWEN3 = {"model_type": "qwen3", "hidden_size": 1024, "num_hidden_layers": 28, "num_attention_heads": 16,
         "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 3072, "hidden_act": "silu",
         "max_position_embeddings": 40960, "initializer_range": 0.02, "rms_norm_eps": 1e-6, "vocab_size": 151936}


def _write(tmp_path: Path, config: dict, name: str = "model") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_mapping_onto_symsig_parameters(tmp_path: Path) -> None:
    bert = stock(read_config(_write(tmp_path, BERT_BASE)))
    assert (bert.family, bert.width, bert.depth, bert.seq_len, bert.mlp_width, bert.activation) == \
        ("post-ln", 768, 12, 512, 3072, "gelu")
    v = bert.variances()
    assert v["sigma_a"] == pytest.approx(768 * 0.02**2) and v["beta"] == pytest.approx(768 * 4e-4 / math.sqrt(math.log(512)))
    assert v["sigma_w2_out"] == pytest.approx(3072 * 4e-4) and (v["q0"], v["rho0"]) == (1.0, pytest.approx(1 / 3))
    gpt = stock(read_config(_write(tmp_path, GPT2, "gpt2") / "config.json"), seq_len=256)
    w = gpt.variances()
    assert (gpt.family, gpt.mlp_width, gpt.activation, gpt.seq_len) == ("pre-ln", 3072, "gelu_tanh", 256)
    assert w["sigma_o2"] == pytest.approx(768 * 4e-4 / 24) and w["sigma_w2_out"] == pytest.approx(3072 * 4e-4 / 24)
    assert w["q0"] == pytest.approx(8e-4) and w["rho0"] == 0
    qwen = stock(QWEN3)
    assert qwen.family == "llama-qk" and qwen.head_dim == 128
    x = qwen.variances()  # QK-norm: beta is the gain's, not the initializer's
    assert x["beta"] == pytest.approx(1 / math.sqrt(math.log(40960)))
    assert x["sigma_o2"] == pytest.approx(16 * 128 * 4e-4)  # o_proj fan-in heads * head_dim


@pytest.mark.parametrize("zones", ["calibrated", "collapse"])
def test_verdicts_of_the_three_families(tmp_path: Path, zones: str) -> None:
    """BERT, GPT-2 and LLaMA keep 58%, 52% and 99% of their initial diversity: trainable by both
    definitions (the calibrated one asks for 50%, the collapse one for 1%)."""
    expected = ("trainable",) * 3
    for config, zone in zip((BERT_BASE, GPT2, LLAMA2_7B), expected):
        v = inspect(hf_config=_write(tmp_path, config, config["model_type"]), zones=zones)
        assert f"{zones} zones" in v.summary
        depth = v.config["depth"]
        assert len(v.rho) == len(v.q) == depth + 1 and len(v.Y2) == depth and v.zone == zone
        assert v.rho[0] == pytest.approx(v.parameters["rho0"]) and v.q[0] == pytest.approx(v.parameters["q0"])
        assert v.prescription["beta"] > 0 and "Prescribed change" in v.summary
        if v.config["causal"]:
            assert v.positions == [window_keys(v.config["seq_len"])] and v.q[-1] == pytest.approx(1.0)
        data = v.to_dict()
        assert json.loads(json.dumps(data))["zone"] == zone
    qk = inspect(hf_config=_write(tmp_path, QWEN3 | {"max_position_embeddings": 4096}, "qwen3"), resolution=8)
    assert "q_norm" in qk.prescription["change"] and qk.prescription["qk_gain"] > 0


def test_window_keys_is_the_harmonic_mean() -> None:
    keys = np.arange(49, 65)
    assert window_keys(64) == round(1 / np.mean(1 / keys)) == 56


def test_prescription_kernel_substitution_is_small() -> None:
    """GPT-2's prescription uses the exact GELU's kernel for gelu_tanh's (module docstring): they differ
    by at most 2.1e-4 of K_qq on 0.01 <= q <= 20, every correlation."""
    from symsig.numerics.quadrature import kernel_np

    q = np.geomspace(0.01, 20, 30)[:, None]
    c = np.linspace(-1, 1, 21)[None, :]
    exact, tanh = kernel_np("gelu", q, c * q), kernel_np("gelu_tanh", q, c * q)
    assert np.max(np.abs(exact[1] - tanh[1]) / tanh[0]) < 2.5e-4


@pytest.mark.parametrize("config", [BERT_BASE, GPT2, LLAMA2_7B], ids=["bert-base", "gpt2", "llama-2-7b"])
def test_command_line_verdict_and_cost(tmp_path: Path, config: dict) -> None:
    """The whole command (a fresh interpreter: imports, composition, compilation, trajectory, prescription)
    gives a valid verdict, and no gross regression of its cost: under 15 s of CPU time, 3x the 5 s target.
    The target itself is measured by benchmarks/bench_inspect.py (best of 5): on the shared 2-core test
    machine the same code took from 3.5 to 5.7 s for Llama-2-7B from run to run, so a 5 s bound here failed
    at random."""
    folder = _write(tmp_path, config)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "symsig", "inspect", "--hf-config", str(folder), "--json"],
                          capture_output=True, text=True, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, proc.stderr
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    data = json.loads(proc.stdout)
    print(f"{config['model_type']}: {cpu:.2f} s CPU, verdict {data['seconds']:.2f} s wall")
    assert cpu < 15.0 and data["zone"] in ("trainable", "rank", "entropy")


def test_command_line_text_and_errors(tmp_path: Path) -> None:
    folder = _write(tmp_path, BERT_BASE | {"num_hidden_layers": 2})
    proc = subprocess.run([sys.executable, "-m", "symsig", "inspect", "--hf-config", str(folder)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "zone" in proc.stdout and "Prescribed change" in proc.stdout
    bad = {"missing": tmp_path / "nowhere", "json": tmp_path / "bad.json", "type": _write(tmp_path, {"model_type": "t5"}, "t5"),
           "act": _write(tmp_path, GPT2 | {"activation_function": "softplus"}, "act")}
    (tmp_path / "bad.json").write_text("{not json")
    for key, path in bad.items():
        proc = subprocess.run([sys.executable, "-m", "symsig", "inspect", "--hf-config", str(path)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, (key, proc.stderr)


SMALL = {"bert": {"model_type": "bert", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
                  "intermediate_size": 1024, "hidden_act": "gelu", "max_position_embeddings": 64,
                  "vocab_size": 1000, "type_vocab_size": 2},
         "gpt2": {"model_type": "gpt2", "n_embd": 256, "n_layer": 4, "n_head": 4, "activation_function": "gelu_new",
                  "n_positions": 64, "vocab_size": 1000},
         "llama": {"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
                   "num_key_value_heads": 4, "intermediate_size": 768, "hidden_act": "silu",
                   "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "vocab_size": 1000}}


@pytest.mark.slow
@pytest.mark.parametrize("family", list(SMALL))
@pytest.mark.parametrize("init", [0.02, 0.08])
def test_stock_models_agree_with_the_verdict(tmp_path: Path, family: str, init: float) -> None:
    """Fresh stock models (the library's own initialisation, random token ids; 8 seeds) of the small
    configs (d = 256, T = 64, T/d = 1/4: the d -> infinity theory applies), at the stock
    initializer_range 0.02 and at 0.08 (beta ~ 0.8: non-trivial attention). Per layer: rho within
    3 SE + 0.01 (encoder) or 4 SE + 0.02 (decoders: the causal approximations, docs/theory.md §6.4),
    the IPR and q within 4 SE + 5% (Y2 ~ c/n varies by 1e-5 across seeds at init 0.02)."""
    from symsig.simulation.hf_stock import measure_stock

    config = SMALL[family] | {"initializer_range": init}
    verdict = inspect(hf_config=_write(tmp_path, config), resolution=8)
    got = measure_stock(config, seq_len=64, seeds=8, seed=1)
    mean = {k: got[k].mean(axis=0) for k in ("rho", "q", "Y2")}
    err = {k: got[k].std(axis=0, ddof=1) / math.sqrt(8) for k in mean}
    slack = (3, 0.01) if family == "bert" else (4, 0.02)
    assert np.all(np.abs(mean["rho"] - verdict.rho) <= slack[0] * err["rho"] + slack[1]), (mean["rho"], verdict.rho)
    for key, theory in (("Y2", np.array(verdict.Y2)), ("q", np.array(verdict.q))):
        assert np.all(np.abs(mean[key] - theory) <= 4 * err[key] + 0.05 * theory), (key, mean[key], theory)
