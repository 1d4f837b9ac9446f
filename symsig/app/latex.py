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
from ..theory import activations, rem
from ..theory.conditions import DEPTH, EPS
from ..theory.layers import Attention, LayerNorm, Residual, State, symbolic_state
from ..theory.symbols import LATEX_NAMES, alpha_mlp, alpha_sa, beta, c, m, p, q, sigma_b2, sigma_v2, sigma_w2, v

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
    names = LATEX_NAMES | {_BETA_C: _BETA_C_TEX}
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
    out.extend(_extra_formulas())
    return tuple(out)


def _extra_formulas() -> list[Formula]:
    """Formulas contributed by optional modules (critical conditions, gradients)."""
    extra: list[Formula] = []
    for module_name in ("conditions", "gradients"):
        try:
            module = __import__(f"symsig.{module_name}", fromlist=["latex_formulas"])
        except ImportError:
            continue
        for section, label, lhs, expr, source in getattr(module, "latex_formulas", lambda: [])():
            extra.append(Formula(section, label, lhs, expr, source))
    return extra


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
}
_SQUARED = {"sigma_{w}": sigma_w2, "sigma_{v}": sigma_v2, "sigma_{b}": sigma_b2}


def parse_back(tex: str) -> sp.Expr:
    """Parse a formula's right-hand side with SymPy's LaTeX parser into library symbols."""
    from sympy.parsing.latex import parse_latex

    expr = parse_latex(tex)
    subs: dict[sp.Basic, sp.Basic] = {}
    for s in expr.free_symbols:
        name = s.name
        if name in _PARSED_NAMES:
            subs[s] = _PARSED_NAMES[name]
        elif name.startswith("alpha_"):
            subs[s] = alpha_sa if set(name[7:-1].replace("*", "")) == set("SA") else alpha_mlp
        elif name in _SQUARED:
            subs[s ** 2] = _SQUARED[name]
    expr = expr.subs({k: v for k, v in subs.items() if k.is_Pow})
    return expr.xreplace({k: v for k, v in subs.items() if not k.is_Pow})
