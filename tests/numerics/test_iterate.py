"""The one depth iteration: its fast numpy compilation, its three contexts, its domain."""
from __future__ import annotations

import sys

import mpmath
import numpy as np
import pytest
import sympy as sp

from symsig import propagate
from symsig.core.validate import InputError
from symsig.numerics import compile as C
from symsig.numerics.balls import Uncertain, Undefined, compile_arb
from symsig.numerics.contexts import NUMPY, ArbContext, MpContext
from symsig.numerics.iterate import Map, check_parameters, check_start, guards, iterate, steps
from symsig.theory.blocks import block_map
from symsig.theory.symbols import alpha_sa, q, sigma_b2, sigma_v2, sigma_w2
from tests.helpers import FIG1

EPS = sys.float_info.epsilon
FIG1_PARAMS = tuple(FIG1[k] for k in ("sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa", "alpha_mlp"))
MAPS = [("post-ln", "relu", False), ("pre-ln", "relu", False), ("gc-post-ln", "erf", False),
        ("gc-pre-ln", "gelu", False), ("pre-ln-published", "linear", False), ("post-ln", "relu", True)]


def random_inputs(rng: np.random.Generator, n: int, finite_t: bool) -> tuple[np.ndarray, np.ndarray, tuple]:
    """States in the domain (0 <= p <= q, some exactly collapsed) and parameters around the REM switch."""
    qq = rng.uniform(0.5, 2, n)
    pp = qq * rng.uniform(0, 1, n)
    pp[:5] = qq[:5]
    params = (rng.uniform(0.1, 5, n), rng.uniform(0.1, 1, n), rng.uniform(0.05, 1, n), rng.uniform(1e-4, 1e-2, n),
              rng.uniform(0, 3, n), rng.uniform(0.2, 2, n), 64 if finite_t else 0)
    return qq, pp, params


@pytest.mark.parametrize("block,activation,finite_t", [m for m in MAPS if not m[2]])
def test_fast_form_is_the_map_at_40_digits(block: str, activation: str, finite_t: bool) -> None:
    """The rewrites of compile_np_fast (REM Piecewise -> max, q = 1 after a LayerNorm) change
    no value: compiled in mpmath, they agree with the plain map to 1e-20 at 40 digits (the
    worst evaluation error, sqrt(10^-40) at c = 1 in the ReLU kernel, is far below). Finite-T
    maps have no REM Piecewise (only q = 1 is substituted, checked in floats below)."""
    bm = block_map(block, activation, finite_t)
    assert not any(e.has(sp.Piecewise) for e in C.fast_form(bm.exprs))  # recognised (proved), not left as is
    rng = np.random.default_rng(1)
    qq, pp, params = random_inputs(rng, 8, finite_t)
    fixed = ((q, sp.Integer(1)),) if bm.q_next == 1 else ()
    plain, fast = C.compile_mp(bm.args, bm.exprs), C.compile_mp(bm.args, C.fast_form(bm.exprs, fixed))
    with mpmath.workdps(40):
        for i in range(qq.size):
            args = [mpmath.mpf(1 if fixed else qq[i]), mpmath.mpf(pp[i] / qq[i] if fixed else pp[i])]
            args += [mpmath.mpf(float(np.broadcast_to(x, qq.shape)[i])) for x in params]
            for a, b in zip(plain(*args), fast(*args)):
                assert abs(a - b) < 1e-20


@pytest.mark.parametrize("block,activation,finite_t", MAPS)
def test_fast_numpy_equals_plain_numpy(block: str, activation: str, finite_t: bool) -> None:
    """In floats the two differ by rounding only: <= 1e-12 relative, plus 16 sqrt(eps) = 2.4e-7
    absolute near c = 1, where sqrt(1 - c^2) turns one ulp of c into sqrt(eps) (tests/theory/
    test_blocks.py::float_tolerance); the typical difference is at the ulp level."""
    bm = block_map(block, activation, finite_t)
    rng = np.random.default_rng(0)
    qq, pp, params = random_inputs(rng, 400, finite_t)
    ref = C.eval_np(C.compile_np(bm.args, bm.exprs), qq, pp, *params)
    with np.errstate(all="ignore"):
        got = C.compile_np_fast(bm.args, bm.exprs)(qq, pp, *params)
    diffs = []
    for a, b in zip(ref, got):
        b = np.broadcast_to(b, a.shape)
        assert np.all(np.abs(a - b) <= 1e-12 * np.abs(a) + 16 * np.sqrt(EPS))
        diffs.append(np.median(np.abs(a - b) / np.maximum(np.abs(a), 1)))
    assert max(diffs) < 1e-14


def test_rem_max_form_rejects_what_it_cannot_prove() -> None:
    x = sp.Symbol("x", positive=True)
    good = sp.Piecewise((1 - sp.sqrt(2) / sp.sqrt(x), x > 2), (0, True))
    assert not C.rem_max_form(good).has(sp.Piecewise)
    for bad in (sp.Piecewise((1 + sp.sqrt(2) / sp.sqrt(x), x > 2), (0, True)),  # (1 - f)^2 = 2/X, wrong sign
                sp.Piecewise((1 - sp.sqrt(3) / sp.sqrt(x), x > 2), (0, True)),
                sp.Piecewise((1 - sp.sqrt(2) / sp.sqrt(x), x > 3), (0, True))):
        assert C.rem_max_form(bad) == bad


def test_three_contexts_agree() -> None:
    """numpy (float), mpmath (50 digits) and arb (256 bits) iterate the same map: float within
    1e-13 of mpmath over 30 layers; every arb ball contains the mpmath value and is < 1e-60 wide."""
    bm = block_map("post-ln", "relu")
    params = ("2.5", *FIG1_PARAMS, 0)
    f = iterate(bm, params, 1, "0.3", 30)
    m = iterate(bm, params, 1, "0.3", 30, MpContext(50))
    b = iterate(bm, params, 1, "0.3", 30, ArbContext(256))
    for key in ("rho", "y2"):
        xs, ms, bs = getattr(f, key), getattr(m, key), getattr(b, key)
        assert len(xs) == len(ms) == len(bs)
        for x, y, z in zip(xs, ms, bs):
            assert abs(float(x) - float(y)) <= 1e-13
            with mpmath.workdps(80):
                mid, rad = mpmath.mpf(z.mid().str(75, radius=False)), mpmath.mpf(z.rad().str(5, radius=False))
                assert rad < mpmath.mpf(10) ** -60 and abs(mid - y) <= rad + mpmath.mpf(10) ** -65
    assert abs(float(m.mean_y2) - float(f.mean_y2)) < 1e-14


def test_steps_stream_what_iterate_collects() -> None:
    bm = block_map("post-ln", "relu")
    params = (np.array([0.5, 3.0]), *FIG1_PARAMS, 0)
    it = iterate(bm, params, 1.0, 0.3, 5)
    for layer, (qq, pp, y2) in enumerate(steps(bm, params, 1.0, 0.3, 5), start=1):
        assert np.array_equal(np.broadcast_to(qq, (2,)), np.broadcast_to(it.q[layer], (2,)))
        assert np.array_equal(pp, it.p[layer]) and np.array_equal(y2, it.y2[layer - 1])
    out = it.arrays()
    assert out["q"].shape == out["rho"].shape == (6, 2) and out["Y2"].shape == (5, 2)


def test_mp_context_reads_inputs_exactly_and_keeps_global_precision() -> None:
    before = mpmath.mp.dps
    bm = block_map("post-ln", "relu")
    a = iterate(bm, ("0.1", *FIG1_PARAMS, 0), 1, "0.3", 3, MpContext(40))
    b = iterate(bm, (0.1, *FIG1_PARAMS, 0), 1, 0.3, 3, MpContext(40))  # a float means its decimal
    assert mpmath.mp.dps == before and a.rho == b.rho


def test_guards_are_the_variances_divided_by() -> None:
    """post-LN ReLU divides by the stream entering each LayerNorm and by the ReLU's input
    variance; beta_c's q (q - p) is only inside the REM branch, hence not a guard."""
    gs = guards(block_map("post-ln", "relu").exprs)
    assert sigma_w2 + sigma_b2 in gs and len(gs) == 3
    assert not any(g.is_Symbol for g in gs)  # q, beta only under the branch
    assert any(g.has(sp.Piecewise) and g.has(alpha_sa) and g.has(sigma_v2) for g in gs)  # LN after attention


@pytest.mark.parametrize("block,zero", [
    ("post-ln", dict(sigma_v2=0, sigma_b2=0, alpha_sa=0)),       # LN of the attention residual
    ("post-ln", dict(sigma_w2=0, sigma_b2=0)),                   # the ReLU reads a zero variance
    ("post-ln", dict(sigma_w2=0, sigma_b2=0, alpha_mlp=0)),
    ("pre-ln", dict(sigma_w2=0, sigma_b2=0)),
])
def test_static_domain_errors(block: str, zero: dict) -> None:
    bm = block_map(block, "relu")
    params = [{"sigma_w2": 0.2, "sigma_v2": 0.2, "sigma_b2": 4e-4, "alpha_sa": 1, "alpha_mlp": 1}[k] for k in
              ("sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa", "alpha_mlp")]
    names = ("sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa", "alpha_mlp")
    values = (1.0, *(zero.get(k, v) for k, v in zip(names, params)), 0)
    with pytest.raises(InputError, match="undefined for every input"):
        check_parameters(bm, values)
    for ctx in (NUMPY, MpContext(20)):
        with pytest.raises(InputError):
            iterate(bm, values, 1, "0.3", 2, ctx)
    with pytest.raises(InputError, match="zero-variance"):
        propagate(block=block, depth=2, **zero)


def test_dynamic_domain_errors_name_the_block() -> None:
    """Defined for most states, undefined at some: uniform attention over p = 0 tokens with no
    bias and no residual (LN(0) in block 1), and gain-controlled attention on collapsed tokens
    (q_S = sigma_v2 (q - p) Y2 = 0) with no residual, in every context."""
    cases = [dict(block="post-ln", beta=0.5, sigma_b2=0, alpha_sa=0, rho0=0),
             dict(block="gc-post-ln", beta=3, alpha_sa=0, rho0=1)]
    for case in cases:
        for dps in (None, 30):
            with pytest.raises(InputError, match="block 1: the map is undefined"):
                propagate(depth=3, dps=dps, **case)
        bm = block_map(case["block"], "relu")
        params = (case["beta"], 0.2, 0.2, case.get("sigma_b2", 4e-4), case["alpha_sa"], 1, 0)
        with pytest.raises(InputError, match="block 1"):
            iterate(bm, params, 1, case["rho0"], 3, ArbContext(128))
    # defined nearby: p > 0, or a bias, or a residual
    for change in (dict(rho0=0.01), dict(sigma_b2=1e-6), dict(alpha_sa=1e-3)):
        assert np.isfinite(propagate(depth=3, **(cases[0] | change)).rho).all()


def test_start_is_a_gram_matrix() -> None:
    check_start(1, 0)
    check_start(2, 1)
    check_start(1, -1 / 63, seq_len=64)
    for q0, rho0, t in ((0, 0.3, None), (1, -1e-9, None), (1, -0.2, 8), (1, 1.5, None)):
        with pytest.raises(InputError):
            check_start(q0, rho0, t)
    with pytest.raises(InputError, match="rho0"):
        propagate(depth=2, rho0=-0.1)
    assert propagate(depth=2, rho0=-0.01, seq_len=64).rho[0] == -0.01


def test_balls_never_guess() -> None:
    """An undecided Piecewise branch or a denominator ball containing 0 raises Uncertain; an
    exact 0 denominator is the map's own 0/0 (Undefined, which the iteration turns into an
    InputError); a common subexpression of unselected branches is never evaluated."""
    import flint

    arb = flint.arb
    x, y = sp.symbols("x y")
    branch = compile_arb((x, y), (sp.Piecewise((x, y > 0), (2 * x, True)),))
    inverse = compile_arb((y,), (1 / y,))
    branches = (sp.Piecewise((x / y, y > 0), (0, True)), sp.Piecewise((2 * x / y, y > 0), (1, True)))
    assert sp.cse(list(branches))[0]  # x/y is hoisted out of both branches
    lazy = compile_arb((x, y), branches)
    old, flint.ctx.prec = flint.ctx.prec, 64
    try:
        with pytest.raises(Uncertain, match="undecided"):
            branch(arb(1), arb(0, 1e-3))
        assert branch(arb(1), arb(-2))[0] == 2
        with pytest.raises(Uncertain, match="contains 0"):
            inverse(arb(0, 1e-3))
        with pytest.raises(Undefined):
            inverse(arb(0))
        assert lazy(arb(1), arb(0)) == (0, 1)
    finally:
        flint.ctx.prec = old


def test_map_protocol_for_other_compositions() -> None:
    """Any (args, exprs) map iterates: here a Dense layer q' = s_w q + s_b written by hand."""
    m = Map((q, sp.Symbol("p"), sigma_w2, sigma_b2), (sigma_w2 * q + sigma_b2, sigma_w2 * sp.Symbol("p") + sigma_b2,
                                                     sp.Integer(0)))
    it = iterate(m, (0.5, 0.25), 1.0, 0.0, 3)
    assert [float(v) for v in it.q] == [1.0, 0.75, 0.625, 0.5625]
