"""Every exported formula parses back (SymPy's LaTeX parser) to the library expression,
and the document compiles with pdflatex."""
from __future__ import annotations

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
