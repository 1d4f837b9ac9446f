"""The networks' scatter of (q, p) at finite width: the closed forms (docs/finite_width.md §11).

One definition of each formula; :mod:`symsig.analysis.scatter` compiles them, ``symsig latex`` prints
them and ``derivations/network_scatter.py`` proves them.

* :func:`readout_covariance`: C_ij(K, G) = tr(A_i K A_j G) for the read-outs A_q = I/T (mean norm) and
  A_p = (1 1^T - I)/(T(T - 1)) (mean overlap of distinct tokens), with K = k0 1 1^T + k1 I and
  G = g0 1 1^T + g1 I. A Gram sampled from d i.i.d. features N(0, K) has d Cov(q_hat, p_hat) = 2 C(K, K)
  (Wishart); the cross term (x f^T + f x^T)/d of fixed tokens x (Gram G) and such features has 4 C(K, G).
* :func:`feature_moments`: one feature's (q_hat, p_hat) given its common part c, from the moments
  mu_k = E[phi(c + sqrt(k1) z)^k] of its T token values: conditional means and covariance.
* :func:`temperature_variance`: the common logit scale kappa of a network, Var kappa = 4 rho^2 / d.
* :func:`ratio_moments`: the mean and variance over networks of rho = p/q, to first order in Cov(q, p).
"""
from __future__ import annotations

import sympy as sp

from .symbols import T, d, rho

k0, k1, g0, g1 = sp.symbols("k_0 k_1 g_0 g_1", real=True)
m_q, m_p = sp.symbols("m_q m_p", positive=True)
s_qq, s_qp, s_pp = sp.symbols("S_qq S_qp S_pp", real=True)
#: Every symbol of the closed forms besides T, d, rho, and its LaTeX spelling.
SYMBOLS = {k0: "k_0", k1: "k_1", g0: "g_0", g1: "g_1", m_q: "m_q", m_p: "m_p", s_qq: "S_{qq}", s_qp: "S_{qp}",
           s_pp: "S_{pp}"}


def readout_covariance(k: tuple[sp.Expr, sp.Expr] = (k0, k1), g: tuple[sp.Expr, sp.Expr] = (g0, g1),
                       seq_len: sp.Expr = T) -> sp.Matrix:
    """C(K, G), 2 x 2 in (q, p). The four matrices commute: on the all-ones vector A_q, A_p, K, G are
    1/T, 1/T, k0 T + k1, g0 T + g1; on its complement (T - 1 dimensions) 1/T, -1/(T(T - 1)), k1, g1."""
    ones = (k[0] * seq_len + k[1]) * (g[0] * seq_len + g[1]) / seq_len**2
    gamma = (1 / seq_len, -1 / (seq_len * (seq_len - 1)))
    return sp.Matrix(2, 2, lambda i, j: ones + (seq_len - 1) * gamma[i] * gamma[j] * k[1] * g[1])


mu1, mu2, mu3, mu4 = sp.symbols("mu_1 mu_2 mu_3 mu_4", real=True)


def feature_moments(mu: tuple[sp.Expr, ...] = (mu1, mu2, mu3, mu4), seq_len: sp.Expr = T
                    ) -> tuple[sp.Matrix, sp.Matrix]:
    """Given the common part, a feature's T values are i.i.d. with moments mu_1..mu_4: q_hat (their mean
    square) is a one-sample mean and p_hat (mean over distinct pairs of products) a U-statistic, so

        E = (mu2, mu1^2),  Var q = (mu4 - mu2^2)/T,  Cov(q, p) = (2/T) mu1 (mu3 - mu2 mu1),
        Var p = 2/(T(T-1)) [2(T-2) mu1^2 v + v^2 + 2 v mu1^2],  v = mu2 - mu1^2."""
    m1, m2, m3, m4 = mu
    v = m2 - m1**2
    cov_qp = 2 / seq_len * m1 * (m3 - m2 * m1)
    var_p = 2 / (seq_len * (seq_len - 1)) * (2 * (seq_len - 2) * m1**2 * v + v**2 + 2 * v * m1**2)
    return sp.Matrix([m2, m1**2]), sp.Matrix([[(m4 - m2**2) / seq_len, cov_qp], [cov_qp, var_p]])


def temperature_variance(rho_: sp.Expr = rho, width: sp.Expr = d) -> sp.Expr:
    """Var kappa of a network's common logit scale: the query and key matrices are two Wishart stages
    on the tokens' common direction (relative variance 2/d each), which carries rho of each norm."""
    return 4 * rho_**2 / width


def ratio_moments(mean: tuple[sp.Expr, sp.Expr] = (m_q, m_p),
                  cov: tuple[sp.Expr, sp.Expr, sp.Expr] = (s_qq, s_qp, s_pp)) -> tuple[sp.Expr, sp.Expr]:
    """(E[p/q], Var[p/q]) to first order in the covariance (S_qq, S_qp, S_pp) of (q, p)."""
    mq, mp = mean
    sqq, sqp, spp = cov
    e = mp / mq + mp * sqq / mq**3 - sqp / mq**2
    v = mp**2 * sqq / mq**4 - 2 * mp * sqp / mq**3 + spp / mq**2
    return e, v


__all__ = ["readout_covariance", "feature_moments", "temperature_variance", "ratio_moments"]
