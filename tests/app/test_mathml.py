"""MathML of the library's formulas (symsig.app.mathml) and the report's formula section."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import sympy as sp

from symsig.app.latex import formulas
from symsig.app.mathml import equation, tex_element, to_mathml
from symsig.theory import rem, special
from symsig.theory.symbols import LATEX_NAMES, alpha_sa, beta, p, q, sigma_w2

M = "{http://www.w3.org/1998/Math/MathML}"


def parse(fragment: str) -> ET.Element:
    """Parse a MathML fragment (must be well-formed XML: numeric references only)."""
    return ET.fromstring(f"<math xmlns='http://www.w3.org/1998/Math/MathML'>{fragment}</math>")


def text(el: ET.Element) -> str:
    return "".join(el.itertext())


def test_piecewise_prints_as_cases() -> None:
    x = sp.Symbol("x", real=True)
    el = parse(to_mathml(sp.Piecewise((x**2, x < 1), (sp.sin(x), x < 2), (0, True))))
    assert "piecewise" not in text(el).lower()
    row = el[0]
    assert row.tag == M + "mrow" and row[0].tag == M + "mo" and row[0].text == "{"
    table = row[1]
    assert table.tag == M + "mtable" and len(table) == 3 and all(len(tr) == 2 for tr in table)
    assert text(table[0][1]).startswith("if") and "<" in text(table[0][1])
    assert text(table[2][1]) == "otherwise"
    assert "sin" in text(table[1][0])


def test_every_formula_is_well_formed_and_in_the_paper_form() -> None:
    for f in formulas():
        el = ET.fromstring(equation(f.lhs, f.expr, f.tex()))
        assert el.tag == M + "math"
        body = text(el.find(M + "semantics")[0])
        assert "piecewise" not in body.lower() and "True" not in body, f.label
        assert el.find(f"{M}semantics/{M}annotation").text == f.tex()
        assert all(t.text != f.lhs for t in el.iter(M + "mtext")), f.label  # the lhs was read, not shown raw


def test_symbols_print_as_in_the_paper() -> None:
    # sigma_w^2 as sigma with subscript w and superscript 2, from its LaTeX spelling; Greek as Greek
    el = parse(to_mathml(sigma_w2 + alpha_sa * beta))
    sub = next(el.iter(M + "msubsup"))
    assert [text(c) for c in sub] == ["\u03c3", "w", "2"]
    assert "\u03b2" in text(el) and "\u03b1" in text(el) and "sigma" not in text(el)
    # a power of sigma_w^2 is parenthesised
    assert "(" in text(parse(to_mathml(sigma_w2**2)))
    # beta_c as one root of 2/(q (q - p)), not sqrt(2)/(sqrt(q) sqrt(q - p))
    roots = list(parse(to_mathml(rem.beta_c())).iter(M + "msqrt"))
    assert len(roots) == 1 and list(roots[0].iter(M + "mfrac"))
    from xml.dom.minidom import Document

    from symsig.app.latex import symbol_names

    for spelling in symbol_names().values():  # every printed symbol is read (none falls back to text)
        assert ET.fromstring(tex_element(Document(), spelling).toxml()).tag != "mtext", spelling


def test_declared_functions_keep_their_names() -> None:
    k_qq, k_qp = special.kernel_functions("gelu", derivative=True)
    body = text(parse(to_mathml(special.finite_t_y2() + k_qp(q, p) + sp.diff(k_qq(q), q))))
    for name in ("rem_y2", "K_qp_gelu", "dK_qq_gelu"):
        assert name in body
    assert "\u2061" in body  # function application, so that "p arccos" is not read "parccos"


@pytest.mark.parametrize("lhs, expected", [
    (r"\mathbb{E}[Y_2^2]", "\U0001d53c[Y22]"), (r"\rho'_{\mathrm{post\text{-}LN}}", "\u03c1post-LN\u2032"),
    (r"K^{\mathrm{ReLU}}_{qp}", "KqpReLU"), (r"L_{\max}", "Lmax"), (r"q_S^{\mathrm{GC},(T)}", "qSGC,(T)"),
    (r"\langle Y_2\rangle_d", "\u27e8Y2\u27e9d"), (r"d\,\mathrm{Var}\,C_{11}/s^4", "dVarC11/s4"),
    (r"\frac{T}{d^2\sqrt{\log T}}\|\partial L\|_F^2", "Td2logT\u2016\u2202L\u2016F2"), (r"\bar s^2", "s\u00af2"),
    (r"x\big|_{\beta\to\infty}", "x|\u03b2\u2192\u221e"),
])
def test_tex_subset(lhs: str, expected: str) -> None:
    from xml.dom.minidom import Document

    assert text(ET.fromstring(tex_element(Document(), lhs).toxml())) == expected


@pytest.mark.parametrize("bad", [r"\int_0^1", r"\frac{1}", "{a", "a_", "a__b", "", "#"])
def test_tex_subset_rejects_what_it_cannot_read(bad: str) -> None:
    from xml.dom.minidom import Document

    with pytest.raises(ValueError):
        tex_element(Document(), bad)
    # an equation with such a left-hand side still renders (the lhs as text)
    assert ET.fromstring(equation(bad, q, "x"))
