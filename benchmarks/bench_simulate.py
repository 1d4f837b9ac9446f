"""Achieved matmul FLOP/s of ``symsig.simulation.stack.simulate_stack`` vs numpy's own matmul.

The simulation is GEMM-bound: its FLOPs are counted with ``count_matmul_flops``
(2 m n k per product) and divided by its wall time; the reference runs exactly
the same sequence of matmul shapes on preallocated arrays (no RNG, softmax,
LayerNorm or statistics) with the same numpy/BLAS.  ratio = sim / reference
(1 = no overhead; target >= 0.5).  Also reported: the time to draw the Gaussian
weights alone (3 d^2 + 2 d m normals per layer, plus d^2 with out_proj), the main
non-GEMM cost, and the ratio with that time subtracted (``ratio_without_rng``).

Run with one BLAS thread for a fair, reproducible comparison:
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_simulate.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable

import numpy as np

from symsig.simulation.stack import count_matmul_flops, simulate_stack


def _best_time(fn: Callable[[], Any], repeat: int) -> float:
    """Minimum wall time over ``repeat`` calls (least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _reference_matmuls(width: int, seq_len: int, depth: int, heads: int, mlp_width: int,
                       out_proj: bool, dtype: np.dtype) -> Callable[[], None]:
    """The simulation's matmul shapes, per layer, on fixed random operands."""
    rng = np.random.default_rng(0)
    d, t, dh = width, seq_len, width // heads
    x = rng.standard_normal((t, d)).astype(dtype)
    w = rng.standard_normal((d, d)).astype(dtype)
    keys = np.empty((t, d), dtype)  # distinct from proj: numpy turns a @ a.T into syrk
    w1 = rng.standard_normal((d, mlp_width)).astype(dtype)
    w2 = rng.standard_normal((mlp_width, d)).astype(dtype)
    hid = np.empty((t, mlp_width), dtype)
    proj = np.empty((t, d), dtype)
    att = np.empty((t, t), dtype)
    out = np.empty((t, d), dtype)

    def run() -> None:
        for _ in range(depth):
            for _qkv in range(2 + int(out_proj)):
                np.matmul(x, w, out=proj)
            np.matmul(x, w, out=keys)
            for k in range(heads):
                cols = slice(k * dh, (k + 1) * dh)
                np.matmul(proj[:, cols], keys[:, cols].T, out=att)
                np.matmul(att, proj[:, cols], out=out[:, cols])
            np.matmul(x, w1, out=hid)
            np.matmul(hid, w2, out=out)

    return run


def run(*, width: int = 720, seq_len: int = 512, depth: int = 4, heads: int = 1,
        mlp_width: int | None = None, out_proj: bool = False, dtype: str = "float64",
        repeat: int = 3) -> dict[str, Any]:
    """Benchmark one size; returns FLOPs, times, GFLOP/s and the ratio sim / numpy."""
    m = width if mlp_width is None else mlp_width
    dt = np.dtype(dtype)
    flops = count_matmul_flops(width=width, seq_len=seq_len, depth=depth, mlp_width=m,
                               out_proj=out_proj)
    kw = dict(beta=1.0, sigma_w2=0.2, sigma_v2=0.2, sigma_b2=4e-4, alpha_sa=1.0, alpha_mlp=1.0,
              depth=depth, width=width, seq_len=seq_len, rho0=0.2, seeds=1, heads=heads,
              mlp_width=m, out_proj=out_proj, dtype=dt)
    t_sim = _best_time(lambda: simulate_stack(**kw), repeat)
    t_ref = _best_time(_reference_matmuls(width, seq_len, depth, heads, m, out_proj, dt), repeat)
    n_normals = depth * ((3 + int(out_proj)) * width * width + 2 * width * m + 2 * width + m)
    gen = np.random.default_rng(1)
    t_rng = _best_time(lambda: gen.standard_normal(n_normals, dtype=dt), repeat)
    return {
        "width": width, "seq_len": seq_len, "depth": depth, "heads": heads, "mlp_width": m,
        "out_proj": out_proj, "dtype": dt.name, "matmul_flops": flops,
        "time_sim_s": t_sim, "time_numpy_matmul_s": t_ref, "time_weight_rng_s": t_rng,
        "gflops_sim": flops / t_sim / 1e9, "gflops_numpy": flops / t_ref / 1e9,
        "ratio": t_ref / t_sim,
        "ratio_without_rng": t_ref / max(t_sim - t_rng, 1e-12),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, nargs="+", default=[256, 720])
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--out-proj", action="store_true")
    ap.add_argument("--dtype", nargs="+", default=["float64", "float32"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = [run(width=w, seq_len=args.seq_len, depth=args.depth, heads=args.heads,
                out_proj=args.out_proj, dtype=dt, repeat=args.repeat)
            for dt in args.dtype for w in args.width]
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    print(f"{'dtype':>8} {'d':>5} {'T':>5} {'L':>3} {'GFLOP':>7} {'sim s':>7} {'np s':>7} "
          f"{'rng s':>7} {'sim GF/s':>8} {'np GF/s':>8} {'ratio':>6} {'no-rng':>6}")
    for r in rows:
        print(f"{r['dtype']:>8} {r['width']:5d} {r['seq_len']:5d} {r['depth']:3d} "
              f"{r['matmul_flops'] / 1e9:7.2f} {r['time_sim_s']:7.3f} {r['time_numpy_matmul_s']:7.3f} "
              f"{r['time_weight_rng_s']:7.3f} {r['gflops_sim']:8.1f} {r['gflops_numpy']:8.1f} "
              f"{r['ratio']:6.2f} {r['ratio_without_rng']:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
