"""Finite-width networks walked from the theory's layer trees (symsig.simulation.network).

Exact checks only (same generator, same draws): a block composed by hand from layers is
the named block; the published pre-LN variant has the pre-LN network; each node draws
exactly its documented weights (nothing more: the generator state after a node is
compared with an independent transcription); the MLP class has the Serial's map.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sympy as sp
from scipy.special import erf

from symsig.core.validate import InputError
from symsig.simulation import forward, network
from symsig.simulation.stack import simulate, simulate_stack
from symsig.theory import blocks, symbols
from symsig.theory.activations import kernel
from symsig.theory.layers import (Activation, Attention, Dense, Layer, LayerNorm, Residual, Serial, State, mlp,
                                  symbolic_state)

ARCH = dict(beta=1.3, sigma_w2=0.6, sigma_v2=0.7, sigma_b2=0.02, alpha_sa=0.9, alpha_mlp=1.2, seq_len=12)
VALUES = network.architecture_values(**ARCH)
D, M = 16, 24
SHAPE = network.Shape(D, M, heads=2)
RUN = dict(ARCH, depth=2, width=D, seq_len=12, rho0=0.3, q0=1.4, seeds=2, seed=3, heads=2, mlp_width=M)


def _tokens(seed: int = 0) -> np.ndarray:
    return forward.make_input(np.random.default_rng(seed), 12, D, 0.3, 1.4)


def _same_state(a: np.random.Generator, b: np.random.Generator) -> bool:
    return a.bit_generator.state == b.bit_generator.state


def test_hand_composed_block_is_the_named_block():
    tanh = kernel("tanh")
    by_hand = Serial(Residual(symbols.alpha_sa, Attention()), LayerNorm(),
                     Residual(symbols.alpha_mlp, mlp(tanh)), LayerNorm())
    a = simulate_stack(block=by_hand, **RUN)
    b = simulate_stack(block="post-ln", activation="tanh", **RUN)
    for key, val in b.per_seed.items():
        np.testing.assert_array_equal(a.per_seed[key], val, err_msg=key)
    assert a.settings["block"] == "custom"


def test_published_pre_ln_has_the_pre_ln_network():
    nets = [network.finite_width(blocks.build(name, "relu"), VALUES, SHAPE) for name in ("pre-ln", "pre-ln-published")]
    outs = [net.run(_tokens(), np.random.default_rng(5)) for net in nets]
    np.testing.assert_array_equal(outs[0], outs[1])


def test_block_without_attention_and_its_draws():
    # an MLP-only block: the attention statistics are empty, the stream is a transcription
    block = Residual(symbols.alpha_mlp, Serial(LayerNorm(), mlp(kernel("erf"))))
    res = simulate_stack(block=block, **{**RUN, "seeds": 1})
    assert res.Y2.shape == (0,) and res.q.shape == (3,)
    rng = np.random.default_rng(np.random.SeedSequence(3).spawn(1)[0])
    h = forward.make_input(rng, 12, D, 0.3, 1.4)
    for _ in range(2):
        w1 = rng.standard_normal((D, M)) * math.sqrt(0.6 / D)
        b1 = rng.standard_normal(M) * math.sqrt(0.02)
        w2 = rng.standard_normal((M, D)) * math.sqrt(0.6 / M)
        b2 = rng.standard_normal(D) * math.sqrt(0.02)
        x = (h - h.mean(1, keepdims=True)) / h.std(1, keepdims=True)
        h = 1.2 * h + erf(x @ w1 + b1) @ w2 + b2
    assert res.q[-1] == pytest.approx(float((h**2).sum(1).mean() / D), rel=1e-12)


def test_dense_draws_its_bias_unless_symbolically_zero():
    h = _tokens()
    for bias, with_b in ((symbols.sigma_b2, True), (sp.Integer(0), False)):
        rng, ref = np.random.default_rng(1), np.random.default_rng(1)
        out = network.finite_width(Dense(symbols.sigma_w2, bias), VALUES, SHAPE).run(h, rng)
        expect = h @ (ref.standard_normal((D, D)) * math.sqrt(0.6 / D))
        if with_b:
            expect = expect + ref.standard_normal(D) * math.sqrt(0.02)
        np.testing.assert_allclose(out, expect, rtol=1e-13, atol=1e-14)
        assert _same_state(rng, ref)  # nothing else was drawn


def test_attention_node_draw_order_and_out_proj():
    h = _tokens()
    shape = network.Shape(D, M, heads=2, out_proj=0.5)
    node = network.finite_width(Attention(gain_control=True), VALUES, shape)
    rec = network.Recorder()
    rng, ref = np.random.default_rng(2), np.random.default_rng(2)
    y = node.run(h, rng, rec)
    sig_a = 1.3 * math.sqrt(math.log(12))
    w = [ref.standard_normal((D, D)) * math.sqrt(v / D) for v in (sig_a, sig_a, 0.7)]
    b_v = ref.standard_normal(D) * math.sqrt(0.02)
    w_o = ref.standard_normal((D, D)) * math.sqrt(0.5 / D)
    assert _same_state(rng, ref)
    expect, stats = forward.attention(h, *w, b_v, heads=2, gain_control=True, w_o=w_o)
    np.testing.assert_array_equal(y, expect)
    assert len(rec.attentions) == 1 and rec.attentions[0][2].X == stats.X
    np.testing.assert_allclose(y.sum(0), 0.0, atol=1e-12)  # gain control


def test_residual_with_identity_branch_leaves_the_stream_alone():
    h = _tokens()
    keep = h.copy()
    out = network.finite_width(Residual(symbols.alpha_sa, Serial()), VALUES, SHAPE).run(h, np.random.default_rng(0))
    np.testing.assert_array_equal(h, keep)
    np.testing.assert_allclose(out, 1.9 * h, rtol=1e-15)


def test_values_come_from_the_given_map():
    sigma_o2 = sp.Symbol("sigma_o2", nonnegative=True)
    with pytest.raises(InputError, match="sigma_o2"):
        network.finite_width(Dense(sigma_o2, 0), VALUES, SHAPE)
    node = network.finite_width(Dense(2 * sigma_o2, 0), {**VALUES, sigma_o2: 0.25}, SHAPE)
    assert node.weight == 0.5 and node.bias is None


def test_new_layer_types_register_their_counterpart():
    class Scale(Layer):
        def __call__(self, state: State) -> State:
            return State(4 * state.q, 4 * state.p, state.observables)

    with pytest.raises(InputError, match="Scale"):
        network.finite_width(Serial(Scale()), VALUES, SHAPE)

    class ScaleNet:
        def run(self, h, rng, rec=None):
            return 2 * h

    network.finite_width.register(Scale, lambda layer, values, shape: ScaleNet())
    h = _tokens()
    np.testing.assert_array_equal(network.finite_width(Serial(Scale()), VALUES, SHAPE).run(h, None), 2 * h)


def test_causal_attention_comes_from_the_tree():
    causal_tree = blocks.build("post-ln", "relu", finite_t=True, causal=True)
    assert network.is_causal(network.finite_width(causal_tree, VALUES, SHAPE))
    assert not network.is_causal(network.finite_width(blocks.build("post-ln", "relu"), VALUES, SHAPE))
    with pytest.raises(InputError, match="causal"):
        simulate_stack(block=causal_tree, **RUN)
    a = simulate_stack(block=causal_tree, causal=True, **RUN)
    b = simulate_stack(block="post-ln", causal=True, **RUN)
    np.testing.assert_array_equal(a.per_seed["Y2_pos"], b.per_seed["Y2_pos"])
    with pytest.raises(InputError, match="keys"):
        network.finite_width(Attention(n_states=sp.Integer(5)), VALUES, SHAPE)


def test_act_fn_needs_a_named_block():
    with pytest.raises(InputError, match="act_fn"):
        simulate_stack(block=blocks.build("post-ln", "relu"), act_fn=np.tanh, **RUN)


def test_mlp_class_has_the_serial_map():
    for name in ("relu", "gelu", "tanh"):
        k = kernel(name)
        a, b = mlp(k)(symbolic_state()), Serial(Dense(), Activation(k), Dense())(symbolic_state())
        assert sp.simplify(a.q - b.q) == 0 and sp.simplify(a.p - b.p) == 0


def test_simulate_one_seed_reports_no_standard_error():
    res = simulate(width=16, seq_len=8, depth=2, seeds=1)
    assert all(math.isnan(e) for e in [*res.rho_err, *res.Y2_err])  # "n/a" in Python ...
    d = res.to_dict()
    assert d["rho_err"] == [None] * 3 and d["Y2_err"] == [None] * 2  # ... null in JSON
    json.dumps(d, allow_nan=False)
