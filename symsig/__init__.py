"""symsig: signal propagation through deep transformers at initialisation.

Self-attention at initialisation is a Random Energy Model (Giorlandino & Goldt,
arXiv:2505.24333). symsig encodes the layer maps of the token geometry (q, p, rho)
symbolically (SymPy), derives critical conditions, and evaluates them at any
precision (mpmath) or vectorised (numpy).

The public functions mirror the command line: ``symsig.critical(beta=3, rho=0)``,
``symsig.propagate(block="post-ln", beta=0.5, depth=50, rho0=0.3)``, ... each
returning an object whose attributes are the JSON keys and with ``.to_dict()``.
"""
from .architecture import FIGURE1, Architecture
from .critical import critical
from .diagram import diagram
from .gradients import gradient
from .latex import document as latex
from .prescribe import prescribe
from .propagate import propagate
from .report import report
from .simulate import simulate
from .validate import InputError


def crosscheck(**kwargs):  # torch and transformers load lazily (about 10 s)
    """Theory against stock HuggingFace models: see :func:`symsig.crosscheck.crosscheck`."""
    from .crosscheck import crosscheck as run

    return run(**kwargs)


__all__ = ["FIGURE1", "Architecture", "InputError", "critical", "crosscheck", "diagram", "gradient",
           "latex", "prescribe", "propagate", "report", "simulate"]
__version__ = "0.1.0"
