"""Derivation: one attention layer at finite width d, to first order in 1/d with T fixed.

Run ``python derivations/finite_width_attention.py [OUT.tex]``: every algebraic step is
asserted by SymPy, the results are proved equal to ``symsig.theory.finite_width``, and the
LaTeX is written to stdout or OUT.tex. (docs/finite_width.md is the prose version.)

Assumptions
-----------
* Keys/queries x_s = sqrt(p) g + sqrt(q - p) z_s, g, z_s iid N(0, I_d) (Gaussian tokens);
  (q, p) is the empirical state of the layer input (its fluctuation around the population
  value is common to network and theory).
* W_Q, W_K entries N(0, sigma_a/d), sigma_a = beta sqrt(log T); W_V entries N(0, sigma_v2/d);
  value bias N(0, sigma_b2); one head; logits a_ts = x_s . w_t with w_t = W_K W_Q^T x_t / sqrt(d).
* Expansion: first order in 1/d at fixed T. Nothing is assumed about T/d.

Method (our choice): exact conditioning instead of a Wishart perturbation series. Given W_Q and
x_t, w_t = W_K u_t is an isotropic Gaussian vector independent of all keys. Project every centred
key on w_t: its component along w_t is its logit (iid Gaussian across keys, variance s2 =
sigma_a^2 q (q - p) up to the O(d^-1/2) fluctuation of |w_t|), and the d - 1 orthogonal
components are independent of the logits. So the output of row t,
sum_s A_ts x_s = xbar + sqrt(q - p) [(S - epsbar) w_hat + sum_s (A_ts - 1/T) z_perp_s],
has one "selected" direction, S = sum_s A_s eps_s, and d - 1 unselected ones. The extra length
of the selected direction is the whole O(T/d) effect; Gaussian integration by parts (Stein)
turns its moments into the exact finite-T moments of the library. The remaining O(1/d) terms
are the fluctuations of the logit covariance (three Wishart stages: token Gram, W_Q, W_K).
"""
from __future__ import annotations

import sympy as sp

from _common import prove_equal, write_latex
from symsig.theory import finite_width as fw
from symsig.theory import rem, special
from symsig.theory.symbols import T, beta, d, m, n, p, q, sigma_b2, sigma_v2

s2, r = fw.s2, fw.r
sig, sigp = sp.symbols("sigma sigma'", positive=True)
Y2, Y3, Y2SQ, X = sp.symbols("Y_2 Y_3 Y_2sq X", real=True)
A2A, XX, Y2X, Y2Y2, ES2, ESS = sp.symbols("A2A XX Y2X Y2Y2 ES2 ESS", real=True)


# ------------------------------------------------------------------ step 1: the projection
def step1_projection() -> tuple[sp.Expr, sp.Expr]:
    """Assemble E|y_t|^2/d and E y_t.y_t'/d from the selected and the unselected directions.

    E over W_V (exact): E y_t.y_t'/d = sigma_v2 m_t.m_t'/d + sigma_b2, m_t = sum_s A_ts x_s.
    m_t = xbar + sum_s A_ts xt_s with centred keys xt_s; |xbar|^2/d = q/T + (1 - 1/T) p exactly
    (definitions of q, p); the cross term has mean 0 (xbar is independent of the centred keys).
    One row: E|sum_s c_s z_perp_s|^2 = (d - 1) sum_s c_s^2 with c_s = A_s - 1/T, sum c_s^2 = Y2 - 1/T;
    the selected direction gives E (S - epsbar)^2 = E S^2 - 1/T (Stein: E[S epsbar] = 1/T).
    Two rows span a plane: (d - 2)(X - 1/T) + E[S.S'] - 2/T (E[S.zetabar] = 2/T likewise).
    """
    gap = q - p
    xbar2 = q / T + (1 - 1 / T) * p
    q_s = xbar2 + gap * ((1 - 1 / d) * (Y2 - 1 / T) + (ES2 - 1 / T) / d)
    p_s = xbar2 + gap * ((1 - 2 / d) * (X - 1 / T) + (ESS - 2 / T) / d)
    q_form = p + gap * (Y2 + (ES2 - Y2) / d)
    p_form = p + gap * (X + (ESS - 2 * X) / d)
    assert sp.simplify(q_s - q_form) == 0 and sp.simplify(p_s - p_form) == 0
    print("  [proved] q_S = p + (q-p)(Y2 + (E S^2 - Y2)/d), p_S = p + (q-p)(X + (E S.S' - 2X)/d)")
    return q_form, p_form


# ------------------------------------------------------------------ step 2: Stein identities
def _softmax(logits: list[sp.Expr]) -> list[sp.Expr]:
    z = sum(sp.exp(x) for x in logits)
    return [sp.exp(x) / z for x in logits]


def _zero(expr: sp.Expr, exps: dict) -> bool:
    """expr == 0 identically: exponentials -> positive symbols, then rational cancellation."""
    return sp.cancel(sp.together(expr.subs(exps))) == 0


def step2_stein_one_row(nk: int) -> None:
    """E S^2 = Y2 + s2 (1 - Y2 - 6 Y3 + 6 Y2^2), pointwise up to a Stein term, n = nk keys.

    Stein operator St[F] = sum_s (eps_s F_s - dF_s/deps_s) has mean 0 for Gaussian eps. With
    F_s = A_s S + sigma A_s - 2 sigma A_s Y2 + sigma A_s^2 the difference is exactly St[F].
    Also E S = sigma (1 - Y2) (F_s = A_s) and d E[Y2]/d s2 = Y2 - 4 Y3 + 3 Y2^2 (heat equation:
    d/ds2 E f = E (1/2) Laplacian f, and (1/2) Laplacian Y2 = Y2 - 4 Y3 + 3 Y2^2 pointwise).
    """
    eps = sp.symbols(f"e1:{nk + 1}", real=True)
    a = _softmax([sig * e for e in eps])
    y2 = sum(x**2 for x in a)
    y3 = sum(x**3 for x in a)
    s = sum(x * e for x, e in zip(a, eps))
    stein = lambda f: sum(e * fs - sp.diff(fs, e) for e, fs in zip(eps, f))  # noqa: E731
    ex = {sp.exp(sig * e): sp.Symbol(f"E{i}", positive=True) for i, e in enumerate(eps)}
    f = [x * s + sig * x - 2 * sig * x * y2 + sig * x**2 for x in a]
    assert _zero(s**2 - y2 - sig**2 * (1 - y2 - 6 * y3 + 6 * y2**2) - stein(f), ex)
    assert _zero(s - sig * (1 - y2) - stein(a), ex)
    lap = sum(sp.diff(y2, e, 2) for e in eps) / sig**2
    assert _zero(lap / 2 - (y2 - 4 * y3 + 3 * y2**2), ex)
    print(f"  [proved] E S^2 = Y2 + s2 (1 - Y2 - 6 Y3 + 6 Y2^2), E S = sigma (1 - Y2), dY2/ds2 (n = {nk})")


def step3_stein_two_rows(nk: int) -> None:
    """E[S.S'] for two rows in the plane of (w_t, w_t'), pointwise up to a Stein term.

    zeta_s = (u_s, v_s) iid N(0, I_2); row logits sigma u_s and sigma' (rho u_s + kappa v_s),
    kappa^2 = 1 - rho^2; S = sum A_s zeta_s, S' = sum A'_s zeta_s, X_r = sum A_s A'_s. With the field
    F_s = A_s S' + sigma (1 - Y2) A'_s e + sigma' A_s A'_s e' - sigma' A'_s X_r e':

    S.S' = 2 X_r + sigma sigma' rho (1 - Y2)(1 - Y2') - 2 sigma^2 (sum A^2 A' - Y2 X_r)
           + sigma sigma' rho (X_r - sum A^2 A' - sum A A'^2 + X_r^2) - 2 sigma'^2 (sum A A'^2 - Y2' X_r) + St[F].
    """
    rho, kap = sp.symbols("rho kappa", positive=True)
    us, vs = sp.symbols(f"u1:{nk + 1}", real=True), sp.symbols(f"v1:{nk + 1}", real=True)
    a = _softmax([sig * u for u in us])
    b = _softmax([sigp * (rho * u + kap * v) for u, v in zip(us, vs)])
    e, ep = (1, 0), (rho, kap)
    y2, y2p = sum(x**2 for x in a), sum(x**2 for x in b)
    xr = sum(x * y for x, y in zip(a, b))
    a2a, aa2 = sum(x**2 * y for x, y in zip(a, b)), sum(x * y**2 for x, y in zip(a, b))
    svec = [sum(x * u for x, u in zip(a, us)), sum(x * v for x, v in zip(a, vs))]
    spvec = [sum(y * u for y, u in zip(b, us)), sum(y * v for y, v in zip(b, vs))]
    field = [[a[i] * spvec[k] + sig * (1 - y2) * b[i] * e[k] + sigp * a[i] * b[i] * ep[k] - sigp * b[i] * xr * ep[k]
              for k in range(2)] for i in range(nk)]
    stein = sum(us[i] * field[i][0] - sp.diff(field[i][0], us[i]) + vs[i] * field[i][1] - sp.diff(field[i][1], vs[i])
                for i in range(nk))
    rhs = (2 * xr + sig * sigp * rho * (1 - y2) * (1 - y2p) - 2 * sig**2 * (a2a - y2 * xr)
           + sig * sigp * rho * (xr - a2a - aa2 + xr**2) - 2 * sigp**2 * (aa2 - y2p * xr))
    diff = svec[0] * spvec[0] + svec[1] * spvec[1] - rhs - stein
    ex = {}
    for i in range(nk):
        ex[sp.exp(sig * us[i])] = sp.Symbol(f"E{i}", positive=True)
        ex[sp.exp(sigp * (rho * us[i] + kap * vs[i]))] = sp.Symbol(f"F{i}", positive=True)
    expr = sp.cancel(sp.together(sp.expand(diff).subs(ex)))
    assert sp.expand(sp.numer(expr).subs(kap**2, 1 - rho**2)) == 0 or \
        sp.simplify(sp.numer(expr).subs(kap, sp.sqrt(1 - rho**2))) == 0
    print(f"  [proved] two-row Stein identity for E[S.S'] (n = {nk}, unequal sigma, sigma')")


def step4_brackets() -> tuple[sp.Expr, sp.Expr]:
    """Dq = E S^2 - Y2 and Dp = E[S.S'] - 2X at sigma = sigma' (exchange symmetry of the two rows:
    E sum A A'^2 = E sum A^2 A', E[Y2' X] = E[Y2 X]); proved equal to the library."""
    dq = s2 * (1 - Y2 - 6 * Y3 + 6 * Y2SQ)
    ess = (2 * X + s2 * r * (1 - 2 * Y2 + Y2Y2) - 2 * s2 * (A2A - Y2X) + s2 * r * (X - 2 * A2A + XX)
           - 2 * s2 * (A2A - Y2X))
    dp = sp.expand(ess - 2 * X)
    lib = {special.rem_y2(s2, n): Y2, special.rem_y3(s2, n): Y3, special.rem_y2sq(s2, n): Y2SQ,
           special.rem_x(s2, r, n): X, special.rem_a2a(s2, r, n): A2A, special.rem_xx(s2, r, n): XX,
           special.rem_y2x(s2, r, n): Y2X, special.rem_y2y2(s2, r, n): Y2Y2}
    prove_equal("Dq (library delta_q_expr)", dq, fw.delta_q_expr().xreplace(lib))
    prove_equal("Dp (library delta_p_expr)", dp, fw.delta_p_expr().xreplace(lib))
    # identical rows (r = 1): X = Y2, sum A^2 A' = Y3, X_r^2 = Y2 X = Y2 Y2' = Y2^2 -> Dp = Dq
    same = {r: 1, X: Y2, A2A: Y3, XX: Y2SQ, Y2X: Y2SQ, Y2Y2: Y2SQ}
    assert sp.expand(dp.subs(same) - dq) == 0
    # independent rows (r = 0): X = 1/n, sum A^2 A' = Y2/n = Y2 X -> Dp = 0
    assert sp.expand(dp.subs({r: 0, X: 1 / n, A2A: Y2 / n, Y2X: Y2 / n})) == 0
    print("  [proved] Dp = Dq for identical rows, Dp = 0 for independent rows")
    return dq, dp


def step5_limits(dq: sp.Expr) -> None:
    """Small s2: Dq/d over (Y2 - X) at r = 0 tends to n/d = T/d (the measured factor 1 + T/d).
    Frozen phase (Poisson–Dirichlet): 1 - Y2 - 6 Y3 + 6 Y2^2 = m^2, so Dq -> s2 m^2 = 2 log T."""
    eta = sp.Symbol("eta", positive=True)  # s2, small
    slope = Y2 - 4 * Y3 + 3 * Y2SQ            # dY2/ds2 (step 2) at s2 = 0: Y_k = n^(1-k), Y2^2 = n^-2
    at0 = {Y2: 1 / n, Y3: 1 / n**2, Y2SQ: 1 / n**2}
    y2_small = 1 / n + eta * slope.subs(at0)
    ratio = sp.limit((dq.subs(s2, eta).subs(at0) / d) / (y2_small - 1 / n), eta, 0)
    assert sp.simplify(ratio - n / d) == 0
    pd = {Y2: rem.y_moment_pd(2), Y3: rem.y_moment_pd(3), Y2SQ: rem.y2_squared_pd()}
    assert sp.factor((dq / s2).subs(pd)) == m**2
    s2_paper = beta**2 * sp.log(T) * q * (q - p)
    assert sp.simplify(s2_paper * rem.parisi_m_frozen() ** 2 - 2 * sp.log(T)) == 0
    print("  [proved] Dq/(d (Y2 - X)) -> T/d as beta -> 0; Dq -> s2 m^2 = 2 log T in the frozen phase")


# ------------------------------------------------------------------ step 6: fluctuations (1/d)
def step6_fluctuations() -> None:
    """The logit covariance C of a query pair is (q - p) Gram(w_t, w_t'), built in three stages
    (token Gram | W_Q | W_K), each an independent normalised Wishart matrix (d dof) times the
    previous one, so d Cov adds over stages; Isserlis from the Gaussian moment generating function."""
    t1, t2 = sp.symbols("t1 t2", real=True)
    sigma = sp.Matrix([[1, r], [r, 1]])
    mgf = sp.exp((sp.Matrix([[t1, t2]]) * sigma * sp.Matrix([t1, t2]))[0] / 2)
    ts = (t1, t2)

    def moment(*idx):
        e = mgf
        for i in idx:
            e = sp.diff(e, ts[i])
        return sp.simplify(e.subs({t1: 0, t2: 0}))

    for ab in fw.ENTRIES:
        for cd in fw.ENTRIES:
            cov = moment(*ab, *cd) - moment(*ab) * moment(*cd)
            assert sp.expand(cov - fw.wishart_cov(sigma, ab, cd)) == 0
    k = fw.logit_cov_fluctuation("gaussian")
    assert sp.expand(k[((0, 0), (0, 0))] - (6 - 2 * r**2)) == 0
    assert sp.expand(k[((0, 1), (0, 1))] - (3 + r**2)) == 0
    assert sp.expand(k[((0, 0), (1, 1))] - 4 * r**2) == 0
    v11, vs, vr, cv = fw.smearing_covariance("gaussian")
    assert sp.expand(vr - (3 - 8 * r**2 + 4 * r**3 + r**4)) == 0 and sp.expand(cv - r * (1 - r) * (3 + r)) == 0
    assert sp.expand(vs - (3 + r**2)) == 0
    _, _, vr_n, _ = fw.smearing_covariance("normalized")
    assert sp.expand(vr_n - vr) == 0  # the cosine fluctuates alike for both token models
    # a Gaussian smearing is the Taylor correction to first order: E f(s2 + xi) = f + Var f''/2 + O(Var^2)
    f = sp.Function("f")
    v = sp.Symbol("v", positive=True)
    xi = sp.Symbol("xi", real=True)
    taylor = sum(sp.diff(f(s2), s2, k_) * xi**k_ / sp.factorial(k_) for k_ in range(5))
    gauss = sp.integrate(taylor * sp.exp(-xi**2 / (2 * v)) / sp.sqrt(2 * sp.pi * v), (xi, -sp.oo, sp.oo))
    assert sp.expand(gauss - f(s2) - v * sp.diff(f(s2), s2, 2) / 2 - v**2 * sp.diff(f(s2), s2, 4) / 8) == 0
    print("  [proved] Wishart stage covariances (Isserlis), Var C11 = (6 - 2 rho^2) s2^2 / d, "
          "Var r = (3 - 8 rho^2 + 4 rho^3 + rho^4)/d; Gaussian smearing = Y2 + Var Y2''/2 + O(1/d^2)")


# ------------------------------------------------------------------ step 7: the W_Q gradient
def step7_gradient() -> sp.Expr:
    """E tr M^2 of the attention-weighted key covariance M = Z^T J Z, Z (n x D) Gaussian, over Z:

    Isserlis: E (z_a.z_b)(z_c.z_e) = D^2 d_ab d_ce + D d_ac d_be + D d_ae d_bc, so
    E tr (Z^T J Z)^2 = (D^2 + D) tr J^2 + D (tr J)^2 (checked entrywise at n = 3, D symbolic).
    Adding the selected direction (variance Var_A eps, cross terms 2 D G) and D = d - 1, divided
    by the d -> infinity normalisation d^2: (1 - 1/d) tr J^2 + ((tr J)^2 + 2 G)/d + O(1/d^2).
    """
    dd = sp.Symbol("D", positive=True)
    nk = 3
    jm = sp.Matrix(nk, nk, lambda i, j: sp.Symbol(f"J{min(i, j)}{max(i, j)}"))
    delta = lambda i, j: 1 if i == j else 0  # noqa: E731
    total = 0
    for s_ in range(nk):
        for sp_ in range(nk):
            for r_ in range(nk):
                for rp in range(nk):
                    # tr (Z^T J Z)^2 = sum J_ss' J_rr' (z_s'.z_r)(z_r'.z_s)
                    wick = dd**2 * delta(sp_, r_) * delta(rp, s_) + dd * delta(sp_, rp) * delta(r_, s_) \
                        + dd * delta(sp_, s_) * delta(r_, rp)
                    total += jm[s_, sp_] * jm[r_, rp] * wick
    assert sp.expand(total - ((dd**2 + dd) * (jm * jm).trace() + dd * jm.trace() ** 2)) == 0
    trj2, trj, g = sp.symbols("trJ2 trJ G", positive=True)
    exact = ((dd**2 + dd) * trj2 + dd * trj**2 + 2 * dd * g) / d**2
    first = sp.series(exact.subs(dd, d - 1).subs(d, 1 / sp.Symbol("h")), sp.Symbol("h"), 0, 2).removeO()
    first = first.subs(sp.Symbol("h"), 1 / d)
    assert sp.expand(first - ((1 - 1 / d) * trj2 + (trj**2 + 2 * g) / d)) == 0
    print("  [proved] E tr M^2 = (D^2 + D) tr J^2 + D (tr J)^2 + 2 D G (+ O(1)); first order in 1/d")
    return (1 - 1 / d) * trj2 + (trj**2 + 2 * g) / d


def main() -> None:
    print("Finite-width attention (docs/finite_width.md)")
    q_form, p_form = step1_projection()
    for nk in (2, 3):
        step2_stein_one_row(nk)
    step3_stein_two_rows(2)
    dq, dp = step4_brackets()
    step5_limits(dq)
    step6_fluctuations()
    grad_bracket = step7_gradient()
    qs, ps, y2 = fw.attention_width_map()
    _, vs, vr, cv = fw.smearing_covariance()
    show = {s2: sp.Symbol("s^{2}"), r: sp.Symbol(r"\rho"), A2A: sp.Symbol(r"\mathbb{E}\sum_s A_s^2A'_s"),
            XX: sp.Symbol(r"\mathbb{E}X^2"), Y2X: sp.Symbol(r"\mathbb{E}[Y_2X]"), Y2Y2: sp.Symbol(r"\mathbb{E}[Y_2Y_2']"),
            Y2SQ: sp.Symbol(r"\mathbb{E}Y_2^2")}
    trj2, trj, g = sp.symbols("trJ2 trJ G", positive=True)
    show_grad = {trj2: sp.Symbol(r"\langle\operatorname{tr}J^2\rangle_d"), trj: sp.Symbol(r"(1-Y_2)"),
                 g: sp.Symbol(r"\mathbb{E}\sum_sA_s^2(\varepsilon_s-S)^2")}
    write_latex([
        ("one-layer map at finite width (first order in 1/d, T fixed)",
         r"q_S=\sigma_v^2\Big[p+(q-p)\Big(\langle Y_2\rangle_d+\frac{D_q}{d}\Big)\Big]+\sigma_b^2,\quad "
         r"p_S=\sigma_v^2\Big[p+(q-p)\Big(\langle X\rangle_d+\frac{D_p}{d}\Big)\Big]+\sigma_b^2"),
        ("Dq (selected keys are longer)", sp.Eq(sp.Symbol("D_q"), dq.xreplace(show))),
        ("Dp (two rows in one plane)", sp.Eq(sp.Symbol("D_p"), sp.collect(dp, [r, s2]).xreplace(show))),
        ("logit-variance smearing of Y2: d Var C11 / s^4", fw.smearing_covariance()[0].xreplace(show)),
        ("pair smearing of X: d Var s2bar / s^4, d Var r_w, d Cov / s^2", sp.Tuple(vs, vr, cv).xreplace(show)),
        ("W_Q gradient bracket at finite width", grad_bracket.xreplace(show_grad)),
        ("library q_S at finite width", qs),
        ("library p_S at finite width", ps),
    ])
    _ = (y2, q_form, p_form, sigma_v2, sigma_b2)


if __name__ == "__main__":
    main()
