"""Stock HuggingFace BERT / GPT-2 against our simulator and the theory (symsig.crosscheck).

Three kinds of checks:
* the re-initialisation is what it claims (weight variances, LN affine off, eps = 0,
  embeddings zero, eval/float64/eager, activations, logit variance);
* weight for weight, the stock model reproduces ``simulate_stack(out_proj=True)``
  (same draws, float64: agreement to rounding, 1e-9), including the exact emulation
  of residual strengths alpha != 1;
* statistically, model vs theory and model vs simulator (independent seeds).
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import scipy.special as sps

os.environ["HF_HUB_OFFLINE"] = "1"
import torch  # noqa: E402  (the test extra installs torch and transformers)
import transformers  # noqa: E402,F401

import importlib  # noqa: E402

cc = importlib.import_module("symsig.simulation.hf")
from symsig.simulation.stack import simulate_stack  # noqa: E402
from symsig.core.validate import InputError  # noqa: E402
from symsig.theory.blocks import BlockMap  # noqa: E402
from symsig.theory.layers import symbolic_state  # noqa: E402
from tests.helpers import (SV2_OFF, T_INF, X_DROPPED, check_theories, trajectories, layernorm_key_allowance,  # noqa: E402
                           replace_attention, t_infinity, unit_norm_logit_variance, x_dropped)

def gelu_tanh_np(x: np.ndarray) -> np.ndarray:
    """GPT-2's gelu_new, transcribed independently: x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


ARCH = dict(beta=1.0, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=4e-4, sigma_o2=1.0, alpha_sa=1.0, alpha_mlp=1.0,
            rho0=0.3, q0=1.0, extra_biases=True)


def _net(model: str, d: int = 64, t: int = 32, depth: int = 2, heads: int = 1, m: int | None = None):
    return cc.build_model(model, width=d, seq_len=t, depth=depth, heads=heads, mlp_width=m)


@pytest.mark.parametrize("model", cc.MODELS)
def test_reinitialisation_variances_and_layernorm(model):
    d, m, depth, t, beta = 128, 96, 3, 64, 2.0
    net = _net(model, d, t, depth, heads=2, m=m)
    assert not net.training and net.config._attn_implementation == "eager"
    rng = np.random.default_rng(1)
    sigma_a = beta * math.sqrt(math.log(t))
    layers = cc.draw_layers(rng, np.random.default_rng(2), width=d, depth=depth, mlp_width=m, sigma_a=sigma_a,
                            sigma_w2=0.2, sigma_v2=0.3, sigma_b2=0.05, sigma_o2=1.0, extra_biases=True)
    cc.load_weights(net, model, layers, [1.0] * (2 * depth))
    params = dict(net.named_parameters())
    assert all(p.dtype == torch.float64 for p in params.values())
    # read the weights back from the model in the (fan_in, fan_out) layout
    if model == "bert":
        def w(l, name):
            return params[f"encoder.layer.{l}.{name}.weight"].detach().numpy().T

        names = {"W_Q": "attention.self.query", "W_K": "attention.self.key", "W_V": "attention.self.value",
                 "W_O": "attention.output.dense", "W_1": "intermediate.dense", "W_2": "output.dense"}
        got = {k: np.stack([w(l, v) for l in range(depth)]) for k, v in names.items()}
    else:
        qkv = np.stack([params[f"h.{l}.attn.c_attn.weight"].detach().numpy() for l in range(depth)])
        got = {"W_Q": qkv[:, :, :d], "W_K": qkv[:, :, d:2 * d], "W_V": qkv[:, :, 2 * d:],
               "W_O": np.stack([params[f"h.{l}.attn.c_proj.weight"].detach().numpy() for l in range(depth)]),
               "W_1": np.stack([params[f"h.{l}.mlp.c_fc.weight"].detach().numpy() for l in range(depth)]),
               "W_2": np.stack([params[f"h.{l}.mlp.c_proj.weight"].detach().numpy() for l in range(depth)])}
    want = {"W_Q": sigma_a / d, "W_K": sigma_a / d, "W_V": 0.3 / d, "W_O": 1.0 / d, "W_1": 0.2 / d, "W_2": 0.2 / m}
    for k, var in want.items():
        x = got[k]
        # sample variance of N iid normals: relative standard error sqrt(2 / N) (N >= 3 * 96 * 128)
        assert abs(x.var() / var - 1) < 5 * math.sqrt(2 / x.size), k
        assert abs(x.mean()) < 5 * math.sqrt(var / x.size), k
    biases = [v.detach().numpy() for k, v in params.items() if k.endswith(".bias") and "LayerNorm" not in k
              and "ln_" not in k]
    allb = np.concatenate(biases)
    assert abs(allb.var() / 0.05 - 1) < 5 * math.sqrt(2 / allb.size)
    for mod in net.modules():
        if isinstance(mod, torch.nn.LayerNorm):
            assert mod.eps == 0.0
            assert torch.all(mod.weight == 1) and torch.all(mod.bias == 0)
        if isinstance(mod, torch.nn.Embedding):
            assert torch.all(mod.weight == 0)


def test_activations_are_the_stock_ones():
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    bert, gpt = _net("bert", depth=1), _net("gpt2", depth=1)
    got_bert = bert.encoder.layer[0].intermediate.intermediate_act_fn(x).numpy()
    got_gpt = gpt.h[0].mlp.act(x).numpy()
    xn = x.numpy()
    np.testing.assert_allclose(got_bert, 0.5 * xn * (1 + sps.erf(xn / math.sqrt(2))), rtol=0, atol=1e-14)
    np.testing.assert_allclose(got_gpt, gelu_tanh_np(xn), rtol=0, atol=1e-14)
    # and they differ (so the tanh kernel is not a no-op): max gap ~ 4.7e-4
    assert np.abs(got_gpt - got_bert).max() > 1e-4


def test_gelu_tanh_kernel_matches_monte_carlo():
    rng = np.random.default_rng(3)
    q1, p1, n = 0.8, 0.5, 400_000
    u = rng.standard_normal(n) * math.sqrt(q1)
    v = (p1 / q1) * u + math.sqrt(q1 - p1**2 / q1) * rng.standard_normal(n)
    prod = gelu_tanh_np(u) * gelu_tanh_np(v)
    from symsig.numerics import compile as numerics
    from symsig.theory import symbols
    from symsig.theory.activations import kernel

    ker = kernel("gelu_tanh")
    kqp = float(numerics.eval_np(numerics.compile_np((symbols.q, symbols.p), (ker.k_qp,)), q1, p1)[0])
    assert abs(prod.mean() - kqp) < 4 * prod.std() / math.sqrt(n)


@pytest.mark.parametrize("model", cc.MODELS)
def test_logit_variance(model):
    """Row variance over keys of log A_ts (= of the logits) in layer 1, given the input,
    has expectation sigma_a^2 q_t tr(C) / d (C: sample covariance of the tokens), for
    every head: this checks the REM scaling through HF's 1/sqrt(d_head)."""
    d, t, heads, beta, seeds = 128, 64, 2, 1.5, 6
    net = _net(model, d, t, 1, heads=heads)
    sigma_a = beta * math.sqrt(math.log(t))
    ratios = []
    for s in range(seeds):
        rng = np.random.default_rng(100 + s)
        x = rng.standard_normal((t, d)) * math.sqrt(0.7) + math.sqrt(0.3) * rng.standard_normal(d)
        layers = cc.draw_layers(rng, rng, width=d, depth=1, mlp_width=d, sigma_a=sigma_a, sigma_w2=0.2,
                                sigma_v2=0.2, sigma_b2=0.0, sigma_o2=1.0, extra_biases=False)
        cc.load_weights(net, model, layers, [1.0, 1.0])
        hidden, attn = cc.forward(net, x)
        xin = hidden[0] if model == "bert" else x - x.mean(axis=1, keepdims=True)
        if model == "gpt2":  # ln_1 in front of the attention
            xin = xin / np.sqrt((xin**2).mean(axis=1, keepdims=True))
        if model == "gpt2":  # causal: rows see s <= t; use the last query (all keys)
            rows = np.log(attn[0][:, -1:, :])  # logits minus a per-row constant
            qt = (xin[-1:] ** 2).sum(axis=1) / d
        else:
            rows, qt = np.log(attn[0]), (xin**2).sum(axis=1) / d
        trc = ((xin - xin.mean(axis=0)) ** 2).sum(axis=1).mean() / d
        ratios.append(rows.var(axis=2).mean() / (sigma_a**2 * qt.mean() * trc))
    r = np.array(ratios)
    assert abs(r.mean() - 1) < 4 * r.std(ddof=1) / math.sqrt(seeds) + 0.02


@pytest.mark.parametrize("model,alphas", [("bert", (1.0, 1.0)), ("bert", (0.6, 1.4)),
                                          ("gpt2", (1.0, 1.0)), ("gpt2", (0.7, 1.3))])
def test_weight_for_weight_equals_simulate_stack(model, alphas):
    """Same seeds, no extra biases, W_O variance 1/d: the stock model *is* our simulator."""
    d, t, depth, seeds, a_sa, a_mlp = 32, 24, 3, 2, *alphas
    kw = dict(ARCH, beta=2.0, alpha_sa=a_sa, alpha_mlp=a_mlp, q0=1.7, extra_biases=False)
    net = _net(model, d, t, depth, heads=2, m=40)
    if model == "bert":  # simulate_stack has no input LayerNorm
        net.embeddings.LayerNorm = torch.nn.Identity()
    got = cc.run_model(net, model, seeds=seeds, seed=5, window=slice(0, t), **kw)
    sim = simulate_stack(block="post-ln" if model == "bert" else "pre-ln",
                         activation="gelu" if model == "bert" else "gelu_tanh",
                         beta=2.0, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=4e-4, alpha_sa=a_sa, alpha_mlp=a_mlp,
                         depth=depth, width=d, seq_len=t, rho0=0.3, q0=1.7, seeds=seeds, seed=5,
                         causal=model == "gpt2", out_proj=True, heads=2, mlp_width=40)
    last = depth + 1 if model == "bert" else depth  # GPT-2's last hidden state is after ln_f
    for k in ("q", "p", "rho"):
        np.testing.assert_allclose(got[k][:, :last], sim.per_seed[k][:, :last], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["Y2"], sim.per_seed["Y2"], rtol=1e-9)
    if model == "gpt2":  # ln_f keeps the cosines up to the per-token centring, O(1/d)
        np.testing.assert_allclose(got["rho"][:, -1], sim.per_seed["rho"][:, -1], atol=0.05)
        np.testing.assert_allclose(got["q"][:, -1], 1.0, rtol=1e-12)


def model_theories(model: str, *, width: int, seq_len: int, depth: int, beta: float, seeds: int, seed: int):
    """Per-seed measurements of the stock model and the named theories for them.

    Measured: (rho_1..rho_L, Y2_1..Y2_L) per seed over the window crosscheck uses (all tokens for
    BERT; the last quarter for GPT-2, whose theory is the causal map at the window's central key
    count). Theories, each from the seed's measured input (q_0, p_0): the library's
    (:func:`symsig.simulation.hf.theory`, checked equal to the route below), and the same block
    composition (:func:`symsig.simulation.hf.theory_block`) with T -> infinity moments, with X
    dropped, and with sigma_v2 off by 10%. Allowance on Y2: every attention of both models reads
    LayerNorm'd tokens (:func:`tests.helpers.layernorm_key_allowance`; 0.01-0.03 at d = 64).
    """
    n_win = seq_len if model == "bert" else max(2, seq_len // 4)
    keys = seq_len if model == "bert" else int(round((2 * seq_len - n_win + 1) / 2))
    causal = model == "gpt2"
    net = _net(model, width, seq_len, depth)
    got = cc.run_model(net, model, seeds=seeds, seed=seed, window=slice(seq_len - n_win, seq_len), **dict(ARCH, beta=beta))
    q0, p0 = got["q"][:, 0], got["p"][:, 0]

    def block(tree):
        out, fixed = tree(symbolic_state()), {cc.sigma_o2: ARCH["sigma_o2"]}
        return BlockMap(model, "gelu", True, *(x.xreplace(fixed) for x in (out.q, out.p, out.observable("Y2"))), causal)

    tree = cc.theory_block(model)
    maps = {"right": block(tree), T_INF: block(replace_attention(tree, t_infinity)),
            X_DROPPED: block(replace_attention(tree, x_dropped))}
    arch = [ARCH[k] for k in ("sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa", "alpha_mlp")]
    runs = {}
    for name, bm in [*maps.items(), (SV2_OFF, maps["right"])]:
        if name == SV2_OFF:
            arch[1] *= 1.1
        out = trajectories(bm, (beta, *arch, seq_len) + ((keys,) if causal else ()), q0, p0, depth)
        runs[name] = np.concatenate([out["rho"][:, 1:], out["Y2"]], axis=1)
    for k in range(seeds):  # the route above is the library's theory
        lib = cc.theory(model=model, seq_len=seq_len, depth=depth, beta=beta, sigma_w2=ARCH["sigma_w2"],
                        sigma_v2=ARCH["sigma_v2"], sigma_b2=ARCH["sigma_b2"], rho0=p0[k] / q0[k], q0=q0[k],
                        positions=np.array([keys]) if causal else None)
        np.testing.assert_allclose(runs["right"][k], np.concatenate([lib["rho"][1:], lib["Y2"]]), rtol=1e-9)
    # the attention of block l reads LN'd tokens with the cosine of layer l - 1
    rho_in = np.concatenate([[float((p0 / q0).mean())], runs["right"][:, :depth - 1].mean(axis=0)])
    s2 = unit_norm_logit_variance(rho_in, beta, seq_len)
    allowance = np.concatenate([np.zeros(depth), layernorm_key_allowance(s2, width=width, keys=keys)])
    return np.concatenate([got["rho"][:, 1:], got["Y2"]], axis=1), runs, allowance


@pytest.mark.parametrize("model", cc.MODELS)
def test_theory_matches_model(model):
    """d = T = 64, 3 layers, beta = 2, 16 seeds: the theory within t* (+ the LayerNorm'd-key allowance
    on Y2) at every layer; the T -> infinity moments rejected."""
    measured, theories, allowance = model_theories(model, width=64, seq_len=64, depth=3, beta=2.0, seeds=16, seed=1)
    check_theories(measured, theories, allowance=allowance, reject=(T_INF,), label=f"{model} (rho_1..3, Y2_1..3)")


def test_theory_pieces():
    """Theory at layer 0 is the input, GPT-2 ends with ln_f (q = 1), Y2 at beta -> 0 is ~1/n,
    and the output projection with sigma_o2 = 1 and no bias leaves the BERT map unchanged
    against the library's post-LN block (composed independently in symsig.blocks)."""
    from symsig.numerics import compile as numerics
    from symsig.theory import blocks

    th = cc.theory(model="gpt2", seq_len=64, depth=2, beta=1.0, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=4e-4,
                   positions=np.array([64]))
    assert th["rho"][0] == pytest.approx(0.3) and th["q"][-1] == pytest.approx(1.0)
    tiny = cc.theory(model="bert", seq_len=100, depth=1, beta=1e-4, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=0.0)
    assert tiny["Y2"][0] == pytest.approx(0.01, rel=1e-3)
    mine = cc.theory(model="bert", seq_len=128, depth=1, beta=2.0, sigma_w2=0.3, sigma_v2=0.4, sigma_b2=0.01,
                     extra_biases=False)
    bm = blocks.block_map("post-ln", "gelu", finite_t=True)
    q1, p1, y2 = numerics.eval_np(numerics.block_np(bm), 1.0, 0.3, 2.0, 0.3, 0.4, 0.01, 1.0, 1.0, 128)
    assert mine["rho"][1] == pytest.approx(float(p1 / q1), rel=1e-10)
    assert mine["Y2"][0] == pytest.approx(float(y2), rel=1e-10)


def test_gpt2_window_mean_is_exact():
    """GPT-2's theory averages every key count of the late window: at layer 1 its Y2 is the mean of
    the exact finite-T Y2(n) over n = 193..256 (T = 256, beta = 0.5, keys at (q, p) = (1, rho0)).
    Three evenly spaced counts overstate that mean by more than 0.5% (Y2 ~ 1/n is convex)."""
    from symsig.numerics.finite_t.floats import y_moment_np

    T, beta, rho0 = 256, 0.5, 0.3
    n = cc.window_positions(T - T // 4 + 1, T)
    kw = dict(model="gpt2", seq_len=T, depth=1, beta=beta, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=4e-4, rho0=rho0)
    exact = np.mean(y_moment_np(2, np.full(n.size, beta**2 * math.log(T) * (1 - rho0)), n.astype(float)))
    assert n.size == 64 and cc.theory(**kw, positions=n)["Y2"][0] == pytest.approx(exact, rel=1e-10)
    three = cc.theory(**kw, positions=cc.window_positions(n[0], n[-1], 3))["Y2"][0]
    assert three / exact - 1 > 0.005


@pytest.mark.parametrize("kw,msg", [
    (dict(model="llama"), "model"), (dict(heads=3), "heads"), (dict(beta=0), "beta"),
    (dict(sigma_w2=-1), "sigma_w2"), (dict(rho0=-0.1), "rho0"), (dict(seq_len=2), "seq_len"),
    (dict(alpha_sa=0), "alpha_sa"), (dict(seeds=0), "seeds"),
])
def test_bad_input(kw, msg):
    args = dict(model="bert", width=16, seq_len=16, depth=1, beta=1.0) | kw
    with pytest.raises(InputError, match=msg) as info:
        cc.crosscheck(**args)
    assert "\n" not in str(info.value)


def test_plot(tmp_path):
    res = cc.crosscheck(model="gpt2", width=32, seq_len=32, depth=2, beta=1.0, seeds=2, theory_positions=3)
    rho, th = np.array(res.rho), np.array(res.theory_rho)
    assert res.max_abs_error == pytest.approx(np.abs(rho - th)[1:].max())
    assert {"rho", "rho_err", "theory_rho", "max_abs_error", "Y2", "theory_Y2"} <= set(res.to_dict())
    out = cc.plot(res, tmp_path / "cc.png")
    with open(out, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.parametrize("model,beta", [("bert", 0.5), ("gpt2", 2.0)])
def test_stock_model_agrees_with_simulate_stack_statistically(model, beta):
    """Independent seeds; the stock model with all its biases (b_Q, b_K, b_O), BERT's
    input LayerNorm and (GPT-2) gelu_new vs our simulator with the output projection,
    all tokens: per-layer rho within 3.5 combined standard errors (8 + 8 seeds; the
    extra pieces move rho by O(sigma_b2) and O(1/d), well below the errors)."""
    d, t, depth, seeds = 96, 64, 4, 8
    net = _net(model, d, t, depth)
    got = cc.run_model(net, model, seeds=seeds, seed=11, window=slice(0, t), **dict(ARCH, beta=beta))
    sim = simulate_stack(block="post-ln" if model == "bert" else "pre-ln", activation="gelu" if model == "bert" else "gelu_tanh", beta=beta, sigma_w2=0.2,
                         sigma_v2=0.2, sigma_b2=4e-4, alpha_sa=1.0, alpha_mlp=1.0, depth=depth, width=d,
                         seq_len=t, rho0=0.3, seeds=seeds, seed=12, causal=model == "gpt2", out_proj=True)
    rho = got["rho"].mean(axis=0)
    err = got["rho"].std(axis=0, ddof=1) / math.sqrt(seeds)
    diff = np.abs(rho - sim.rho)[1:]
    tol = 3.5 * np.hypot(err, sim.rho_err)[1:]
    assert np.all(diff <= tol), (diff, tol)


@pytest.mark.slow
@pytest.mark.parametrize("model", cc.MODELS)
def test_theory_matches_model_d128(model):
    """d = 128, T = 64, 4 layers, beta = 2, 24 seeds: as above, with the T -> infinity moments rejected."""
    measured, theories, allowance = model_theories(model, width=128, seq_len=64, depth=4, beta=2.0, seeds=24, seed=3)
    check_theories(measured, theories, allowance=allowance, reject=(T_INF,), label=f"{model} d=128 (rho_1..4, Y2_1..4)")
