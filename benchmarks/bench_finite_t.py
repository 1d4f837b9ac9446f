"""Finite-T moments: throughput of each method, and a finite-T vs T -> infinity diagram.

1. Points per second of E[Y2], E[Y2^2] and X over random (beta, rho, T): the float
   tables (default), the float direct method (fast=False), mpmath at 30 digits and, for X,
   the rigorous arb balls at 15 and 30 digits (symsig.numerics.overlap_balls).
2. A diagram-style sweep: the post-LN ReLU block map (symsig.theory.blocks.block_map,
   compiled once with numerics.compile.block_np, evaluated with eval_np) iterated for
   ``depth`` layers on a ``size`` x ``size`` grid of (beta in [0.1, 4], alpha_SA in [0, 3]),
   rho0 = 0.3, at T = 512 (finite_t=True) and at T -> infinity; then the finite-T map on a
   subgrid evaluated by the direct method (finite_t.direct_method()) and the largest
   |rho_L(tables) - rho_L(direct)| there.
3. The same through the public API, ``symsig.diagram(depth=60, beta="0.1:4:256",
   alpha_sa="0:3:256")`` with ``seq_len=512`` and without (T -> infinity), best of 3
   (the criterion: finite T costs at most 10x the asymptotic diagram), and rho_L on the
   16 x 16 subgrid against ``symsig.diagram`` inside ``direct_method()``.

Times are CPU seconds of this process (time.process_time; with OPENBLAS_NUM_THREADS=1 the
same as wall-clock seconds on an idle core), so that a busy machine does not distort them.

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_finite_t.py [size depth subgrid_step]
"""
from __future__ import annotations

import sys
import time

import numpy as np

from symsig.analysis.diagram import diagram as public_diagram
from symsig.core.architecture import Architecture
from symsig.numerics.compile import block_np, eval_np
from symsig.numerics.finite_t import direct_method, overlap, overlap_np, y2_squared_np, y_moment, y_moment_np
from symsig.theory.blocks import block_map


def _rate(label: str, fn, count: int) -> None:
    t0 = time.process_time()
    fn()
    dt = time.process_time() - t0
    print(f"  {label:44s} {count / dt:12.1f} points/s  ({1e3 * dt / count:.3g} ms/point)")


def throughput(n_points: int = 20_000) -> None:
    rng = np.random.default_rng(0)
    beta = rng.uniform(0.1, 6.0, n_points)
    rho = rng.uniform(-0.9, 0.99, n_points)
    seq_len = 2.0 ** rng.integers(1, 21, n_points)
    s2 = beta**2 * np.log(seq_len) * (1 - rho)
    for fn in (lambda n: y_moment_np(2, s2[:64], n), lambda n: y2_squared_np(s2[:64], n),
               lambda n: overlap_np(s2[:64], rho[:64], n)):
        fn(seq_len[:64]), fn(512)                     # warm-up: load the tables, slice them at T = 512
    print(f"throughput over random beta in [0.1, 6], rho in [-0.9, 0.99], T = 2..2^20 (q = 1, p = rho):")
    _rate("E[Y2] table", lambda: y_moment_np(2, s2, seq_len), n_points)
    _rate("E[Y2] table, one T (grid)", lambda: y_moment_np(2, s2, 512), n_points)
    _rate("E[Y2] direct", lambda: y_moment_np(2, s2[:500], seq_len[:500], fast=False), 500)
    _rate("E[Y2^2] table", lambda: y2_squared_np(s2, seq_len), n_points)
    _rate("E[Y2^2] direct", lambda: y2_squared_np(s2[:500], seq_len[:500], fast=False), 500)
    _rate("X table", lambda: overlap_np(s2, rho, seq_len), n_points)
    _rate("X table, one T (grid)", lambda: overlap_np(s2, rho, 512), n_points)
    _rate("X direct", lambda: overlap_np(s2[:40], rho[:40], seq_len[:40], fast=False), 40)
    _rate("E[Y2] mpmath, 30 digits (T = 512)", lambda: [y_moment(2, v, 512, dps=30) for v in s2[:2]], 2)
    _rate("X mpmath, 30 digits (T = 512, beta <= 2)",
          lambda: overlap(float(2.0**2 * np.log(512) * 0.4), 0.6, 512, dps=30), 1)
    for digits in (15, 30):
        _rate(f"X ball (arb, rigorous), {digits} digits (T = 512)", lambda: x_balls(digits), len(BALL_POINTS))


#: (s2, r) of the X-ball benchmark at T = 512: nearly uniform to frozen attention, r < 0 and r > 0.
BALL_POINTS = (("0.2", "0.9"), ("1", "0.3"), ("4", "0.5"), ("3", "-0.4"), ("12", "0.3"))


def x_balls(digits: int) -> None:
    """X = rem_x(s2, r, 512) as arb balls at the BALL_POINTS (symsig.numerics.overlap_balls)."""
    import flint

    from symsig.numerics.overlap_balls import rem_x_ball

    old, flint.ctx.prec = flint.ctx.prec, int(digits * 3.33) + 10
    try:
        for s2, r in BALL_POINTS:
            rem_x_ball(flint.arb(s2), flint.arb(r), 512)
    finally:
        flint.ctx.prec = old


def sweep(bm, beta: np.ndarray, alpha: np.ndarray, depth: int, seq_len: float) -> tuple[np.ndarray, float]:
    """rho_L on the grid (alpha rows, beta columns) and the time of the iteration."""
    fn = block_np(bm)
    params = [float(x) for x in Architecture().params()]
    params[0], params[4], params[6] = beta[None, :], alpha[:, None], seq_len
    q = np.ones((alpha.size, beta.size))
    p = 0.3 * q
    t0 = time.process_time()
    for _ in range(depth):
        q, p, _ = eval_np(fn, q, p, *params)
    return p / q, time.process_time() - t0


def diagram(size: int = 256, depth: int = 60, step: int = 16) -> None:
    beta, alpha = np.linspace(0.1, 4.0, size), np.linspace(0.0, 3.0, size)
    asym, fin = block_map("post-ln", "relu", finite_t=False), block_map("post-ln", "relu", finite_t=True)
    sweep(asym, beta[:2], alpha[:2], 1, 0.0)          # compile once, outside the timing
    sweep(fin, beta[:2], alpha[:2], 1, 512.0)
    _, t_asym = sweep(asym, beta, alpha, depth, 0.0)
    rho_fin, t_fin = sweep(fin, beta, alpha, depth, 512.0)
    print(f"diagram {size} x {size} x {depth} (post-LN ReLU, rho0 = 0.3):")
    print(f"  T -> infinity: {t_asym:.2f} s CPU;  T = 512 (tables): {t_fin:.2f} s CPU;  ratio {t_fin / t_asym:.1f}")
    sub_b, sub_a = beta[::step], alpha[::step]
    with direct_method():
        rho_dir, t_dir = sweep(fin, sub_b, sub_a, depth, 512.0)
    diff = np.abs(rho_fin[::step, ::step] - rho_dir)
    print(f"  direct method on the {sub_a.size} x {sub_b.size} subgrid: {t_dir:.1f} s CPU "
          f"({t_dir / (sub_a.size * sub_b.size * depth) * 1e3:.1f} ms per point and layer); "
          f"max |rho_L(tables) - rho_L(direct)| = {diff.max():.2e}")


def best_cpu(fn, repeat: int = 3):
    """(result, least CPU seconds of ``repeat`` calls): the least is the least disturbed by other jobs."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return out, min(times)


def api_diagram(size: int = 256, depth: int = 60, step: int = 16, repeat: int = 3) -> None:
    grid = {"beta": f"0.1:4:{size}", "alpha_sa": f"0:3:{size}", "depth": depth}
    public_diagram(**(grid | {"depth": 1}))                 # compile once, outside the timing
    public_diagram(**(grid | {"depth": 1}), seq_len=512)
    _, t_asym = best_cpu(lambda: public_diagram(**grid), repeat)
    fin, t_fin = best_cpu(lambda: public_diagram(**grid, seq_len=512), repeat)
    print(f"symsig.diagram {size} x {size} x {depth}, best of {repeat}:")
    print(f"  T -> infinity: {t_asym:.3f} s CPU;  seq_len=512: {t_fin:.3f} s CPU;  ratio {t_fin / t_asym:.1f}")
    rho = np.array(fin.rho_L)
    sub_b, sub_a = np.array(fin.beta)[::step], np.array(fin.alpha_sa)[::step]
    with direct_method():
        direct, t_dir = best_cpu(lambda: public_diagram(beta=sub_b, alpha_sa=sub_a, depth=depth, seq_len=512), 1)
    diff = np.abs(rho[::step, ::step] - np.array(direct.rho_L))
    print(f"  direct method on the {sub_a.size} x {sub_b.size} subgrid: {t_dir:.1f} s CPU; "
          f"max |rho_L(tables) - rho_L(direct)| = {diff.max():.2e}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    throughput()
    diagram(*args)
    api_diagram(*args)
