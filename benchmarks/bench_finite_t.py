"""Throughput of the float finite-T E[Y2] (symsig.finite_t.y_moment_np) over random (beta, T).

The default path interpolates the shipped Chebyshev table; fast=False is the direct method.

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_finite_t.py [n_points]
"""
from __future__ import annotations

import sys
import time

import numpy as np

from symsig.numerics.finite_t import overlap_np, rem_moments_np, y_moment_np


def main(n_points: int = 10_000) -> None:
    rng = np.random.default_rng(0)
    beta = rng.uniform(0.1, 10.0, n_points)
    seq_len = 2.0 ** rng.integers(1, 61, n_points)
    s2 = beta**2 * np.log(seq_len)
    y_moment_np(2, s2[:64], seq_len[:64])  # warm-up (node tables)
    t0 = time.perf_counter()
    y_moment_np(2, s2, seq_len)
    dt = time.perf_counter() - t0
    print(f"E[Y2] float: {n_points} (beta, T) points in {dt:.2f} s = {n_points / dt:.0f} points/s")
    m = min(n_points, 2000)
    t0 = time.perf_counter()
    y_moment_np(2, s2[:m], seq_len[:m], fast=False)
    dt = time.perf_counter() - t0
    print(f"E[Y2] float, direct method (fast=False): {m / dt:.0f} points/s")
    t0 = time.perf_counter()
    rem_moments_np(beta[:1000], 1.0, 0.0, seq_len[:1000])
    dt = time.perf_counter() - t0
    print(f"rem_moments_np (Y2, Y3, Y2^2): {1000 / dt:.0f} points/s")
    # two-query overlap X at typical layer-map points (rho in (-0.9, 0.99), T = 8..4096)
    rho = rng.uniform(-0.9, 0.99, 100)
    t_x = 2.0 ** rng.integers(3, 13, 100)
    s2_x = beta[:100] ** 2 * np.log(t_x) * (1 - rho)
    t0 = time.perf_counter()
    overlap_np(s2_x, rho, t_x)
    dt = time.perf_counter() - t0
    print(f"overlap_np: {1e3 * dt / 100:.1f} ms per point")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
