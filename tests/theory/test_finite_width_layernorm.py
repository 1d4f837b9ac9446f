"""LayerNorm at finite width (symsig.theory.finite_width.layernorm_width_cosine, LayerNorm(width=...))."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symsig.numerics.compile import compile_np, eval_np
from symsig.theory import finite_width as fw
from symsig.theory.layers import (BRANCH_COV, Attention, Dense, LayerNorm, Residual, Serial, State, head_cosine,
                                  symbolic_state)
from symsig.theory.symbols import PARAMS, T, alpha_sa, beta, d, p, q, sigma_b2, sigma_v2

rho = sp.Symbol("rho", positive=True)


def test_width_none_is_the_d_infinity_layer_norm() -> None:
    st_ = State(q, p, (("Y2", sp.Integer(1)),))
    out = LayerNorm()(st_)
    assert (out.q, out.p, out.observables) == (1, p / q, st_.observables)


def test_no_skip_is_the_sample_correlation_bias_of_head_cosine() -> None:
    """F = 0 (pure Gaussian pair): rho - rho (1 - rho^2) / (2 d), the one formula the QK-norm heads use."""
    got = fw.layernorm_width_cosine(sp.Integer(1), rho, 0, 0, d, "normalized")
    assert sp.simplify(got - head_cosine(rho, d)) == 0
    # a Gaussian skip with nothing fixed: the same (the centring removes S/d, which keeps the cosine)
    assert sp.simplify(fw.layernorm_width_cosine(sp.Integer(1), rho, 0, 0, d, "gaussian") - head_cosine(rho, d)) == 0
    # the stream model is the Gaussian skip equal to the whole input (its common part p fixed)
    stream = fw.layernorm_width_cosine(q, p, 0, 0, d, "stream")
    assert sp.simplify(stream - fw.layernorm_width_cosine(q, p, q, p, d, "gaussian")) == 0


@settings(max_examples=40, deadline=None)
@given(a2=st.floats(0.05, 4), rx=st.floats(-0.5, 0.99), kq=st.floats(0.05, 3), frac=st.floats(-0.5, 0.99),
       width=st.integers(8, 4096))
def test_correction_is_first_order_and_vanishes_without_a_branch(a2: float, rx: float, kq: float, frac: float,
                                                                 width: int) -> None:
    """d (E cos - R/Q) does not depend on d (exactly first order); with no branch the skip's cosine is kept."""
    qq, rr = a2 + kq, a2 * rx + frac * kq
    f = sp.lambdify((d,), fw.layernorm_width_cosine(qq, rr, a2, a2 * rx, d, "normalized"))
    # abs: f is O(1) and evaluated with cancellations (~1e-15), and the check multiplies its rounding by 2 d
    assert width * (f(width) - rr / qq) == pytest.approx(2 * width * (f(2 * width) - rr / qq), rel=1e-9,
                                                       abs=1e-14 * width)
    none = float(fw.layernorm_width_cosine(a2, a2 * rx, a2, a2 * rx, width, "normalized"))
    assert none == pytest.approx(rx, rel=1e-12, abs=1e-12)


def test_residual_records_the_skip_and_layer_norm_consumes_it() -> None:
    """Residual(alpha, Attention(width) -> Dense(w, b)) -> LayerNorm(d): the skip Gram alpha^2 (q, p), the
    branch covariance scaled by w^2, read by the LayerNorm and then dropped from the state."""
    w, b = sp.Rational(3, 2), sp.Rational(1, 100)
    att = Attention(finite_t=True, width=d, tokens="normalized")
    tree = Serial(Residual(alpha_sa, Serial(att, Dense(w, b))), LayerNorm(d, "normalized"))
    out = tree(symbolic_state())
    assert not {k for k, _ in out.observables} & {*BRANCH_COV, "skip_q", "skip_p"}
    branch = Dense(w, b)(att(symbolic_state()))
    cov = [w**2 * x for x in fw.attention_branch_cov(q, p, seq_len=T)]
    want = fw.layernorm_width_cosine(branch.q + alpha_sa**2 * q, branch.p + alpha_sa**2 * p, alpha_sa**2 * q,
                                     alpha_sa**2 * p, d, "normalized", tuple(cov))
    args = (q, p, beta, sigma_v2, sigma_b2, alpha_sa, T, d)
    got, ref = eval_np(compile_np(args, (out.p, want)), 1.0, 0.4, 2.5, 0.6, 0.01, 0.8, 128, 64)
    assert got == pytest.approx(ref, rel=1e-13)


def test_attention_branch_cov_vanishes_at_zero_inverse_temperature_limit() -> None:
    """beta -> 0: Y2 -> 1/T deterministically, so the O(1) covariance tends to 0 (liquid phase)."""
    f = compile_np((q, p, beta, sigma_v2, T), fw.attention_branch_cov(q, p, seq_len=T))
    small = np.abs(eval_np(f, 1.0, 0.3, 1e-3, 1.0, 256))
    frozen = np.abs(eval_np(f, 1.0, 0.3, 3.0, 1.0, 256))
    assert small.max() < 1e-9 < frozen[0]


def test_normalized_layer_norm_needs_a_residual_sum() -> None:
    with pytest.raises(ValueError, match="residual sum"):
        LayerNorm(d, "normalized")(symbolic_state())
    with pytest.raises(ValueError, match="skip_tokens"):
        fw.layernorm_width_cosine(1, rho, 0, 0, d, "uniform")
