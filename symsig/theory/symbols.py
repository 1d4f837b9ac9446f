"""The canonical symbols of symsig, with their assumptions.

Every symbolic expression in the library is written in these symbols, so that
maps compose by substitution and lambdified evaluators share one argument order.

=============  ==========================================================
symbol         meaning
=============  ==========================================================
``q``          squared norm per feature, mean_t |x_t|^2 / d   (q > 0)
``p``          overlap per feature, mean_{t!=s} x_t.x_s / d  (real)
``rho``        cosine similarity p / q                        (real)
``beta``       inverse temperature of the attention            (> 0)
``sigma_w2``   variance (times d) of dense/MLP weights         (>= 0)
``sigma_v2``   variance (times d) of the value weights         (>= 0)
``sigma_b2``   bias variance                                   (>= 0)
``alpha_sa``   residual strength around self-attention         (>= 0)
``alpha_mlp``  residual strength around the MLP                (>= 0)
``T``          sequence length                                 (int >= 2)
``n``          keys a query attends to (causal: its position)  (int >= 1)
``e``          REM energy density                              (real)
``v``          REM energy variance per log T, q (q - p)        (> 0)
``m``          Parisi parameter, in (0, 1]                     (> 0)
``c``          correlation of two pre-activations              (real)
``d``          width (features per token), finite-width theory (int >= 1)
=============  ==========================================================
"""
from __future__ import annotations

import sympy as sp

q = sp.Symbol("q", positive=True)
p = sp.Symbol("p", real=True)
rho = sp.Symbol("rho", real=True)
beta = sp.Symbol("beta", positive=True)
sigma_w2 = sp.Symbol("sigma_w2", nonnegative=True)
sigma_v2 = sp.Symbol("sigma_v2", nonnegative=True)
sigma_b2 = sp.Symbol("sigma_b2", nonnegative=True)
alpha_sa = sp.Symbol("alpha_SA", nonnegative=True)
alpha_mlp = sp.Symbol("alpha_MLP", nonnegative=True)
T = sp.Symbol("T", integer=True, positive=True)
n = sp.Symbol("n", integer=True, positive=True)
e = sp.Symbol("e", real=True)
v = sp.Symbol("v", positive=True)
m = sp.Symbol("m", positive=True)
c = sp.Symbol("c", real=True)
d = sp.Symbol("d", integer=True, positive=True)

#: Architecture parameters, in the argument order of every compiled evaluator.
PARAMS: tuple[sp.Symbol, ...] = (beta, sigma_w2, sigma_v2, sigma_b2, alpha_sa, alpha_mlp, T)

#: LaTeX spellings in the paper's notation (``sympy.latex(..., symbol_names=LATEX_NAMES)``).
LATEX_NAMES: dict[sp.Symbol, str] = {
    sigma_w2: r"\sigma_w^2",
    sigma_v2: r"\sigma_v^2",
    sigma_b2: r"\sigma_b^2",
    alpha_sa: r"\alpha_{SA}",
    alpha_mlp: r"\alpha_{MLP}",
}


def latex(expr: sp.Basic) -> str:
    """LaTeX of ``expr`` in the paper's symbols."""
    return sp.latex(expr, symbol_names=LATEX_NAMES)
