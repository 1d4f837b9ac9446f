"""The post-LN block map: against an independent float implementation, at any precision,
and without NaN/warnings at the REM switch and at rank collapse."""
from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symsig import propagate
from symsig.theory.blocks import block_map
from symsig.numerics import compile as numerics
from symsig.numerics.compile import eval_np
from symsig.analysis.propagate import iterate_np
from tests.helpers import FIG1



def reference_post_ln_relu(q, p, beta, sigma_w2, sigma_v2, sigma_b2, alpha_sa, alpha_mlp):
    """THEORY.md sections 4-5 written out with plain floats, independently of the library."""
    v = q * (q - p)
    y2 = 1 - math.sqrt(2 / v) / beta if beta * beta * v > 2 else 0.0
    q1 = sigma_v2 * (p + (q - p) * y2) + sigma_b2 + alpha_sa**2 * q
    p1 = sigma_v2 * p + sigma_b2 + alpha_sa**2 * p
    rho1 = p1 / q1
    qa, pa = sigma_w2 + sigma_b2, sigma_w2 * rho1 + sigma_b2
    c = min(1.0, pa / qa)
    f = (math.sqrt(1 - c * c) + c * (math.pi - math.acos(c))) / math.pi
    qm, pm = sigma_w2 * qa / 2 + sigma_b2, sigma_w2 * qa / 2 * f + sigma_b2
    q2, p2 = qm + alpha_mlp**2, pm + alpha_mlp**2 * rho1
    reference_post_ln_relu.last_c = c  # the MLP correlation, for the conditioning bound
    return 1.0, p2 / q2, y2


@settings(max_examples=60, deadline=None)
@given(
    rho=st.floats(-0.5, 1.0),
    beta=st.floats(0.05, 8.0),
    sw=st.floats(0.0, 3.0),
    sv=st.floats(0.0, 3.0),
    sb=st.floats(0.0, 1.0),
    a_sa=st.floats(0.0, 3.0),
    a_mlp=st.floats(0.0, 3.0),
    q=st.floats(0.1, 5.0),
)
def test_block_matches_reference(rho, beta, sw, sv, sb, a_sa, a_mlp, q) -> None:
    if sw + sb == 0 or (a_sa == 0 and sv == 0 and sb == 0):
        return  # degenerate (0/0) architectures, rejected by nothing but meaningless
    bm = block_map("post-ln", "relu")
    ours = eval_np(numerics.block_np(bm), q, rho * q, beta, sw, sv, sb, a_sa, a_mlp, 0)
    ref = reference_post_ln_relu(q, rho * q, beta, sw, sv, sb, a_sa, a_mlp)
    # sqrt(1 - c^2) turns a rounding error of 1e-16 in c into 1e-16/sqrt(1 - c): the map
    # itself is ill-conditioned near rank collapse, whoever evaluates it in doubles
    gap = max(1.0 - reference_post_ln_relu.last_c, 1e-32)
    tol = 1e-13 + 4e-16 / math.sqrt(gap)
    for a, b in zip(ours, ref):
        assert float(a) == pytest.approx(b, rel=1e-12, abs=tol)


def test_trajectory_figure1_reference() -> None:
    for beta in (0.5, 3.0):
        traj = propagate(beta=beta, depth=50, rho0=0.3, **FIG1)
        q, p = 1.0, 0.3
        for layer in range(1, 51):
            q, p, _ = reference_post_ln_relu(q, p, beta, **FIG1)
            assert traj.rho[layer] == pytest.approx(p / q, rel=1e-12)


def test_float_and_mp_agree_and_mp_converges() -> None:
    args = dict(beta=3, depth=50, rho0="0.3", sigma_w2="0.2", sigma_v2="0.2", sigma_b2="4e-4", alpha_sa=1, alpha_mlp=1)
    f = propagate(**args)
    m50 = propagate(dps=50, **args)
    m80 = propagate(dps=80, **args)
    for a, b, c in zip(f.rho, m50.rho, m80.rho):
        assert abs(a - float(b)) <= 1e-13 * abs(a)
        with mpmath.workdps(90):
            assert abs(b - c) <= mpmath.mpf(10) ** -50 * abs(c)
    d50 = m50.to_dict()
    with mpmath.workdps(90):
        assert all(abs(mpmath.mpf(s) - c) <= mpmath.mpf(10) ** -49 * abs(c) for s, c in zip(d50["rho"], m80.rho))


def test_mp_leaves_global_precision() -> None:
    before = mpmath.mp.dps
    propagate(beta=3, depth=3, dps=40)
    assert mpmath.mp.dps == before


def test_no_warnings_nan_near_switch_and_collapse() -> None:
    bm = block_map("post-ln", "relu")
    beta_c = math.sqrt(2 / (1 - 0.3))
    betas = beta_c + np.array([-1e-12, -1e-15, 0.0, 1e-15, 1e-12])
    rhos = np.array([1.0, 1 - 1e-16, 1 - 1e-12, 1 + 1e-16, 0.3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = eval_np(numerics.block_np(bm), 1.0, rhos[:, None], betas[None, :], 0.2, 0.2, 4e-4, 1.0, 1.0, 0)
    for o in out:
        assert np.isfinite(o).all() and not np.iscomplexobj(o)
    # continuity of Y2 across the switch (Y2 ~ 1 - beta_c/beta -> 0)
    assert np.abs(out[2][-1]).max() < 1e-11
    # mpmath: exactly at the switch, at rho = 1 and just above (rounding), real results
    for rho in ("1", "0.9999999999999999999999", "0.3"):
        t = propagate(beta=beta_c, depth=2, rho0=rho, dps=30, **FIG1)
        assert all(isinstance(x, mpmath.mpf) for x in t.rho + t.Y2)


def test_rank_collapse_is_fixed_point() -> None:
    t = propagate(beta=3, depth=10, rho0=1, **FIG1)
    assert t.rho == [1.0] * 11 and t.Y2 == [0.0] * 11


def test_iterate_np_matches_scalar() -> None:
    bm = block_map("post-ln", "relu")
    betas = np.array([0.5, 1.5, 3.0])
    alphas = np.array([[0.5], [1.0]])
    out = iterate_np(bm, 1.0, 0.3, (betas, 0.2, 0.2, 4e-4, alphas, 1.0, 0), 20)
    assert out["rho"].shape == (21, 2, 3)
    for i, a in enumerate(alphas[:, 0]):
        for j, b in enumerate(betas):
            t = propagate(beta=b, alpha_sa=a, depth=20, rho0=0.3, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=4e-4)
            assert np.allclose(out["rho"][:, i, j], t.rho, rtol=1e-13)
            assert np.allclose(out["Y2"][:, i, j], t.Y2, rtol=1e-13, atol=1e-15)
