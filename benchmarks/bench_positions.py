"""The decoder theory with the cross-position Gram (symsig.analysis.positions): cost per block.

Per setting: the whole ``late_tokens(cross_positions=True)`` call (12 blocks, a fresh cache of
nested overlaps each repeat), best of ``REPEATS``, and the per-position theory beside it; and one
``nested_overlap`` at a liquid and a frozen point. The cost is one nested overlap per pair of grid
positions and attention (27 grid positions at T = 256, 30 at T = 512).

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_positions.py
"""
from __future__ import annotations

import time

from symsig.analysis.propagate import late_tokens
from symsig.numerics import finite_width

REPEATS = 3
SETTINGS = (("post-ln", 256, 0.5), ("post-ln", 512, 0.5), ("post-ln", 512, 3.0))


def best(fn) -> float:
    times = []
    for _ in range(REPEATS):
        finite_width.nested_overlap.cache_clear()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    late_tokens(window=16, depth=1, seq_len=64, beta=0.5, cross_positions=True)  # compile once
    print(f"{'block':<9}{'T':>5}{'beta':>6}{'cross s':>10}{'per block':>11}{'per-position s':>16}")
    for block, seq_len, beta in SETTINGS:
        kw = dict(window=seq_len // 4, depth=12, seq_len=seq_len, beta=beta, block=block)
        cross = best(lambda: late_tokens(cross_positions=True, **kw))
        per_position = best(lambda: late_tokens(**kw))
        print(f"{block:<9}{seq_len:>5}{beta:>6g}{cross:>10.2f}{cross / 12:>11.2f}{per_position:>16.2f}")
    for v, c, n1, n2 in ((1.0, 0.5, 64, 256), (30.0, 20.0, 64, 256)):
        t = best(lambda: finite_width.nested_overlap(v, v, c, n1, n2))
        print(f"nested_overlap(s2={v:g}, c={c:g}, n1={n1}, n2={n2}): {1e3 * t:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
