"""Benchmark: 256 x 256 (beta, alpha_SA) diagram, depth 60, post-LN ReLU (target < 0.5 s, one core).

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_diagram.py [--tanh]
Prints CPU (process) time, which is what one core costs, and wall time.
"""
import sys
import time

from symsig.analysis.diagram import diagram


def timed(label, repeat=5, **kw):
    diagram(**kw)  # warm: derive + compile once
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        diagram(**kw)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    print(f"{label}: best cpu {min(cpu):.3f} s, best wall {min(wall):.3f} s (of {repeat})")


if __name__ == "__main__":
    c = time.perf_counter()
    diagram(depth=1, beta="1:2:2", alpha_sa="1:2:2")
    print(f"cold start (derive + compile): {time.perf_counter() - c:.2f} s")
    timed("256x256 depth 60 post-ln relu", depth=60, beta="0.05:4:256", alpha_sa="0:3:256")
    if "--tanh" in sys.argv:
        timed("64x64 depth 60 post-ln tanh", repeat=1, depth=60, beta="0.05:4:64", alpha_sa="0:3:64", activation="tanh")
