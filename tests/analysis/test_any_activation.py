"""Any activation: tanh (named and as a user callable) post-LN blocks against an
independent 40-digit reference, precision convergence, caching and the Price derivative.

Reference (written here, independent of symsig): docs/theory.md §5, §6 in plain
mpmath, with the tanh kernel E[tanh(u) tanh(v)] by a tensor Gauss-Hermite rule
whose nodes are computed here (Newton on H_n from scipy's float roots). For
tanh(sqrt(q1) z), q1 = sigma_w2 + sigma_b2 ~ 0.2, the integrand is analytic in a
strip, so the error falls like exp(-c sqrt(n)); measured against each other:
n = 60: 2e-19, n = 90: 1e-24, n = 120: 6e-29, n = 150: 8e-33 (K_qq; K_qp 20x smaller).
Fast tests use n = 60 (float trajectories to 1e-12 need far less); the slow test
uses n = 170 (~1e-34) against the library's 40-digit trajectory.
"""
from __future__ import annotations

import math
from functools import lru_cache

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy.special import roots_hermite

from symsig import propagate
from symsig.core.architecture import UserActivation
from symsig.theory.blocks import block_map
from symsig.numerics.compile import compile_np, eval_np
from symsig.numerics.quadrature import dkernel_np
from symsig.theory.symbols import p as P, q as Q

FIG1 = dict(sigma_w2="0.2", sigma_v2="0.2", sigma_b2="4e-4", alpha_sa=1, alpha_mlp=1)
DEPTH, RHO0 = 8, "0.3"
BETAS = ("0.5", "3")


@lru_cache(maxsize=4)
def gh_nodes(n: int, dps: int = 50) -> tuple[list, list]:
    """Nodes/weights of E[f(Z)], Z ~ N(0, 1): z_i = sqrt(2) x_i, w_i / sqrt(pi), x_i roots of H_n."""
    x0, _ = roots_hermite(n)
    with mpmath.workdps(dps):
        xs, ws = [], []
        for x in x0:
            x = mpmath.mpf(x)
            for _ in range(100):
                step = mpmath.hermite(n, x) / (2 * n * mpmath.hermite(n - 1, x))
                x -= step
                if abs(step) < mpmath.mpf(10) ** (-dps + 2):
                    break
            w = 2 ** (n - 1) * mpmath.factorial(n) * mpmath.sqrt(mpmath.pi) / (n**2 * mpmath.hermite(n - 1, x) ** 2)
            xs.append(mpmath.sqrt(2) * x)
            ws.append(w / mpmath.sqrt(mpmath.pi))
        return xs, ws


def tanh_kernel_ref(q1, p1, n: int = 60):
    z, w = gh_nodes(n)
    a, c = mpmath.sqrt(q1), p1 / q1
    s = mpmath.sqrt(1 - c * c)
    tz = [mpmath.tanh(a * x) for x in z]
    k_qq = mpmath.fdot(w, [t * t for t in tz])
    rows = [mpmath.fdot(w, [mpmath.tanh(a * (c * x + s * y)) for y in z]) for x in z]
    return k_qq, mpmath.fdot([wi * ti for wi, ti in zip(w, tz)], rows)


def reference_trajectory(beta: str, n: int = 60, depth: int = DEPTH) -> tuple[list, list]:
    """rho_l and Y2_l of the tanh post-LN block at 45 digits, plain formulas."""
    with mpmath.workdps(45):
        b, sw, sv, sb = (mpmath.mpf(x) for x in (beta, "0.2", "0.2", "4e-4"))
        rho, rhos, y2s = mpmath.mpf(RHO0), [mpmath.mpf(RHO0)], []
        for _ in range(depth):
            v = 1 - rho  # q = 1 after the previous LN
            y2 = 1 - mpmath.sqrt(2 / v) / b if b * b * v > 2 else mpmath.mpf(0)
            q1, p1 = sv * (rho + v * y2) + sb + 1, sv * rho + sb + rho
            r1 = p1 / q1
            k_qq, k_qp = tanh_kernel_ref(sw + sb, sw * r1 + sb, n)
            q2, p2 = sw * k_qq + sb + 1, sw * k_qp + sb + r1
            rho = p2 / q2
            rhos.append(rho)
            y2s.append(y2)
    return rhos, y2s


@lru_cache(maxsize=4)
def reference(beta: str) -> tuple[list, list]:
    return reference_trajectory(beta)


TANH_USER = UserActivation(np.tanh, derivative=lambda x: 1 / np.cosh(x) ** 2, fn_mp=mpmath.tanh,
                           derivative_mp=lambda x: mpmath.sech(x) ** 2, name="my_tanh")


def test_reference_converged() -> None:
    with mpmath.workdps(40):
        a = tanh_kernel_ref(mpmath.mpf("0.2004"), mpmath.mpf("0.15"), 50)
        b = tanh_kernel_ref(mpmath.mpf("0.2004"), mpmath.mpf("0.15"), 60)
        assert all(abs(x - y) < mpmath.mpf(10) ** -16 for x, y in zip(a, b))


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("activation", ["tanh", TANH_USER], ids=["named", "callable"])
def test_float_trajectory_matches_reference(beta: str, activation) -> None:
    rhos, y2s = reference(beta)
    tr = propagate(block="post-ln", activation=activation, beta=beta, depth=DEPTH, rho0=RHO0, **FIG1)
    # named tanh: kernel to 1e-14 K_qq; user callable: adaptive rule stops at 1e-13 K_qq
    tol = 1e-12 if activation == "tanh" else 1e-11
    assert max(abs(a - float(b)) for a, b in zip(tr.rho, rhos)) < tol
    assert max(abs(a - float(b)) for a, b in zip(tr.Y2, y2s)) < tol


def test_mp_trajectory_dps30_vs_40_and_reference() -> None:
    """Named tanh (fixed-point trapezoid): dps = 30 and 40 agree to 1e-30, both match the reference."""
    rhos, _ = reference("3")
    t30 = propagate(block="post-ln", activation="tanh", beta="3", depth=3, rho0=RHO0, dps=30, **FIG1)
    t40 = propagate(block="post-ln", activation="tanh", beta="3", depth=3, rho0=RHO0, dps=40, **FIG1)
    with mpmath.workdps(60):
        for a, b, r in zip(t30.rho, t40.rho, rhos):
            assert abs(a - b) <= mpmath.mpf(10) ** -30 * abs(b)
            assert abs(b - r) <= mpmath.mpf(10) ** -18 * abs(r)  # the n = 60 reference is good to ~2e-19


@pytest.mark.slow
def test_mp_callable_path() -> None:
    """User callable at dps: the generic mpmath trapezoid (pure Python, slow). propagate works at
    dps + 20 guard digits, so dps = 4 already evaluates the kernels to ~24 digits."""
    rhos, _ = reference("3")
    t4 = propagate(block="post-ln", activation=TANH_USER, beta="3", depth=1, rho0=RHO0, dps=4, **FIG1)
    with mpmath.workdps(40):
        assert abs(t4.rho[1] - rhos[1]) <= mpmath.mpf(10) ** -18  # limited by the n = 60 reference


@pytest.mark.slow
def test_mp_trajectory_against_170_node_reference() -> None:
    rhos, _ = reference_trajectory("3", n=170, depth=3)
    t40 = propagate(block="post-ln", activation="tanh", beta="3", depth=3, rho0=RHO0, dps=40, **FIG1)
    with mpmath.workdps(60):
        err = max(abs(b - r) / abs(r) for b, r in zip(t40.rho, rhos))
    print(f"\nnamed tanh, dps=40 vs 170-node Gauss-Hermite reference: max rel. error {mpmath.nstr(err, 3)}")
    assert err <= mpmath.mpf(10) ** -33


def test_callable_is_cached_and_not_recompiled() -> None:
    def swish(x):
        return x / (1 + np.exp(-x))

    args = dict(block="post-ln", activation=swish, beta=3, depth=3, rho0=0.3)
    first = propagate(**args)
    bm = block_map("post-ln", swish)
    assert block_map("post-ln", UserActivation(swish)) is bm  # composed once, kept
    before = compile_np.cache_info()
    again = propagate(**args)
    after = compile_np.cache_info()
    assert np.array_equal(again.rho, first.rho) and after.misses == before.misses
    # and the kernel is the named swish's (independent closed-loop check of the callable path)
    ref = propagate(block="post-ln", activation=lambda x: x * (1 / (1 + np.exp(-x))), beta=3, depth=3, rho0=0.3)
    assert np.allclose(ref.rho, first.rho, rtol=1e-12)


def test_derivative_is_price_theorem() -> None:
    k = block_map("post-ln", TANH_USER).activation  # the wrapper kept as given
    from symsig.theory.activations import kernel

    kern = kernel(k)
    d_qp = sp.diff(kern.k_qp, P)
    d_qq = sp.diff(kern.k_qq, Q)
    fn = compile_np((Q, P), (d_qq, d_qp))
    got = eval_np(fn, 0.7, 0.3)
    want = dkernel_np("tanh", 0.7, 0.3)
    assert np.allclose([float(g) for g in got], [float(w) for w in want], rtol=1e-11)


def test_bad_callable_for_mp_is_one_line() -> None:
    from symsig.core.validate import InputError

    with pytest.raises(InputError, match="does not accept mpmath numbers"):
        propagate(block="post-ln", activation=lambda x: np.tanh(x) + np.zeros(np.shape(x)), beta=3, depth=1, dps=20)
    with pytest.raises(InputError):
        propagate(activation="softsign", depth=1)
    assert math.isfinite(propagate(activation=np.sin, beta=3, depth=2).rho[-1])
