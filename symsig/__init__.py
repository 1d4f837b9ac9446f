"""symsig: signal propagation through deep transformers at initialisation.

Self-attention at initialisation is a Random Energy Model (Giorlandino & Goldt,
arXiv:2505.24333). symsig encodes the layer maps of the token geometry (q, p, rho)
symbolically (SymPy), derives critical conditions, and evaluates them at any
precision (mpmath) or vectorised (numpy); the theory is in docs/theory.md.

The public functions mirror the command line: ``symsig.critical(beta=3, rho=0)``,
``symsig.propagate(block="post-ln", beta=0.5, depth=50, rho0=0.3)``, ... each
returning an object whose attributes are the JSON keys and with ``.to_dict()``.

Layout (each layer imports only the ones before it; a test enforces it):
``core`` (names, validation, Architecture) -> ``theory`` (SymPy) -> ``numerics``
(compiled evaluators, the depth iteration, finite T, quadrature) -> ``analysis``
(critical, propagate, diagram, ...) -> ``simulation`` (random networks, Hugging
Face models) -> ``app`` (command line, report, LaTeX, plots, checks).
Names are resolved lazily (PEP 562): ``import symsig`` loads neither SymPy nor torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> (module, attribute). No module of the package bears any of these names.
_API: dict[str, tuple[str, str]] = {
    "FIGURE1": ("symsig.core.architecture", "FIGURE1"),
    "Architecture": ("symsig.core.architecture", "Architecture"),
    "UserActivation": ("symsig.core.architecture", "UserActivation"),
    "InputError": ("symsig.core.validate", "InputError"),
    "critical": ("symsig.analysis.critical", "critical"),
    "propagate": ("symsig.analysis.propagate", "propagate"),
    "diagram": ("symsig.analysis.diagram", "diagram"),
    "boundary": ("symsig.analysis.boundary", "boundary"),
    "prescribe": ("symsig.analysis.prescribe", "prescribe"),
    "conditions": ("symsig.analysis.conditions", "conditions"),
    "gradient": ("symsig.analysis.gradient", "gradient"),
    "simulate": ("symsig.simulation.stack", "simulate"),
    "crosscheck": ("symsig.simulation.hf", "crosscheck"),
    "evidence": ("symsig.simulation.evidence_grid", "evidence"),
    "inspect": ("symsig.app.inspect", "inspect"),
    "train": ("symsig.simulation.train.sweep", "train"),
    "latex": ("symsig.app.latex", "latex"),
    "report": ("symsig.app.report", "report"),
    "check": ("symsig.app.check", "check"),
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        module, attribute = _API[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value  # cached: later lookups do not come here
        return value
    raise AttributeError(f"module 'symsig' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
