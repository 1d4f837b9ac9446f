"""The O(1) branch covariance of a gain-controlled attention output (docs/finite_width.md §9;
derivation: ``derivations/finite_width_gain_control.py``).

A gain-controlled attention outputs o_t = W_V (m_t - mbar), mbar = (1/T) sum_u m_u. Given the logits,
m_t . m_u / d = p + (q - p) X_tu (X_tt = Y2_t) as d -> infinity, so over W_V the branch's pair Gram is

    G_tu = w (X_tu - Xbar_t - Xbar_u + Xbarbar),   w = sigma_v2 (q - p),
    Xbar_t = (1/T) sum_u X_tu,   Xbarbar = (1/T^2) sum_{t,u} X_tu                 (p cancels).

Its covariance over the logits, for a pair (a, b), is a linear form in the covariances of the overlap
array X, which is exchangeable in the rows. These depend on how many distinct rows two entries share:

    V1 = Var Y2_a,        C2 = Cov(Y2_a, Y2_b),    E2 = Cov(Y2_a, X_ab),    W2 = Var X_ab     (1, 2 rows)
    K3a = Cov(Y2_a, X_bc),  K3b = Cov(X_ab, X_ac)                                            (3 rows)
    K4 = Cov(X_ab, X_ce)                                                                       (4 rows)

The library has the one- and two-row moments only. :func:`gain_control_branch_cov` takes all seven;
the layer closes the three- and four-row ones with :func:`three_row_closure`. At d -> infinity the rows'
logits are sqrt(rho) c_s + sqrt(1 - rho) u_ts: given the common field c the rows are iid, and every
covariance splits into a within-c part and a covariance of conditional means f = E[Y2 | c],
g = E[X_ab | c], h_a = E[X_ab | row a, c]. The closure assumes (i) f - g does not fluctuate (the common
field moves the IPR and the overlaps alike): K3a = K4 = C2; (ii) within c, h_a is linear in Y2_a:
K3b = C2 + (E2 - C2)^2 / (V1 - C2). It is exact at rho = 0 (only V1, W2 survive) and for identical rows
(all seven equal, G = 0). Against a direct Monte Carlo of the centred Gram (T = 128) Var G_aa is within 6%
except in the frozen phase at rho = 0.6 (-38%); dropping K3a, K3b, K4 instead is off by -75 to -89% at
rho = 0.6 and negative at rho = 0.9 (docs/finite_width.md §9).
"""
from __future__ import annotations

from functools import cache

import sympy as sp

#: The covariances of the overlap array, in the order of :func:`gain_control_branch_cov`.
PATTERNS = ("V1", "C2", "E2", "W2", "K3a", "K3b", "K4")


def three_row_closure(v1: sp.Expr, c2: sp.Expr, e2: sp.Expr) -> dict[str, sp.Expr]:
    """K3a, K3b, K4 from the one- and two-row covariances (module docstring, assumptions (i), (ii)):
    K3a = K4 = C2, K3b = C2 + (E2 - C2)^2 / (V1 - C2)."""
    return {"K3a": c2, "K4": c2, "K3b": c2 + (e2 - c2) ** 2 / (v1 - c2)}

_T = sp.Symbol("T", positive=True)
_COV = sp.symbols(PATTERNS, real=True)


def _basis_cov(seq_len: sp.Expr) -> sp.Matrix:
    """Covariance of the basis (Y2_a, Y2_b, X_ab, S_a, S_b, R_Y, R_X) with m = T - 2 other rows:
    S_a = sum_u X_au, S_b = sum_u X_bu, R_Y = sum_u Y2_u, R_X = sum_{u != v} X_uv (u, v not in {a, b}).
    Each entry counts the index patterns of its double sum (derivations/finite_width_gain_control.py
    checks every entry by enumeration)."""
    v1, c2, e2, w2, k3a, k3b, k4 = _COV
    m = seq_len - 2
    ent = {
        (0, 0): v1, (1, 1): v1, (0, 1): c2, (0, 2): e2, (1, 2): e2,
        (0, 3): m * e2, (1, 4): m * e2, (0, 4): m * k3a, (1, 3): m * k3a, (0, 5): m * c2, (1, 5): m * c2,
        (0, 6): m * (m - 1) * k3a, (1, 6): m * (m - 1) * k3a,
        (2, 2): w2, (2, 3): m * k3b, (2, 4): m * k3b, (2, 5): m * k3a, (2, 6): m * (m - 1) * k4,
        (3, 3): m * w2 + m * (m - 1) * k3b, (4, 4): m * w2 + m * (m - 1) * k3b,
        (3, 4): m * k3b + m * (m - 1) * k4,
        (3, 5): m * e2 + m * (m - 1) * k3a, (4, 5): m * e2 + m * (m - 1) * k3a,
        (3, 6): m * (2 * (m - 1) * k3b + (m - 1) * (m - 2) * k4),
        (4, 6): m * (2 * (m - 1) * k3b + (m - 1) * (m - 2) * k4),
        (5, 5): m * v1 + m * (m - 1) * c2,
        (5, 6): 2 * m * (m - 1) * e2 + m * (m - 1) * (m - 2) * k3a,
        (6, 6): 2 * m * (m - 1) * w2 + 4 * m * (m - 1) * (m - 2) * k3b + m * (m - 1) * (m - 2) * (m - 3) * k4,
    }
    out = sp.zeros(7, 7)
    for (i, j), x in ent.items():
        out[i, j] = out[j, i] = x
    return out


def centred_gram_forms(seq_len: sp.Expr) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix]:
    """Coefficients of G_aa / w, G_bb / w, G_ab / w on the basis of :func:`_basis_cov` (up to constants)."""
    t = seq_len
    grand = sp.Matrix([1, 1, 2, 2, 2, 1, 1]) / t**2          # Xbarbar
    bar_a = sp.Matrix([1, 0, 1, 1, 0, 0, 0]) / t             # Xbar_a
    bar_b = sp.Matrix([0, 1, 1, 0, 1, 0, 0]) / t
    e = lambda i: sp.Matrix([1 if k == i else 0 for k in range(7)])  # noqa: E731
    return e(0) - 2 * bar_a + grand, e(1) - 2 * bar_b + grand, e(2) - bar_a - bar_b + grand


@cache
def _branch_cov_forms() -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    cov = _basis_cov(_T)
    g_aa, g_bb, g_ab = centred_gram_forms(_T)
    quad = lambda x, y: sp.expand((x.T * cov * y)[0, 0])  # noqa: E731
    return quad(g_aa, g_aa), quad(g_aa, g_bb), quad(g_ab, g_aa)


def gain_control_branch_cov(seq_len: sp.Expr, weight: sp.Expr, **cov: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(Var G_aa, Cov(G_aa, G_bb), Cov(G_ab, G_aa)) of the gain-controlled branch Gram (module docstring),
    = weight^2 times quadratic forms in the overlap covariances ``cov`` (keys :data:`PATTERNS`; missing: 0)."""
    unknown = set(cov) - set(PATTERNS)
    if unknown:
        raise ValueError(f"unknown overlap covariances {sorted(unknown)}; expected {PATTERNS}")
    sub = {_T: seq_len, **{s: sp.sympify(cov.get(str(s), 0)) for s in _COV}}
    return tuple(weight**2 * f.xreplace(sub) for f in _branch_cov_forms())


__all__ = ["PATTERNS", "three_row_closure", "centred_gram_forms", "gain_control_branch_cov"]
