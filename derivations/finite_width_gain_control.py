"""Derivation: gain-controlled and causal attention at finite width (docs/finite_width.md §9).

Run ``python derivations/finite_width_gain_control.py [OUT.tex]``: every step is asserted by SymPy
and the results are proved equal to ``symsig.theory.finite_width_gc`` and ``symsig.theory.layers``.

1. Causal rows. Row t sees n keys; the logit scale keeps sigma_a = beta sqrt(log T). The projection
   step of derivations/finite_width_attention.py (step 1) is per row, with the row's own key mean:
   the n-key version gives the same form q_S = p + (q - p)(Y2 + (E S^2 - Y2)/d), so only the moments
   change (n keys at s2 = beta^2 log T q (q - p)); the Stein identities hold for any n.
2. Gain control. o_t = W_V (m_t - mbar): for any Gram matrix M of the m_t, the centred Gram G has
   mean diagonal (1 - 1/T)(mean diag M - mean off-diagonal M) and total sum 0. Both are linear in M,
   so E over the logits and the network gives q' = sigma_v2 (q - p)(1 - 1/T)(Y2_eff - X_eff) and
   p' = -q'/(T - 1) exactly at any order in 1/d, given the first-order pair moments Y2_eff, X_eff.
3. The centred branch covariance: the counting table of finite_width_gc._basis_cov, checked by
   enumerating all index pairs at T = 5, 6, 7 with a symbolic covariance per index pattern.
4. The closure of the three- and four-row covariances (finite_width_gc.three_row_closure): its limits.
"""
from __future__ import annotations

import itertools

import sympy as sp

from _common import prove_equal, write_latex
from symsig.theory import finite_width_gc as gc
from symsig.theory.layers import Attention, State
from symsig.theory.symbols import T, d, n, p, q, sigma_b2, sigma_v2

Y2, X, ES2, ESS = sp.symbols("Y_2 X ES2 ESS", real=True)


def step1_causal_projection() -> None:
    """step 1 of finite_width_attention.py with the row's n keys: |xbar_n|^2/d = q/n + (1 - 1/n) p,
    c_s = A_s - 1/n, E S epsbar_n = 1/n: the n-dependence cancels."""
    gap = q - p
    xbar2 = q / n + (1 - 1 / n) * p
    q_s = xbar2 + gap * ((1 - 1 / d) * (Y2 - 1 / n) + (ES2 - 1 / n) / d)
    p_s = xbar2 + gap * ((1 - 2 / d) * (X - 1 / n) + (ESS - 2 / n) / d)
    assert sp.simplify(q_s - (p + gap * (Y2 + (ES2 - Y2) / d))) == 0
    assert sp.simplify(p_s - (p + gap * (X + (ESS - 2 * X) / d))) == 0
    print("  [proved] the projection step with n keys: q_S, p_S forms independent of n")


def step2_centring(tt: int = 5) -> None:
    """For a generic symmetric Gram M (tt x tt) of the attention rows, the centred Gram
    G = (I - J/T) M (I - J/T) has mean diagonal (1 - 1/T)(mean diag - mean off-diagonal) and sum 0."""
    m = sp.Matrix(tt, tt, lambda i, j: sp.Symbol(f"M{min(i, j)}{max(i, j)}"))
    c = sp.eye(tt) - sp.ones(tt, tt) / tt
    g = c * m * c
    diag = sum(m[i, i] for i in range(tt)) / tt
    off = sum(m[i, j] for i in range(tt) for j in range(tt) if i != j) / (tt * (tt - 1))
    assert sp.expand(g.trace() / tt - (1 - sp.Rational(1, tt)) * (diag - off)) == 0
    assert sp.expand(sum(g)) == 0
    # hence the mean off-diagonal entry is -(mean diagonal)/(T - 1)
    g_off = sum(g[i, j] for i in range(tt) for j in range(tt) if i != j) / (tt * (tt - 1))
    assert sp.expand(g_off + g.trace() / tt / (tt - 1)) == 0
    # the layer: q' and p' with the width-corrected moments (Y2 -> Y2_eff, X -> X_eff)
    out = Attention(finite_t=True, gain_control=True).output(State(q, p), Y2, X)
    prove_equal("gain control q' = sigma_v2 (q - p)(1 - 1/T)(Y2_eff - X_eff)", out.q,
                sigma_v2 * (q - p) * (1 - 1 / T) * (Y2 - X))
    prove_equal("gain control p' = -q'/(T - 1)", out.p, -out.q / (T - 1))
    print(f"  [proved] centring identities (T = {tt}); no sigma_b2 (the bias cancels): "
          f"{sigma_b2 not in out.q.free_symbols}")


def _pattern(i: tuple[int, int], j: tuple[int, int]) -> str:
    """The covariance class of entries X_i, X_j of an exchangeable overlap array (X_tt = Y2_t)."""
    (a, b), (c, e) = i, j
    if a == b and c == e:
        return "V1" if a == c else "C2"
    if a == b or c == e:  # one diagonal entry Y2_t with one overlap X_uv
        t, uv = (a, {c, e}) if a == b else (c, {a, b})
        return "E2" if t in uv else "K3a"
    shared = len({a, b} & {c, e})
    return {2: "W2", 1: "K3b", 0: "K4"}[shared]


def step3_enumeration(tt: int) -> None:
    """Var G_aa, Cov(G_aa, G_bb), Cov(G_ab, G_aa) by summing the pattern covariances over every pair of
    index pairs, against the library's quadratic forms at T = tt."""
    sym = dict(zip(gc.PATTERNS, sp.symbols(gc.PATTERNS, real=True)))
    idx = list(itertools.product(range(tt), repeat=2))

    def coef(u: int, v: int) -> dict:
        """G_uv / w as coefficients on X_ij: X_uv - Xbar_u - Xbar_v + Xbarbar."""
        out = {}
        for i, j in idx:
            out[(i, j)] = int((i, j) == (u, v)) - sp.Rational(int(i == u) + int(i == v), tt) + sp.Rational(1, tt * tt)
        return out

    def cov(f: dict, g: dict) -> sp.Expr:
        return sp.expand(sum(cf * cg * sym[_pattern(i, j)] for i, cf in f.items() if cf for j, cg in g.items() if cg))

    g_aa, g_bb, g_ab = coef(0, 0), coef(1, 1), coef(0, 1)
    enum = (cov(g_aa, g_aa), cov(g_aa, g_bb), cov(g_ab, g_aa))
    lib = gc.gain_control_branch_cov(sp.Integer(tt), 1, **{k: v for k, v in sym.items()})
    for name, a, b in zip(("Var G_aa", "Cov(G_aa, G_bb)", "Cov(G_ab, G_aa)"), enum, lib):
        assert sp.expand(a - b) == 0, (name, tt, sp.expand(a - b))
    print(f"  [proved] centred branch covariance by enumeration at T = {tt}")


def step4_closure() -> None:
    """The closure of the three- and four-row covariances is exact at rho = 0 (C2 = E2 = 0: every K
    vanishes) and for identical rows (all seven equal: the centred Gram does not fluctuate)."""
    v1, c2, e2, w2, eps, a, b = sp.symbols("V1 C2 E2 W2 epsilon a b", positive=True)
    assert all(sp.simplify(x) == 0 for x in gc.three_row_closure(v1, 0, 0).values())
    close = gc.three_row_closure(c2 + eps * b, c2, c2 + eps * a)
    assert all(sp.limit(x, eps, 0) == c2 for x in close.values())
    same = gc.gain_control_branch_cov(T, 1, **{k: c2 for k in gc.PATTERNS})
    assert all(sp.simplify(x) == 0 for x in same)
    print("  [proved] closure exact at rho = 0 and for identical rows (G = 0)")


def main() -> None:
    print("Gain-controlled and causal attention at finite width (docs/finite_width.md §9)")
    step1_causal_projection()
    step2_centring()
    for tt in (5, 6, 7):
        step3_enumeration(tt)
    step4_closure()
    sym = dict(zip(gc.PATTERNS, sp.symbols(gc.PATTERNS, real=True)))
    v, c, e = (sp.collect(sp.factor_terms(x), list(sym.values())) for x in gc.gain_control_branch_cov(T, 1, **sym))
    write_latex([
        ("gain control at finite width", r"q'=\sigma_v^2(q-p)\Big(1-\frac1T\Big)(Y_{2,\rm eff}-X_{\rm eff}),\quad p'=-\frac{q'}{T-1}"),
        ("Var G_aa / w^2", v), ("Cov(G_aa, G_bb) / w^2", c), ("Cov(G_ab, G_aa) / w^2", e),
    ])


if __name__ == "__main__":
    main()
