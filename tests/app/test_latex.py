"""Every exported formula parses back (SymPy's LaTeX parser) to the library expression,
and the document compiles with pdflatex."""
from __future__ import annotations

import re
import subprocess

import pytest
import sympy as sp

import importlib

L = importlib.import_module("symsig.app.latex")  # the module (symsig.latex is the API function)
from symsig.app.cli import main
from symsig.theory.symbols import p, q
from tests.helpers import require_tool

GAP = sp.Symbol("gap", positive=True)  # the theory's domain p < q


def _equal(a: sp.Expr, b: sp.Expr) -> bool:
    return sp.simplify((a - b).subs(p, q - GAP)) == 0


def _pieces(expr: sp.Expr) -> list[sp.Basic]:
    """Branch expressions and conditions of every Piecewise, or the expression itself."""
    if not expr.has(sp.Piecewise):
        return [expr]
    pw = next(iter(expr.atoms(sp.Piecewise)))
    outside = expr.subs(pw, sp.Symbol("PIECE"))
    parts = [outside] if outside != sp.Symbol("PIECE") else []
    for branch, cond in pw.args:
        parts.append(branch)
        if cond is not sp.true:
            parts.append(cond.lhs - cond.rhs)
    return parts


@pytest.mark.parametrize("formula", L.formulas(), ids=[f.label for f in L.formulas()])
def test_round_trip(formula: L.Formula) -> None:
    for piece in _pieces(formula.expr):
        back = L.parse_back(L.to_latex(piece))
        assert _equal(back, piece), (formula.label, piece, back)


def test_paper_forms() -> None:
    tex = {f.label: f.tex() for f in L.formulas()}
    assert r"\sqrt{\frac{2}{q \cdot \left(q - p\right)}}" in tex["beta-c"]
    assert r"\arccos" in tex["relu-kernel"] and "acos" not in tex["relu-kernel"]
    assert r"\arcsin" in tex["erf-kernel"]


def test_document_compiles(tmp_path) -> None:
    out = tmp_path / "formulas.tex"
    assert main(["latex", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.count(r"\begin{equation*}") + text.count(r"\begin{multline*}") == len(L.formulas())
    pdflatex = require_tool("pdflatex")
    proc = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", out.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "formulas.pdf").stat().st_size > 1000


def _prose(doc: str) -> str:
    """The document with comments, display and inline maths and \\texttt arguments removed."""
    doc = re.sub(r"(?m)^%.*$", "", doc)
    doc = re.sub(r"\\begin\{(equation|multline)\*\}.*?\\end\{\1\*\}", "", doc, flags=re.S)
    doc = re.sub(r"\$[^$]*\$", "", doc)
    return re.sub(r"\\texttt\{(?:[^{}\\]|\\.)*\}", "", doc)


def test_prose_is_valid_text_mode() -> None:
    """Outside maths, LaTeX's special characters must be escaped (a bare ``_`` in a note once
    stopped pdflatex in CI); this check runs without pdflatex."""
    prose = _prose(L.document())
    assert prose.count("$") == 0
    bad = re.findall(r"(?<!\\)[_^&#%~]", prose)
    assert not bad, (bad, prose)
    assert prose.isascii()


def test_prose_check_has_power() -> None:
    assert re.findall(r"(?<!\\)[_^&#%~]", _prose("see docs/finite_width.md and $a_b$ \\texttt{x\\_y}")) == ["_"]


def test_sections_cover_gradient_conditions_and_finite_width() -> None:
    sections = {f.section for f in L.formulas()}
    assert {"Gradient", "Critical conditions", "Finite width", "Decoders", "Network scatter"} <= sections
    tex = {f.label: f.tex() for f in L.formulas()}
    assert r"\langle Y_2\rangle_d" in tex["fw-attn-q"] and r"\mathbb{E}[Y_2^2]" in tex["fw-dq"]
    assert r"X_{s,u}" in tex["cross-p"] and r"\bar{P}_{s,u}" in tex["cross-p"]
    assert r"\rho^{2}" in tex["scatter-kappa"] and "S_{qp}" in tex["scatter-rho-mean"]


def test_layernorm_width_shift_is_the_documented_closed_form() -> None:
    # docs/finite_width.md §8.1, typed independently of the library's derivation
    a2, rx, kq, kp = L._SKIP_BRANCH
    d_rho = (kp**3 - kp * kq**2 + a2 * (3 * kp**2 * rx - 4 * kp * kq + kq**2 * rx)
             + a2**2 * (2 * kp * rx**2 - 6 * kp + 4 * kq * rx)) / (2 * (a2 + kq) ** 3)
    got = next(f.expr for f in L.formulas() if f.label == "fw-ln-normalized")
    assert sp.simplify(got - d_rho) == 0
    assert sp.simplify(got.subs({kq: 0, kp: 0})) == 0  # no branch: the skip's cosine is kept exactly


def test_dq_reads_back_as_the_library_expression() -> None:
    from symsig.theory import finite_width as fw

    f = next(f for f in L.formulas() if f.label == "fw-dq")
    assert sp.simplify(L.parse_back(L.to_latex(f.expr)) - L._with_moment_symbols(fw.delta_q_expr())) == 0
