"""Benchmark: scipy dblquad (reference method) vs symsig.numerics.quadrature.kernel_np.

Prints one table row per (activation, q1, p1): seconds per MLP-block evaluation
(one K_qq and one K_qp) for scipy with default tolerances, scipy with tight
tolerances (epsabs = epsrel = 1e-13) and symsig, the speed-ups, and the relative
errors of K_qp (and max over K_qq, K_qp) against a 40-digit mpmath reference.
The scipy reference: K_qp = dblquad of phi(x) phi(y) times the bivariate normal
density over R^2; K_qq = quad of phi(x)^2 times the N(0, q1) density (the 2-D
density is degenerate at c = 1). Then the vectorised float kernels (1000 (q1, p1) in one call,
kernel and derivative) and the mpmath kernels at dps = 30 (seconds per call, best of 3).
Run: OPENBLAS_NUM_THREADS=1 python benchmarks/bench_quadrature.py
"""
from __future__ import annotations

import time
import warnings

import numpy as np
from scipy import integrate

from symsig.numerics import quadrature as Q

POINTS = [(1.0, 0.5), (0.5, 0.45), (2.0, -1.2)]
ACTS = ["tanh", "gelu", "gelu_tanh"]
MP_ACTS = ["tanh", "sigmoid", "swish", "gelu", "gelu_tanh"]


def _scipy_block(name: str, q: float, p: float, tol: float | None) -> tuple[float, float]:
    """(K_qq, K_qp) the reference way; tol None = scipy defaults."""
    phi = Q.activation_np(name)
    opts = {} if tol is None else {"epsabs": tol, "epsrel": tol}
    det = q * q - p * p
    norm = 1.0 / (2 * np.pi * np.sqrt(det))

    def dens2(y: float, x: float) -> float:
        return phi(x) * phi(y) * norm * np.exp(-(q * x * x - 2 * p * x * y + q * y * y) / (2 * det))

    def dens1(x: float) -> float:
        return phi(x) ** 2 * np.exp(-x * x / (2 * q)) / np.sqrt(2 * np.pi * q)

    k_qq = integrate.quad(dens1, -np.inf, np.inf, **opts)[0]
    k_qp = integrate.dblquad(dens2, -np.inf, np.inf, -np.inf, np.inf, **opts)[0]
    return k_qq, k_qp


def _best(fn, repeat: int = 3) -> float:
    """Best of ``repeat`` single calls (seconds): robust to a busy machine."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _time(fn, min_time: float = 0.2) -> tuple[float, object]:
    """Mean seconds per call over >= min_time of repeated calls."""
    n, start, out = 0, time.perf_counter(), None
    while True:
        out = fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / n, out


def _err(got: tuple[float, float], ref: tuple) -> tuple[float, float]:
    e = [abs(g - float(r)) / abs(float(r)) for g, r in zip(got, ref)]
    return e[1], max(e)


def main() -> None:
    warnings.simplefilter("ignore")  # tight dblquad warns about roundoff
    head = (f"{'act':5s} {'q1':>4s} {'p1':>5s} | {'scipy def s':>11s} {'err Kqp':>8s} | "
            f"{'scipy 1e-13 s':>13s} {'err max':>8s} | {'symsig s':>9s} {'err max':>8s} | "
            f"{'x def':>7s} {'x tight':>8s}")
    print(head)
    print("-" * len(head))
    for name in ACTS:
        for q, p in POINTS:
            ref = Q.kernel_mp(name, q, p, dps=40)
            t_def, r_def = _time(lambda: _scipy_block(name, q, p, None), 0.0)
            t_tight, r_tight = _time(lambda: _scipy_block(name, q, p, 1e-13), 0.0)
            t_ours, r_ours = _time(lambda: Q.kernel_np(name, q, p))
            e_def, e_tight, e_ours = _err(r_def, ref), _err(r_tight, ref), _err(r_ours, ref)
            print(f"{name:5s} {q:4.1f} {p:5.2f} | {t_def:11.3f} {e_def[0]:8.1e} | "
                  f"{t_tight:13.3f} {e_tight[1]:8.1e} | {t_ours:9.2e} {e_ours[1]:8.1e} | "
                  f"{t_def / t_ours:7.0f} {t_tight / t_ours:8.0f}")
    batch_q = np.full(1000, 1.0)
    batch_p = np.linspace(-0.99, 0.99, 1000)
    for name in ACTS:
        Q.dkernel_np(name, batch_q, batch_p)  # compile outside the timing
        t, t_d = _best(lambda: Q.kernel_np(name, batch_q, batch_p)), _best(lambda: Q.dkernel_np(name, batch_q, batch_p))
        print(f"{name}: vectorised, 1000 blocks in one call: {t / 1000:.2e} s per block, derivatives {t_d / 1000:.2e} s")
    for name in MP_ACTS:
        Q.kernel_mp(name, 1, 0.5, dps=10)  # compile outside the timing
        t = _best(lambda: Q.kernel_mp(name, "0.8", "0.5", dps=30))
        t_d = _best(lambda: Q.dkernel_mp(name, "0.8", "0.5", dps=30))
        print(f"{name}: mpmath dps 30 at (0.8, 0.5): kernel {t:.2e} s, derivatives {t_d:.2e} s")


if __name__ == "__main__":
    main()
