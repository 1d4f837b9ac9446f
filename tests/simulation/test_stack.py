"""Tests of symsig.simulate: the Monte Carlo of random transformers at initialisation.

Three kinds of checks: exact identities (determinism, LayerNorm, causal mask,
gain control, equality with an independent naive reimplementation to 1e-12),
and statistical agreement with the finite-T attention map (docs/theory.md §4), paired per seed
(tests/helpers.py: Student-t/Bonferroni acceptance, and named wrong theories -- X dropped,
sigma_v2 off by 10%, the d -> infinity map, T -> infinity moments -- rejected by the same statistic).
"""

from __future__ import annotations

import json
import math

from functools import lru_cache

import numpy as np
import pytest
import scipy.special as sps
import sympy as sp
from scipy.stats import norm

import importlib

sim = importlib.import_module("symsig.simulation.stack")  # the module (symsig.simulate is the API function)
from symsig.simulation import forward  # noqa: E402
from symsig.simulation.stack import SimResult, simulate_stack  # noqa: E402
from symsig.numerics.compile import compile_np, eval_np  # noqa: E402
from symsig.theory import finite_width, symbols as S  # noqa: E402
from symsig.theory.layers import Attention, State  # noqa: E402
from tests.helpers import (SV2_OFF, T_INF, X_DROPPED, accept_threshold, attention_layer_theories,  # noqa: E402
                           check_theories, layer_evaluators, x_dropped)

BASE = dict(beta=0.5, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=4e-4, alpha_sa=1.0, alpha_mlp=1.0,
            rho0=0.2)


def run(**kw) -> SimResult:
    args = {**BASE, "depth": 2, "width": 32, "seq_len": 16, "seeds": 2, **kw}
    return simulate_stack(**args)


# ----------------------------------------------------------------------------- independent reimplementation


def _naive_stats(h: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """(q, p, rho, rho_pos) from the full Gram and cosine matrices."""
    n_tok, d = h.shape
    gram = h @ h.T / d
    off = ~np.eye(n_tok, dtype=bool)
    cos = gram / np.sqrt(np.outer(np.diag(gram), np.diag(gram)))
    rho_pos = np.array([cos[t, off[t]].mean() for t in range(n_tok)])
    return np.diag(gram).mean(), gram[off].mean(), cos[off].mean(), rho_pos


def _naive_act(u: np.ndarray, name: str) -> np.ndarray:
    return {"relu": lambda v: np.where(v > 0, v, 0.0), "erf": sps.erf, "tanh": np.tanh,
            "gelu": lambda v: v * norm.cdf(v), "linear": lambda v: v}[name](u)


def naive_simulation(*, block, activation, beta, sigma_w2, sigma_v2, sigma_b2, alpha_sa,
                     alpha_mlp, depth, width, seq_len, rho0, q0=1.0, seeds, seed, causal=False,
                     out_proj=False, heads=1, mlp_width=None) -> dict[str, np.ndarray]:
    """Straight transcription of the documented model and draw order, no optimisation."""
    d, n_tok, m = width, seq_len, mlp_width or width
    sig_a = beta * math.sqrt(math.log(n_tok))
    ln = lambda h: (h - h.mean(1, keepdims=True)) / h.std(1, keepdims=True)  # noqa: E731
    pre, gc = block.endswith("pre-ln"), block.startswith("gc-")
    d_h = d // heads
    keys = ["q", "p", "rho", "rho_pos", "q_att", "p_att", "rho_att", "rho_pos_att",
            "q_branch", "p_branch", "rho_branch", "rho_pos_branch", "Y2", "entropy", "X", "Y2_pos"]
    out: dict[str, list] = {k: [] for k in keys}
    for ss in np.random.SeedSequence(seed).spawn(seeds):
        rng = np.random.default_rng(ss)
        rec: dict[str, list] = {k: [] for k in keys}

        def put(suffix, stats):
            for name, val in zip(("q", "p", "rho", "rho_pos"), stats):
                rec[name + suffix].append(val)

        g = rng.standard_normal(d)
        z = rng.standard_normal((n_tok, d))
        h = math.sqrt(q0) * (math.sqrt(rho0) * g + math.sqrt(1 - rho0) * z)
        put("", _naive_stats(h))
        for _ in range(depth):
            w = lambda shape, var: rng.standard_normal(shape) * math.sqrt(var)  # noqa: E731
            wq, wk, wv, bv = w((d, d), sig_a / d), w((d, d), sig_a / d), w((d, d), sigma_v2 / d), w(d, sigma_b2)
            wo = w((d, d), 1 / d) if out_proj else None
            w1, b1, w2, b2 = w((d, m), sigma_w2 / d), w(m, sigma_b2), w((m, d), sigma_w2 / m), w(d, sigma_b2)
            xa = ln(h) if pre else h
            y = np.zeros((n_tok, d))
            y2, ent, xov = np.zeros(n_tok), np.zeros(n_tok), 0.0
            for k in range(heads):
                c = slice(k * d_h, (k + 1) * d_h)
                logits = (xa @ wq[:, c]) @ (xa @ wk[:, c]).T / math.sqrt(d_h)
                if causal:
                    logits[np.triu_indices(n_tok, 1)] = -np.inf
                a = sps.softmax(logits, axis=1)
                y[:, c] = a @ (xa @ wv[:, c])
                y2 += (a**2).sum(1) / heads
                ent += -sps.xlogy(a, a).sum(1) / heads
                ov = a @ a.T
                xov += (ov.sum() - np.trace(ov)) / (n_tok * (n_tok - 1)) / heads
            y = y + bv
            if gc:
                y = y - y.mean(0)
            if out_proj:
                y = y @ wo
            put("_att", _naive_stats(xa))
            put("_branch", _naive_stats(y))
            rec["Y2"].append(y2.mean())
            rec["entropy"].append(ent.mean())
            rec["X"].append(xov)
            rec["Y2_pos"].append(y2)
            h = alpha_sa * h + y if pre else ln(alpha_sa * h + y)
            mlp_in = ln(h) if pre else h
            f = _naive_act(mlp_in @ w1 + b1, activation) @ w2 + b2
            h = alpha_mlp * h + f if pre else ln(alpha_mlp * h + f)
            put("", _naive_stats(h))
        for k in keys:
            out[k].append(np.array(rec[k]))
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("block,activation,causal,heads,out_proj,mlp_width", [
    ("post-ln", "relu", False, 1, False, None),
    ("pre-ln", "gelu", True, 2, False, 48),
    ("gc-post-ln", "tanh", True, 4, True, None),
    ("gc-pre-ln", "erf", False, 2, True, 24),
    ("post-ln", "linear", True, 1, False, None),
])
def test_matches_naive_reimplementation(block, activation, causal, heads, out_proj, mlp_width):
    kw = dict(block=block, activation=activation, beta=1.7, sigma_w2=0.5, sigma_v2=0.7,
              sigma_b2=0.01, alpha_sa=0.8, alpha_mlp=1.1, depth=2, width=32, seq_len=16,
              rho0=0.3, q0=1.5, seeds=2, seed=11, causal=causal, out_proj=out_proj,
              heads=heads, mlp_width=mlp_width)
    res = simulate_stack(**kw)
    ref = naive_simulation(**kw)
    for key, val in ref.items():
        np.testing.assert_allclose(res.per_seed[key], val, rtol=1e-12, atol=1e-12, err_msg=key)


# ----------------------------------------------------------------------------- exact properties


def test_deterministic_given_seed():
    a, b, c = run(seed=3), run(seed=3), run(seed=4)
    for key in ("rho", "q", "p", "Y2", "entropy", "X", "rho_branch"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert not np.array_equal(a.rho, c.rho)
    assert a.to_dict() == b.to_dict()


def test_seeds_are_independent_streams():
    # seed k of a 2-seed run is the first network of no other run: per-seed rows differ
    res = run(seeds=2)
    assert not np.array_equal(res.per_seed["rho"][0], res.per_seed["rho"][1])


def test_shapes_and_json():
    depth, n_tok = 3, 16
    res = run(depth=depth, seq_len=n_tok, causal=True, seeds=1)
    for key in ("q", "p", "rho", "rho_err"):
        assert getattr(res, key).shape == (depth + 1,)
    for key in ("Y2", "Y2_err", "entropy", "X", "q_att", "p_att", "rho_att", "q_branch", "p_branch"):
        assert getattr(res, key).shape == (depth,)
    assert res.rho_pos.shape == (depth + 1, n_tok) and res.Y2_pos.shape == (depth, n_tok)
    assert np.all(np.isnan(res.rho_err))  # one seed: no standard error
    d = res.to_dict()
    json.dumps(d, allow_nan=False)  # NaN became null
    assert d["rho_err"][0] is None and len(d["Y2_pos"]) == depth
    assert d["settings"]["seq_len"] == n_tok and d["settings"]["sigma_a"] == pytest.approx(
        0.5 * math.sqrt(math.log(n_tok)))
    assert run(causal=False).rho_pos is None
    with pytest.raises(ValueError):  # arrays are read-only: the result is immutable
        res.rho[0] = 0.0


def test_standard_error_is_std_over_seeds():
    res = run(seeds=5)
    samples = res.per_seed["Y2"]
    np.testing.assert_allclose(res.Y2, samples.mean(0), rtol=1e-14)
    np.testing.assert_allclose(res.Y2_err, samples.std(0, ddof=1) / math.sqrt(5), rtol=1e-12)


@pytest.mark.parametrize("block", ["post-ln", "gc-post-ln"])
def test_q_after_layer_norm_is_one(block):
    res = run(block=block, depth=4, width=128, seq_len=64, seeds=2)
    np.testing.assert_allclose(res.per_seed["q"][:, 1:], 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.per_seed["q_att"][:, 1:], 1.0, rtol=0, atol=1e-12)
    # after LN, p / q and the mean cosine are the same number
    np.testing.assert_allclose(res.per_seed["p"][:, 1:], res.per_seed["rho"][:, 1:], atol=1e-12)


def test_pre_ln_attention_sees_normalised_tokens():
    res = run(block="pre-ln", depth=3, q0=4.0)
    np.testing.assert_allclose(res.per_seed["q_att"], 1.0, atol=1e-12)
    assert res.q[0] == pytest.approx(4.0, rel=0.2)  # the stream itself is not normalised


def test_zero_attention_branch_gives_nan_cosine_without_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = run(sigma_v2=0.0, sigma_b2=0.0)
    assert np.all(res.q_branch == 0.0) and np.all(np.isnan(res.rho_branch))
    assert np.all(np.isfinite(res.rho))


def test_layer_norm_exact():
    h = np.random.default_rng(0).normal(3.0, 2.0, size=(10, 50))
    out = sim.layer_norm(h)
    np.testing.assert_allclose(out.mean(1), 0.0, atol=1e-14)
    np.testing.assert_allclose((out**2).mean(1), 1.0, atol=1e-13)


def test_rho_pos_averages_to_rho():
    res = run(causal=True, seeds=3)
    np.testing.assert_allclose(res.per_seed["rho_pos"].mean(-1), res.per_seed["rho"], atol=1e-14)


@pytest.mark.parametrize("causal", [False, True])
def test_window_statistic_is_the_window_tokens_cosine(causal):
    """rho_window is token_stats on the window's rows: the whole sequence gives rho itself; a part
    gives another cosine (the same draws: the window changes no random stream)."""
    whole = run(causal=causal, seeds=3, window=(0, 16))
    np.testing.assert_array_equal(whole.rho_window, whole.rho)
    part = run(causal=causal, seeds=3, window=(2, 5))
    assert part.rho_window.shape == part.rho.shape and not np.allclose(part.rho_window, part.rho)
    np.testing.assert_array_equal(part.rho, whole.rho)
    assert np.all(np.abs(part.per_seed["rho_window"]) <= 1)
    assert run(causal=causal, seeds=3).rho_window is None


def test_input_geometry_matches_prescription():
    # x_t = sqrt(q0)(sqrt(rho0) g + sqrt(1-rho0) z_t): E q = q0, E p = q0 rho0.
    # One draw with d = 4096, T = 64: sd(q) ~ q0 sqrt(2/(dT)) ~ 4e-3 q0;
    # sd(p) ~ q0 rho0 sqrt(2/d) ~ 0.022 q0 rho0 (dominated by |g|^2/d): 4 sd bounds below.
    x = sim.make_input(np.random.default_rng(5), 64, 4096, rho0=0.6, q0=2.0)
    q, p, _, _ = sim.token_stats(x)
    assert abs(q - 2.0) < 4 * 2.0 * math.sqrt(2 / (4096 * 64))
    assert abs(p - 1.2) < 4 * 1.2 * math.sqrt(2 / 4096)


def _attn_weights():
    rng = np.random.default_rng(1)
    n_tok, d = 300, 8  # T > row chunk: exercises several chunks
    x = rng.standard_normal((n_tok, d))
    return x, (x @ rng.standard_normal((d, d))) @ (x @ rng.standard_normal((d, d))).T


@pytest.mark.parametrize("causal", [False, True])
def test_softmax_stats_chunked_equal_reference(causal):
    _, logits = _attn_weights()
    n = logits.shape[0]  # independent reference: scipy's softmax of the masked logits
    ref = sps.softmax(np.where(np.triu(np.ones((n, n), bool), 1) & causal, -np.inf, logits), axis=1)
    np.testing.assert_allclose(sim.softmax_rows(logits, causal=causal), ref, rtol=1e-12, atol=1e-15)
    buf = logits.copy()
    y2, ent, x_ov = forward.softmax_inplace(buf, causal, np.empty((256, buf.shape[0])))
    np.testing.assert_allclose(buf, ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(y2, (ref**2).sum(1), rtol=1e-12)
    np.testing.assert_allclose(ent, -sps.xlogy(ref, ref).sum(1), rtol=1e-11, atol=1e-12)
    assert x_ov == pytest.approx(((ref @ ref.T).sum() - (ref**2).sum()) / (n * (n - 1)), rel=1e-12)
    if causal:  # row t puts exactly zero weight on s > t, and all of it on s <= t
        assert np.all(buf[np.triu_indices(n, 1)] == 0.0)
        np.testing.assert_allclose(buf.sum(1), 1.0, rtol=1e-13)
        assert y2[0] == 1.0 and ent[0] == 0.0


def _weights(d, rng):
    return [rng.standard_normal((d, d)) / math.sqrt(d) for _ in range(3)] + [rng.standard_normal(d)]


def test_causal_output_ignores_future_tokens():
    rng = np.random.default_rng(2)
    n_tok, d, cut = 20, 16, 7
    x = rng.standard_normal((n_tok, d))
    w = _weights(d, rng)
    y, _ = sim.attention(x, *w, heads=2, causal=True)
    x2 = x.copy()
    x2[cut + 1:] = rng.standard_normal((n_tok - cut - 1, d))
    y2, _ = sim.attention(x2, *w, heads=2, causal=True)
    np.testing.assert_array_equal(y[: cut + 1], y2[: cut + 1])
    assert not np.allclose(y[cut + 1:], y2[cut + 1:])


def test_causal_first_token_attends_to_itself():
    res = run(causal=True, beta=2.0, depth=3)
    np.testing.assert_array_equal(res.per_seed["Y2_pos"][..., 0], 1.0)


def test_gain_control_outputs_sum_to_zero():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((24, 16))
    w = _weights(16, rng)
    w[3] = w[3] + 5.0  # a large bias must be removed too
    for w_o in (None, rng.standard_normal((16, 16)) / 4):
        y, _ = sim.attention(x, *w, heads=2, gain_control=True, w_o=w_o)
        np.testing.assert_allclose(y.sum(0), 0.0, atol=1e-12)


@pytest.mark.parametrize("block", ["gc-post-ln", "gc-pre-ln"])
def test_gain_control_branch_overlap_identity(block):
    # sum_t y_t = 0  =>  p_branch = -q_branch / (T - 1) exactly (docs/theory.md §5.2)
    res = run(block=block, seq_len=16, depth=3, seeds=2)
    np.testing.assert_allclose(res.per_seed["p_branch"], -res.per_seed["q_branch"] / 15, rtol=1e-10)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "gelu", "linear"])
def test_activations_match_formulas(activation):
    u = np.linspace(-4, 4, 101)
    np.testing.assert_allclose(sim.apply_activation(u.copy(), activation), _naive_act(u, activation),
                               rtol=1e-14, atol=1e-15)


def test_custom_act_fn_equals_builtin():
    a = run(activation="relu")
    b = run(activation="tanh", act_fn=lambda u: np.maximum(u, 0.0))  # act_fn overrides
    np.testing.assert_array_equal(a.rho, b.rho)
    assert b.settings["activation"] == "custom"


def test_float32_runs_and_normalises():
    res = run(dtype=np.float32, width=64, seq_len=32)
    assert res.settings["dtype"] == "float32"
    np.testing.assert_allclose(res.q[1:], 1.0, atol=1e-5)


def test_progress_bar_on_stderr(capsys):
    run(progress=True, depth=2, seeds=2)
    err = capsys.readouterr().err
    assert "simulate" in err and "0/4" in err  # the one progress bar (tqdm), forced on, seeds x depth steps
    run(progress=False)
    assert capsys.readouterr().err == ""
    run(progress=None)  # on a terminal only: pytest's captured stderr is not one
    assert capsys.readouterr().err == ""


def test_count_matmul_flops():
    # d=4, T=3, m=5, L=2, seeds=3: per layer 6*3*16 + 4*9*4 + 4*3*4*5 = 288 + 144 + 240
    assert sim.count_matmul_flops(width=4, seq_len=3, depth=2, mlp_width=5, seeds=3) == 6 * 672
    assert sim.count_matmul_flops(width=4, seq_len=3, depth=1, out_proj=True) == 288 + 144 + 192 + 96


@pytest.mark.parametrize("bad,msg", [
    (dict(block="decoder"), "block"), (dict(activation="softplus"), "activation"),
    (dict(beta=0.0), "beta"), (dict(beta=float("nan")), "beta"), (dict(sigma_v2=-1.0), "sigma_v2"),
    (dict(rho0=1.5), "rho0"), (dict(rho0=-0.1), "rho0"), (dict(q0=0.0), "q0"),
    (dict(width=30, heads=4), "heads"), (dict(seq_len=1), "seq_len"), (dict(depth=0), "depth"),
    (dict(seeds=0), "seeds"), (dict(seed=-1), "seed"), (dict(width=32.5), "width"),
    (dict(dtype="float16"), "dtype"), (dict(act_fn=3), "act_fn"), (dict(alpha_sa="x"), "alpha_sa"),
    (dict(act_fn=lambda u: u[:, :1]), "act_fn"), (dict(mlp_width=0), "mlp_width"),
    (dict(window=(3, 4)), "window"), (dict(window=(0, 99)), "window"), (dict(window=(-1, 4)), "window"),
    (dict(window=(1, 2, 3)), "window"), (dict(window=3), "window"),
])
def test_bad_input_raises_one_line_value_error(bad, msg):
    with pytest.raises(ValueError, match=msg) as info:
        run(**bad)
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------- theory (docs/theory.md §4)
#
# The attention map at the measured moments: seed k's network has input state (q, p) and measured
# IPR Y2 and overlap X; the theory is the library's output map (Attention.output) at those moments,
# shifted by the first-order finite-width terms Dq/d = Y2_eff - Y2_d and Dp/d = X_eff - X_d of
# docs/finite_width.md (the measured Y2, X are the width-smeared Y2_d, X_d; the shifts are smooth in
# the state and evaluated at the seed-mean state). Only the W_V draw is left to fluctuate, so this is
# the sharpest test of the output map; the moments themselves are tested in test_theory_vs_mc.py.
# Statistics and thresholds: tests/helpers.py (check_theories).

Y2_SYM, X_SYM = sp.symbols("Y2 X", real=True)


@lru_cache(maxsize=None)
def output_maps(gain_control: bool):
    """Compiled (q_S, p_S) of the library's attention output map and of its X-dropped variant, as
    functions of (q, p, Y2, X, sigma_v2, sigma_b2, T)."""
    att = Attention(finite_t=True, gain_control=gain_control)
    outs = [a.output(State(S.q, S.p), Y2_SYM, X_SYM) for a in (att, x_dropped(att))]
    return compile_np((S.q, S.p, Y2_SYM, X_SYM, S.sigma_v2, S.sigma_b2, S.T), tuple(x for o in outs for x in (o.q, o.p)))


@lru_cache(maxsize=None)
def width_shifts():
    """Compiled (Dq/d, Dp/d) = (Y2_eff - Y2_d, X_eff - X_d) of one attention layer in (q, p, beta, T, d)."""
    y2_eff, x_eff, y2_d = finite_width.attention_width_moments()
    x_d = finite_width.x_width_expr().xreplace({finite_width.n: S.T}).xreplace(finite_width.state_substitution())
    return compile_np((S.q, S.p, S.beta, S.T, S.d), (y2_eff - y2_d, x_eff - x_d))


def map_at_measured_moments(res: SimResult, *, gain_control: bool = False) -> tuple[np.ndarray, dict]:
    """Measured (q_S, p_S) per seed of a one-layer run, and the named theories for them: the right
    map, X dropped, sigma_v2 off by 10%, and the d -> infinity map (no width shifts)."""
    st = res.settings
    q, p, y2, x_ov, q_s, p_s = _branch(res)
    dq, dp = (float(v) for v in eval_np(width_shifts(), q.mean(), p.mean(), st["beta"], st["seq_len"], st["width"]))
    theories = {}
    for name, sv2, shift in (("right", st["sigma_v2"], 1.0), (SV2_OFF, 1.1 * st["sigma_v2"], 1.0),
                             ("d -> infinity", st["sigma_v2"], 0.0)):
        out = np.array(eval_np(output_maps(gain_control), q, p, y2 + shift * dq, x_ov + shift * dp, sv2,
                               st["sigma_b2"], st["seq_len"]))
        theories[name] = out[:2].T
        if name == "right":
            theories[X_DROPPED] = out[2:].T
    return np.stack([q_s, p_s], axis=1), theories


def _branch(res: SimResult) -> tuple[np.ndarray, ...]:
    ps = res.per_seed
    return tuple(ps[k][:, 0] for k in ("q_att", "p_att", "Y2", "X", "q_branch", "p_branch"))


def one_attention_layer(**kw) -> SimResult:
    """One bare attention layer (the library's Attention as the block)."""
    return simulate_stack(**{**BASE, "block": Attention(finite_t=True), "depth": 1, **kw})


def test_small_beta_attention_is_nearly_uniform_and_collapses_rank():
    # beta = 0.1: logit variance s2 = sigma_a^2 q (q - p) ~ 0.04 << 1, so
    # E[Y2] = e^{s2} / T (1 + O(s2 / T)) (lognormal weights, concentrated denominator):
    # "Y2 ~ 1/T", while the asymptotic formula max(0, 1 - sqrt(2/(q(q-p)))/beta) gives 0.
    n_tok, d, seeds = 128, 128, 16
    res = one_attention_layer(beta=0.1, width=d, seq_len=n_tok, seeds=seeds)
    q, p = res.q_att[0], res.p_att[0]
    s2 = 0.1**2 * math.log(n_tok) * q * (q - p)
    y2_asym = max(0.0, 1 - math.sqrt(2 / (q * (q - p))) / 0.1)
    assert y2_asym == 0.0
    # tolerance t* SE plus 2 s2/T for the O(s2/T) and O(s2/d) corrections
    assert abs(res.Y2[0] - math.exp(s2) / n_tok) < accept_threshold(seeds, 1) * res.Y2_err[0] + 2 * s2 / n_tok
    # Result 1: rank collapse, rho_S = p_S / q_S -> 1 while the input has rho = 0.2. The statistic
    # 1 - p_S/q_S per seed is (q - p)(Y2 - X) sigma_v2 / q_S: X ~ Y2 ~ 1/T both matter, and the
    # finite-width factor 1 + T/d = 2 (test below) too.
    assert res.rho_att[0] < 0.3 and res.rho_branch[0] > 0.95
    measured, theories = map_at_measured_moments(res)
    del theories[SV2_OFF]  # 1 - p_S/q_S hardly depends on sigma_v2 (only through sigma_b2)
    check_theories(1 - measured[:, 1:] / measured[:, :1], {k: 1 - v[:, 1:] / v[:, :1] for k, v in theories.items()},
                   label="1 - p_S/q_S, beta = 0.1")


@pytest.mark.parametrize("n_tok,d", [(128, 128), (128, 512), (32, 128)])
def test_finite_width_correction_small_beta(n_tok, d):
    # Our derivation (linear response, beta -> 0): averaging over W_V,
    # q_S - p_S = sv2 [mean_t A_t G A_t - mean_{t!=t'} A_t G A_t'] with the actual Gram G;
    # A_t = (1 + c_t)/T, c_ts = x_t M (x_s - xbar), so A_t G A_t ~ |S M x_t|^2 / (d T^2) with
    # S = sum_s (x_s - xbar)(x_s - xbar)^T Wishart(T - 1, q - p): E S^2 = (q-p)^2 (T-1)(T+d),
    # against (q - p) x_t M S M x_t / T^2 for G = p 11^T + (q - p) I.  Hence
    # (q_S - p_S) / (sv2 (q - p)(Y2 - X)) = 1 + T/d + O(1/d, s2): an O(T/d) correction
    # that the d -> infinity theory drops.  Allowance 2 s2 + 1/d for the O(s2, 1/d) terms; the
    # d -> infinity factor 1 and a sigma_v2 10% too large (factor 1.1 (1 + T/d)) are rejected.
    beta, sv2, seeds = 0.05, 0.2, 16
    res = one_attention_layer(beta=beta, width=d, seq_len=n_tok, seeds=seeds)
    q, p, y2, x_ov, q_s, p_s = _branch(res)
    ratio = ((q_s - p_s) / (sv2 * (q - p) * (y2 - x_ov)))[:, None]
    s2 = beta**2 * math.log(n_tok) * float(np.mean(q * (q - p)))
    factor = np.full_like(ratio, 1 + n_tok / d)
    check_theories(ratio, {"right": factor, "d -> infinity": np.ones_like(ratio), SV2_OFF: 1.1 * factor},
                   allowance=2 * s2 + 1 / d, label=f"(q_S - p_S)/(sv2 (q - p)(Y2 - X)), T={n_tok} d={d}")


@pytest.mark.parametrize("beta", [0.5, 3.0])
def test_attention_map_finite_T(beta):
    # docs/theory.md §4, finite T: q_S = sv2 [p + (q-p) Y2] + sb2, p_S = sv2 [p + (q-p) X] + sb2 at
    # the measured moments of each draw (n = 16 seeds), with the finite-width shifts. Uncorrelated
    # tokens (rho = 0): p_S is the X term alone, so X dropped is rejected in p_S.
    res = one_attention_layer(beta=beta, sigma_v2=0.7, width=256, seq_len=64, rho0=0.0, seeds=16, seed=1)
    measured, theories = map_at_measured_moments(res)
    check_theories(measured, theories, reject=(X_DROPPED, SV2_OFF), label=f"(q_S, p_S) beta={beta}")


def test_gain_controlled_map_finite_T():
    # q_S = sv2 (q - p)(1 - 1/T)(Y2 - X) exactly in expectation at finite T, d -> infinity
    # (docs/theory.md §4), and p_S = -q_S/(T - 1) draw by draw. The centred output has
    # q_S = (1 - 1/T)(q - p) of the plain output, draw by draw, so the plain layer's width shifts
    # apply. n = 16 seeds; the form without X (sv2 (q - p)(1 - 1/T) Y2) is rejected.
    sv2, d, n_tok = 0.7, 256, 64
    res = simulate_stack(**{**BASE, "beta": 0.5, "rho0": 0.5, "sigma_v2": sv2},
                         block=Attention(finite_t=True, gain_control=True), depth=1, width=d, seq_len=n_tok,
                         seeds=16, seed=2)
    np.testing.assert_allclose(res.per_seed["p_branch"], -res.per_seed["q_branch"] / (n_tok - 1), rtol=1e-10)
    measured, theories = map_at_measured_moments(res, gain_control=True)
    check_theories(measured[:, :1], {k: v[:, :1] for k, v in theories.items()}, reject=(X_DROPPED, SV2_OFF),
                   label="gain control q_S")


@pytest.mark.slow
@pytest.mark.parametrize("beta,exact_y2", [(1.0, 0.10148), (2.0, 0.42502), (3.0, 0.60241)])
def test_Y2_matches_exact_finite_T_REM(beta, exact_y2):
    # docs/theory.md §3: exact E_T[Y2] at T = 512, q = 1, p = 0 (0.10148, 0.42502, 0.60241); the
    # network's IPR per seed against the library's finite-T moment (with the finite-width smearing)
    # at that seed's measured input, 16 seeds x 512 queries; the Poisson-Dirichlet 1 - m rejected.
    d, n_tok, seeds = 256, 512, 16
    assert float(eval_np(layer_evaluators(False)[0], 1.0, 0.0, beta, 0.2, 4e-4, n_tok, d)[2]) == pytest.approx(
        exact_y2, abs=5e-6)
    res = one_attention_layer(beta=beta, rho0=0.0, width=d, seq_len=n_tok, seeds=seeds, seed=7)
    theories = attention_layer_theories(res.per_seed["q_att"][:, 0], res.per_seed["p_att"][:, 0], beta=beta,
                                        sigma_v2=0.2, sigma_b2=4e-4, seq_len=n_tok, width=d)
    check_theories(res.per_seed["Y2"][:, :1], {k: theories[k][:, 2:] for k in ("right", T_INF)},
                   label=f"Y2 beta={beta} T=512")
