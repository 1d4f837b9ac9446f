"""The selected-key correction D_p of two attention rows over LayerNorm-output keys (docs/finite_width.md §6).

Keys and notation as in finite_width_layernorm_dq.py (the one-row case); two query directions w, w' with
cosine r span a plane. A key's Gaussian part has in-plane coordinates y_s (a standardised 2-vector) and its
logits are eps_s = y_s . e1, eps'_s = r y_s1 + sqrt(1 - r^2) y_s2. With A = softmax of row 1, B of row 2,
X = sum_s A_s B_s and |x_s|^2 = d,

    (m . m'/d - p) / (1 - p) = X + sum_{s != u} A_s B_u (cos_su - p) / (1 - p).

The cosine is that of the one-row case with eps_s eps_u -> y_s . y_u and one more in-plane dimension; the
weights feel the norms through both rows' logits. Stein for a correlated pair (Cov [[1, r], [r, 1]]):
E eps_k F = tau E a_k F, E eps'_k F = tau E b_k F with a_k = d_k + r d'_k, b_k = r d_k + d'_k (d_k = d/dL_k acts
on row 1, d'_k on row 2).

Steps, each asserted:
1. In the plane: E_norms C2 - (p - rho)/h^2 = (1 - rho)[(1 - rho) G.(y_s + y_u) + y_s.y_u - rho (|y_s|^2 + |y_u|^2 - 4)/2].
2. Operator algebra: y_s.y_u -> tau^2 O_su, |y_s|^2 -> 2 + tau^2 O_ss with O_su = d_s d_u + r (d_s d'_u + d'_s d_u) + d'_s d'_u.
3. Two-row softmax identities (polynomials in A_1..A_n, B_1..B_n on both simplices, n = 4), with
   Phi(A, B) = (1 - 2A)(1 - 2B)(A(1 - A) + B(1 - B)) - 4 r A(1 - A) B(1 - B) and P_ab = sum_s A_s^a B_s^b:
   norm-weight term  sum_k [a_k F_k + b_k F'_k] = sum_s Phi(A_s, B_s)  (F_k, F'_k: the eps_k, eps'_k coefficients);
   pair term         sum_{s != u} O_su (A_s B_u) = Cross;
   diagonal norms    sum_s O_ss [A_s (1 - B_s) + B_s (1 - A_s)] = sum_s Phi(A_s, B_s);
   empirical p       sum_k O_kk X = Xi,  sum_{a != b} O_ab X = -Xi.
4. Assembly, as for D_q: Dp_LN = s2 [Cross - rho (2 - rho) Pi / 2 - Xi (rho (2 - rho)/n + 1/(n (n - 1)))] with
   Pi = E sum Phi; with equal rows in law (E P_21 = E P_12 = A2A, E P_31 = E P_13 = A3A, E Y2 X = E Y2' X) it is
   finite_width.delta_p_expr(tokens="normalized"). Adding the diagonal back (sum_s O_ss (A_s B_s), the Gaussian
   keys' |x_s|^2 growing with the logits) gives the Gaussian Dp exactly; at r = 1 and B = A, Dp_LN = Dq_LN.

Run: python derivations/finite_width_layernorm_dp.py [out.tex]
"""
from __future__ import annotations

import itertools

import sympy as sp

from _common import RHO as rho, mean_gauss, prove_zero_on_unit_rho as check, write_latex

rr = sp.Symbol("r", real=True)
h = sp.Symbol("h", positive=True)


# 1. the cosine in the plane: common part sqrt(rho) (g1, g2, c_perp), keys' in-plane coordinates y
g1, g2, xs, xu, eta, cs, cu = sp.symbols("g_1 g_2 xi_s xi_u eta chi_s chi_u", real=True)
ys = sp.symbols("y_s1 y_s2", real=True)
yu = sp.symbols("y_u1 y_u2", real=True)
sr = sp.sqrt(rho * (1 - rho))
gvec = (g1, g2)
ws = [sp.sqrt(rho) * gi + sp.sqrt(1 - rho) * yi for gi, yi in zip(gvec, ys)]
wu = [sp.sqrt(rho) * gi + sp.sqrt(1 - rho) * yi for gi, yi in zip(gvec, yu)]
gg = g1**2 + g2**2
num = rho * (1 - gg * h**2) + h**2 * sum(a * b for a, b in zip(ws, wu)) + h * sr * (xs + xu) + h * (1 - rho) * eta
r2 = lambda w, xi, chi: (rho * (1 - gg * h**2) + h**2 * sum(a * a for a in w) + 2 * h * sr * xi  # noqa: E731
                         + (1 - rho) * (1 - 2 * h**2 + h * chi))
cos = sp.expand(sp.series(num / sp.sqrt(r2(ws, xs, cs) * r2(wu, xu, cu)), h, 0, 3).removeO())
c2 = cos.coeff(h, 2)
for x, v in ((cs, 2), (cu, 2), (xs, 1), (xu, 1), (eta, 1)):
    c2 = mean_gauss(c2, x, v)
p_shift = rho * (1 - rho) * (3 * rho - 1) / 2
big_g = [sp.sqrt(rho / (1 - rho)) * gi for gi in gvec]
ydot = sum(a * b for a, b in zip(ys, yu))
ysq = lambda y: sum(a * a for a in y)  # noqa: E731
check("plane: E_norms C2 - (p - rho)/h^2 = (1 - rho)[(1 - rho) G.(y_s + y_u) + y_s.y_u - rho (|y_s|^2 + |y_u|^2 - 4)/2]",
      c2 - p_shift - (1 - rho) * ((1 - rho) * sum(G * (a + b) for G, a, b in zip(big_g, ys, yu)) + ydot
                                  - rho * (ysq(ys) + ysq(yu) - 4) / 2))
tmp = c2
for y in (*ys, *yu):
    tmp = mean_gauss(tmp, y, 1)
check("plane: E C2 = p - rho (the same empirical cosine)", mean_gauss(mean_gauss(tmp, g1, 1), g2, 1) - p_shift)

# 2. Stein operators as commuting symbols: ds, dps (= d'_s), du, dpu
ds, dps, du, dpu = sp.symbols("d_s dp_s d_u dp_u")
a_ = lambda d, dp: d + rr * dp  # noqa: E731
b_ = lambda d, dp: rr * d + dp  # noqa: E731
o_su = ds * du + rr * (ds * dpu + dps * du) + dps * dpu
pair_op = (a_(ds, dps) * a_(du, dpu) + b_(ds, dps) * b_(du, dpu)
           - rr * (a_(ds, dps) * b_(du, dpu) + b_(ds, dps) * a_(du, dpu))) / (1 - rr**2)
assert sp.simplify(pair_op - o_su) == 0
same_op = (a_(ds, dps) ** 2 + b_(ds, dps) ** 2 - 2 * rr * a_(ds, dps) * b_(ds, dps)) / (1 - rr**2)
assert sp.simplify(same_op - o_su.subs({du: ds, dpu: dps})) == 0 and sp.simplify((2 - 2 * rr**2) / (1 - rr**2) - 2) == 0
print("  [proved] y_s.y_u -> tau^2 O_su (s != u), |y_s|^2 -> 2 + tau^2 O_ss")

# 3. two-row softmax identities at n = 4
n_keys = 4
A = sp.symbols(f"A1:{n_keys + 1}", positive=True)
B = sp.symbols(f"B1:{n_keys + 1}", positive=True)
simplex = {A[-1]: 1 - sum(A[:-1]), B[-1]: 1 - sum(B[:-1])}


def d1(f: sp.Expr, k: int) -> sp.Expr:
    return sp.expand(sum(sp.diff(f, A[j]) * A[j] * ((1 if j == k else 0) - A[k]) for j in range(n_keys)))


def d2(f: sp.Expr, k: int) -> sp.Expr:
    return sp.expand(sum(sp.diff(f, B[j]) * B[j] * ((1 if j == k else 0) - B[k]) for j in range(n_keys)))


def o_op(f: sp.Expr, s: int, u: int) -> sp.Expr:
    return sp.expand(d1(d1(f, u), s) + rr * (d2(d1(f, s), u) + d1(d2(f, s), u)) + d2(d2(f, u), s))


def same(name: str, lhs: sp.Expr, rhs: sp.Expr) -> None:
    assert sp.expand((lhs - rhs).subs(simplex)) == 0, name
    print(f"  [proved] {name} (n = {n_keys})")


Pab = lambda a, b: sum(A[s] ** a * B[s] ** b for s in range(n_keys))  # noqa: E731
X, Y2, Y2p, Y3 = Pab(1, 1), Pab(2, 0), Pab(0, 2), Pab(3, 0)
phi = lambda a, b: (1 - 2 * a) * (1 - 2 * b) * (a * (1 - a) + b * (1 - b)) - 4 * rr * a * (1 - a) * b * (1 - b)  # noqa: E731
sum_phi = sum(phi(A[s], B[s]) for s in range(n_keys))
pairs = list(itertools.permutations(range(n_keys), 2))
F = {k: sum(d1(A[s] * B[u], k) for s, u in pairs if k in (s, u)) for k in range(n_keys)}
Fp = {k: sum(d2(A[s] * B[u], k) for s, u in pairs if k in (s, u)) for k in range(n_keys)}
same("norm-weight term: sum_k a_k F_k + b_k F'_k = sum Phi",
     sum(d1(F[k], k) + rr * d2(F[k], k) + rr * d1(Fp[k], k) + d2(Fp[k], k) for k in range(n_keys)), sum_phi)
cross = (-(X - 2 * X * Y2 - Pab(2, 1) + 2 * Pab(3, 1)) - (X - 2 * X * Y2p - Pab(1, 2) + 2 * Pab(1, 3))
         + rr * ((1 - Y2) * (1 - Y2p) - X + Pab(2, 1) + Pab(1, 2) - 2 * Pab(2, 2) + X**2))
same("pair term: sum_{s != u} O_su (A_s B_u) = Cross", sum(o_op(A[s] * B[u], s, u) for s, u in pairs), cross)
same("diagonal norms: sum_s O_ss [A_s (1 - B_s) + B_s (1 - A_s)] = sum Phi",
     sum(o_op(A[s] * (1 - B[s]) + B[s] * (1 - A[s]), s, s) for s in range(n_keys)), sum_phi)
xi = 2 * (Y2 * X + Y2p * X - Pab(2, 1) - Pab(1, 2) + rr * (X - Pab(1, 2) - Pab(2, 1) + X**2))
same("empirical p: sum_k O_kk X = Xi", sum(o_op(X, k, k) for k in range(n_keys)), xi)
same("empirical p: sum_{a != b} O_ab X = -Xi", sum(o_op(X, a, b) for a, b in pairs), -xi)
gauss_bracket = 2 * Y2 * X + 2 * Y2p * X - 2 * Pab(2, 1) - 2 * Pab(1, 2) + rr * (1 - Y2 - Y2p + Y2 * Y2p + X + X**2 - Pab(2, 1) - Pab(1, 2))
same("Gaussian keys: Cross + sum_s O_ss (A_s B_s) = the library's Dp / s2 (rows unsymmetrised)",
     cross + sum(o_op(A[s] * B[s], s, s) for s in range(n_keys)), gauss_bracket)
same_row = {B[s]: A[s] for s in range(n_keys)}
P4 = 1 - 7 * Y2 + 12 * Y3 - 6 * Pab(4, 0)
assert sp.expand((sum_phi.subs(rr, 1).subs(same_row) - 2 * P4).subs(simplex)) == 0
assert sp.expand((cross.subs(rr, 1).subs(same_row)
                  - (1 - 5 * Y2 + 4 * Y3 + 6 * Y2**2 - 6 * Pab(4, 0))).subs(simplex)) == 0
assert sp.expand((xi.subs(rr, 1).subs(same_row) - (2 * Y2 - 8 * Y3 + 6 * Y2**2)).subs(simplex)) == 0
print("  [proved] r = 1, B = A: Pi -> 2 P, Cross -> the one-row pair term, Xi -> Q (Dp_LN -> Dq_LN)")

# 4. assembly in moments, rows equal in law, and the library
s2, n = sp.symbols("s2 n", positive=True)
mX, mA2A, mA3A, mA2A2, mXX, mY2X, mY2Y2, mY2, mY3 = sp.symbols("X A2A A3A A2A2 XX Y2X Y2Y2 Y2 Y3", positive=True)
cross_m = -2 * mX + 4 * mY2X + 2 * mA2A - 4 * mA3A + rr * (1 - 2 * mY2 + mY2Y2 - mX + 2 * mA2A - 2 * mA2A2 + mXX)
pi_m = 2 - 6 * mY2 - 4 * mX + 4 * mY3 + 12 * mA2A - 8 * mA3A - 4 * rr * (mX - 2 * mA2A + mA2A2)
xi_m = 4 * mY2X - 4 * mA2A + 2 * rr * (mX - 2 * mA2A + mXX)
assembled = s2 * (cross_m - rho * (2 - rho) * pi_m / 2 - xi_m * (rho * (2 - rho) / n + 1 / (n * (n - 1))))

from symsig.theory import finite_width as fw, special  # noqa: E402
from symsig.theory.symbols import n as n_sym  # noqa: E402

args2, args3 = (fw.s2, n_sym), (fw.s2, fw.r, n_sym)
moments = {special.rem_y2(*args2): mY2, special.rem_y3(*args2): mY3, special.rem_x(*args3): mX,
           special.rem_a2a(*args3): mA2A, special.rem_a3a(*args3): mA3A, special.rem_a2a2(*args3): mA2A2,
           special.rem_xx(*args3): mXX, special.rem_y2x(*args3): mY2X, special.rem_y2y2(*args3): mY2Y2}
library = fw.delta_p_expr(tokens="normalized").xreplace(moments).subs({fw.s2: s2, n_sym: n, fw.r: rr})
assert sp.simplify(library - assembled.subs(rho, rr)) == 0
print("  [proved] library delta_p_expr(tokens='normalized') (rho = r: the keys' cosine is the logits' correlation)")
gauss_m = 4 * mY2X - 4 * mA2A + rr * (1 - 2 * mY2 + mY2Y2 + mX + mXX - 2 * mA2A)   # gauss_bracket, rows equal in law
assert sp.simplify(fw.delta_p_expr().xreplace(moments).subs({fw.s2: s2, n_sym: n, fw.r: rr}) - s2 * gauss_m) == 0
print("  [proved] the symmetrised Gaussian bracket is the library's Gaussian delta_p_expr")

write_latex([
    ("dp-ln", r"D_p^{\mathrm{LN}}=s^2\Big[C-\frac{\rho(2-\rho)}{2}\Pi-\Xi\Big(\frac{\rho(2-\rho)}{n}+\frac{1}{n(n-1)}\Big)\Big]"),
    ("cross", r"C=-2X+4\,\mathbb E[Y_2X]+2A_{21}-4A_{31}+r\big(1-2Y_2+\mathbb E[Y_2Y_2']-X+2A_{21}-2A_{22}+\mathbb E X^2\big)"),
    ("pi-xi", r"\Pi=2-6Y_2-4X+4Y_3+12A_{21}-8A_{31}-4r(X-2A_{21}+A_{22}),\quad "
              r"\Xi=4\,\mathbb E[Y_2X]-4A_{21}+2r(X-2A_{21}+\mathbb E X^2)"),
])
