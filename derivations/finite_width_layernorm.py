"""Derivation: LayerNorm of a residual sum at finite width d, to first order in 1/d.

Run ``python derivations/finite_width_layernorm.py [OUT.tex]``: every algebraic step is asserted
by SymPy, the results are proved equal to ``symsig.theory.finite_width``, and the LaTeX is written
to stdout or OUT.tex (docs/finite_width.md §8 is the prose version).

Assumptions
-----------
* LayerNorm (no affine, eps = 0) reads h_t = x_t + f_t for every token t: x is the skip part (alpha
  times the block input), f the branch output. Given the branch's input, its last weight matrix W
  (fan-out d, iid Gaussian entries) and bias make the d coordinates f_i = (f_ai, f_bi) of a token pair
  iid N(0, K) (K: the branch's pair Gram). x is fixed: a LayerNorm output (|x_t|^2 = d alpha^2,
  sum_i x_ti = 0) or Gaussian tokens whose common part sqrt(p) g is fixed (first block).
* The network's rho after LayerNorm is the mean cosine of the CENTRED tokens, E[P / sqrt(N_a N_b)],
  with (N_a, N_b, P) the pair's centred Gram entries (per feature); the d -> infinity map is R / Q,
  (Q, R) = E(N_a, P), the mean pair Gram of h (the theory's pre-LN state).
* Fluctuations are small: delta method to second order in the fluctuations of (N_a, N_b, P). They are
  O(d^-1/2) (Wishart, over W) plus an O(1) part of the branch's own Gram over the branch's randomness
  (attention rows: the IPR Y2 of row t fluctuates at O(1) at finite T), which must be small compared to Q.
* Not included: the fluctuation of an MLP branch's Gram over its hidden layer (O(1/m), m the MLP
  width), the pair-to-pair spread of the input cosines beyond what the branch maps see, and the
  O(d^-3/2) covariance of the feature mean with the Gram.
"""
from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from _common import prove_equal, write_latex
from symsig.theory import finite_width as fw
from symsig.theory.layers import head_cosine

d = sp.Symbol("d", positive=True)
alpha2, rho_x = sp.symbols("alpha^2 rho_x", positive=True)
k_q, k_p = sp.symbols("k_q k_p", positive=True)
v_b, c_b, e_b = sp.symbols("v_b c_b e_b", real=True)


# ------------------------------------------------------------------ step 1: Isserlis
def step1_isserlis() -> None:
    """Per coordinate h = mu + f, f ~ N(0, K): Cov(h_a h_b, h_c h_e) = Wishart(S) - Wishart(F), S = F + K."""
    idx = range(2)
    mu = sp.symbols("mu0 mu1", real=True)
    kk = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"K{min(i, j)}{max(i, j)}", real=True))
    f = sp.symbols("f0 f1", real=True)

    def gauss_mean(expr: sp.Expr) -> sp.Expr:
        """E over f ~ N(0, K) of a polynomial, by Isserlis (pairings of the factors)."""
        out = sp.Integer(0)
        for term in sp.Add.make_args(sp.expand(expr)):
            factors = [x for x in f for _ in range(sp.degree(term, x))]
            coeff = term / sp.Mul(*factors) if factors else term
            if len(factors) % 2:
                continue
            total = sp.Integer(0)
            for perm in itertools.permutations(range(len(factors))):
                pairs = [tuple(perm[i:i + 2]) for i in range(0, len(perm), 2)]
                if all(a < b for a, b in pairs) and list(perm[::2]) == sorted(perm[::2]):
                    total += sp.Mul(*(kk[f.index(factors[a]), f.index(factors[b])] for a, b in pairs))
            out += coeff * total
        return sp.expand(out)

    h = [mu[i] + f[i] for i in idx]
    ff = sp.Matrix(2, 2, lambda i, j: mu[i] * mu[j])
    s = ff + kk
    for (a, b), (c, e) in itertools.product(fw.ENTRIES, repeat=2):
        cov = gauss_mean(h[a] * h[b] * h[c] * h[e]) - gauss_mean(h[a] * h[b]) * gauss_mean(h[c] * h[e])
        want = fw.wishart_cov(s, (a, b), (c, e)) - fw.wishart_cov(ff, (a, b), (c, e))
        assert sp.expand(cov - want) == 0, ((a, b), (c, e))
    print("  [proved] Cov(h_a h_b, h_c h_e) = S_ac S_be + S_ae S_bc - F_ac F_be - F_ae F_bc per coordinate;")
    print("           linear in F = mu mu^T, so the mean over the d coordinates is the same with F = skip Gram")


# ------------------------------------------------------------------ step 2: the centring
def step2_centring() -> None:
    """E[fbar_a fbar_b] = K_ab / d for iid coordinates: the centred Gram is M - K/d (x centred) or M - S/d."""
    kab = sp.Symbol("K_ab")
    # (1/d^2) sum_ij E f_ai f_bj = (1/d^2) d K_ab (only i = j survives)
    assert sp.simplify(d * kab / d**2 - kab / d) == 0
    cq, cp = sp.symbols("C_q C_p")
    sub = fw.layernorm_width_cosine(cos_q := sp.Symbol("Q", positive=True), cos_r := sp.Symbol("R", positive=True),
                                    cq, cp, d, "normalized")
    shift = sp.simplify(d * (sub - cos_r / cos_q - _wishart_part(cos_q, cos_r, cq, cp)))
    prove_equal("centring: E cos shifts by (C_p - R C_q / Q) / (Q d) (C: the centred part's Gram)",
                shift, (cp - cos_r * cq / cos_q) / cos_q)
    g = fw.layernorm_width_cosine(cos_q, cos_r, cq, cp, d, "gaussian")
    prove_equal("Gaussian skip: the centring removes S/d, which leaves the cosine unchanged",
                sp.simplify(d * (g - cos_r / cos_q)), sp.simplify(d * _wishart_part(cos_q, cos_r, cp, cp)))


def _wishart_part(qq: sp.Expr, rr: sp.Expr, fq: sp.Expr, fp: sp.Expr) -> sp.Expr:
    """(3 rho v / 4 + rho c / 4 - e) / Q^2, rho = R/Q, with the Wishart covariances of step 1 (over d)."""
    v = (2 * qq**2 - 2 * fq**2) / d
    c = (2 * rr**2 - 2 * fp**2) / d
    e = (2 * qq * rr - 2 * fq * fp) / d
    return (3 * rr / qq * v / 4 + rr / qq * c / 4 - e) / qq**2


# ------------------------------------------------------------------ step 3: the delta method
def step3_delta_method() -> sp.Expr:
    """Second-order Taylor expansion of P / sqrt(N_a N_b) around (Q, Q, R), expectations inserted."""
    t = sp.Symbol("t")
    dn_a, dn_b, dp = sp.symbols("dn_a dn_b dp", real=True)
    qq, rr = fw.cos_q, fw.cos_r
    series = sp.series((rr + t * dp) / sp.sqrt((qq + t * dn_a) * (qq + t * dn_b)), t, 0, 3).removeO()
    poly = sp.Poly(sp.expand(series.subs(t, 1)), dn_a, dn_b, dp)
    moments = {(1, 0, 0): fw.shift_n, (0, 1, 0): fw.shift_n, (0, 0, 1): fw.shift_p, (2, 0, 0): fw.cov_v,
               (0, 2, 0): fw.cov_v, (1, 1, 0): fw.cov_c, (1, 0, 1): fw.cov_e, (0, 1, 1): fw.cov_e,
               (0, 0, 2): sp.Symbol("w"), (0, 0, 0): 1}
    expect = sum(coef * moments[mon] for mon, coef in poly.terms())
    assert not sp.Symbol("w") in sp.simplify(expect).free_symbols  # Var P drops out
    prove_equal("E cos = rho + (3 rho v/4 + rho c/4 - e)/Q^2 + (dP - rho dN)/Q, rho = R/Q", expect, fw.cosine_delta_method())
    return fw.cosine_delta_method()


# ------------------------------------------------------------------ step 4: limits and the block's map
def step4_limits() -> sp.Expr:
    rho = sp.Symbol("rho", positive=True)
    pure = fw.layernorm_width_cosine(1, rho, 0, 0, d, "normalized")
    prove_equal("no skip (F = 0): the sample-correlation bias rho - rho (1 - rho^2)/(2d) (head_cosine)",
                pure, head_cosine(rho, d))
    qq, rr = alpha2 + k_q, alpha2 * rho_x + k_p
    post = fw.layernorm_width_cosine(qq, rr, alpha2, alpha2 * rho_x, d, "normalized", (v_b, c_b, e_b))
    assert sp.simplify(post.subs({v_b: 0, c_b: 0, e_b: 0}).subs(d, sp.oo) - rr / qq) == 0
    print("  [proved] d -> infinity (no branch fluctuation): R / Q, the d -> infinity LayerNorm")
    no_branch = post.subs({k_q: 0, k_p: 0, v_b: 0, c_b: 0, e_b: 0})
    prove_equal("no branch (f = 0): the cosine of the LayerNorm output is kept exactly", no_branch, rho_x)
    bias = sp.factor(sp.expand(d * (post.subs({v_b: 0, c_b: 0, e_b: 0}) - rr / qq)))
    return bias


# ------------------------------------------------------------------ step 5: Monte Carlo of the toy
def step5_monte_carlo(dd: int = 64, draws: int = 200_000) -> None:
    """x: centred, normalised pair with cosine 0.4 (scaled by alpha); f ~ N(0, K) iid: E cos vs the formula."""
    rng = np.random.default_rng(5)
    a2, rx, kq, kp = 0.5, 0.4, 1.0, 0.7
    base = rng.standard_normal((2, dd))
    base -= base.mean(axis=1, keepdims=True)
    u = base[0] / np.linalg.norm(base[0])
    w = base[1] - (base[1] @ u) * u
    w /= np.linalg.norm(w)
    x = np.sqrt(a2 * dd) * np.stack([u, rx * u + np.sqrt(1 - rx**2) * w])
    chol = np.linalg.cholesky(np.array([[kq, kp], [kp, kq]]))
    cos = np.empty(draws)
    for i in range(0, draws, 20_000):
        f = np.einsum("ij,njd->nid", chol, rng.standard_normal((20_000, 2, dd)))
        h = x[None] + f
        h -= h.mean(axis=2, keepdims=True)
        cos[i:i + 20_000] = np.einsum("nd,nd->n", h[:, 0], h[:, 1]) / np.linalg.norm(h[:, 0], axis=1) / np.linalg.norm(h[:, 1], axis=1)
    th = float(fw.layernorm_width_cosine(a2 + kq, a2 * rx + kp, a2, a2 * rx, dd, "normalized"))
    inf = (a2 * rx + kp) / (a2 + kq)
    se = cos.std() / np.sqrt(draws)
    z_w, z_inf = (cos.mean() - th) / se, (cos.mean() - inf) / se
    print(f"  [checked] toy d = {dd}: E cos = {cos.mean():.5f} +- {se:.5f}; first order {th:.5f} (z = {z_w:+.1f}),"
          f" d -> infinity {inf:.5f} (z = {z_inf:+.1f})")
    assert abs(z_w) < 4 and abs(z_inf) > 10


def main() -> None:
    print("Step 1: covariance of the pair Gram (Isserlis)")
    step1_isserlis()
    print("Step 2: the empirical mean")
    step2_centring()
    print("Step 3: delta method")
    cos = step3_delta_method()
    print("Step 4: limits; the post-LN map")
    bias = step4_limits()
    print("Step 5: Monte Carlo of the toy")
    step5_monte_carlo()
    write_latex([("E cos to second order", sp.Eq(sp.Symbol(r"\mathbb{E}\cos"), cos)),
                 ("post-LN, skip = LN output (alpha^2, alpha^2 rho_x), branch (k_q, k_p); d (E cos - R/Q), no O(1) part",
                  sp.Eq(sp.Symbol(r"d\,\delta\rho"), bias))])


if __name__ == "__main__":
    main()
