"""Finite width as an architecture parameter: ``symsig propagate --width 256 --seq-len 512`` against
the same call without ``--width`` (Figure-1 defaults, depth 50; issue 13 asks for at most 3x).

1. The commands as a user runs them: each a fresh interpreter, so the times include the imports,
   the symbolic composition of the block and its compilation. CPU seconds of the child
   (user + system, ``resource.RUSAGE_CHILDREN``; with OPENBLAS_NUM_THREADS=1 the same as the wall
   time on an idle core), best and median of ``REPEATS`` runs, at beta = 0.5 (Figure 1) and
   beta = 3 (frozen attention: wider logit distributions, costlier two-row moments).
2. In one process, after the imports: the width trajectory split into compilation (first call,
   cold caches) and evaluation (a second call at another rho0: every moment is new).

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_finite_width.py
"""
from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time

REPEATS = 5
LIMIT = 3.0
BASE = [sys.executable, "-m", "symsig", "propagate", "--seq-len", "512"]


def cpu(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def commands() -> list[str]:
    print(f"{'command':<58}{'best s':>8}{'median s':>10}{'ratio':>7}")
    failed = []
    for beta in ("0.5", "3"):
        times = {}
        for label, extra in (("", []), ("--width 256", ["--width", "256"])):
            argv = BASE + ["--beta", beta] + extra
            times[label] = [cpu(argv) for _ in range(REPEATS)]
            ratio = min(times[label]) / min(times[""])
            name = f"propagate --seq-len 512 --beta {beta} {label}".strip()
            print(f"{name:<58}{min(times[label]):>8.3f}{statistics.median(times[label]):>10.3f}{ratio:>7.2f}")
        if min(times["--width 256"]) > LIMIT * min(times[""]):
            failed.append(f"beta = {beta}")
    return failed


def in_process() -> None:
    from symsig.analysis.propagate import propagate

    propagate(seq_len=512, depth=1)  # imports and the finite-T block
    for beta in (0.5, 3.0):
        t0 = time.process_time()
        propagate(seq_len=512, beta=beta, width=256)
        t1 = time.process_time()
        propagate(seq_len=512, beta=beta, width=256, rho0=0.31)
        t2 = time.process_time()
        propagate(seq_len=512, beta=beta, rho0=0.32)
        t3 = time.process_time()
        print(f"in process, beta = {beta}: width first call {t1 - t0:.3f} s, again at new rho0 {t2 - t1:.3f} s "
              f"(51 layers: {1e3 * (t2 - t1) / 51:.1f} ms each); finite T {t3 - t2:.3f} s")


if __name__ == "__main__":
    failed = commands()
    in_process()
    if failed:
        sys.exit(f"--width costs more than {LIMIT:g}x the finite-T call at {', '.join(failed)}")
