"""Derivation: the networks' scatter of (q, p) at finite width (docs/finite_width.md §11).

Run ``python derivations/network_scatter.py [OUT.tex]``: every step is asserted by SymPy, the results
are proved equal to ``symsig.theory.scatter``, and the LaTeX is written to stdout or OUT.tex.

Assumptions
-----------
* A network's state is (q_hat, p_hat) = (A_q : G, A_p : G) of its token Gram G (T x T, per feature):
  the mean norm and the mean overlap of distinct tokens, A_q = I/T, A_p = (1 1^T - I)/(T(T - 1)).
* Given its input, a weight matrix makes the d output features i.i.d. N(0, K), with K equicorrelated
  (K = k0 1 1^T + k1 I: the theory's state); its elementwise function acts per feature.
* The query and key matrices are d x d with i.i.d. N(0, 1/d) entries.
"""
from __future__ import annotations

import sympy as sp

from _common import write_latex
from symsig.theory import scatter

k0, k1, g0, g1 = scatter.k0, scatter.k1, scatter.g0, scatter.g1
d = scatter.d


def readout(seq_len: int) -> tuple[sp.Matrix, sp.Matrix]:
    a_q = sp.eye(seq_len) / seq_len
    a_p = (sp.ones(seq_len, seq_len) - sp.eye(seq_len)) / (seq_len * (seq_len - 1))
    return a_q, a_p


# ------------------------------------------------------------------ step 1: the read-outs' traces
def step1_traces() -> None:
    """C_ij(K, G) = tr(A_i K A_j G) from explicit T x T matrices equals the eigen-decomposition form,
    exactly in k0, k1, g0, g1, for T = 2..6 (step 2 proves the case K = G for symbolic T by an
    independent route)."""
    for seq_len in range(2, 7):
        big_k = k0 * sp.ones(seq_len, seq_len) + k1 * sp.eye(seq_len)
        big_g = g0 * sp.ones(seq_len, seq_len) + g1 * sp.eye(seq_len)
        reads = readout(seq_len)
        explicit = sp.Matrix(2, 2, lambda i, j: (reads[i] * big_k * reads[j] * big_g).trace())
        closed = scatter.readout_covariance(seq_len=sp.Integer(seq_len))
        assert sp.simplify(explicit - closed) == sp.zeros(2, 2), seq_len
    print("  [proved] tr(A_i K A_j G) = readout_covariance, T = 2..6")


# ------------------------------------------------------------------ step 2: features, Wishart
def step2_features() -> None:
    """Per feature: common part c ~ N(0, a), token parts sqrt(b) z_t. Conditionally on c the T values
    x_t = c + sqrt(b) z_t are i.i.d. with moments mu_k; q_i = mean x_t^2 is a one-sample mean and
    p_i = mean_{s != t} x_s x_t a U-statistic:
        Var(q|c) = (mu4 - mu2^2)/T,  Cov(q, p|c) = (2/T) mu1 (mu3 - mu2 mu1),
        Var(p|c) = 2/(T(T-1)) [2(T-2) mu1^2 v + v^2 + 2 v mu1^2],  v = mu2 - mu1^2,
    plus the covariance over c of (mu2, mu1^2). For the identity (the moments of N(c, b)) the total,
    averaged over c, is the Wishart law 2 C(K, K) with K = a 1 1^T + b I, exactly in T."""
    a, b, c = sp.symbols("a b c", positive=True)
    T = scatter.T
    mu = (c, c**2 + b, c**3 + 3 * c * b, c**4 + 6 * c**2 * b + 3 * b**2)   # moments of N(c, b)
    # the library's conditional moments, checked against a direct U-statistic expansion at T = 3 below
    means, cond = (x.subs(dict(zip((scatter.mu1, scatter.mu2, scatter.mu3, scatter.mu4), mu)))
                   for x in scatter.feature_moments())

    def over_c(expr: sp.Expr) -> sp.Expr:   # E over c ~ N(0, a) of a polynomial in c
        poly = sp.Poly(sp.expand(expr), c)
        return sum(coef * (sp.factorial2(k - 1) * a ** (k // 2) if k % 2 == 0 else 0)
                   for (k,), coef in poly.terms())

    mean_c = means.applyfunc(over_c)
    cov = sp.Matrix(2, 2, lambda i, j: over_c(means[i] * means[j]) - mean_c[i] * mean_c[j] + over_c(cond[i, j]))
    wishart = 2 * scatter.readout_covariance((a, b), (a, b))
    assert sp.simplify(cov - wishart) == sp.zeros(2, 2)
    print("  [proved] conditional moments + U-statistic variances = 2 C(K, K) for the identity (any T)")

    # the conditional formulas themselves, by brute force: T = 3 i.i.d. values with symbolic raw moments
    seq_len = 3
    raw = sp.symbols("r1:9", real=True)        # E x^k, k = 1..8

    def expect(poly: sp.Expr, xs: tuple) -> sp.Expr:
        total = sp.Integer(0)
        for term in sp.Add.make_args(sp.expand(poly)):
            coef, factor = term.as_coeff_Mul()
            value = coef
            for x in xs:
                k = sp.degree(factor, x)
                value *= raw[k - 1] if k else 1
            total += value
        return total

    xs = sp.symbols("x0:3", real=True)
    q_hat = sum(x**2 for x in xs) / seq_len
    p_hat = sum(xs[i] * xs[j] for i in range(seq_len) for j in range(seq_len) if i != j) / (seq_len * (seq_len - 1))
    brute = sp.Matrix(2, 2, lambda i, j: expect((q_hat, p_hat)[i] * (q_hat, p_hat)[j], xs)
                      - expect((q_hat, p_hat)[i], xs) * expect((q_hat, p_hat)[j], xs))
    lib_means, lib_cond = (x.subs({scatter.mu1: raw[0], scatter.mu2: raw[1], scatter.mu3: raw[2], scatter.mu4: raw[3]})
                           for x in scatter.feature_moments(seq_len=sp.Integer(seq_len)))
    assert sp.expand(brute - lib_cond) == sp.zeros(2, 2)
    assert sp.expand(sp.Matrix([expect(q_hat, xs), expect(p_hat, xs)]) - lib_means) == sp.zeros(2, 1)
    print("  [proved] feature_moments = the one-sample / U-statistic covariance, brute force at T = 3")

    # the same law from the explicit Isserlis form: d Cov(A:G, B:G) = 2 tr(A K B K) (T = 4, numbers)
    seq_len = 4
    big_k = sp.Rational(3, 10) * sp.ones(seq_len, seq_len) + sp.Rational(7, 10) * sp.eye(seq_len)
    reads = readout(seq_len)
    isserlis = sp.Matrix(2, 2, lambda i, j: 2 * (reads[i] * big_k * reads[j] * big_k).trace())
    assert isserlis == 2 * scatter.readout_covariance((sp.Rational(3, 10), sp.Rational(7, 10)),
                                                      (sp.Rational(3, 10), sp.Rational(7, 10)), sp.Integer(seq_len))
    print("  [proved] Isserlis at T = 4, K = (3/10, 7/10): exact rationals")


# ------------------------------------------------------------------ step 3: the common logit scale
def step3_temperature() -> None:
    """kappa = |W_K W_Q^T g|^2 / E for a fixed direction g: |W_Q^T g|^2 / |g|^2 ~ chi2_d / d, and given
    it |W_K u|^2 / |u|^2 ~ chi2_d / d independently. Var of the product of two independent means-1
    variables with variances 2/d: (1 + 2/d)^2 - 1 = 4/d + 4/d^2. The rows' logit variance carries the
    common direction with weight rho (the token parts average over the rows), so Var kappa_bar =
    rho^2 (4/d) at first order."""
    rho = scatter.rho
    var_one = 2 / d
    product = (1 + var_one) ** 2 - 1
    assert sp.expand(product - 4 / d - 4 / d**2) == 0
    leading = sp.limit(d * rho**2 * product, d, sp.oo)
    assert sp.simplify(leading / d - scatter.temperature_variance()) == 0
    print("  [proved] Var kappa = 4 rho^2 / d + O(1/d^2)")


# ------------------------------------------------------------------ step 4: the read-out rho = p/q
def step4_ratio() -> None:
    """E and Var of (m_p + dp)/(m_q + dq) to second order in (dq, dp) with E dq = E dp = 0."""
    eps = sp.Symbol("epsilon")
    dq, dp = sp.symbols("dq dp")
    mq, mp = scatter.m_q, scatter.m_p
    series = sp.series((mp + eps * dp) / (mq + eps * dq), eps, 0, 3).removeO().subs(eps, 1)
    second = {dq**2: scatter.s_qq, dq * dp: scatter.s_qp, dp**2: scatter.s_pp}
    poly = sp.Poly(sp.expand(series), dq, dp)
    mean = sum(coef * (second.get(dq**i * dp**j, 0) if i + j == 2 else (1 if i + j == 0 else 0))
               for (i, j), coef in poly.terms())
    first = sp.Poly(sp.expand(sp.series((mp + eps * dp) / (mq + eps * dq), eps, 0, 2).removeO().subs(eps, 1)) - mp / mq,
                    dq, dp)
    lin = {(1, 0): 0, (0, 1): 0} | {m: c for m, c in first.terms()}
    var = (lin[(1, 0)] ** 2 * scatter.s_qq + 2 * lin[(1, 0)] * lin[(0, 1)] * scatter.s_qp
           + lin[(0, 1)] ** 2 * scatter.s_pp)
    e_lib, v_lib = scatter.ratio_moments()
    assert sp.simplify(mean - e_lib) == 0 and sp.simplify(var - v_lib) == 0
    print("  [proved] E[p/q] and Var[p/q] at second / first order")


def main() -> None:
    step1_traces()
    step2_features()
    step3_temperature()
    step4_ratio()
    c = scatter.readout_covariance()
    e, v = scatter.ratio_moments()
    write_latex([("C_qq", c[0, 0]), ("C_qp", c[0, 1]), ("C_pp", c[1, 1]),
                 ("Var kappa", scatter.temperature_variance()), ("E[p/q]", e), ("Var[p/q]", v)])


if __name__ == "__main__":
    main()
