"""The trainable model at initialisation: the theory's tree in torch, weight for weight
``simulate_stack``, with the theory's parametrisation and geometry."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from symsig.core.architecture import Architecture
from symsig.core.names import ACTIVATIONS
from symsig.simulation.stack import apply_activation, make_input, simulate_stack
from symsig.simulation.train import data as D
from symsig.simulation.train import loop
from symsig.simulation.train.config import RunConfig
from symsig.simulation.train.model import LanguageModel, ModelSpec, torch_activation

ARCH = dict(beta=1.3, sigma_w2=0.3, sigma_v2=0.5, sigma_b2=0.01, alpha_sa=0.9, alpha_mlp=1.1)
#: (block, causal, heads, out_proj, activation, mlp_width): every block, both attentions, the options.
CASES = [("post-ln", False, 1, False, "relu", None), ("post-ln", True, 2, True, "gelu", 48),
         ("pre-ln", False, 2, True, "erf", 24), ("pre-ln", True, 1, False, "relu", None),
         ("gc-post-ln", False, 1, False, "tanh", 40), ("gc-pre-ln", False, 4, True, "swish", None)]


def _spec(block: str, causal: bool, heads: int, out_proj: bool, act: str, m: int | None, *, f: float = 0.0,
          d: int = 32, t: int = 16, depth: int = 4) -> ModelSpec:
    arch = Architecture(block=block, activation=act, seq_len=t, **ARCH)
    return ModelSpec(arch=arch, depth=depth, width=d, vocab_size=11, heads=heads, mlp_width=m, causal=causal,
                     out_proj=out_proj, rho0=0.3, q0=1.5, token_share=f)


def _simulate(spec: ModelSpec, seed: int):
    return simulate_stack(block=spec.arch.block, activation=spec.arch.activation, depth=spec.depth, width=spec.width,
                          seq_len=spec.seq_len, rho0=spec.rho0, q0=spec.q0, seeds=1, seed=seed, causal=spec.causal,
                          out_proj=spec.out_proj, heads=spec.heads, mlp_width=spec.mlp_width, **ARCH)


def _stats(model: LanguageModel, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        hidden, atts = model.trace(x)
    meas = loop.measure(hidden, atts, slice(0, x.shape[1]))
    return meas["rho"], meas["Y2"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}{'-causal' if c[1] else ''}-{c[4]}" for c in CASES])
@pytest.mark.parametrize("seed", [0, 5])
def test_model_equals_simulate_stack_weight_for_weight(case, seed: int) -> None:
    """token_share = 0: the model's own embedding is simulate_stack's input, so every layer's rho
    and Y2 agree to rounding (float64; 1e-9 leaves room for depth amplification of ~1e-15)."""
    spec = _spec(*case)
    model = LanguageModel(spec, seed)
    sim = _simulate(spec, seed)
    tokens = torch.from_numpy(np.random.default_rng(1).integers(0, 11, size=(2, spec.seq_len)))
    rho, y2 = _stats(model, model.embed(tokens))
    assert np.max(np.abs(rho - sim.rho)) < 1e-9
    assert np.max(np.abs(y2 - sim.Y2)) < 1e-9
    assert len(model.attentions()) == spec.depth


@pytest.mark.parametrize("case", CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_blocks_equal_simulate_stack_with_token_embeddings(case) -> None:
    """token_share > 0 changes the embedding only: the blocks, fed simulate_stack's input, still agree."""
    spec = _spec(*case, f=0.5)
    model = LanguageModel(spec, 3)
    ss = np.random.SeedSequence(3).spawn(1)[0]
    x = make_input(np.random.default_rng(ss), spec.seq_len, spec.width, spec.rho0, spec.q0)
    rho, y2 = _stats(model, torch.from_numpy(x)[None])
    sim = _simulate(spec, 3)
    assert np.max(np.abs(rho - sim.rho)) < 1e-9 and np.max(np.abs(y2 - sim.Y2)) < 1e-9


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_torch_activation_is_the_simulators(name: str) -> None:
    x = np.linspace(-4, 4, 101)
    got = torch_activation(name)(torch.from_numpy(x)).numpy()
    assert np.allclose(got, apply_activation(x.copy(), name), rtol=1e-13, atol=1e-14)


def test_parametrisation_is_the_theorys() -> None:
    """Weight variances: W_Q, W_K sigma_a / d with sigma_a = beta sqrt(log T) (typed here
    independently of the library), W_V sigma_v2 / d, MLP sigma_w2 / fan-in, biases sigma_b2."""
    d, m, t, depth = 96, 128, 32, 6
    spec = replace(_spec("post-ln", False, 1, False, "relu", m, d=d, t=t, depth=depth), token_share=0.5)
    model = LanguageModel(spec, 0)
    sigma_a = ARCH["beta"] * math.sqrt(math.log(t))
    want = {"W_Q": sigma_a / d, "W_K": sigma_a / d, "W_V": ARCH["sigma_v2"] / d, "b_V": ARCH["sigma_b2"]}
    for key, var in want.items():
        x = np.concatenate([getattr(a, key).detach().numpy().ravel() for a in model.attentions()])
        # sample variance of N iid normals: relative standard error sqrt(2 / N)
        assert abs(x.var() / var - 1) < 5 * math.sqrt(2 / x.size), key
    dense = [mod for mod in model.blocks.modules() if type(mod).__name__ == "Dense"]
    w1 = np.concatenate([dn.weight.detach().numpy().ravel() for dn in dense[0::2]])
    w2 = np.concatenate([dn.weight.detach().numpy().ravel() for dn in dense[1::2]])
    assert dense[0].weight.shape == (d, m) and dense[1].weight.shape == (m, d)
    assert abs(w1.var() / (ARCH["sigma_w2"] / d) - 1) < 5 * math.sqrt(2 / w1.size)
    assert abs(w2.var() / (ARCH["sigma_w2"] / m) - 1) < 5 * math.sqrt(2 / w2.size)
    alphas = sorted({mod.alpha for mod in model.blocks.modules() if type(mod).__name__ == "Residual"})
    assert alphas == sorted({ARCH["alpha_sa"], ARCH["alpha_mlp"]})
    # the embedding: E|x|^2/d = q0 and the shared part has variance q0 rho0 per feature
    assert float(model.shared.detach().var()) == pytest.approx(spec.q0 * spec.rho0, rel=5 * math.sqrt(2 / d))
    assert float(model.position.detach().var()) == pytest.approx(spec.q0 * (1 - spec.rho0) / 2, rel=5 * math.sqrt(2 / (t * d)))


def _config(**changes) -> RunConfig:
    base = dict(block="post-ln", activation="relu", beta=1.0, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=4e-4,
                alpha_sa=1.0, alpha_mlp=1.0, depth=4, width=32, heads=1, mlp_width=None, seq_len=16, causal=False,
                out_proj=False, rho0=0.3, q0=1.0, token_share=0.5, corpus=None, stories=300, vocab_size=None,
                data_seed=0, mask_prob=0.15, steps=5, batch_size=4, lr=1e-3, warmup=1, weight_decay=0.01,
                clip=1.0, eval_every=5, eval_batches=1, log_every=1, seed=0, device="cpu", dtype="float64",
                threads=1)
    return RunConfig(**(base | changes))


@pytest.mark.parametrize("causal", [False, True])
def test_init_record_is_simulate_weight_for_weight(causal: bool) -> None:
    """The training run's own at-initialisation record (token_share = 0: every sequence is the
    simulate_stack input) equals simulate_stack with the same seed."""
    cfg = _config(token_share=0.0, causal=causal, seed=4, beta=2.0)
    corp = cfg.load_corpus()
    model = loop.build_model(cfg, corp.vocab_size)
    init = loop.at_init(model, cfg, cfg.held_out(corp)[0], torch.device("cpu"))
    sim = simulate_stack(block="post-ln", activation="relu", beta=2.0, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=4e-4,
                         alpha_sa=1.0, alpha_mlp=1.0, depth=4, width=32, seq_len=16, rho0=0.3, q0=1.0, seeds=1,
                         seed=4, causal=causal)
    if not causal:
        assert np.max(np.abs(np.array(init["rho"]) - sim.rho)) < 1e-9
        assert np.max(np.abs(np.array(init["Y2"]) - sim.Y2)) < 1e-9
    else:  # the late window of the causal record: simulate's per-position values there
        w = slice(init["window"][0], init["window"][1] + 1)
        assert np.max(np.abs(np.array(init["Y2"]) - sim.per_seed["Y2_pos"][0][:, w].mean(axis=1))) < 1e-9
    assert len(init["theory_rho"]) == 5 and len(init["theory_Y2"]) == 4


@pytest.mark.slow
@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_init_record_agrees_with_theory(beta: float) -> None:
    """Measured rho and Y2 at initialisation against the exact finite-T theory from each run's
    measured (q0, rho0), paired over 6 seeds (independent networks): within 4 standard errors
    plus the stated finite-size allowance (0.01 in rho at T/d = 1/12, 0.012 in Y2; see
    tests/simulation/test_theory_vs_mc.py)."""
    gaps_rho, gaps_y2 = [], []
    for seed in range(6):
        cfg = _config(width=192, seq_len=16, depth=4, beta=beta, seed=seed, batch_size=8)
        corp = cfg.load_corpus()
        init = loop.at_init(loop.build_model(cfg, corp.vocab_size), cfg, cfg.held_out(corp)[0], torch.device("cpu"))
        gaps_rho.append(np.array(init["rho"]) - init["theory_rho"])
        gaps_y2.append(np.array(init["Y2"]) - init["theory_Y2"])
    for gaps, allowance in ((np.array(gaps_rho), 0.01), (np.array(gaps_y2), 0.012)):
        mean, se = gaps.mean(axis=0), gaps.std(axis=0, ddof=1) / math.sqrt(len(gaps))
        assert np.all(np.abs(mean) <= 4 * se + allowance), (mean, se)


def test_embedding_geometry_formula() -> None:
    """E x_t.x_s/d = q0 [rho0 + (1 - rho0) f 1(token_t = token_s)]: sequences of one repeated
    token have input cosine rho0 + (1 - rho0) f, all-distinct tokens rho0 (up to O(1/sqrt d))."""
    d, t, f = 2048, 8, 0.5
    spec = replace(_spec("post-ln", False, 1, False, "relu", None, d=d, t=t, depth=1), token_share=f, vocab_size=16)
    model = LanguageModel(spec, 0)
    same = loop.measure([model.embed(torch.zeros(1, t, dtype=torch.long)).detach()], [], slice(0, t))
    diff = loop.measure([model.embed(torch.arange(t)[None]).detach()], [], slice(0, t))
    tol = 5 / math.sqrt(d)
    assert same["rho"][0] == pytest.approx(spec.rho0 + (1 - spec.rho0) * f, abs=tol)
    assert diff["rho"][0] == pytest.approx(spec.rho0, abs=tol)
    assert same["q"][0] == pytest.approx(spec.q0, abs=spec.q0 * tol * 3)
    assert D.MASK < spec.vocab_size
