"""Width as an architecture parameter in the analysis functions (docs/finite_width.md §7)."""
from __future__ import annotations

import numpy as np
import pytest

from symsig.analysis.critical import critical
from symsig.analysis.diagram import diagram
from symsig.analysis.gradient import gradient, grad_wq_scaled_np
from symsig.analysis.prescribe import prescribe
from symsig.analysis.propagate import causal_positions, late_tokens, propagate
from symsig.core.architecture import Architecture
from symsig.core.validate import InputError
from symsig.numerics.compile import compile_np
from symsig.numerics.iterate import iterate
from symsig.theory.activations import kernel
from symsig.theory.blocks import ARGS, block_map
from symsig.theory.layers import Attention, LayerNorm, Residual, Serial, mlp, symbolic_state
from symsig.theory.symbols import alpha_mlp, alpha_sa, d

SETTING = dict(seq_len=64, beta=3.0, depth=6, rho0=0.3)


def test_width_none_is_bit_identical_to_the_finite_t_iteration() -> None:
    """propagate without width runs exactly the finite-T map and parameters it always ran."""
    arch = Architecture(seq_len=64, beta=3.0)
    old = iterate(block_map("post-ln", "relu", True), arch.params(), 1.0, 0.3, 7)
    new = propagate(**SETTING, width=None)
    assert new.rho.tolist() == [float(x) for x in old.rho[:7]] and new.Y2.tolist() == [float(x) for x in old.y2]
    assert new.to_dict().keys() == {"q", "p", "rho", "Y2"}


def hand_tree(block: str, tokens: str) -> Serial:
    """One block composed here from the layers, with the width and token model of the attention and of the
    LayerNorms spelled out (docs/finite_width.md §7, §8)."""
    attn = Attention(finite_t=True, width=d, tokens=tokens)
    if block == "post-ln":
        return Serial(Residual(alpha_sa, attn), LayerNorm(d, tokens), Residual(alpha_mlp, mlp(kernel("relu"))),
                      LayerNorm(d, "normalized"))
    ln = LayerNorm(d, "stream")
    return Serial(Residual(alpha_sa, Serial(ln, attn)), Residual(alpha_mlp, Serial(ln, mlp(kernel("relu")))))


@pytest.mark.parametrize("block, first_tokens", [("post-ln", "gaussian"), ("pre-ln", "normalized")])
def test_width_reproduces_the_attention_layer_block_by_block(block: str, first_tokens: str) -> None:
    """Layer 1 reads the input (Gaussian tokens for post-LN, LN(x) for pre-LN), later layers LN output."""
    arch = Architecture(block=block, seq_len=64, beta=3.0, width=128)
    fns = {}
    for tokens in {first_tokens, "normalized"}:
        out = hand_tree(block, tokens)(symbolic_state())
        fns[tokens] = compile_np((*ARGS, d), (out.q, out.p, out.observable("Y2")))
    traj = propagate(block=block, seq_len=64, beta=3.0, width=128, depth=5, rho0=0.3)
    q_, p_ = 1.0, 0.3
    for layer in range(5):
        qn, pn, y2 = fns[first_tokens if layer == 0 else "normalized"](q_, p_, *map(float, arch.params()))
        assert np.isclose(traj.Y2[layer], y2, rtol=1e-11, atol=0)
        q_, p_ = float(qn), float(pn)
        assert np.isclose(traj.q[layer + 1], q_, rtol=1e-11) and np.isclose(traj.p[layer + 1], p_, rtol=1e-11)


@pytest.mark.parametrize("block", ["post-ln", "pre-ln", "gc-post-ln", "gc-pre-ln"])
@pytest.mark.parametrize("beta", [0.5, 3.0])
def test_trajectory_converges_at_rate_one_over_d(block: str, beta: float) -> None:
    """f(d) = f_inf + a/d + b/d^2 + ...: (f(d) - f(2d)) / (f(2d) - f(4d)) = 2 (1 + 3b/(4 a d)) + O(d^-2).
    f_inf is the finite-T trajectory for pre-LN; for post-LN it also has the O(1) LayerNorm term of the
    attention rows' IPR fluctuation (docs/finite_width.md §8), so only differences in d are compared.
    T = 64, 6 layers: |ratio - 2| <= 0.18 at d = 1024 (largest where a is small: pre-LN, beta = 3, q, where
    the LayerNorm keys' Dq and Dp nearly cancel the smearing) and it halves with d (the b/d term: 0.18,
    0.086, 0.042 at d = 1024, 2048, 4096); the tolerance is 0.2 and the halving is asserted. Numeric noise:
    moments ~1e-8 relative against differences >= 1e-6 here, i.e. <= 1e-2 of the margin."""
    kw = dict(SETTING, block=block, beta=beta)
    ref = propagate(**kw)
    val = {w: {k: np.asarray(getattr(propagate(**kw, width=w), k)) for k in ("rho", "Y2", "q")}
           for w in (1024, 2048, 4096, 8192)}
    if block.endswith("pre-ln"):  # no O(1) term: the trajectory tends to the finite-T one
        assert np.abs(val[8192]["rho"] - ref.rho).max() < 2 * np.abs(val[4096]["rho"] - ref.rho).max() / 3
    for k in ("rho", "Y2", "q"):
        step = {w: val[w][k] - val[2 * w][k] for w in (1024, 2048, 4096)}
        # compare where the 1/d coefficient is not near one of its zeros (post-LN, beta = 3: the attention's
        # and the LayerNorm's corrections of rho cancel near layer 4)
        live = np.abs(step[1024]) > max(1e-6, 0.1 * np.abs(step[1024]).max())
        if k != "q" or block.endswith("pre-ln"):  # post-LN ends in a LayerNorm: q = 1 at every width
            # not vacuous: at least 2 layers. (Y2 on normalised keys in the liquid phase: the smearing and the
            # keys' logit law nearly cancel, so its 1/d coefficient is small at some layers.)
            assert live.sum() >= 2, (k, step[1024])
        r1 = step[1024][live] / step[2048][live]
        r2 = step[2048][live] / step[4096][live]
        assert np.all(np.abs(r1 - 2) < 0.2), (k, r1)
        assert np.all(np.abs(r2 - 2) < 0.6 * np.abs(r1 - 2) + 1e-3), (k, r1, r2)  # the deviation is O(1/d)
        assert np.all(np.abs(r2 - 2) < 0.6 * np.abs(r1 - 2) + 1e-4), (k, r1, r2)  # the deviation is O(1/d)


def test_width_and_dps_or_causal_gain_control_raise() -> None:
    with pytest.raises(InputError, match="double precision"):
        propagate(**SETTING, width=64, dps=20)
    with pytest.raises(ValueError, match="causal gain-controlled"):
        propagate(**SETTING | {"block": "gc-post-ln"}, width=64, causal=True, position=3)
    with pytest.raises(InputError, match="causal gain-controlled"):
        causal_positions(positions=[3, 4], depth=2, seq_len=64, width=64, block="gc-pre-ln")
    with pytest.raises(InputError, match="positions x depth"):  # ~30 ms per position and layer
        causal_positions(positions=range(1, 402), depth=50, seq_len=512, width=64)


@pytest.mark.parametrize("block", ["post-ln", "pre-ln"])
def test_causal_width_at_the_last_position_is_the_encoder(block: str) -> None:
    """A query at position T sees all T keys: the causal width map there is the encoder's, and
    causal_positions / late_tokens agree with propagate position by position."""
    enc = propagate(**SETTING | {"block": block}, width=64)
    last = propagate(**SETTING | {"block": block}, width=64, causal=True, position=SETTING["seq_len"])
    assert np.allclose(enc.rho, last.rho, rtol=1e-12, atol=0) and np.allclose(enc.Y2, last.Y2, rtol=1e-12, atol=0)
    pos = [5, 30, SETTING["seq_len"]]
    arch = {k: v for k, v in SETTING.items() if k not in ("depth", "rho0")} | {"block": block}
    many = causal_positions(positions=pos, depth=SETTING["depth"], rho0=SETTING["rho0"], width=64, **arch)
    for j, t in enumerate(pos):
        one = propagate(**SETTING | {"block": block}, width=64, causal=True, position=t)
        assert np.allclose(many["rho"][:, j], one.rho, rtol=1e-10, atol=0)
    late = late_tokens(window=3, depth=SETTING["depth"], rho0=SETTING["rho0"], width=64, **arch)
    ref = causal_positions(positions=late.positions, depth=SETTING["depth"], rho0=SETTING["rho0"], width=64, **arch)
    assert np.allclose(late.rho, ref["rho"].mean(axis=1), rtol=1e-12, atol=0)
    # the width correction moves the causal trajectory (it is not the finite-T one)
    plain = causal_positions(positions=pos, depth=SETTING["depth"], rho0=SETTING["rho0"], **arch)
    assert np.abs(plain["rho"][1:] - many["rho"][1:]).min() > 1e-6


def test_critical_width_is_the_ipr_the_first_attention_records() -> None:
    traj = propagate(**SETTING, width=128)
    crit = critical(beta=3.0, rho=0.3, seq_len=64, width=128)
    assert np.isclose(crit.Y2, traj.Y2[0], rtol=1e-12)
    arr = critical(beta=np.array([0.5, 3.0]), rho=0.3, seq_len=64, width=128)
    assert np.isclose(arr.Y2[1], crit.Y2, rtol=1e-12) and np.isclose(arr.Y3[1], crit.Y3, rtol=1e-12)
    exact = critical(beta=3.0, rho=0.3, seq_len=64)
    gaps = [critical(beta=3.0, rho=0.3, seq_len=64, width=w).Y2 - exact.Y2 for w in (2048, 4096)]
    assert abs(gaps[0] / gaps[1] - 2) < 0.02
    for bad in (dict(width=128), dict(width=128, seq_len=64, dps=20), dict(width=1, seq_len=64)):
        with pytest.raises(InputError):
            critical(beta=3.0, rho=0.3, **bad)


def test_gradient_width_tends_to_finite_t_and_arrays_agree() -> None:
    exact = gradient(beta=0.5, rho=0.0, seq_len=64).grad_wq_scaled
    vals = {w: gradient(beta=0.5, rho=0.0, seq_len=64, width=w) for w in (2048, 4096)}
    assert abs((vals[2048].grad_wq_scaled - exact) / (vals[4096].grad_wq_scaled - exact) - 2) < 0.02
    g = vals[2048]
    assert np.isclose(g.bracket * g.prefactor, g.grad_wq_scaled, rtol=1e-14)
    arr = grad_wq_scaled_np(np.array([0.5, 1.0]), 1.0, 0.0, 1.0, T=64, width=2048)
    assert np.isclose(arr[0], g.grad_wq_scaled, rtol=1e-12)
    with pytest.raises(InputError, match="double precision"):
        gradient(beta=0.5, rho=0.0, seq_len=64, width=64, dps=20)
    with pytest.raises(InputError, match="seq_len"):
        gradient(beta=0.5, rho=0.0, width=64)


def test_diagram_grid_is_the_propagated_trajectory() -> None:
    dg = diagram(depth=2, beta=[0.5, 3.0], alpha_sa=[0.5, 1.0], seq_len=64, width=128)
    assert dg.architecture["width"] == 128
    for i, a in enumerate((0.5, 1.0)):
        for j, b in enumerate((0.5, 3.0)):
            traj = propagate(depth=2, beta=b, alpha_sa=a, seq_len=64, width=128)
            assert np.isclose(dg.rho_L[i][j], traj.rho[-1], rtol=1e-12)
            assert np.isclose(dg.mean_Y2[i][j], np.mean(traj.Y2[:2]), rtol=1e-12)
    assert "width" not in diagram(depth=2, beta=[0.5], alpha_sa=[1.0], seq_len=64).architecture
    with pytest.raises(InputError, match="mpmath"):
        diagram(depth=2, beta=[0.5, 3.0], alpha_sa=[0.5, 1.0], seq_len=64, width=128, boundaries=True)


def test_prescribe_with_width_and_its_guard() -> None:
    rx = prescribe(depth=2, seq_len=64, width=128, resolution=8)
    assert rx.architecture["width"] == 128 and rx.beta is not None
    with pytest.raises(InputError, match="finite-width evaluations"):
        prescribe(depth=200, seq_len=64, width=128, resolution=16)
