"""Derivation of Result 2: E||dL/dW_Q||_F^2 of one attention layer at initialisation.

Run ``python derivations/gradient_wq.py [OUT.tex]``: every step is checked by SymPy
(``assert``), the result is proved equal to ``symsig.theory.gradient``, and its LaTeX is
written to stdout or to OUT.tex.

Model
-----
* Tokens x_1..x_T in R^d with Gram x_t.x_s = d Gamma_ts, Gamma = p 11^T + (q - p) I.
* One head, d_head = d: a_ts = (W_Q x_t).(W_K x_s) / sqrt(d), A_t = softmax(a_t),
  y_t = sum_s A_ts W_V x_s. W_Q, W_K entries N(0, sigma_a/d), sigma_a = beta sqrt(log T);
  W_V entries N(0, sigma_v2/d). Width d -> infinity first, then T -> infinity.
* Loss L = (1/T) sum_t g_t . y_t with upstream gradients g_t ~ N(0, I_d), iid over t
  and independent of the layer. Why this model: at initialisation the layers above
  (and the readout of a masked-LM / next-token loss) are random and independent of
  this layer, so dL/dy_t is, to leading order in d, a centred Gaussian vector
  independent of W_Q, W_K, W_V; a per-token loss averaged over tokens gives the 1/T.
  Only its covariance E[g_t g_t'^T] = C_tt' I enters the squared norm. With
  position-wise independent targets the covariance is diagonal, C = I (our result).
  If upstream gradients are correlated across tokens (C_tt' = c for t != t', e.g. a
  shared readout direction or a sequence-level loss) a cross-token term
  beta sigma_v2 c p (q - p)^2 (T - 1) E tr(J_t J_t') appears (step 6): it involves the
  two-query overlaps, vanishes for p = 0 and grows with T.
"""
from __future__ import annotations

import sys
from itertools import product
from pathlib import Path

import sympy as sp

from symsig.theory import gradient as gradients
from symsig.theory import rem
from symsig.theory.symbols import beta, c, m, p, q, sigma_v2

ROWS = (2, 3, 4)  # sequence lengths on which generic-T matrix identities are proved exactly


def _row(name: str, T: int) -> sp.Matrix:
    """Generic attention row (A_1, ..., A_T) with sum 1 (last entry eliminated)."""
    free = sp.symbols(f"{name}1:{T}", positive=True)
    return sp.Matrix([*free, 1 - sum(free)])


def jacobian(a: sp.Matrix) -> sp.Matrix:
    """Softmax Jacobian J = diag(A) - A A^T."""
    return sp.diag(*a) - a * a.T


def gram(T: int) -> sp.Matrix:
    """Token Gram per feature Gamma = p 11^T + (q - p) I."""
    return p * sp.ones(T, T) + (q - p) * sp.eye(T)


def step1_softmax_jacobian() -> None:
    """dA_s/da_u = A_s delta_su - A_s A_u, and J = sum_s A_s (e_s - A)(e_s - A)^T, J 1 = 0."""
    for T in ROWS:
        logits = sp.symbols(f"a1:{T + 1}", real=True)
        z = sum(sp.exp(x) for x in logits)
        soft = sp.Matrix([sp.exp(x) / z for x in logits])
        jac = sp.Matrix(T, T, lambda s, u: sp.diff(soft[s], logits[u]))
        assert sp.simplify(jac - jacobian(soft)) == sp.zeros(T, T)
        a = _row("A", T)
        e = sp.eye(T)
        outer = sum(((a[s] * (e[:, s] - a) * (e[:, s] - a).T) for s in range(T)), sp.zeros(T, T))
        assert sp.expand(outer - jacobian(a)) == sp.zeros(T, T)
        # sum_s A_s (e_s - A) = 0: the row sums of J vanish, so common parts cancel.
        assert sp.expand(sum((a[s] * (e[:, s] - a) for s in range(T)), sp.zeros(T, 1))) == sp.zeros(T, 1)
        assert sp.expand(jacobian(a) * sp.ones(T, 1)) == sp.zeros(T, 1)


def step2_backward(T: int = 2, d: int = 2) -> None:
    """Chain rule: dL/dW_Q = (1/sqrt d) sum_ts delta_ts k_s x_t^T, delta_t = (1/T) J_t G_t.

    G_ts = g_t . W_V x_s, k_s = W_K x_s. Proved at T = d = 2 by differentiating L
    symbolically in the entries of W_Q, with x, W_K, W_V, g fixed at exact rationals
    and W_Q then set to an exact rational point (50-digit comparison).
    """
    rat = lambda r, cc, k: sp.Matrix(r, cc, [sp.Rational((7 * i + k) % 11 - 5, 4) for i in range(r * cc)])  # noqa: E731
    x, wk, wv, g = rat(T, d, 1), rat(d, d, 2), rat(d, d, 3), rat(T, d, 4)
    wq = sp.Matrix(d, d, sp.symbols(f"wq0:{d * d}", real=True))
    qs, ks, vs = x * wq.T, x * wk.T, x * wv.T
    logits = qs * ks.T / sp.sqrt(d)
    att = sp.Matrix(T, T, lambda t, s: sp.exp(logits[t, s]) / sum(sp.exp(logits[t, u]) for u in range(T)))
    loss = sum((g[t, :] * (att[t, :] * vs).T)[0] for t in range(T)) / T
    gv = g * vs.T
    delta = sp.Matrix.vstack(*[(jacobian(att[t, :].T) * gv[t, :].T).T / T for t in range(T)])
    formula = (delta * ks).T * x / sp.sqrt(d)
    point = dict(zip(wq, rat(d, d, 5)))
    for i, j in product(range(d), range(d)):
        lhs = sp.diff(loss, wq[i, j]).subs(point)
        assert abs(sp.N(lhs - formula[i, j].subs(point), 50)) < sp.Float("1e-45")
        assert abs(sp.N(lhs, 50)) > sp.Float("1e-6")  # a non-trivial entry


def step3_trace_identities() -> None:
    """Gamma J_t = (q - p) J_t, so tr(J_t Gamma J_t' Gamma) = (q - p)^2 tr(J_t J_t');
    tr(J^2) = Y2 - 2 Y3 + Y2^2; tr(J_t J_t') = X - sum a^2 b - sum a b^2 + X^2, X = a.b."""
    y2, y3, y2sq = gradients.Y2, gradients.Y3, gradients.Y2SQ
    for T in ROWS:
        a, b, G = _row("A", T), _row("B", T), gram(T)
        Ja, Jb = jacobian(a), jacobian(b)
        assert sp.expand(G * Ja - (q - p) * Ja) == sp.zeros(T, T)
        assert sp.expand((Ja * G * Jb * G).trace() - (q - p) ** 2 * (Ja * Jb).trace()) == 0
        # dW_K pairs the Grams the other way round, tr(Gamma J_t Gamma J_t'): the same number.
        assert sp.expand((G * Ja * G * Jb).trace() - (Ja * G * Jb * G).trace()) == 0
        moments = {y2: sum(x**2 for x in a), y3: sum(x**3 for x in a), y2sq: sum(x**2 for x in a) ** 2}
        assert sp.expand((Ja * Ja).trace() - gradients.bracket_expr().subs(moments)) == 0
        ov = sum(a[s] * b[s] for s in range(T))
        cross = ov - sum(a[s] ** 2 * b[s] + a[s] * b[s] ** 2 for s in range(T)) + ov**2
        assert sp.expand((Ja * Jb).trace() - cross) == 0


def step4_expectation() -> sp.Expr:
    """Gaussian averages and d -> infinity; returns the scaled E||dL/dW_Q||^2 in moments.

    ||dW_Q||^2 = (1/d) sum_tt' (x_t.x_t') sum_ss' delta_ts delta_t's' (k_s.k_s').
    E_g[G_tu G_t'u'] = C_tt' v_u.v_u'; E_{W_V}[v_u.v_u'] = sigma_v2 x_u.x_u' = sigma_v2 d Gamma_uu'
    (exact); k_s.k_s' -> d sigma_a Gamma_ss' (law of large numbers over d; its O(sqrt d)
    fluctuations, correlated with A, give the O(1/d) corrections measured by Monte Carlo).
    Hence E||dW_Q||^2 = (d^2/T^2) sigma_a sigma_v2 sum_tt' C_tt' Gamma_tt' E tr(J_t Gamma J_t' Gamma).
    The same holds for dW_K with query and key Grams exchanged (both d sigma_a Gamma).
    """
    d, T, sa = sp.symbols("d T sigma_a", positive=True)
    tr_jj, tr_cross = sp.symbols("trJJ trJJp", real=True)  # E tr(J_t^2), E tr(J_t J_t')
    # sum over t = t': C = 1, Gamma_tt = q; over t != t': C = c, Gamma_tt' = p.
    total = (d**2 / T**2) * sa * sigma_v2 * (q - p) ** 2 * (T * q * tr_jj + T * (T - 1) * c * p * tr_cross)
    scaled = sp.expand(total * T / (d**2 * sp.sqrt(sp.log(T))))
    scaled = scaled.subs(sa, beta * sp.sqrt(sp.log(T)))
    uncorrelated = sp.simplify(scaled.subs(c, 0).subs(tr_jj, gradients.bracket_expr()))
    assert sp.simplify(uncorrelated - gradients.grad_wq_moments_expr()) == 0
    correlated_extra = sp.factor(scaled - scaled.subs(c, 0))
    assert sp.simplify(correlated_extra - beta * sigma_v2 * c * p * (q - p) ** 2 * (T - 1) * tr_cross) == 0
    return uncorrelated


def step5_poisson_dirichlet() -> sp.Expr:
    """PD(m, 0) moments from Pitman's EPPF, E[sum_distinct prod w^n_j] = m^(k-1) prod (1-m)_{n_j-1} / (n-1)!.

    E[Y_k] = (1-m)_{k-1}/(k-1)! = Gamma(k-m)/(Gamma(k) Gamma(1-m));
    E[Y2^2] = E[Y4] + m (1-m)^2 / 6 = (1-m)(3-2m)/3; bracket = m(1-m)/3.
    """
    def eppf(*blocks: int) -> sp.Expr:
        n = sum(blocks)
        num = m ** (len(blocks) - 1) * sp.Mul(*[sp.rf(1 - m, k - 1) for k in blocks])
        return sp.expand_func(num / sp.factorial(n - 1))

    for k in (2, 3, 4):
        gamma_form = sp.gamma(k - m) / (sp.gamma(k) * sp.gamma(1 - m))
        assert sp.simplify(sp.gammasimp(gamma_form) - eppf(k)) == 0
        assert sp.simplify(eppf(k) - rem.y_moment_pd(k)) == 0
    y2sq = sp.factor(eppf(4) + eppf(2, 2))
    assert sp.simplify(y2sq - (1 - m) * (3 - 2 * m) / 3) == 0
    assert sp.simplify(y2sq - rem.y2_squared_pd()) == 0
    subs = {gradients.Y2: eppf(2), gradients.Y3: eppf(3), gradients.Y2SQ: y2sq}
    bracket = sp.factor(gradients.bracket_expr().subs(subs))
    assert sp.simplify(bracket - m * (1 - m) / 3) == 0
    assert sp.simplify(bracket - gradients.bracket_pd_m()) == 0
    # Replacing E[Y2^2] by E[Y2]^2 would make the bracket vanish identically under PD.
    assert sp.simplify(gradients.bracket_expr().subs({**subs, gradients.Y2SQ: eppf(2) ** 2})) == 0
    return bracket


def step6_transcription(bracket_pd: sp.Expr) -> sp.Expr:
    """The transcribed bracket (q-p)(Y2 - 2Y3) + p Y2^2 times q (q-p) versus ours.

    Under PD at p = 0 it is -q (1-m)^2 < 0 (impossible for a squared norm); it equals
    ours exactly when the Y2^2 coefficient p is replaced by q - p (they agree at p = q/2).
    """
    y2, y3, y2sq = gradients.Y2, gradients.Y3, gradients.Y2SQ
    transcribed = (q - p) * (y2 - 2 * y3) + p * y2sq
    pd = {y2: rem.y_moment_pd(2), y3: rem.y_moment_pd(3), y2sq: rem.y2_squared_pd()}
    at_p0 = sp.factor(transcribed.subs(pd).subs(p, 0))
    assert sp.simplify(at_p0 + q * (1 - m) ** 2) == 0
    ours = (q - p) * gradients.bracket_expr()
    swapped = (q - p) * (y2 - 2 * y3) + (q - p) * y2sq
    assert sp.expand(swapped - ours) == 0
    assert sp.expand((transcribed - ours).subs(p, q / 2)) == 0
    assert sp.simplify(ours.subs(pd) - (q - p) * bracket_pd) == 0
    return at_p0


def step7_large_beta() -> sp.Expr:
    """beta m (1-m)/3 with m = beta_c/beta -> beta_c / 3: saturation, monotone in beta."""
    bc = rem.beta_c()
    frozen = gradients.prefactor_expr() * (m * (1 - m) / 3).subs(m, bc / beta)
    limit = sp.limit(frozen, beta, sp.oo)
    assert sp.simplify(limit - sigma_v2 * q * (q - p) ** 2 * bc / 3) == 0
    assert sp.simplify(limit - gradients.large_beta_limit_expr()) == 0
    # d/dbeta [beta m (1 - m)] = beta_c^2 / beta^2 > 0: increasing towards the limit.
    assert sp.simplify(sp.diff(beta * (m * (1 - m)).subs(m, bc / beta), beta) - bc**2 / beta**2) == 0
    assert sp.simplify(gradients.grad_wq_pd_expr().args[0][0] - frozen) == 0
    return limit


def derive() -> dict[str, sp.Expr]:
    """Run every step; return the key expressions."""
    step1_softmax_jacobian()
    step2_backward()
    step3_trace_identities()
    result = step4_expectation()
    bracket = step5_poisson_dirichlet()
    transcribed_p0 = step6_transcription(bracket)
    limit = step7_large_beta()
    assert sp.simplify(result - gradients.grad_wq_moments_expr()) == 0
    return {"scaled_moments": result, "bracket_pd": bracket, "transcribed_pd_p0": transcribed_p0,
            "large_beta_limit": limit}


def main(argv: list[str] | None = None) -> int:
    """Derive, assert, and write the LaTeX of the result to stdout or argv[0]."""
    args = sys.argv[1:] if argv is None else argv
    res = derive()
    from symsig.theory.symbols import latex

    tex = "\n".join([
        r"% Result 2 (symsig derivations/gradient_wq.py)",
        r"\begin{align}",
        gradients.grad_wq_latex().replace(r"\xrightarrow", r"\\ &\xrightarrow").replace(" = ", " &= ", 1) + r",\\",
        r"\lim_{\beta\to\infty} &= " + latex(res["large_beta_limit"]) + r".",
        r"\end{align}",
    ])
    if args:
        Path(args[0]).write_text(tex + "\n")
    else:
        print(tex)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
