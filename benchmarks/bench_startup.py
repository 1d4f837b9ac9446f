"""Start-up times a user waits for: ``import symsig`` and ``symsig --help`` (targets 0.5 s and 0.3 s).

Each is a fresh interpreter (``python -c``), so nothing is cached in-process; the table gives
the best and the median of ``REPEATS`` runs of wall time (the best is robust on a shared machine).
``import symsig`` must not load SymPy, numpy's heavy friends or torch (the API is lazy).
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time

REPEATS = 7
CASES = {
    "import symsig": ([sys.executable, "-c", "import symsig"], 0.5),
    "symsig --help": ([sys.executable, "-m", "symsig", "--help"], 0.3),
    "symsig critical --help": ([sys.executable, "-m", "symsig", "critical", "--help"], 0.3),
}
HEAVY = ("sympy", "scipy", "torch", "matplotlib", "mpmath")


def wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def loaded_heavy() -> list[str]:
    code = f"import sys, symsig; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    return [m for m in subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                      text=True).stdout.strip().split(",") if m]


if __name__ == "__main__":
    print(f"{'case':<26}{'best s':>9}{'median s':>10}{'target s':>10}")
    slow = []
    for name, (argv, target) in CASES.items():
        times = [wall(argv) for _ in range(REPEATS)]
        print(f"{name:<26}{min(times):>9.3f}{statistics.median(times):>10.3f}{target:>10.1f}")
        if min(times) > target:
            slow.append(name)
    heavy = loaded_heavy()
    print(f"heavy modules loaded by import symsig: {', '.join(heavy) or 'none'}")
    if slow or heavy:
        sys.exit(f"over target: {', '.join(slow + heavy)}")
