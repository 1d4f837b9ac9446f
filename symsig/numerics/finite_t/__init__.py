"""Exact finite-T moments of one softmax row with iid Gaussian logits (the REM at finite T).

A row A_s = exp(z_s) / sum_u exp(z_u), s = 1..n, z_s iid N(0, s2) (docs/theory.md §4). With
1/Z^k = (1/Gamma(k)) int_0^inf t^(k-1) e^(-t Z) dt and t = e^u,

    E[Y_k]   = n/(k-1)! int du A_k(u) L(u)^(n-1),                      Y_k = sum_s A_s^k
    E[Y_2^2] = E[Y_4] + n(n-1)/3! int du A_2(u)^2 L(u)^(n-2)
    X        = n int du du' B(u, u') L2(u, u')^(n-1)                    (two rows, corr. rho)

with the one-state Gaussian expectations (x = u + z, z ~ N(0, s2))

    A_k(u) = E[exp(k x - e^x)],   L(u) = E[exp(-e^x)],
    B(u, u') = E[exp(x - e^x + x' - e^x')],   L2(u, u') = E[exp(-e^x - e^x')].

Modules, by idea: :mod:`.gauss` / :mod:`.gauss_mp` (the one-state expectations, float /
mpmath), :mod:`.direct` (the float integrals), :mod:`.chebpanels` and :mod:`.tables`
(verified interpolation tables, the float fast path), :mod:`.floats` (the float API:
exact cases, tables, direct fallback), :mod:`.moments_mp` and :mod:`.overlap_mp` (``dps``
digits), :mod:`.paper` (the paper's variables beta, q, p, T).
"""
from __future__ import annotations

from .floats import direct_method, overlap_np, y2_squared_np, y_moment_np
from .moments_mp import y2_squared, y_moment, y_moments
from .overlap_mp import overlap
from .paper import REMMoments, logit_variance, rem_moments, rem_moments_np, x_overlap, x_overlap_np
from .tables import build_table

__all__ = [
    "y_moment", "y2_squared", "overlap", "y_moment_np", "y2_squared_np", "overlap_np",
    "y_moments", "REMMoments", "rem_moments", "rem_moments_np", "x_overlap", "x_overlap_np", "logit_variance",
    "build_table", "direct_method",
]
