"""Modern layers and blocks (docs/modern_blocks.md): RMSNorm, gated MLPs, heads, QK-norm, llama
blocks, and user blocks by name (register / compose / bind)."""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symsig.core.validate import InputError
from symsig.numerics import compile as numerics
from symsig.theory import activations, blocks, special
from symsig.theory.layers import (Attention, Dense, GatedMLP, LayerNorm, MultiHeadAttention, QKNormAttention,
                                  Residual, RMSNorm, Serial, State, head_cosine, qk_norm_beta, symbolic_state)
from symsig.theory.symbols import T, alpha_sa, beta, n, p, q, sigma_v2, sigma_w2

positive = st.floats(0.05, 5.0)
corr = st.floats(-0.95, 0.95)


def test_rmsnorm_map_and_layernorm_limit() -> None:
    g, eps = sp.symbols("g eps", positive=True)
    out = RMSNorm(gain=g, eps=eps)(symbolic_state())
    assert sp.simplify(out.q - g**2 * q / (q + eps)) == 0 and sp.simplify(out.p - g**2 * p / (q + eps)) == 0
    plain, ln = RMSNorm()(symbolic_state()), LayerNorm()(symbolic_state())
    assert sp.simplify(plain.q - ln.q) == 0 and sp.simplify(plain.p - ln.p) == 0
    assert sp.simplify(out.p / out.q - p / q) == 0  # the cosine is kept, whatever g and eps


def test_gated_kernel_is_gate_kernel_times_linear() -> None:
    qg, pg, qu, pu = sp.symbols("q_g p_g q_u p_u", positive=True)
    for name in ("relu", "gelu", "erf", "swish"):
        k_qq, k_qp = activations.gated(name)(qg, pg, qu, pu)
        g_qq, g_qp = activations.kernel(name)(qg, pg)
        assert sp.simplify(k_qq - g_qq * qu) == 0 and sp.simplify(k_qp - g_qp * pu) == 0
    out = GatedMLP(activations.gated("relu"), gate=sigma_w2, up=2 * sigma_w2, down=3 * sigma_w2)(symbolic_state())
    expected = 3 * sigma_w2 * activations.relu().k_qp.xreplace({q: sigma_w2 * q, p: sigma_w2 * p}) * 2 * sigma_w2 * p
    assert sp.simplify(out.p - expected) == 0


@pytest.mark.parametrize("name", ["swish", "gelu"])
def test_gated_kernel_matches_monte_carlo(name: str) -> None:
    """SwiGLU and GeGLU units phi(u) v: 400,000 draws, within 4.5 standard errors (fixed seed)."""
    from symsig.simulation.forward import activation_fn

    rng = np.random.default_rng(5)
    qg, pg, qu, pu, m = 1.7, -0.4, 0.6, 0.25, 400_000
    qs = sp.symbols("a b c d")
    fn = numerics.compile_np(qs, activations.gated(name)(*qs))
    want = numerics.eval_np(fn, qg, pg, qu, pu)
    cg, cu = pg / qg, pu / qu
    z = rng.standard_normal((4, m))
    u = math.sqrt(qg) * np.stack([z[0], cg * z[0] + math.sqrt(1 - cg**2) * z[1]])
    v = math.sqrt(qu) * np.stack([z[2], cu * z[2] + math.sqrt(1 - cu**2) * z[3]])
    unit = activation_fn(name)(u) * v
    for sample, value in ((unit[0] ** 2, want[0]), (unit[0] * unit[1], want[1])):
        assert abs(sample.mean() - float(value)) < 4.5 * sample.std() / math.sqrt(m)


@pytest.mark.parametrize("finite_t", [False, True])
def test_multi_head_map_is_attention_map(finite_t: bool) -> None:
    a = Attention(finite_t=finite_t)(symbolic_state())
    b = MultiHeadAttention(finite_t=finite_t, heads=8)(symbolic_state())
    assert (a.q, a.p, a.observable("Y2")) == (b.q, b.p, b.observable("Y2"))


def test_qk_norm_beta_and_moments() -> None:
    g = sp.Symbol("g", positive=True)
    assert sp.simplify(qk_norm_beta(g) - g**2 / sp.sqrt(sp.log(T))) == 0
    layer = QKNormAttention(gain=g, finite_t=True)
    y2, x = layer.moments(symbolic_state())
    assert y2 == special.rem_y2(g**4 * (1 - p / q), T)
    assert x == special.rem_x(g**4 * (1 - p / q), p / q, T)
    lam = sp.Rational(7, 3)  # independent of the token norm: only the cosine enters
    assert layer.moments(State(lam * q, lam * p)) == (y2, x)
    # beta given directly: the gain that realises it, and the same moments as Attention at (1, p/q)
    direct = QKNormAttention(finite_t=True)
    assert sp.simplify(qk_norm_beta(direct.realised_gain()) - beta) == 0
    assert direct.moments(symbolic_state()) == Attention(finite_t=True).moments(State(sp.Integer(1), p / q))
    # a fixed gain cannot freeze as T -> infinity
    assert QKNormAttention(gain=g).moments(symbolic_state()) == (0, 0)
    with pytest.raises(ValueError, match="finite-width"):
        QKNormAttention(finite_t=True, width=sp.Integer(64))(symbolic_state())


@pytest.mark.parametrize("n_head", [64, 256, 1024])
def test_head_cosine_expansion_against_exact(n_head: int) -> None:
    """E cos of two n-dim Gaussian vectors with correlation rho (exact: a 2F1) minus the first-order
    expansion rho - rho (1 - rho^2)/(2n) is O(n^-2) (derivations/qk_norm.py)."""
    for r in (0.2, 0.6, 0.9):
        ratio = mpmath.gamma((n_head + 1) / mpmath.mpf(2)) / mpmath.gamma(n_head / mpmath.mpf(2))
        exact = r * 2 / mpmath.mpf(n_head) * ratio**2 * mpmath.hyp2f1(0.5, 0.5, n_head / mpmath.mpf(2) + 1, r**2)
        first = float(head_cosine(sp.Float(r), n_head))
        assert abs(float(exact) - first) < 0.2 / n_head**2
        assert abs(float(exact) - r) > 0.3 * r * (1 - r**2) / (2 * n_head)  # the correction is really there


@pytest.mark.parametrize("finite_t", [False, True])
def test_llama_blocks(finite_t: bool) -> None:
    plain, qk = (blocks.block_map(b, "swish", finite_t) for b in ("llama", "llama-qk"))
    assert plain.args == blocks.ARGS == qk.args
    assert plain.exprs == qk.exprs  # pre-norm: the attention already reads (1, p/q); beta is beta_qk
    assert not plain.q_next.has(sp.Symbol("sigma_b2", nonnegative=True))  # no biases
    causal = blocks.block_map("llama", "swish", True, True)
    assert causal.args == blocks.CAUSAL_ARGS


@settings(max_examples=25, deadline=None)
@given(b=positive, sw=positive, sv=positive, a1=st.floats(0.0, 3.0), a2=st.floats(0.0, 3.0), q0=positive)
def test_llama_keeps_identical_tokens_identical(b, sw, sv, a1, a2, q0) -> None:
    """rho = 1 is a fixed point (docs/theory.md §7.1): at p = q the block returns p' = q'."""
    bm = blocks.block_map("llama", "gelu", False)
    q1, p1, _ = numerics.eval_np(numerics.block_np(bm), q0, q0, b, sw, sv, 0.0, a1, a2, 0)
    assert float(p1) == pytest.approx(float(q1), rel=1e-9)


def test_llama_map_against_hand_composition() -> None:
    """The llama block is pre-LN with RMSNorm and the gated MLP (composed here by hand)."""
    bm = blocks.block_map("llama", "relu", False)
    rho = p / q
    y2 = Attention().moments(State(sp.Integer(1), rho))[0]
    q_att, p_att = sigma_v2 * (rho + (1 - rho) * y2), sigma_v2 * rho
    q1, p1 = q_att + alpha_sa**2 * q, p_att + alpha_sa**2 * p
    kq, kp = activations.gated("relu")(sigma_w2, sigma_w2 * p1 / q1, sigma_w2, sigma_w2 * p1 / q1)
    a_mlp = sp.Symbol("alpha_MLP", nonnegative=True)
    point = {q: sp.Rational(3, 2), p: sp.Rational(1, 3), beta: 3, sigma_v2: sp.Rational(1, 2), sigma_w2: 2,
             alpha_sa: sp.Rational(4, 5), a_mlp: sp.Rational(6, 5)}
    want_q, want_p = sigma_w2 * kq + a_mlp**2 * q1, sigma_w2 * kp + a_mlp**2 * p1
    for got, want in ((bm.q_next, want_q), (bm.p_next, want_p)):
        assert sp.N(got.subs(point) - want.subs(point), 30) == pytest.approx(0, abs=1e-25)


# ----------------------------------------------------------------------------- user blocks


def _gain_tree(g: sp.Symbol) -> Serial:
    """A post-norm block with a QK-normalised attention of gain g and a Dense branch."""
    return Serial(Residual(alpha_sa, QKNormAttention(gain=g, finite_t=True)), RMSNorm(),
                  Residual(sp.Integer(1), Dense()), LayerNorm())


def test_compose_extra_symbols_and_bind() -> None:
    g = sp.Symbol("g", positive=True)
    bm = blocks.compose(_gain_tree(g), name="gain-tree")
    assert bm.extra == (g,) and bm.args == (*blocks.ARGS, g) and bm.finite_t and not bm.causal
    bound = bm.bind({g: sp.Rational(3, 2)})
    assert bound.extra == () and bound.args == blocks.ARGS and not bound.q_next.has(g)
    fn = numerics.block_np(bm)
    got = numerics.eval_np(fn, 1.0, 0.3, 1.0, 0.2, 0.2, 0.0, 1.0, 1.0, 64, 1.5)
    want = numerics.eval_np(numerics.block_np(bound), 1.0, 0.3, 1.0, 0.2, 0.2, 0.0, 1.0, 1.0, 64)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    with pytest.raises(InputError, match="not extra"):
        bm.bind({beta: 1})


def test_register_by_name_everywhere() -> None:
    from symsig.analysis.propagate import propagate
    from symsig.core.architecture import Architecture
    from symsig.core.names import block_names
    from symsig.simulation.stack import simulate_stack

    g = sp.Symbol("g", positive=True)
    name = blocks.register("test-gain-tree", _gain_tree(g), values={g: 1.5})
    assert name in block_names() and Architecture(block=name, seq_len=64).block == name
    traj = propagate(block=name, depth=3, rho0=0.3, seq_len=64)
    bm = blocks.block_map(name, "relu", True)
    assert bm.args == blocks.ARGS and traj.rho[1] == pytest.approx(
        float(numerics.eval_np(numerics.block_np(bm), 1.0, 0.3, *Architecture(seq_len=64).params())[1]) /
        float(numerics.eval_np(numerics.block_np(bm), 1.0, 0.3, *Architecture(seq_len=64).params())[0]), rel=1e-12)
    sim = simulate_stack(block=name, beta=0.5, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=0.0, alpha_sa=1.0, alpha_mlp=1.0,
                         depth=2, width=32, seq_len=16, rho0=0.3, seeds=1)
    assert sim.rho.shape == (3,)
    # the T -> infinity theory of a fixed finite-T tree is refused; an unbound symbol too
    with pytest.raises(InputError, match="finite_t"):
        propagate(block=name, depth=1)
    blocks.register(name, _gain_tree(g))  # re-registering replaces the block (and its cached maps)
    with pytest.raises(InputError, match="without values"):
        blocks.block_map(name, "relu", True)
    with pytest.raises(InputError, match="new name"):
        blocks.register("post-ln", _gain_tree(g))


def test_register_builder_gets_activation_and_flags() -> None:
    from symsig.analysis.propagate import propagate

    def builder(kernel, *, finite_t=False, causal=False):
        attn = MultiHeadAttention(finite_t=finite_t, n_states=n if causal else None, heads=4)
        return Serial(Residual(alpha_sa, Serial(RMSNorm(), attn)),
                      Residual(sp.Symbol("alpha_MLP", nonnegative=True), Serial(RMSNorm(), GatedMLP(activations.GatedKernel(kernel)))))

    name = blocks.register("test-builder", builder)
    mine = propagate(block=name, activation="gelu", depth=4, rho0=0.2, beta=2.0, sigma_b2=0.0)
    ref = propagate(block="llama", activation="gelu", depth=4, rho0=0.2, beta=2.0, sigma_b2=0.0)
    assert mine.rho == pytest.approx(ref.rho, rel=1e-12)
    causal = propagate(block=name, activation="gelu", depth=2, rho0=0.2, seq_len=32, causal=True, position=8)
    assert len(causal.rho) == 3


@pytest.mark.slow
def test_llama_high_precision_and_certified_boundaries() -> None:
    """The llama blocks with a closed-form gate get the mpmath evaluators (40 digits agree with floats to
    rounding) and certified diagram boundaries (ball arithmetic), like the built-in blocks."""
    import symsig

    arch = dict(block="llama", activation="gelu", beta=2.0, sigma_b2=0)
    mp = symsig.propagate(depth=5, rho0=0.3, dps=40, **arch)
    fl = symsig.propagate(depth=5, rho0=0.3, **arch)
    assert float(mp.rho[-1]) == pytest.approx(fl.rho[-1], rel=1e-13)
    dia = symsig.diagram(block="llama-qk", activation="gelu", depth=8, beta="0.5:4:8", alpha_sa="0:2:8", rho0=0.3,
                         boundaries=True, boundary_points=3, digits=8, certify=True, sigma_b2=0)
    assert dia.certificates and all(c["certified"] for c in dia.certificates)
