"""The networks' scatter (symsig.analysis.scatter): cost of ``propagate(scatter=True)`` against the
finite-width call it extends, 12 blocks, best of ``REPEATS`` (compilations warmed up first).

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_scatter.py
"""
from __future__ import annotations

import time

from symsig.analysis.propagate import propagate

REPEATS = 3
SETTINGS = (("post-ln", 256, 512, 0.5), ("post-ln", 256, 512, 3.0), ("pre-ln", 256, 512, 0.5))


def best(**kw) -> float:
    propagate(**kw)
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        propagate(**kw)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    print(f"{'block':8} {'d':>4} {'T':>4} {'beta':>4} {'width [s]':>10} {'scatter [s]':>12} {'ratio':>6}")
    for block, d, t, b in SETTINGS:
        kw = dict(block=block, beta=b, seq_len=t, width=d, depth=12)
        plain, scat = best(**kw), best(**kw, scatter=True)
        print(f"{block:8} {d:4d} {t:4d} {b:4.1f} {plain:10.3f} {scat:12.3f} {scat / plain:6.1f}")


if __name__ == "__main__":
    main()
