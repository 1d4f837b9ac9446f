"""The finite-width attention map (symsig.theory.finite_width, Attention(width=...))."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symsig.numerics import finite_width as nfw
from symsig.numerics.compile import compile_np, eval_np
from symsig.numerics.finite_t import overlap_np, y2_squared_np, y_moment_np
from symsig.theory import finite_width as fw
from symsig.theory.layers import Attention, symbolic_state
from symsig.theory.symbols import T, beta, d, n, p, q, sigma_b2, sigma_v2

ARGS = (q, p, beta, sigma_v2, sigma_b2, T, d)


def test_width_none_keeps_the_d_infinity_map() -> None:
    for kw in ({}, {"finite_t": True}, {"finite_t": True, "gain_control": True}):
        a, b = Attention(**kw)(symbolic_state()), Attention(**kw, width=None)(symbolic_state())
        assert (a.q, a.p, a.observables) == (b.q, b.p, b.observables)


def test_width_needs_the_exact_finite_t_moments() -> None:
    with pytest.raises(ValueError):
        Attention(width=d)(symbolic_state())
    with pytest.raises(ValueError, match="causal gain-controlled"):
        Attention(finite_t=True, gain_control=True, n_states=n, width=d)(symbolic_state())
    with pytest.raises(ValueError):
        fw.logit_cov_fluctuation("uniform")


def test_width_map_is_the_documented_assembly() -> None:
    """q_S, p_S, Y2 compiled from the layer equal the formulas assembled from the numerics."""
    qq, pp, b, tt, dd = 1.1, 0.4, 1.2, 64, 96
    st = Attention(finite_t=True, width=d)(symbolic_state())
    got = eval_np(compile_np(ARGS, (st.q, st.p, st.observable("Y2"))), qq, pp, b, 0.7, 0.05, tt, dd)
    s2, r = b * b * np.log(tt) * qq * (qq - pp), pp / qq
    y2, y3, ysq = y_moment_np(2, s2, tt), y_moment_np(3, s2, tt), y2_squared_np(s2, tt)
    m = nfw.pair_moments(s2, s2, s2 * r, tt)
    dq = s2 * (1 - y2 - 6 * y3 + 6 * ysq)
    dp = s2 * (r * (1 - 2 * y2 + m["Y2Y2"] + m["X"] + m["XX"] - 2 * m["A2A"]) - 4 * (m["A2A"] - m["Y2X"]))
    y2d = nfw.smeared_np("Y2")(s2, s2**2 * (6 - 2 * r * r) / dd, 0.0, tt)
    xd = nfw.x_smeared_np(s2, r, (3 + r * r) * s2**2 / dd, (3 - 8 * r**2 + 4 * r**3 + r**4) / dd,
                          r * (1 - r) * (3 + r) * s2 / dd, tt)
    want = (0.7 * (pp + (qq - pp) * (y2d + dq / dd)) + 0.05, 0.7 * (pp + (qq - pp) * (xd + dp / dd)) + 0.05, y2d)
    assert np.allclose([float(x) for x in got], want, rtol=1e-9)
    assert abs(m["X"] - overlap_np(s2, r, tt)) < 1e-9


def test_small_beta_factor_is_one_plus_t_over_d() -> None:
    """(q_S - p_S) at finite width over its d -> infinity value -> 1 + T/d as beta -> 0 (rho = 0)."""
    st = Attention(finite_t=True, width=d)(symbolic_state())
    inf = Attention(finite_t=True)(symbolic_state())
    f_w, f_i = compile_np(ARGS, (st.q - st.p,)), compile_np(ARGS, (inf.q - inf.p,))
    for tt, dd in ((128, 128), (512, 128), (128, 512)):
        pt = (1.0, 0.0, 0.02, 1.0, 0.0, tt, dd)
        ratio = float(eval_np(f_w, *pt)[0] / eval_np(f_i, *pt)[0])
        assert ratio == pytest.approx(1 + tt / dd, rel=0.03), (tt, dd, ratio)


def test_brackets_reduce_for_identical_and_independent_rows() -> None:
    """Dp = Dq at r = 1 and Dp = 0 at r = 0 (numerically through the declared functions)."""
    n_ = fw.n
    f = compile_np((fw.s2, fw.r, n_), (fw.delta_q_expr(), fw.delta_p_expr()))
    dq, dp1 = eval_np(f, 3.0, 1.0, 50)
    _, dp0 = eval_np(f, 3.0, 0.0, 50)
    assert float(dp1) == pytest.approx(float(dq), rel=1e-8) and abs(float(dp0)) < 1e-9


def test_smearing_covariances_are_symbolic() -> None:
    v11, vs, vr, cv = fw.smearing_covariance("gaussian")
    assert sp.expand(v11 - (6 - 2 * fw.r**2)) == 0 and sp.expand(vr.subs(fw.r, 1)) == 0
    assert fw.smearing_covariance("normalized")[0] == 4
