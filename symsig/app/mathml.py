"""Presentation MathML of the library's formulas, for the HTML report (no JavaScript, no network).

SymPy's presentation printer with the paper's conventions, as in :mod:`symsig.app.latex`:

* ``Piecewise`` as a brace with cases (SymPy prints ``piecewise((e, c), ...)`` as text):
  ``<mrow><mo>{</mo><mtable>`` one row per piece, ``value  if condition`` / ``otherwise``;
* the paper's symbols (sigma_w^2, alpha_SA, ...) from their LaTeX spellings
  and of the moments (:func:`symsig.app.latex.symbol_names`, read by :func:`tex_element`);
* beta_c = sqrt(2/(q(q - p))) as one root, derived from :func:`symsig.theory.rem.beta_c`;
* sums in the order SymPy stores them (``order="none"``, as the LaTeX printer);
* declared functions without closed form (:mod:`symsig.theory.special`) under their names.

The output is well-formed XML: named entities become numeric references and ``<``, ``>``
in text are escaped, so every ``<math>`` element parses with an XML parser.
"""
from __future__ import annotations

import html
import re
from html.entities import html5
from functools import cache
from typing import Any

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.mathml import MathMLPresentationPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pretty.pretty_symbology import greek_unicode

from ..theory import rem

#: Left-aligned table cells (``columnalign`` for MathML 3 renderers, CSS for MathML Core ones).
LEFT = {"columnalign": "left", "style": "text-align:left"}
#: Stands for beta_c in a printed expression (printed as one root, like symsig.app.latex).
ONE_ROOT_BETA_C = sp.Symbol("beta_c_one_root", positive=True)


class PaperMathML(MathMLPresentationPrinter):
    """SymPy's presentation printer with cases, the paper's symbols and well-formed text."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__({"order": "none", "inv_trig_style": "full"} | (settings or {}))
        raw = self.dom.createTextNode  # SymPy's raw text node (keeps its &entities;)
        self.dom.createTextNode = lambda data: raw(str(data).replace("<", "&lt;").replace(">", "&gt;"))

    def _element(self, tag: str, *children: Any, text: str | None = None, **attrs: str) -> Any:
        el = self.dom.createElement(tag)
        for key, value in attrs.items():
            el.setAttribute(key, value)
        if text is not None:
            el.appendChild(self.dom.createTextNode(text))
        for child in children:
            el.appendChild(child)
        return el

    def _print_Piecewise(self, expr: sp.Piecewise) -> Any:
        rows = []
        for value, cond in expr.args:
            if cond is sp.true:
                where = self._element("mtext", text="otherwise")
            else:
                where = self._element("mrow", self._element("mtext", text="if\u00a0"), self._print(cond))
            rows.append(self._element("mtr", self._element("mtd", self._print(value), **LEFT),
                                      self._element("mtd", where, **LEFT)))
        table = self._element("mtable", *rows, columnspacing="1em")
        return self._element("mrow", self._element("mo", text="{", stretchy="true"), table)

    def _print_Symbol(self, sym: sp.Symbol, style: str = "plain") -> Any:
        if sym == ONE_ROOT_BETA_C:
            return self._element("msqrt", self._print(beta_c_squared()))
        names = _symbol_names()
        if sym in names:
            return tex_element(self.dom, names[sym])
        return super()._print_Symbol(sym, style)

    def _print_Function(self, expr: Any) -> Any:
        # declared functions (symsig.theory.special, user kernels) and undefined ones keep their
        # names as written (SymPy lower-cases class names: K_qp_relu would print as k_qp_relu)
        if hasattr(type(expr), "symsig_kind") or isinstance(expr, AppliedUndef):
            name = self._element("mi", text=type(expr).__name__)
            return self._spaced(self._element("mrow", name, self._paren_comma_separated(*expr.args)))
        return self._spaced(super()._print_Function(expr))

    def _spaced(self, row: Any) -> Any:
        """A function application with a thin space before its name and U+2061 after it, so that
        ``p arccos(x)`` does not print as ``parccos(x)`` (MathML Core adds no space around ``mi``)."""
        row.insertBefore(self._element("mspace", width="0.1667em"), row.firstChild)
        row.insertBefore(self._element("mo", text="\u2061"), row.childNodes[2])
        return row

    def parenthesize(self, item: Any, level: int, strict: bool = False) -> Any:
        # sigma_w^2 raised to a power is (sigma_w^2)^k, as in the LaTeX
        names = _symbol_names()
        if level == PRECEDENCE["Pow"] and item in names and "^" in names[item]:
            return self._element("mrow", self._l_paren(), self._print(item), self._r_paren())
        return super().parenthesize(item, level, strict)

    def _print_UnevaluatedExpr(self, expr: sp.UnevaluatedExpr) -> Any:
        return self._print(expr.args[0])

    def _print_BooleanTrue(self, expr: Any) -> Any:
        return self._element("mi", text="true", mathvariant="normal")

    def _print_BooleanFalse(self, expr: Any) -> Any:
        return self._element("mi", text="false", mathvariant="normal")


@cache
@cache
def _symbol_names() -> dict[sp.Symbol, str]:
    """The LaTeX spellings of symsig.app.latex (imported late: that module builds every formula)."""
    from .latex import symbol_names

    return symbol_names()


def beta_c_squared() -> sp.Expr:
    """2/(q (q - p)): the square of :func:`symsig.theory.rem.beta_c` (one definition)."""
    return rem.beta_c() ** 2


def paper_form(expr: sp.Expr) -> sp.Expr:
    """``expr`` with beta_c(q, p) replaced by its one-root placeholder."""
    return expr.subs(rem.beta_c(), ONE_ROOT_BETA_C)


_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")


def _numeric_entities(text: str) -> str:
    """Named character references (``&pi;``, ``&InvisibleTimes;``) as numeric ones (valid XML)."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in ("lt", "gt", "amp", "quot", "apos"):
            return match.group(0)
        chars = html5.get(name + ";")
        if chars is None:
            raise ValueError(f"unknown character reference &{name}; in MathML")
        return "".join(f"&#x{ord(ch):X};" for ch in chars)

    return _ENTITY.sub(repl, text)


def to_mathml(expr: sp.Expr) -> str:
    """Presentation MathML (an ``<mrow>``-like fragment, no ``<math>``) of ``expr`` in the paper's form."""
    printer = PaperMathML()
    # the minus sign, not the hyphen SymPy writes (MathML Core renders the character as given)
    text = _numeric_entities(printer._print(paper_form(expr)).toxml())
    return text.replace("<mo>-</mo>", "<mo>&#x2212;</mo>").replace("<mn>-", "<mn>&#x2212;")


def equation(lhs_tex: str, expr: sp.Expr, tex: str, *, display: bool = True) -> str:
    """``<math>`` element of ``lhs = expr``; ``lhs_tex`` is LaTeX (see :func:`tex_element`), ``tex``
    the LaTeX of the whole equation, kept as the standard annotation (copy-paste, screen readers)."""
    printer = PaperMathML()
    try:
        lhs = tex_element(printer.dom, lhs_tex).toxml()
    except ValueError:  # a spelling the small reader does not know: show it as it is written
        lhs = f"<mtext>{html.escape(lhs_tex)}</mtext>"
    body = f"<mrow>{_numeric_entities(lhs)}<mo>=</mo>{to_mathml(expr)}</mrow>"
    mode = "block" if display else "inline"
    return (f"<math xmlns='http://www.w3.org/1998/Math/MathML' display='{mode}'><semantics>{body}"
            f"<annotation encoding='application/x-tex'>{html.escape(tex)}</annotation></semantics></math>")


# ----------------------------------------------------------------- LaTeX (small subset) -> MathML

#: Double-struck capitals (the Letterlike block holds C, H, N, P, Q, R, Z; the rest are U+1D538 + k).
DOUBLE_STRUCK = {ch: {"C": "\u2102", "H": "\u210d", "N": "\u2115", "P": "\u2119", "Q": "\u211a", "R": "\u211d",
                      "Z": "\u2124"}.get(ch, chr(0x1D538 + k)) for k, ch in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
_NAMED = {"max": "max", "min": "min", "log": "log", "exp": "exp", "cos": "cos", "sin": "sin", "varepsilon": "\u03b5"}
_TEXT = ("mathrm", "text", "operatorname")
#: Spacing and sizing commands: read and dropped (MathML spaces its operators itself).
_SKIP = {"\\,", "\\;", "\\!", "\\ ", "\\big", "\\Big", "\\textstyle"}
#: Commands that are one operator or one identifier.
_OPERATORS = {"\\|": "\u2016", "\\langle": "\u27e8", "\\rangle": "\u27e9", "\\to": "\u2192", "\\sum": "\u2211",
              "\\cdot": "\u22c5"}
_IDENTIFIERS = {"\\partial": "\u2202", "\\infty": "\u221e"}
_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}_^']|\s+|.")


def tex_element(dom: Any, tex: str) -> Any:
    r"""A MathML element of a short LaTeX formula: the left-hand sides and symbol names of the library.

    Reads letters (italic ``mi``), digits (``mn``), punctuation (``mo``), Greek letters,
    ``\mathrm{}``/``\text{}`` (upright), ``\mathbb{}``, ``\max``, ``\frac{}{}``, ``\sqrt{}``,
    ``\bar{}``, ``\langle``, ``\rangle``, ``\|``, ``\partial``, ``\sum``, ``\to``, ``\infty``, groups
    ``{}``, sub- and superscripts in either order, and primes; spacing and sizing commands are
    dropped. Anything else is a ValueError.
    """
    tokens = [t for t in _TOKEN.findall(tex) if not t.isspace()]
    pos = 0

    def make(tag: str, *children: Any, text: str | None = None, **attrs: str) -> Any:
        el = dom.createElement(tag)
        for k, v in attrs.items():
            el.setAttribute(k, v)
        if text is not None:
            el.appendChild(dom.createTextNode(text))
        for c in children:
            el.appendChild(c)
        return el

    def group_text() -> str:
        r"""The plain text of a braced group (``\text{-}`` inside ``\mathrm{}`` flattened)."""
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] != "{":
            raise ValueError(f"expected {{ in {tex!r}")
        pos += 1
        out = []
        while pos < len(tokens) and tokens[pos] != "}":
            tok = tokens[pos]
            if tok.lstrip("\\") in _TEXT:
                pos += 1
                out.append(group_text())
                continue
            if tok.startswith("\\") and len(tok) > 2:
                raise ValueError(f"{tok} inside text in {tex!r}")
            out.append(tok.lstrip("\\") if len(tok) == 2 else tok)
            pos += 1
        if pos >= len(tokens):
            raise ValueError(f"unbalanced braces in {tex!r}")
        pos += 1
        return "".join(out)

    def atom() -> Any:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError(f"formula ends early: {tex!r}")
        tok = tokens[pos]
        pos += 1
        if tok == "{":
            items = sequence("}")
            pos += 1
            return items[0] if len(items) == 1 else make("mrow", *items)
        if tok in _OPERATORS:
            return make("mo", text=_OPERATORS[tok], stretchy="false")
        if tok in _IDENTIFIERS:
            return make("mi", text=_IDENTIFIERS[tok], mathvariant="normal")
        if tok == "\\frac":
            return make("mfrac", atom(), atom())
        if tok == "\\sqrt":
            return make("msqrt", atom())
        if tok == "\\bar":
            return make("mover", atom(), make("mo", text="\u00af"), accent="true")
        if tok.startswith("\\") and len(tok) > 2:
            name = tok[1:]
            if name in greek_unicode:
                return make("mi", text=greek_unicode[name])
            if name in _NAMED:
                return make("mi", text=_NAMED[name])
            if name in _TEXT:
                return make("mi", text=group_text(), mathvariant="normal")
            if name == "mathbb":  # the Unicode letters (MathML Core has no mathvariant but "normal")
                return make("mi", text="".join(DOUBLE_STRUCK.get(ch, ch) for ch in group_text()))
            raise ValueError(f"unknown LaTeX command {tok} in {tex!r}")
        if tok.isalpha():
            return make("mi", text=tok)
        if tok.isdigit():
            return make("mn", text=tok)
        if tok in "()[],+-=|/":
            return make("mo", text=tok, stretchy="false") if tok in "()[]|" else make("mo", text=tok)
        raise ValueError(f"cannot read {tok!r} in {tex!r}")

    def scripted() -> Any:
        nonlocal pos
        base = atom()
        sub = sup = None
        while pos < len(tokens) and tokens[pos] in ("_", "^", "'"):
            tok = tokens[pos]
            pos += 1
            if tok == "'":
                prime = make("mo", text="\u2032")
                sup = prime if sup is None else make("mrow", sup, prime)
            elif tok == "_" and sub is None:
                sub = atom()
            elif tok == "^" and sup is None:
                sup = atom()
            else:
                raise ValueError(f"double {tok} in {tex!r}")
        if sub is not None and sup is not None:
            return make("msubsup", base, sub, sup)
        if sub is not None:
            return make("msub", base, sub)
        if sup is not None:
            return make("msup", base, sup)
        return base

    def sequence(stop: str | None) -> list[Any]:
        nonlocal pos
        items = []
        while pos < len(tokens) and tokens[pos] != stop:
            if tokens[pos] in _SKIP:
                pos += 1
                continue
            items.append(scripted())
        if stop is not None and pos >= len(tokens):
            raise ValueError(f"unbalanced braces in {tex!r}")
        return items

    items = sequence(None)
    if not items:
        raise ValueError("empty formula")
    return items[0] if len(items) == 1 else make("mrow", *items)
