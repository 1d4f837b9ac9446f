"""Derivation: the post-LN (BERT) block map on (q, p), and its rho -> 1 edge.

Assumptions (docs/theory.md §5, §6.1): width d -> infinity, then T -> infinity;
weights iid Gaussian (dense sigma_w2/d, value sigma_v2/d, biases sigma_b2);
residual branches independent of the stream at initialisation; LayerNorm without
affine parameters; ReLU MLP of intermediate width d. Block (Algorithm 1):
h1 = alpha_SA x + SA(x); x1 = LN(h1); h2 = alpha_MLP x1 + MLP(x1); x' = LN(h2).

Each step below is written out by hand, independently of ``symsig.layers``, and
the composition is proved equal to the library's ``block_map("post-ln", "relu")``.

Run: python derivations/post_ln_block.py [out.tex]
"""
from __future__ import annotations

import sympy as sp

from _common import prove_equal, prove_equal_at_points, write_latex
from symsig.theory.blocks import block_map
from symsig.theory.symbols import alpha_mlp, alpha_sa, beta, p, q, sigma_b2, sigma_v2, sigma_w2

# Attention (Result 1): y_t = sum_s A_ts W_V x_s + b. E|y_t|^2/d = sigma_v2 sum_{s,s'} A A' Q_ss' + sigma_b2
# with Q_ss' = p + (q - p) delta_ss'; sum_s A_ts = 1 and sum_s A_ts^2 = Y2 give q_S;
# for t != t' the overlap sum_s A_ts A_t's -> 0 as T -> infinity gives p_S.
Y2 = sp.Piecewise((1 - sp.sqrt(2 / (q * (q - p))) / beta, beta**2 * q * (q - p) > 2), (0, True))
q_s = sigma_v2 * (p + (q - p) * Y2) + sigma_b2
p_s = sigma_v2 * p + sigma_b2
# residual, then LayerNorm
q_1, p_1 = q_s + alpha_sa**2 * q, p_s + alpha_sa**2 * p
rho_1 = p_1 / q_1
# MLP on the normalised tokens (q = 1, p = rho_1): dense -> ReLU -> dense
q_a, p_a = sigma_w2 + sigma_b2, sigma_w2 * rho_1 + sigma_b2
c = p_a / q_a
q_r = q_a / 2
p_r = q_a / 2 * (sp.sqrt(1 - c**2) + c * (sp.pi - sp.acos(c))) / sp.pi
q_m, p_m = sigma_w2 * q_r + sigma_b2, sigma_w2 * p_r + sigma_b2
# residual, then LayerNorm
q_2, p_2 = q_m + alpha_mlp**2, p_m + alpha_mlp**2 * rho_1
q_next, p_next = sp.Integer(1), p_2 / q_2

bm = block_map("post-ln", "relu")
prove_equal("q' = 1 (LayerNorm)", q_next, bm.q_next)
R = sp.Rational
points = [  # liquid and frozen attention, weak and strong residuals
    {q: 1, p: R(3, 10), beta: R(1, 2), sigma_w2: R(1, 5), sigma_v2: R(1, 5), sigma_b2: R(1, 2500), alpha_sa: 1, alpha_mlp: 1},
    {q: 1, p: R(3, 10), beta: 3, sigma_w2: R(1, 5), sigma_v2: R(1, 5), sigma_b2: R(1, 2500), alpha_sa: 1, alpha_mlp: 1},
    {q: R(7, 3), p: R(-1, 4), beta: 2, sigma_w2: R(3, 2), sigma_v2: R(1, 3), sigma_b2: R(1, 10), alpha_sa: R(1, 2), alpha_mlp: 2},
    {q: R(1, 2), p: R(1, 2), beta: 5, sigma_w2: 1, sigma_v2: 2, sigma_b2: 0, alpha_sa: 0, alpha_mlp: R(1, 3)},
]
prove_equal_at_points("p' of the post-LN ReLU block", p_next, bm.p_next, points)
assert sp.simplify(Y2.args[0][1].lhs - bm.y2.args[0][1].lhs) == 0 and Y2.args[0][1].rhs == bm.y2.args[0][1].rhs
prove_equal("Y2 frozen branch", Y2.args[0][0], bm.y2.args[0][0])
print("  [proved] switch condition beta^2 q (q - p) > 2")

# The rho -> 1 edge: rho = 1 is a fixed point (identical tokens stay identical).
rho = sp.Symbol("rho", real=True)
rho_map = bm.rho_map()
# Near rho = 1 the attention is liquid (beta^2 (1 - rho) <= 2), so Y2 = 0 on a whole
# neighbourhood and the map is continuous there: substituting rho = 1 is the limit.
at_one = rho_map.subs(rho, 1)
assert sp.simplify(at_one - 1) == 0
print("  [proved] rho = 1 is a fixed point of the post-LN block")

if __name__ == "__main__":
    write_latex(
        [
            ("attention q", sp.Eq(sp.Symbol("q_S"), q_s)),
            ("attention p", sp.Eq(sp.Symbol("p_S"), p_s)),
            ("post-LN block rho map", sp.Eq(sp.Symbol(r"\rho'"), rho_map)),
        ]
    )
