"""The selected-key correction D_q of one attention row over LayerNorm-output keys (docs/finite_width.md §6).

Keys as in finite_width_layernorm_keys.py: x_s = sqrt(d) v_s / |v_s|, v_s = c + n_s (|c|^2 = rho d, n_s iid
N(0, (1 - rho) I_d)), the query direction w fixed; h = 1/sqrt(d). In the basis (w, rest):

    v_s . v_u / d = rho (1 - g^2 h^2) + h^2 (sqrt(rho) g + sqrt(1 - rho) eps_s)(sqrt(rho) g + sqrt(1 - rho) eps_u)
                    + h sqrt(rho (1 - rho)) (xi_s + xi_u) + h (1 - rho) eta_su,
    r_s^2 = |v_s|^2 / d = the same with u = s and (1 - rho)(1 - h^2 + h chi_s) for the orthogonal noise,

xi_s = c_perp . zeta_s / d^(1/2) ~ N(0, 1), eta_su = zeta_s . zeta_u / d^(1/2) ~ N(0, 1), chi_s ~ N(0, 2), all
independent of the logits eps_s. Since |x_s|^2 = d exactly, |m|^2 / d = Y2 + sum_{s != u} A_s A_u cos_su, and

    (|m|^2/d - p) / (1 - p) = Y2 + sum_{s != u} A_s A_u (cos_su - p) / (1 - p)     (p the empirical key cosine).

Steps, each asserted:
1. cos_su = rho + h C1 + h^2 C2. The weights feel the norms through the logits tau (G + eps_k) / r_k
   (tau^2 = s2, G = sqrt(rho / (1 - rho)) g): to first order -h tau (G + eps_k) a_k / 2 with a_k the O(h)
   part of r_k^2, and E[a_k C1_su] = rho (1 - rho)^2 for k in {s, u}, 0 otherwise.
2. C2 averaged over the norm variables, minus (p - rho) / h^2, is
   (1 - rho) [(1 - rho) G (eps_s + eps_u) + eps_s eps_u - rho (eps_s^2 + eps_u^2 - 2) / 2]; G enters linearly
   and averages out (the zeroth-order weights do not depend on g).
3. Softmax identities (d_k = d/dL_k, d_k A_j = A_j (delta_jk - A_k), Y_k = sum A^k), proved at n = 4 and 5:
   sum_{u != s} d_s(A_s A_u) = A_s (1 - A_s)(1 - 2 A_s);  sum_s d_s[A_s (1 - A_s)(1 - 2 A_s)] = P,
   P = 1 - 7 Y2 + 12 Y3 - 6 Y4;  sum_{s != u} d_s d_u (A_s A_u) = 1 - 5 Y2 + 4 Y3 + 6 Y2^2 - 6 Y4;
   sum_s d_s^2 A_s^2 = 4 Y2 - 10 Y3 + 6 Y4;  sum_s d_s^2 A_s = 1 - 3 Y2 + 2 Y3;  sum_k d_k^2 Y2 = Q,
   Q = 2 Y2 - 8 Y3 + 6 Y2^2;  sum_{a != b} d_a d_b Y2 = -Q.
4. Stein (E eps_s f = tau E d_s f, E eps_s eps_u f = tau^2 E d_s d_u f for s != u, E (eps_s^2 - 1) f = tau^2 E d_s^2 f)
   turns the three contributions into Y-moments: the norm-weight term -rho (1 - rho) s2 P, the pair term
   s2 (1 - 5 Y2 + 4 Y3 + 6 Y2^2 - 6 Y4) - rho s2 P, and the empirical p (a pair average over n keys)
   -s2 Q (rho (2 - rho) / n + 1 / (n (n - 1))). Sum:

       Dq_LN = s2 [1 - 5 Y2 + 4 Y3 + 6 E Y2^2 - 6 Y4 - rho (2 - rho) P - Q (rho (2 - rho)/n + 1/(n (n - 1)))],

   which is the Gaussian-key Dq = s2 (1 - Y2 - 6 Y3 + 6 E Y2^2) minus s2 (4 Y2 - 10 Y3 + 6 Y4) (the diagonal
   |x_s|^2 = d no longer grows with the logit) and minus the rho terms. In library moments
   (A2E2 = E sum_s A_s^2 eps_s^2 = Y2 + s2 (4 Y2 - 10 Y3 + 6 Y4)) it is finite_width.delta_q_expr(tokens="normalized").

Run: python derivations/finite_width_layernorm_dq.py [out.tex]
"""
from __future__ import annotations

import itertools

import sympy as sp

from _common import RHO as rho, mean_gauss, prove_zero_on_unit_rho as check, write_latex

h = sp.Symbol("h", positive=True)
g, es, eu, xs, xu, eta, cs, cu = sp.symbols("g epsilon_s epsilon_u xi_s xi_u eta chi_s chi_u", real=True)


# 1. the cosine of two keys to order h^2, and the norms' first-order part
sr = sp.sqrt(rho * (1 - rho))
w_s, w_u = sp.sqrt(rho) * g + sp.sqrt(1 - rho) * es, sp.sqrt(rho) * g + sp.sqrt(1 - rho) * eu
num = rho * (1 - g**2 * h**2) + h**2 * w_s * w_u + h * sr * (xs + xu) + h * (1 - rho) * eta
r2 = lambda w, xi, chi: rho * (1 - g**2 * h**2) + h**2 * w**2 + 2 * h * sr * xi + (1 - rho) * (1 - h**2 + h * chi)  # noqa: E731
cos = sp.expand(sp.series(num / sp.sqrt(r2(w_s, xs, cs) * r2(w_u, xu, cu)), h, 0, 3).removeO())
assert sp.simplify(cos.coeff(h, 0) - rho) == 0
c1, c2 = cos.coeff(h, 1), cos.coeff(h, 2)
a_s = sp.expand(r2(w_s, xs, cs)).coeff(h, 1)                                   # r_s^2 = 1 + h a_s + O(h^2)
check("r_s^2 = 1 + h a_s + ..., a_s = (1 - rho) chi_s + 2 sqrt(rho (1 - rho)) xi_s",
      a_s - ((1 - rho) * cs + 2 * sr * xs))
check("1/r_s = 1 - h a_s / 2 + O(h^2)", sp.series(1 / sp.sqrt(r2(w_s, xs, cs)), h, 0, 2).removeO().coeff(h, 1) + a_s / 2)


def mean_norms(expr: sp.Expr) -> sp.Expr:
    for x, v in ((cs, 2), (cu, 2), (xs, 1), (xu, 1), (eta, 1)):
        expr = mean_gauss(expr, x, v)
    return expr


check("E[a_s C1_su] = rho (1 - rho)^2", mean_norms(a_s * c1) - rho * (1 - rho) ** 2)
a_k = a_s.subs({cs: sp.Symbol("chi_k"), xs: sp.Symbol("xi_k")})
assert mean_norms(mean_gauss(mean_gauss(a_k * c1, sp.Symbol("chi_k"), 2), sp.Symbol("xi_k"), 1)) == 0  # k not in {s, u}
print("  [proved] E[a_k C1_su] = 0 for k not in {s, u}")

# 2. the pair term: C2 over the norm variables, minus the shift of the empirical p
p_shift = rho * (1 - rho) * (3 * rho - 1) / 2                                   # finite_width_layernorm_keys.py step 3
check("E C2 = p - rho (over eps, g too)", mean_gauss(mean_gauss(mean_gauss(mean_norms(c2), es, 1), eu, 1), g, 1) - p_shift)
big_g = sp.sqrt(rho / (1 - rho)) * g
check("E_norms C2 - (p - rho)/h^2 = (1 - rho)[(1 - rho) G (eps_s + eps_u) + eps_s eps_u - rho (eps_s^2 + eps_u^2 - 2)/2]",
      mean_norms(c2) - p_shift - (1 - rho) * ((1 - rho) * big_g * (es + eu) + es * eu - rho * (es**2 + eu**2 - 2) / 2))

# 3. softmax identities, as polynomials in A_1..A_n on sum A = 1
for n_keys in (4, 5):
    A = sp.symbols(f"A1:{n_keys + 1}", positive=True)
    on_simplex = {A[-1]: 1 - sum(A[:-1])}

    def dk(f: sp.Expr, k: int) -> sp.Expr:
        return sp.expand(sum(sp.diff(f, A[j]) * A[j] * ((1 if j == k else 0) - A[k]) for j in range(n_keys)))

    def same(name: str, lhs: sp.Expr, rhs: sp.Expr) -> None:
        assert sp.expand((lhs - rhs).subs(on_simplex)) == 0, (name, n_keys)

    Y = {k: sum(a**k for a in A) for k in (2, 3, 4)}
    P = 1 - 7 * Y[2] + 12 * Y[3] - 6 * Y[4]
    Q = 2 * Y[2] - 8 * Y[3] + 6 * Y[2] ** 2
    for s in range(n_keys):
        same("sum_u d_s(A_s A_u)", sum(dk(A[s] * A[u], s) for u in range(n_keys) if u != s),
             A[s] * (1 - A[s]) * (1 - 2 * A[s]))
    same("P", sum(dk(A[s] * (1 - A[s]) * (1 - 2 * A[s]), s) for s in range(n_keys)), P)
    same("pair", sum(dk(dk(A[s] * A[u], u), s) for s, u in itertools.permutations(range(n_keys), 2)),
         1 - 5 * Y[2] + 4 * Y[3] + 6 * Y[2] ** 2 - 6 * Y[4])
    same("diagonal", sum(dk(dk(A[s] ** 2, s), s) for s in range(n_keys)), 4 * Y[2] - 10 * Y[3] + 6 * Y[4])
    same("first moment", sum(dk(dk(A[s], s), s) for s in range(n_keys)), 1 - 3 * Y[2] + 2 * Y[3])
    same("Q", sum(dk(dk(Y[2], k), k) for k in range(n_keys)), Q)
    same("-Q", sum(dk(dk(Y[2], b), a) for a, b in itertools.permutations(range(n_keys), 2)), -Q)
print("  [proved] softmax identities (n = 4, 5)")

# 4. assemble (per unit s2; y2, y3, y4, y2sq stand for the moments E Y2, E Y3, E Y4, E Y2^2)
y2, y3, y4, y2sq, s2, n = sp.symbols("Y2 Y3 Y4 Y2sq s2 n", positive=True)
P = 1 - 7 * y2 + 12 * y3 - 6 * y4
Q = 2 * y2 - 8 * y3 + 6 * y2sq
pair = 1 - 5 * y2 + 4 * y3 + 6 * y2sq - 6 * y4
# norm-weight term: -tau rho (1 - rho)^2 E sum_s eps_s A_s (1 - A_s)(1 - 2 A_s) = -s2 rho (1 - rho)^2 P
norm_term = -s2 * rho * (1 - rho) ** 2 * P
# pair term: (1 - rho) E sum_{s != u} A_s A_u [eps_s eps_u - rho (eps_s^2 + eps_u^2 - 2)/2]
#   = (1 - rho) [s2 pair - rho (E sum_s A_s (1 - A_s) eps_s^2 - (1 - Y2))], the bracket = s2 P by step 3
pair_term = (1 - rho) * (s2 * pair - rho * s2 * P)
check("E sum_s A_s (1 - A_s) eps_s^2 - (1 - Y2) = s2 P",
      (1 + s2 * (1 - 3 * y2 + 2 * y3)) - (y2 + s2 * (4 * y2 - 10 * y3 + 6 * y4)) - (1 - y2) - s2 * P)
# empirical p: -E[(1 - Y2)(p - E p)] at order h^2, a pair average over n keys: the norm part
# (2/n) rho (1 - rho)^2 (-tau/2) E sum_k (G + eps_k) d_k(1 - Y2) and the pair part (1 - rho) Cov(-Y2, pair average)
p_term = -(s2 * rho * (1 - rho) ** 2 * Q / n + (1 - rho) * s2 * Q * (rho / n + 1 / (n * (n - 1))))
dq_ln = sp.expand((norm_term + pair_term + p_term) / (1 - rho))
target = s2 * (pair - rho * (2 - rho) * P - Q * (rho * (2 - rho) / n + 1 / (n * (n - 1))))
check("Dq_LN = s2 [pair - rho (2 - rho) P - Q (rho (2 - rho)/n + 1/(n (n - 1)))]", dq_ln - target)
dq_gauss = s2 * (1 - y2 - 6 * y3 + 6 * y2sq)
check("Dq_LN = Dq_gauss - s2 (4 Y2 - 10 Y3 + 6 Y4) - rho terms",
      dq_gauss - s2 * (4 * y2 - 10 * y3 + 6 * y4) - s2 * rho * (2 - rho) * P
      - s2 * Q * (rho * (2 - rho) / n + 1 / (n * (n - 1))) - dq_ln)

# the library: finite_width.delta_q_expr(tokens="normalized"), with A2E2 = Y2 + s2 (4 Y2 - 10 Y3 + 6 Y4)
from symsig.theory import finite_width as fw, special  # noqa: E402
from symsig.theory.symbols import n as n_keys  # noqa: E402

library = fw.delta_q_expr(tokens="normalized").subs(fw.r, rho)
moments = {special.rem_a2e2(fw.s2, n_keys): y2 + s2 * (4 * y2 - 10 * y3 + 6 * y4),
           special.rem_y2(fw.s2, n_keys): y2, special.rem_y3(fw.s2, n_keys): y3,
           special.rem_y2sq(fw.s2, n_keys): y2sq}
check("library delta_q_expr(tokens='normalized')", library.xreplace(moments).subs({fw.s2: s2, n_keys: n}) - dq_ln)

write_latex([
    ("dq-ln", r"D_q^{\mathrm{LN}}=s^2\Big[1-5Y_2+4Y_3+6\,\mathbb E Y_2^2-6Y_4-\rho(2-\rho)P"
              r"-Q\Big(\frac{\rho(2-\rho)}{n}+\frac{1}{n(n-1)}\Big)\Big]"),
    ("pq", r"P=1-7Y_2+12Y_3-6Y_4,\qquad Q=2Y_2-8Y_3+6\,\mathbb E Y_2^2"),
])
