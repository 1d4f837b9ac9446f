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
