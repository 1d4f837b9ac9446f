"""Benchmark: the one depth iteration on a grid and at high precision.

* 256 x 256 (beta, alpha_SA) diagram, depth 60, post-LN ReLU (numpy context; target < 0.5 s, one core);
* one boundary point of that diagram to 15, 50 and 100 digits (mpmath context, depth 60), rank and
  entropy;
* certified against uncertified: ``symsig.boundary`` at one beta (rank and rescue curves, depth 60,
  50 digits) with and without ``certify`` (ball arithmetic, python-flint).

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_diagram.py [--tanh]
Prints CPU (process) time, which is what one core costs, and wall time.
"""
import sys
import time

from symsig.analysis.boundary import boundary
from symsig.analysis.diagram import boundary_mp, diagram


def timed(label, fn, repeat=5, **kw):
    fn(**kw)  # warm: derive + compile once
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        fn(**kw)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    print(f"{label}: best cpu {min(cpu):.3f} s, best wall {min(wall):.3f} s (of {repeat})")


if __name__ == "__main__":
    c = time.perf_counter()
    diagram(depth=1, beta="1:2:2", alpha_sa="1:2:2")
    print(f"cold start (derive + compile): {time.perf_counter() - c:.2f} s")
    timed("256x256 depth 60 post-ln relu", diagram, depth=60, beta="0.05:4:256", alpha_sa="0:3:256")
    for digits in (15, 50, 100):
        timed(f"rank boundary point, {digits} digits, depth 60", boundary_mp, repeat=3, kind="rank", fixed="1",
              bracket=("2.5", "4"), depth=60, digits=digits)   # calibrated zones: 40% of the diversity kept
        timed(f"entropy boundary point, {digits} digits, depth 60", boundary_mp, repeat=3, kind="entropy", fixed="2",
              bracket=("1.5", "4"), depth=60, digits=digits)
    for certify in (False, True):
        timed(f"boundary(beta=1, depth 60, 50 digits, certify={certify})", boundary, repeat=3, depth=60, beta="1",
              digits=50, certify=certify, progress=False)
    if "--tanh" in sys.argv:
        timed("64x64 depth 60 post-ln tanh", diagram, repeat=1, depth=60, beta="0.05:4:64", alpha_sa="0:3:64",
              activation="tanh")
