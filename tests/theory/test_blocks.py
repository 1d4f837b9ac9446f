"""The post-LN block map: against an independent implementation (floats and 60 digits), on
its whole domain (undefined points rejected, not NaN), and without NaN/warnings at the
REM switch and at rank collapse."""
from __future__ import annotations

import math
import sys
import warnings

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from symsig import propagate
from symsig.core.validate import InputError
from symsig.numerics import compile as numerics
from symsig.numerics.compile import eval_np
from symsig.numerics.contexts import NUMPY, MpContext
from symsig.numerics.iterate import check_start, iterate
from symsig.theory.blocks import block_map
from symsig.theory.symbols import p as p_sym
from symsig.theory.symbols import q as q_sym
from tests.helpers import FIG1

EPS = sys.float_info.epsilon


def reference_post_ln_relu(q, p, beta, sigma_w2, sigma_v2, sigma_b2, alpha_sa, alpha_mlp, m=math):
    """docs/theory.md §5-6 written out independently of the library, in ``m`` = math (floats)
    or mpmath (current precision). Returns (q', p', Y2, c): c is the MLP's input correlation.
    Raises ZeroDivisionError where the map is undefined (a LayerNorm or the ReLU kernel
    reads a zero-variance stream) in that arithmetic."""
    v = q * (q - p)
    y2 = 1 - m.sqrt(2 / v) / beta if beta * beta * v > 2 else 0 * v
    q1 = sigma_v2 * (p + (q - p) * y2) + sigma_b2 + alpha_sa**2 * q
    p1 = sigma_v2 * p + sigma_b2 + alpha_sa**2 * p
    rho1 = p1 / q1
    qa, pa = sigma_w2 + sigma_b2, sigma_w2 * rho1 + sigma_b2
    c = pa / qa
    c = 1 if c > 1 else c
    f = (m.sqrt(1 - c * c) + c * (m.pi - m.acos(c))) / m.pi
    qm, pm = sigma_w2 * qa / 2 + sigma_b2, sigma_w2 * qa / 2 * f + sigma_b2
    q2, p2 = qm + alpha_mlp**2, pm + alpha_mlp**2 * rho1
    return 1, p2 / q2, y2, c


def float_tolerance(c) -> float:
    """Bound on |p'_float - p'_exact| from the conditioning of the *evaluation* (not the map).

    The kernel f(c) = [sqrt(1 - c^2) + c (pi - acos c)]/pi is well conditioned (f' =
    (pi - acos c)/pi <= 1), but its two terms are not: a rounding of c or of 1 - c^2 by a
    few eps moves sqrt(1 - c^2) and acos(c) by ~eps/sqrt(1 - c^2). 1 - c^2 itself is only
    known to ~eps, hence the floor; everything else is a few eps. Largest value (c = 1):
    16 eps (1 + 1/sqrt(eps)) = 2.4e-7, so an error of the map always fails.
    """
    return 16 * EPS * (1 + 1 / math.sqrt(max(1 - float(c) ** 2, EPS)))


BM = block_map("post-ln", "relu")
VARIANCE = st.one_of(st.just(0.0), st.floats(1e-100, 3.0))  # 0 or no underflow of squares and products
BROKEN = dict(rho=0.0, beta=1.0, sw=1.0, sv=1.0, sb=0.0, a_sa=0.0, a_mlp=0.0, q=1.0)


@settings(max_examples=60, deadline=None)
@given(
    rho=st.floats(0.0, 1.0),
    beta=st.floats(0.05, 8.0),
    sw=VARIANCE,
    sv=VARIANCE,
    sb=st.one_of(st.just(0.0), st.floats(1e-100, 1.0)),
    a_sa=VARIANCE,
    a_mlp=VARIANCE,
    q=st.floats(0.1, 5.0),
)
# every failing example of the previous version of this test (20 seeds), and the brief's underflow
@example(**BROKEN)  # uniform attention over p = 0 tokens, no bias, no residual: LN(0)
@example(**(BROKEN | dict(sw=9.89801537649503e-304, sv=0.0, a_sa=1.0)))  # sw^2 underflows: ReLU reads q = 0
@example(**(BROKEN | dict(sv=0.0, a_sa=5e-324, a_mlp=1.0)))  # a_SA^2 underflows in floats only
@example(**(BROKEN | dict(sv=0.0, sw=0.0, sb=0.0, a_mlp=1.0)))  # static: sigma_v2 = sigma_b2 = alpha_sa = 0
@example(rho=-0.375, beta=0.5, sw=1.0, sv=2.0, sb=0.5, a_sa=0.0, a_mlp=0.0, q=3.0)  # p < 0: not a T -> oo state
@example(rho=-0.5, beta=0.5, sw=0.0, sv=1.0, sb=1.0, a_sa=0.0, a_mlp=0.0, q=2.0)
@example(rho=-0.5, beta=1.625, sw=1.0, sv=1.0, sb=0.0, a_sa=0.0, a_mlp=0.0, q=1.0)
@example(rho=1.0, beta=3.0, sw=0.0, sv=0.2, sb=0.5, a_sa=0.0, a_mlp=0.0, q=1.0)  # c = 1 exactly
@example(rho=0.999999, beta=8.0, sw=1e-100, sv=3.0, sb=1.0, a_sa=3.0, a_mlp=0.0, q=5.0)  # c = 1 - 1e-100
@example(rho=0.9922842642155434, beta=6.0, sw=0.0, sv=0.0, sb=1.0, a_sa=0.0, a_mlp=0.0, q=3.125)  # Y2 near collapse
def test_block_matches_reference(rho, beta, sw, sv, sb, a_sa, a_mlp, q) -> None:
    params = (beta, sw, sv, sb, a_sa, a_mlp, 0)
    with mpmath.workdps(60):  # the exact binary inputs; the map's value to ~60 digits
        try:
            exact = reference_post_ln_relu(mpmath.mpf(q), mpmath.mpf(rho) * mpmath.mpf(q),
                                           *map(mpmath.mpf, params[:-1]), m=mpmath)
        except ZeroDivisionError:
            exact = None
    try:
        in_floats = reference_post_ln_relu(q, rho * q, *params[:-1]) if exact else None
    except ZeroDivisionError:
        in_floats = None

    def run(ctx, values):
        check_start(values[0], values[1])
        it = iterate(BM, values[2:], values[0], values[1], 1, ctx)
        return it.q[1], it.p[1], it.y2[0]

    exact_inputs = [mpmath.mpf(x) for x in (q, rho, *params)]  # mpf: read exactly, not as decimals
    if rho < 0 or exact is None:  # outside the domain: rejected in every context
        for ctx, values in ((NUMPY, (q, rho, *params)), (MpContext(40), exact_inputs)):
            with pytest.raises(InputError):
                run(ctx, values)
        return
    ours_mp = run(MpContext(40), exact_inputs)
    with mpmath.workdps(60):
        assert ours_mp[0] == 1 and abs(ours_mp[1] - exact[1]) < 1e-25 and abs(ours_mp[2] - exact[2]) < 1e-25
    if in_floats is None:  # defined, but a square underflows in floats: rejected, pointing at dps
        with pytest.raises(InputError, match="dps"):
            run(NUMPY, (q, rho, *params))
        return
    ours = run(NUMPY, (q, rho, *params))
    assert float(ours[0]) == 1.0
    assert abs(float(ours[1]) - float(exact[1])) <= float_tolerance(exact[3])
    # Y2 = 1 - sqrt(2/X), X = beta^2 q (q - p): q - p = q - rho q loses eps rho/(1 - rho) relative to
    # cancellation, and dY2 = (1 - Y2) dX/(2X); with a few eps for the other roundings (X > 2 keeps
    # 1 - rho > 2/(beta q)^2 >= 1/800 on the frozen branch; Y2 = 0 exactly below it)
    assert abs(float(ours[2]) - float(exact[2])) <= 16 * EPS + 4 * EPS * rho / (1 - rho) if rho < 1 else ours[2] == 0


def test_trajectory_figure1_reference() -> None:
    for beta in (0.5, 3.0):
        traj = propagate(beta=beta, depth=50, rho0=0.3, **FIG1)
        q, p = 1.0, 0.3
        for layer in range(1, 51):
            q, p, _, _ = reference_post_ln_relu(q, p, beta, **FIG1)
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
    """Exactly (symbolically: p = q gives p' = q'), and numerically to the evaluation's accuracy at
    c = 1 (floats: float_tolerance(1) = 2.4e-7, whether 1 - ulp rounds to 1 is luck; 30 digits:
    ~10^-(50/2)); the attention stays liquid (Y2 = 0 exactly, X = beta^2 q (q - p) ~ 0 < 2)."""
    for block in ("post-ln", "pre-ln", "gc-post-ln"):
        bm = block_map(block, "relu")
        assert sp.simplify((bm.p_next - bm.q_next).subs(p_sym, q_sym)) == 0, block
    t = propagate(beta=3, depth=10, rho0=1, **FIG1)
    assert all(abs(r - 1) <= float_tolerance(1.0) for r in t.rho) and list(t.Y2) == [0.0] * 11
    t = propagate(beta=3, depth=10, rho0=1, dps=30, **FIG1)
    assert all(abs(r - 1) < 1e-22 for r in t.rho) and all(y == 0 for y in t.Y2)


def test_iterate_numpy_matches_scalar_and_mp() -> None:
    """The vectorised iteration (one call over a grid) equals the per-point one and the 30-digit one."""
    betas = np.array([0.5, 1.5, 3.0])
    alphas = np.array([[0.5], [1.0]])
    params = (betas, 0.2, 0.2, 4e-4, alphas, 1.0, 0)
    out = iterate(BM, params, 1.0, 0.3, 20).arrays()
    assert out["rho"].shape == (21, 2, 3) and out["Y2"].shape == (20, 2, 3)
    for i, a in enumerate(alphas[:, 0]):
        for j, b in enumerate(betas):
            t = propagate(beta=b, alpha_sa=a, depth=20, rho0=0.3, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=4e-4)
            assert np.allclose(out["rho"][:, i, j], t.rho, rtol=1e-13)
            assert np.allclose(out["Y2"][:, i, j], t.Y2[:-1], rtol=1e-13, atol=1e-15)
            mp = iterate(BM, (b, 0.2, 0.2, 4e-4, a, 1.0, 0), 1.0, 0.3, 20, MpContext(30))
            assert np.allclose(out["rho"][:, i, j], [float(x) for x in mp.rho], rtol=1e-13)


def test_tiny_residual_needs_dps() -> None:
    """alpha_SA = 5e-324 with no attention output: a_SA^2 = 0 in floats (LN(0): rejected, naming
    the block and dps), 2.5e-647 at 30 digits (LN then keeps rho: rho_1 = MLP(rho_0))."""
    args = dict(depth=1, rho0="0.3", sigma_v2=0, sigma_b2=0, alpha_sa="5e-324")
    with pytest.raises(InputError, match="block 1.*dps"):
        propagate(**args)
    ref = propagate(**(args | dict(alpha_sa=1, dps=30)))
    assert propagate(dps=30, **args).rho[1] == ref.rho[1]
