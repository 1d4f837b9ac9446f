"""``symsig inspect --hf-config``: the whole command in a fresh interpreter (imports, composition,
compilation, trajectory, prescription) for BERT-base, GPT-2 and Llama-2-7B configs; target 5 s of CPU.

CPU seconds of the child (user + system, ``resource.RUSAGE_CHILDREN``), best and median of
``REPEATS`` runs. The best is the command's cost; the spread is the machine's (on the shared 2-core
test machine the same code ranged from 3.5 to 5.7 s for Llama-2-7B), which is why the test suite only
guards against gross regressions and the target is measured here.

Run: OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_inspect.py
"""
from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.app.test_inspect import BERT_BASE, GPT2, LLAMA2_7B, _write  # noqa: E402  (the tests' configs)

REPEATS = 5
TARGET = 5.0


def cpu(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="symsig-bench-inspect-"))
    print(f"{'config':<14}{'best s':>8}{'median s':>10}  target {TARGET:g} s")
    slow = []
    for name, config in (("bert-base", BERT_BASE), ("gpt2", GPT2), ("llama-2-7b", LLAMA2_7B)):
        folder = _write(tmp, config, name)
        argv = [sys.executable, "-m", "symsig", "inspect", "--hf-config", str(folder), "--json"]
        json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)  # valid output
        times = [cpu(argv) for _ in range(REPEATS)]
        print(f"{name:<14}{min(times):>8.2f}{statistics.median(times):>10.2f}")
        if min(times) > TARGET:
            slow.append(name)
    if slow:
        print("over the target:", ", ".join(slow))
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
