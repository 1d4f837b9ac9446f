"""The one list of every name a user can choose (blocks, activations, models).

Each activation is defined here once, as phi(x) in SymPy syntax: the symbolic
kernels (:mod:`symsig.theory.activations`), the quadrature (:mod:`symsig.numerics.quadrature`)
and the finite-width networks (:mod:`symsig.simulation.forward`) all derive their
phi from this string. Kept free of imports so that ``symsig --help`` stays fast.
"""
from __future__ import annotations

#: Transformer blocks (docs/theory.md §6).
BLOCKS: tuple[str, ...] = ("post-ln", "pre-ln", "gc-post-ln", "gc-pre-ln")

#: Activation name -> phi(x) (SymPy syntax). gelu is the exact, erf-based GELU x Phi(x);
#: gelu_tanh is GPT-2's tanh approximation ("gelu_new").
ACTIVATION_PHI: dict[str, str] = {
    "relu": "Max(0, x)",
    "erf": "erf(x)",
    "linear": "x",
    "tanh": "tanh(x)",
    "gelu": "x*(1 + erf(x/sqrt(2)))/2",
    "gelu_tanh": "x*(1 + tanh(sqrt(2/pi)*(x + 44715*x**3/1000000)))/2",
    "sigmoid": "1/(1 + exp(-x))",
    "swish": "x/(1 + exp(-x))",
}
ACTIVATIONS: tuple[str, ...] = tuple(ACTIVATION_PHI)

#: Stock Hugging Face models of the cross-check.
MODELS: tuple[str, ...] = ("bert", "gpt2")
