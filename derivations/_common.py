"""Shared helpers of the derivation scripts: checked steps and LaTeX output."""
from __future__ import annotations

import sys
from pathlib import Path

import sympy as sp

from symsig.theory.symbols import latex, p, q

#: The domain of the theory: p < q (tokens not identical). Writing p = q - gap with
#: gap > 0 lets SymPy combine square roots such as sqrt(1/(q - p)) = 1/sqrt(q - p).
GAP = sp.Symbol("gap", positive=True)


def prove_equal(name: str, derived: sp.Expr, library: sp.Expr) -> None:
    """Assert that two expressions are identical on p < q (simplify to zero)."""
    derived, library = (sp.sympify(x).subs(p, q - GAP) for x in (derived, library))
    difference = sp.simplify(derived - library)
    if difference != 0 and derived.equals(library) is not True:
        raise AssertionError(f"{name}: derivation {derived} differs from library {library}")
    print(f"  [proved] {name}")


def write_latex(lines: list[tuple[str, sp.Expr | str]], argv: list[str] | None = None) -> str:
    """Render ``(label, expr)`` pairs as LaTeX equations; write to argv[1] if given."""
    argv = sys.argv if argv is None else argv
    body = "\n".join(
        f"% {label}\n\\begin{{equation}}\n{expr if isinstance(expr, str) else latex(expr)}\n\\end{{equation}}"
        for label, expr in lines
    )
    if len(argv) > 1:
        Path(argv[1]).write_text(body + "\n")
        print(f"  LaTeX written to {argv[1]}")
    else:
        print(body)
    return body


def prove_equal_at_points(name: str, derived: sp.Expr, library: sp.Expr, points: list[dict]) -> None:
    """Exact rational spot checks: the difference is exactly 0 at every point.

    For expressions too large for ``simplify``; the points substitute rationals for
    every free symbol, so the comparison involves no floating point at all.
    """
    for point in points:
        diff = sp.nsimplify(sp.simplify((derived - library).subs(point)))
        if diff != 0:
            raise AssertionError(f"{name}: differs by {diff} at {point}")
    print(f"  [proved] {name} (exactly, at {len(points)} rational points)")


#: The key cosine of the LayerNorm-key derivations, 0 < rho < 1 (written rho = t / (1 + t), t > 0, to prove
#: identities: then sqrt(rho) and sqrt(1 - rho) are real and SymPy combines them).
RHO = sp.Symbol("rho", positive=True)
_T_OF_RHO = sp.Symbol("t", positive=True)


def mean_gauss(expr: sp.Expr, x: sp.Symbol, var: sp.Expr) -> sp.Expr:
    """E over x ~ N(0, var) of a polynomial in x: x^(2k) -> var^k (2k - 1)!!, odd powers -> 0."""
    poly = sp.Poly(sp.expand(expr), x)
    return sp.expand(sum(c * (var ** (k // 2) * sp.factorial2(k - 1) if k % 2 == 0 else 0)
                         for (k,), c in poly.terms()))


def prove_zero_on_unit_rho(name: str, expr: sp.Expr) -> None:
    """Assert ``expr`` == 0 for every 0 < RHO < 1."""
    on_domain = sp.simplify(sp.expand(expr).subs(RHO, _T_OF_RHO / (1 + _T_OF_RHO)))
    assert on_domain == 0, (name, on_domain)
    print(f"  [proved] {name}")
