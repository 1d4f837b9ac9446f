"""``symsig latex``: every layer map, block and derived condition as LaTeX.

Formulas are printed from the library's own SymPy expressions, in the paper's
forms: beta_c = sqrt(2/(q(q-p))) as one root (not a product of roots), inverse
trigonometric functions spelled out (\\arccos), the paper's symbols
(\\sigma_w^2, \\alpha_{SA}, ...). Piecewise expressions become ``cases``. The
tests parse every formula back with SymPy's LaTeX parser and prove it equal to
the library expression (:func:`parse_back`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sympy as sp

from ..core import validate
from ..theory import activations, gradient, rem, special
from ..theory import finite_width as fw
from ..theory import scatter as scatter_symbols
from ..theory.conditions import DEPTH, EPS
from ..theory.layers import Attention, LayerNorm, Residual, State, symbolic_state
from ..theory.symbols import LATEX_NAMES, T, alpha_mlp, alpha_sa, beta, c, d, m, p, q, sigma_b2, sigma_v2, sigma_w2, v

_rho = sp.Symbol("rho", real=True)
_y2, _x = sp.Symbol("Y_2", nonnegative=True), sp.Symbol("X", real=True)
_alpha = sp.Symbol("alpha", nonnegative=True)
_t = sp.Symbol("T", positive=True)


@dataclass(frozen=True)
class Formula:
    """One displayed equation: ``lhs = expr``, with where it comes from."""

    section: str
    label: str
    lhs: str
    expr: sp.Expr
    source: str

    def tex(self) -> str:
        return f"{self.lhs} = {to_latex(self.expr)}"


_BETA_C = sp.Symbol("beta_c_one_root", positive=True)
_BETA_C_TEX = r"\sqrt{\frac{2}{q \cdot \left(q - p\right)}}"


def to_latex(expr: sp.Expr) -> str:
    r"""LaTeX in the paper's form (see module docstring).

    beta_c = sqrt(2)/(sqrt(q) sqrt(q - p)) is printed as one root; products use
    \cdot so that no product can be read back as a function application.
    """
    names = symbol_names() | {_BETA_C: _BETA_C_TEX}
    return sp.latex(
        expr.subs(rem.beta_c(), _BETA_C), symbol_names=names, inv_trig_style="full", order="none", mul_symbol="dot"
    )


def _state(layer: Callable[[State], State]) -> State:
    return layer(symbolic_state())


@cache
def formulas() -> tuple[Formula, ...]:
    """All formulas of the library, in document order."""
    from ..theory.blocks import block_map

    out: list[Formula] = []
    add = lambda *a: out.append(Formula(*a))
    # REM
    add("REM", "free-energy", r"\phi(\beta)", rem.free_energy(), "docs/theory.md §3.2; rem.free_energy")
    add("REM", "beta-c", r"\beta_c", rem.beta_c(), "docs/theory.md §3.3; rem.beta_c")
    add("REM", "parisi-m", "m", rem.parisi_m(), "docs/theory.md §3.4; rem.parisi_m")
    add("REM", "y2-pd", r"\mathbb{E}[Y_2]", rem.y_moment_pd(2), "Poisson-Dirichlet; rem.y_moment_pd(2)")
    add("REM", "y3-pd", r"\mathbb{E}[Y_3]", rem.y_moment_pd(3), "Poisson-Dirichlet; rem.y_moment_pd(3)")
    add("REM", "y2sq-pd", r"\mathbb{E}[Y_2^2]", rem.y2_squared_pd(), "Poisson-Dirichlet; rem.y2_squared_pd")
    add("REM", "rho-c", r"\rho_c", rem.rho_c(), "rem.rho_c")
    # layer maps, with the IPR and the overlap as symbols Y_2, X
    attn = Attention()
    a = _state(attn)
    add("Layer maps", "attn-q", "q_S", a.q.subs(a.observable("Y2"), _y2), "Result 1; layers.Attention")
    add("Layer maps", "attn-p", "p_S", a.p, "Result 1 (T -> infinity); layers.Attention")
    fin = Attention(finite_t=True)
    y2f, xf = fin.moments(symbolic_state())
    f = _state(fin)
    add("Layer maps", "attn-p-finite", r"p_S^{(T)}", f.p.subs(xf, _x), "finite T; layers.Attention(finite_t=True)")
    gc = _state(Attention(gain_control=True))
    add("Layer maps", "gc-q", r"q_S^{\mathrm{GC}}", gc.q.subs(gc.observable("Y2"), _y2), "gain control; layers.Attention")
    gcf = _state(Attention(gain_control=True, finite_t=True, seq_len=_t))
    y2g, xg = Attention(finite_t=True, seq_len=_t).moments(symbolic_state())
    add("Layer maps", "gc-q-finite", r"q_S^{\mathrm{GC},(T)}", gcf.q.subs({y2g: _y2, xg: _x}), "exact finite T")
    add("Layer maps", "gc-p-finite", r"p_S^{\mathrm{GC},(T)}", gcf.p.subs({y2g: _y2, xg: _x}), "exact finite T")
    res = _state(Residual(_alpha, lambda s: State(sp.Symbol("q_b"), sp.Symbol("p_b"))))
    add("Layer maps", "residual-q", "q'", res.q, "layers.Residual")
    add("Layer maps", "layernorm-p", "p'", _state(LayerNorm()).p, "layers.LayerNorm")
    relu = activations.relu()
    add("Layer maps", "relu-kernel", r"K^{\mathrm{ReLU}}_{qp}", relu.k_qp, "arc-cosine kernel; activations.relu")
    add("Layer maps", "erf-kernel", r"K^{\mathrm{erf}}_{qp}", activations.erf().k_qp, "activations.erf")
    # blocks
    bm = block_map("post-ln", "relu")
    rho_map = bm.rho_map().subs(bm.y2.subs({q: 1, p: _rho}), _y2)
    add("Blocks", "post-ln-rho", r"\rho'_{\mathrm{post\text{-}LN}}", rho_map, "blocks.block_map('post-ln', 'relu')")
    # closed forms printed beside the exact boundary curves (symsig boundary; docs/theory.md §7.3, §8.3)
    from ..analysis.boundary import closed_forms

    for label, lhs, expr, meaning in closed_forms("relu"):
        if label != "beta-c0":  # beta_c is the REM formula above
            add("Boundaries", f"boundary-{label}", lhs, expr, f"{meaning}; analysis.boundary.closed_forms")
    out += _gradient_formulas() + _condition_formulas() + _finite_width_formulas() + _decoder_formulas()
    out += _scatter_formulas()
    return tuple(out)


# ----------------------------------------------------------------- moments as symbols
# The finite-T and finite-width formulas are built from declared functions of the logit variance
# (symsig.theory.special); the document shows each moment as one symbol, spelled as below.
_MOMENTS: dict[type, tuple[sp.Symbol, str]] = {
    special.rem_y2: (gradient.Y2, ""),
    special.rem_y3: (gradient.Y3, ""),
    special.rem_y2sq: (gradient.Y2SQ, r"\mathbb{E}[Y_2^2]"),
    special.rem_x: (_x, ""),
    special.rem_a2a: (sp.Symbol("EA2A"), r"\mathbb{E}[\sum_s A_s^2 A'_s]"),
    special.rem_xx: (sp.Symbol("EXX"), r"\mathbb{E}[X^2]"),
    special.rem_y2x: (sp.Symbol("EY2X"), r"\mathbb{E}[Y_2 X]"),
    special.rem_y2y2: (sp.Symbol("EY2Y2"), r"\mathbb{E}[Y_2 Y_2']"),
    special.rem_a3a: (sp.Symbol("EA3A"), r"\mathbb{E}[\sum_s A_s^3 A'_s]"),
    special.rem_a2a2: (sp.Symbol("EA2A2"), r"\mathbb{E}[\sum_s A_s^2 (A'_s)^2]"),
    special.rem_a2e2: (sp.Symbol("EA2E2"), r"\mathbb{E}[\sum_s A_s^2\varepsilon_s^2]"),
    special.rem_g: (sp.Symbol("G"), ""),
    special.rem_y2_kurt: (sp.Symbol("K4"), "K_4"),
    special.rem_y2_smeared: (sp.Symbol("Y2d"), r"\langle Y_2\rangle_d"),
    special.rem_y3_smeared: (sp.Symbol("Y3d"), r"\langle Y_3\rangle_d"),
    special.rem_y2sq_smeared: (sp.Symbol("Y2SQd"), r"\langle Y_2^2\rangle_d"),
    special.rem_x_smeared: (sp.Symbol("Xd"), r"\langle X\rangle_d"),
}
# symbols whose spelling SymPy's LaTeX parser cannot read (parse_back swaps them for placeholders)
_TOKENS: dict[sp.Symbol, str] = {s: tex for s, tex in _MOMENTS.values() if tex} | {
    fw.s2: "s^2", fw.cov_v: r"\mathrm{Var}\,N_a", fw.cov_c: r"\mathrm{Cov}(N_a,N_b)",
    fw.cov_e: r"\mathrm{Cov}(P,N_a)", fw.shift_n: r"\delta N", fw.shift_p: r"\delta P",
}
#: A LayerNorm reading a normalised skip alpha^2 (1, rho_x) plus a branch (k_q, k_p) (docs/finite_width.md §8.1).
_SKIP_BRANCH = sp.symbols("alpha2 rho_x k_q k_p", positive=True)
_TOKENS |= dict(zip(_SKIP_BRANCH, (r"\alpha^2", r"\rho_x", "k_q", "k_p")))
#: The decoder's cross-position Gram (docs/theory.md §6.4): key means, nested overlap, a pair's norms.
_CROSS = sp.symbols("pbar_t Pbar_su X_su Q_s Q_u P_su", real=True)
_TOKENS |= dict(zip(_CROSS, (r"\bar{p}_t", r"\bar{P}_{s,u}", r"X_{s,u}", r"Q_s", r"Q_u", r"P_{s,u}")))
#: The networks' scatter (docs/finite_width.md §11): the read-outs' Gram parts, the mean and covariance of (q, p).
_TOKENS |= scatter_symbols.SYMBOLS


#: Text printed under a section heading: what its symbols mean.
_SECTION_NOTES = {
    "Finite width": (
        "First order in $1/d$ at exact finite $T$ (symsig's \\texttt{docs/finite\\_width.md}). $s^2=\\beta^2\\log T\\,q(q-p)$ is the "
        "logit variance and $r=p/q$ the logit correlation of two rows. $Y_2$, $Y_3$, $X$ and the "
        "$\\mathbb{E}[\\cdot]$ are the exact finite-$T$ moments of one row, or of two rows ($A'$, $Y_2'$), at "
        "$(s^2,r)$; $\\langle\\cdot\\rangle_d$ averages a moment over the $O(d^{-1/2})$ fluctuation of the "
        "logit covariance, $G=\\mathbb{E}\\sum_s A_s^2(\\varepsilon_s-S)^2$ and $K_4=-\\tfrac14\\mathbb{E}[Y_2\\sum_s\\mathrm{He}_4(\\varepsilon_s)]$. The LayerNorm formulas: a pair "
        "$(N_a,N_b,P)$ of centred Gram entries around $(Q,Q,R)$; $v_b,c_b,e_b$ are the $O(1)$ covariances "
        "of an attention output's Gram over its logits."),
    "Decoders": (
        "The decoder's tokens carry a Gram matrix over positions: norms $Q_t$ and overlaps $P_{s,u}$ of distinct "
        "tokens (symsig's \\texttt{docs/theory.md}, section 6.4). A query at position $t$ sees the keys $1,\\dots,t$, whose "
        "mean pair overlap is $\\bar{p}_t$; two queries $s\\le u$ see keys $v\\le s$, $w\\le u$, $v\\ne w$ of mean "
        "overlap $\\bar{P}_{s,u}$. $Y_2$ is the finite-$T$ IPR with $t$ keys at $\\bar{p}_t$, and "
        "$X_{s,u}=\\mathbb{E}\\sum_{v\\le s}A_{sv}A_{uv}$ the overlap of two causal rows of $s$ and $u$ keys, the first "
        "$s$ shared."),
    "Network scatter": (
        "Over networks, $(q,p)$ after a layer has mean $m$ and covariance $S=O(1/d)$ (symsig's "
        "\\texttt{docs/finite\\_width.md}, section 11): $m'=f(m)+\\tfrac12H_f:S$ and $S'=J_fSJ_f^\\top+I$. "
        "A Gram sampled from $d$ i.i.d. features $\\mathcal{N}(0,K)$ injects $I=2C(K,K)/d$, and a residual "
        "$\\alpha x+f$ adds $4\\alpha^2C(K,G_x)/d$, with $C_{ij}(K,G)=\\mathrm{tr}(A_iKA_jG)$, "
        "$A_q=I/T$, $A_p=(11^\\top-I)/(T(T-1))$, $K=k_0 11^\\top+k_1I$, $G=g_0 11^\\top+g_1I$. The "
        "attention's logits share a scale $\\kappa$ per network."),
}


def symbol_names() -> dict[sp.Symbol, str]:
    """The LaTeX spelling of every symbol the document prints (the paper's, then the moments')."""
    return LATEX_NAMES | _TOKENS


def _with_moment_symbols(expr: sp.Expr) -> sp.Expr:
    """Every moment function in ``expr`` replaced by its symbol (one argument tuple per function), and
    the integer T by the document's T (the parser's)."""
    moments = {f: _MOMENTS[type(f)][0] for f in expr.atoms(sp.Function) if type(f) in _MOMENTS}
    return expr.xreplace(moments).xreplace({T: _t})


def _gradient_formulas() -> list[Formula]:
    """Result 2, corrected (docs/theory.md §9): moments form, Poisson-Dirichlet form, beta -> infinity."""
    lhs = r"\frac{T}{d^2\sqrt{\log T}}\mathbb{E}\|\partial L/\partial W_Q\|_F^2"
    return [
        Formula("Gradient", "grad-wq", lhs, gradient.grad_wq_moments_expr(), "docs/theory.md §9; gradient.grad_wq_moments_expr"),
        Formula("Gradient", "grad-wq-pd", lhs + r"\big|_{T\to\infty}", gradient.grad_wq_pd_expr(), "gradient.grad_wq_pd_expr"),
        Formula("Gradient", "grad-wq-large-beta", lhs + r"\big|_{\beta\to\infty}", gradient.large_beta_limit_expr(),
                "gradient.large_beta_limit_expr"),
    ]


def _condition_formulas() -> list[Formula]:
    """Rank-collapse slope and depth scale of the post-LN ReLU block (docs/theory.md §8)."""
    from ..theory import conditions

    return [
        Formula("Critical conditions", "chi-post-ln", r"\chi_{\mathrm{post\text{-}LN}}", conditions.chi_expr(),
                "slope of the cosine map at rho -> 1; theory.conditions.chi_expr"),
        Formula("Critical conditions", "xi-post-ln", r"\xi_{\mathrm{post\text{-}LN}}", conditions.depth_scale_expr(),
                "depth scale -1/log chi; theory.conditions.depth_scale_expr"),
    ]


def _finite_width_formulas() -> list[Formula]:
    """One attention layer and a LayerNorm at first order in 1/d (docs/finite_width.md)."""
    sec, src = "Finite width", "docs/finite_width.md"
    out = [
        Formula(sec, "fw-dq", "D_q", _with_moment_symbols(fw.delta_q_expr()), f"{src} §1-2; finite_width.delta_q_expr"),
        Formula(sec, "fw-dp", "D_p", _with_moment_symbols(fw.delta_p_expr()), f"{src} §1-2; finite_width.delta_p_expr"),
        Formula(sec, "fw-dq-normalized", r"D_q^{\mathrm{LN}}", _with_moment_symbols(fw.delta_q_expr(T, tokens="normalized")),
                f"{src} §6; finite_width.delta_q_expr(tokens='normalized')"),
        Formula(sec, "fw-dp-normalized", r"D_p^{\mathrm{LN}}", _with_moment_symbols(fw.delta_p_expr(T, tokens="normalized")),
                f"{src} §6; finite_width.delta_p_expr(tokens='normalized')"),
    ]
    q_d, p_d, _ = fw.attention_width_map()
    out += [Formula(sec, "fw-attn-q", "q_S^{(d)}", _with_moment_symbols(q_d), f"{src} §1; finite_width.attention_width_map"),
            Formula(sec, "fw-attn-p", "p_S^{(d)}", _with_moment_symbols(p_d), f"{src} §1; finite_width.attention_width_map")]
    out.append(Formula(sec, "fw-y2-normalized", r"\langle Y_2\rangle_d^{\mathrm{LN}}",
                       _with_moment_symbols(fw.y2_width_expr(tokens="normalized")),
                       f"{src} §6; finite_width.y2_width_expr(tokens='normalized'): the keys' logit law"))
    names = (r"d\,\mathrm{Var}\,C_{11}/s^4", r"d\,\mathrm{Var}\,\bar s^2/s^4", r"d\,\mathrm{Var}\,r_w",
             r"d\,\mathrm{Cov}(\bar s^2,r_w)/s^2")
    for tokens in fw.TOKENS:
        for i, (lhs, expr) in enumerate(zip(names, fw.smearing_covariance(tokens))):
            out.append(Formula(sec, f"fw-smear-{tokens}-{i}", lhs + rf"\ (\text{{{tokens}}})", expr,
                               f"{src} §3; finite_width.smearing_covariance('{tokens}')"))
    out.append(Formula(sec, "fw-grad-wq", r"\frac{T}{d^2\sqrt{\log T}}\mathbb{E}\|\partial L/\partial W_Q\|_F^2",
                       _with_moment_symbols(fw.grad_wq_width_expr()), f"{src} §4; finite_width.grad_wq_width_expr"))
    out.append(Formula(sec, "fw-ln-cos", r"\mathbb{E}\cos", fw.cosine_delta_method(),
                       f"{src} §8.1; finite_width.cosine_delta_method"))
    # a normalised skip alpha^2 (1, rho_x) plus a branch (k_q, k_p): the shift of the cosine times d
    a2, rx, kq, kp = _SKIP_BRANCH
    cos = fw.layernorm_width_cosine(a2 + kq, a2 * rx + kp, a2, a2 * rx, d, "normalized")
    out.append(Formula(sec, "fw-ln-normalized", r"d\,\delta\rho", sp.factor(sp.simplify(d * (cos - (a2 * rx + kp) / (a2 + kq)))),
                       f"{src} §8.1; finite_width.layernorm_width_cosine(..., 'normalized')"))
    for label, lhs, expr in zip(("v", "c", "e"), (r"v_b", r"c_b", r"e_b"), fw.attention_branch_cov()):
        out.append(Formula(sec, f"fw-branch-{label}", lhs, _with_moment_symbols(expr),
                           f"{src} §8.1; finite_width.attention_branch_cov"))
    return out


def _decoder_formulas() -> list[Formula]:
    """The attention and LayerNorm maps on the decoder's cross-position Gram (analysis.positions)."""
    sec, src = "Decoders", "docs/theory.md §6.4; analysis.positions"
    pbar, pbar_su, x_su, q_s, q_u, p_su = _CROSS
    attn = Attention(finite_t=True, n_states=sp.Symbol("n"))
    return [Formula(sec, "cross-q", "Q'_t", attn.output(State(q, pbar), _y2, _x).q, f"{src} (Y_2 with t keys)"),
            Formula(sec, "cross-p", "P'_{s,u}", attn.output(State(q, pbar_su), _y2, x_su).p, src),
            Formula(sec, "cross-layernorm", "P'_{s,u}", LayerNorm()(State(sp.sqrt(q_s * q_u), p_su)).p,
                    f"{src}: layers.LayerNorm at the pair's geometric mean norm")]


def _scatter_formulas() -> list[Formula]:
    """The networks' scatter of (q, p) (docs/finite_width.md §11; theory.scatter)."""
    sec, src = "Network scatter", "docs/finite_width.md §11; theory.scatter"
    c = scatter_symbols.readout_covariance()
    mean, var = scatter_symbols.ratio_moments()
    return [Formula(sec, "scatter-c-qq", "C_{qq}(K,G)", _with_moment_symbols(sp.factor(c[0, 0])), f"{src}.readout_covariance"),
            Formula(sec, "scatter-c-qp", "C_{qp}(K,G)", _with_moment_symbols(sp.factor(c[0, 1])), f"{src}.readout_covariance"),
            Formula(sec, "scatter-c-pp", "C_{pp}(K,G)", _with_moment_symbols(sp.factor(c[1, 1])), f"{src}.readout_covariance"),
            Formula(sec, "scatter-kappa", r"\mathrm{Var}\,\kappa", scatter_symbols.temperature_variance(),
                    f"{src}.temperature_variance"),
            Formula(sec, "scatter-rho-mean", r"\mathbb{E}[p/q]", mean, f"{src}.ratio_moments"),
            Formula(sec, "scatter-rho-var", r"\mathrm{Var}[p/q]", var, f"{src}.ratio_moments")]


def latex(*, out: str | Path | None = None) -> str:
    """``symsig latex``: the LaTeX document of every formula; written to ``out`` (.tex) if given.

    The output path is checked before the document is built, so a bad path writes nothing.
    """
    target = validate.output("out", out, suffixes=(".tex",)) if out is not None else None
    text = document()
    if target is not None:
        target.write_text(text)
    return text


def document() -> str:
    """A standalone LaTeX document (compiles with pdflatex) with every formula."""
    lines = [
        r"\documentclass[10pt]{article}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\usepackage{amsmath,amssymb}",
        r"\allowdisplaybreaks",
        r"\title{symsig: signal propagation at initialisation, the formulas}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        "Generated by \\texttt{symsig latex} from the library's SymPy expressions "
        "(Giorlandino \\& Goldt, arXiv:2505.24333). $Y_2$ and $X$ denote the attention's "
        "inverse participation ratio and two-query overlap.",
    ]
    section = None
    for f in formulas():
        if f.section != section:
            section = f.section
            lines.append(f"\\section*{{{section}}}")
            if section in _SECTION_NOTES:
                lines.append(_SECTION_NOTES[section])
        lines.append(f"% {f.label}: {f.source}")
        body = f.tex()
        env = "multline*" if len(body) > 400 else "equation*"
        lines.append(f"\\begin{{{env}}}\n{body}\n\\end{{{env}}}")
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- round trip

_PARSED_NAMES = {
    "epsilon": EPS, "L": DEPTH,
    "q": q, "p": p, "beta": beta, "m": m, "v": v, "c": c, "rho": _rho, "alpha": _alpha, "T": _t, "X": _x,
    "Y_{2}": _y2, "Y_2": _y2, "q_{b}": sp.Symbol("q_b"), "p_{b}": sp.Symbol("p_b"), "pi": sp.pi,
    "Y_{3}": gradient.Y3, "G": _MOMENTS[special.rem_g][0], "r": fw.r, "d": d, "Q": fw.cos_q, "R": fw.cos_r,
}
_SQUARED = {"sigma_{w}": sigma_w2, "sigma_{v}": sigma_v2, "sigma_{b}": sigma_b2}


def parse_back(tex: str) -> sp.Expr:
    """Parse a formula's right-hand side with SymPy's LaTeX parser into library symbols."""
    from sympy.parsing.latex import parse_latex

    placeholders = {}
    for i, (sym, spelling) in enumerate(sorted(_TOKENS.items(), key=lambda kv: -len(kv[1]))):
        if spelling in tex:
            tex = tex.replace(spelling, f"Z_{{{900 + i}}}")
            placeholders[f"Z_{{{900 + i}}}"] = sym
    expr = parse_latex(tex)
    subs: dict[sp.Basic, sp.Basic] = {}
    for s in expr.free_symbols:
        name = s.name
        if name in placeholders:
            subs[s] = placeholders[name]
        elif name in _PARSED_NAMES:
            subs[s] = _PARSED_NAMES[name]
        elif name.startswith("alpha_"):
            subs[s] = alpha_sa if set(name[7:-1].replace("*", "")) == set("SA") else alpha_mlp
        elif name in _SQUARED:
            subs[s ** 2] = _SQUARED[name]
    expr = expr.subs({k: v for k, v in subs.items() if k.is_Pow})
    return expr.xreplace({k: v for k, v in subs.items() if not k.is_Pow})
