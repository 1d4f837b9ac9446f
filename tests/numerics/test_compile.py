"""symsig.numerics.compile: the graph rewrite agrees with SymPy's tree rewrite."""
from __future__ import annotations

import sympy as sp

from symsig.numerics import compile as C
from symsig.theory import blocks


def test_dag_replace_equals_sympy_replace() -> None:
    """On a real block map (post-LN with ReLU: acos and square roots under shared subtrees) and on
    a nested toy, ``dag_replace`` gives exactly ``replace``'s expression, and ``safe`` (built on it)
    clips every inverse cosine and guards every square root."""
    bm = blocks.block_map("post-ln", "relu")
    x, y = sp.symbols("x y")
    shared = sp.acos(x / (1 + y**2)) + sp.sqrt(x + y)
    toy = sp.asin(shared) * shared + sp.sqrt(shared**3)
    exprs = [toy, bm.q_next, bm.p_next]
    pow_half = (lambda e: e.is_Pow and e.exp.is_Rational and e.exp.q == 2, lambda e: sp.Pow(sp.Function("g")(e.base), e.exp))
    trig = (lambda e: isinstance(e, (sp.acos, sp.asin)), lambda e: e.func(sp.Function("h")(e.args[0])))
    for e in exprs:
        for query, value in (pow_half, trig):
            assert C.dag_replace(e, query, value) == e.replace(query, value)
    safe = C.safe(toy)
    assert all(isinstance(a.args[0], sp.Function) and a.args[0].func.__name__ == "clip_unit"
               for a in safe.atoms(sp.acos, sp.asin))
    assert all(p.base.func.__name__ == "nonneg" for p in safe.atoms(sp.Pow) if p.exp.q == 2)
