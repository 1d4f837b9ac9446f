"""Benchmark: one tanh post-LN block evaluation, symsig's compiled evaluator vs the published method.

One block = (q, p) -> (q', p', Y2) for post-LN with tanh (docs/theory.md §5, §6.1):
attention (Poisson-Dirichlet Y2) -> residual -> LN -> dense -> tanh kernel -> dense
-> residual -> LN. The only expensive part is the tanh Gaussian kernel:

* published method: K_qq = scipy.integrate.quad and K_qp = scipy.integrate.dblquad of
  tanh(x) tanh(y) times the bivariate normal density over R^2 (default tolerances);
* symsig: ``block_np(block_map("post-ln", "tanh"))`` (trapezoid on a z-grid, module
  docstring of symsig.quadrature), and the same block with a user callable np.tanh
  (adaptive trapezoid).

Accuracy: |rho' - rho'_ref| against the 40-digit mpmath evaluator of the same block
(``propagate(..., dps=40)``), which tests/test_any_activation.py checks against an
independent Gauss-Hermite reference. Run:
OPENBLAS_NUM_THREADS=1 python benchmarks/bench_activation_block.py
"""
from __future__ import annotations

import math
import time
import warnings

import numpy as np
from scipy import integrate

from symsig import propagate
from symsig.theory.blocks import block_map
from symsig.numerics.compile import block_np, eval_np

ARCH = dict(sigma_w2=0.2, sigma_v2=0.2, sigma_b2=4e-4, alpha_sa=1.0, alpha_mlp=1.0)
POINTS = [(3.0, 0.3), (0.5, 0.3), (3.0, 0.9)]  # (beta, rho) with q = 1


def published_block(beta: float, rho: float) -> tuple[float, float, float]:
    """(q', p', Y2) with the tanh kernel by scipy quad/dblquad (the reference notebook's method)."""
    sw, sv, sb, a_sa, a_mlp = (ARCH[k] for k in ("sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa", "alpha_mlp"))
    v = 1.0 - rho
    y2 = 1 - math.sqrt(2 / v) / beta if beta * beta * v > 2 else 0.0
    q1 = sv * (rho + v * y2) + sb + a_sa**2
    r1 = (sv * rho + sb + a_sa**2 * rho) / q1
    qa, pa = sw + sb, sw * r1 + sb
    det = qa * qa - pa * pa
    norm = 1.0 / (2 * math.pi * math.sqrt(det))

    def dens2(y: float, x: float) -> float:
        return math.tanh(x) * math.tanh(y) * norm * math.exp(-(qa * x * x - 2 * pa * x * y + qa * y * y) / (2 * det))

    k_qq = integrate.quad(lambda x: math.tanh(x) ** 2 * math.exp(-x * x / (2 * qa)) / math.sqrt(2 * math.pi * qa),
                          -np.inf, np.inf)[0]
    k_qp = integrate.dblquad(dens2, -np.inf, np.inf, -np.inf, np.inf)[0]
    q2, p2 = sw * k_qq + sb + a_mlp**2, sw * k_qp + sb + a_mlp**2 * r1
    return 1.0, p2 / q2, y2


def timed(fn, min_time: float = 0.5) -> tuple[float, object]:
    """Fastest single call (seconds) over >= min_time of repeated calls: robust to a busy machine."""
    best, start = float("inf"), time.perf_counter()
    while True:
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - start >= min_time:
            return best, out


def main() -> None:
    warnings.simplefilter("ignore")
    named = block_np(block_map("post-ln", "tanh"))
    user = block_np(block_map("post-ln", np.tanh))
    params = lambda beta: (beta, ARCH["sigma_w2"], ARCH["sigma_v2"], ARCH["sigma_b2"],  # noqa: E731
                           ARCH["alpha_sa"], ARCH["alpha_mlp"], 0)
    eval_np(named, 1.0, 0.3, *params(3.0))  # compile outside the timing
    eval_np(user, 1.0, 0.3, *params(3.0))
    print(f"{'beta':>5} {'rho':>5} | {'published s':>11} {'err':>8} | {'symsig s':>9} {'err':>8} {'speed-up':>9} |"
          f" {'callable s':>10} {'err':>8} {'speed-up':>9}")
    for beta, rho in POINTS:
        ref = propagate(block="post-ln", activation="tanh", beta=beta, depth=1, rho0=rho, dps=40, **ARCH)
        ref_rho = float(ref.rho[1])
        t_pub, pub = timed(lambda: published_block(beta, rho), 1.0)
        t_ours, ours = timed(lambda: eval_np(named, 1.0, rho, *params(beta)))
        t_user, usr = timed(lambda: eval_np(user, 1.0, rho, *params(beta)))
        e_pub = abs(pub[1] / pub[0] - ref_rho)
        e_ours = abs(float(ours[1]) / float(ours[0]) - ref_rho)
        e_user = abs(float(usr[1]) / float(usr[0]) - ref_rho)
        print(f"{beta:5.1f} {rho:5.2f} | {t_pub:11.3g} {e_pub:8.1e} | {t_ours:9.2e} {e_ours:8.1e} {t_pub / t_ours:9.0f} |"
              f" {t_user:10.2e} {e_user:8.1e} {t_pub / t_user:9.0f}")
    # vectorised: 1000 blocks (a grid of rho at beta = 3) in one call of the compiled evaluator
    rhos = np.linspace(0.0, 0.99, 1000)
    t_pub, _ = timed(lambda: published_block(3.0, 0.3), 1.0)
    t_vec, out = timed(lambda: eval_np(named, 1.0, rhos, *params(3.0)), 1.0)
    print(f"vectorised over 1000 rho values: {t_vec / 1000:.2e} s per block, "
          f"speed-up {t_pub / (t_vec / 1000):.0f}x over one published block (beta 3, rho 0.3)")


if __name__ == "__main__":
    main()
