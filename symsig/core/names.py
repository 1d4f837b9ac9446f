"""The one list of every name a user can choose (blocks, activations, models).

Each activation is defined here once, as phi(x) in SymPy syntax: the symbolic
kernels (:mod:`symsig.theory.activations`), the quadrature (:mod:`symsig.numerics.quadrature`)
and the finite-width networks (:mod:`symsig.simulation.forward`) all derive their
phi from this string. Kept free of imports so that ``symsig --help`` stays fast.
"""
from __future__ import annotations

#: Transformer blocks (docs/theory.md §6; llama blocks: docs/modern_blocks.md §5).
BLOCKS: tuple[str, ...] = ("post-ln", "pre-ln", "gc-post-ln", "gc-pre-ln", "llama", "llama-qk")

#: Names of blocks registered at run time (:func:`symsig.theory.blocks.register`), in order.
USER_BLOCK_NAMES: list[str] = []


def add_block(name: str) -> None:
    """Record a user block's name (:func:`symsig.theory.blocks.register` keeps the block itself)."""
    if name not in BLOCKS and name not in USER_BLOCK_NAMES:
        USER_BLOCK_NAMES.append(name)


def block_names() -> tuple[str, ...]:
    """Every block name a function accepts: the built-in :data:`BLOCKS`, then the registered ones."""
    return BLOCKS + tuple(USER_BLOCK_NAMES)


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
#: Stock LLaMA-family models of :mod:`symsig.simulation.llama` (qwen3: LLaMA with QK-norm).
LLAMA_MODELS: tuple[str, ...] = ("llama", "qwen3")

#: Hugging Face activation names (``hidden_act``, ``activation_function``) -> symsig activation.
HF_ACTIVATIONS: dict[str, str] = {
    "relu": "relu", "gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_fast": "gelu_tanh", "silu": "swish", "swish": "swish", "tanh": "tanh", "sigmoid": "sigmoid",
    "linear": "linear",
}

#: Named zone definitions (thresholds of the zone indicators, symsig.analysis.zones).
#:
#: * ``"calibrated"``: fitted to trained models (docs/training.md, "Calibrated zones"; docs/theory.md §7.2):
#:   rank collapse where less than 40% of the initial diversity survives the L blocks; entropy
#:   collapse where the attention's mean IPR exceeds 0.1, unless the residual stream still keeps
#:   at least 88% of its diversity ("rescue": a strong residual carries the tokens past frozen
#:   attention). T -> infinity theory; post-LN, d = 64, T = 32, L = 6 and 12, lr 3e-3, two corpora.
#: * ``"collapse"``: the collapse itself: less than 1% of the initial diversity survives, or
#:   the attention concentrates on about 10 tokens (mean IPR > 0.1); no rescue.
ZONE_DEFINITIONS: dict[str, dict[str, float]] = {
    "calibrated": {"rank": 0.4, "entropy": 0.1, "rescue": 0.88},
    "collapse": {"rank": 0.01, "entropy": 0.1},
}
DEFAULT_ZONES = "calibrated"
#: One line per definition, said beside every diagram, prescription and verdict.
ZONE_DESCRIPTIONS: dict[str, str] = {
    "calibrated": "calibrated zones (thresholds fitted to post-LN models that trained at learning rate 3e-3, "
                  "docs/training.md)",
    "collapse": "collapse zones (thresholds at the collapse itself, not fitted to training)",
    "custom": "custom thresholds",
}
#: What a definition's prescriptions were checked against (said in every prescription's summary).
ZONE_VALIDATION: dict[str, str] = {
    "calibrated": "Validated on post-LN stacks (d = 64, T = 32, Markov chain, 1000 steps): prescriptions at the "
                  "trained T trained at learning rates 1e-3 and 3e-3 for L = 6 and 12, every seed of 6 "
                  "(docs/training.md).",
    "collapse": "Not validated against training; at lr 3e-3 such prescriptions failed for L = 12 "
                "(docs/training.md).",
    "custom": "",
}
#: Said in a prescription's summary when it comes from the T -> infinity theory (no seq_len).
PRESCRIBE_AT_T_INFINITY = ("This is the T -> infinity theory: for a model of T tokens give --seq-len T "
                           "(Python: seq_len=T); at finite T the attention freezes at smaller beta. ")


#: The evidence table's architectures (docs/finite_width.md §10): name -> (block, causal), and its
#: networks per cell. Here, not in symsig.simulation.evidence_grid, so that the command line's help
#: does not import the simulation.
EVIDENCE_ARCHITECTURES: dict[str, tuple[str, bool]] = {
    "post-ln": ("post-ln", False), "pre-ln": ("pre-ln", False),
    "gc-post-ln": ("gc-post-ln", False), "causal": ("post-ln", True),
}
EVIDENCE_SEEDS = 16
