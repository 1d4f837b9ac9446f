"""The architecture parameters shared by every command, with the paper's defaults."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from . import validate
from .names import ACTIVATIONS, block_names

#: The Figure-1 BERT setting of the paper (docs/theory.md §12); beta = 0.5 of {0.5, 3}.
FIGURE1: dict[str, Any] = dict(
    block="post-ln",
    activation="relu",
    beta=0.5,
    sigma_w2=0.2,
    sigma_v2=0.2,
    sigma_b2=4e-4,
    alpha_sa=1.0,
    alpha_mlp=1.0,
    seq_len=None,
)


def late_window(seq_len: int) -> slice:
    """The positions a decoder is measured at: the last quarter of the sequence, at least 2 tokens.

    Early causal queries see few keys; the late window is where a decoder's attention has the
    context of a full sequence (docs/theory.md §6.4).
    """
    return slice(seq_len - max(2, seq_len // 4), seq_len)


@dataclass(frozen=True)
class UserActivation:
    """A user-supplied elementwise activation phi for the Python API.

    ``fn``: numpy-vectorised phi (array -> array), used by the float evaluators and
    the simulations; ``derivative``: optional numpy phi' (enables dK_qp/dp =
    E[phi'(u) phi'(v)], Price's theorem, as the symbolic derivative of the kernel);
    ``fn_mp``, ``derivative_mp``: mpf -> mpf versions for ``dps`` evaluations
    (default: ``fn``/``derivative`` themselves, which must then accept mpf).
    Equality and hashing are by the identity of the callables, so wrapping the
    same function twice hits every cache. Kernels come from the adaptive
    trapezoidal rule of :mod:`symsig.numerics.quadrature` (phi must be smooth:
    analytic near the real axis).
    """

    fn: Callable[[Any], Any]
    derivative: Callable[[Any], Any] | None = None
    fn_mp: Callable[[Any], Any] | None = None
    derivative_mp: Callable[[Any], Any] | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """Printable name (``name``, else the function's ``__name__``)."""
        return self.name or getattr(self.fn, "__name__", "user")


def is_user(activation: Any) -> bool:
    """True for a :class:`UserActivation` or a bare callable."""
    return isinstance(activation, UserActivation) or callable(activation)


def as_user(activation: Any, derivative: Callable[[Any], Any] | None = None) -> UserActivation:
    """Wrap a bare callable (with optional derivative) as a :class:`UserActivation`."""
    if isinstance(activation, UserActivation):
        if derivative is not None and derivative is not activation.derivative:
            raise validate.InputError("give the derivative inside the UserActivation, not twice")
        return activation
    if not callable(activation):
        raise validate.InputError(f"activation must be a name or a callable, got {activation!r}")
    if derivative is not None and not callable(derivative):
        raise validate.InputError("derivative must be callable (phi')")
    return UserActivation(activation, derivative)


@dataclass(frozen=True)
class Architecture:
    """A block type and its parameters; validated on construction.

    Numbers are kept as given (float, int, str or Fraction) so that the mpmath
    evaluators can read them exactly; ``seq_len=None`` selects the T -> infinity
    theory, an integer T the exact finite-T REM moments. ``width=None`` is the paper's
    d -> infinity; an integer d >= 2 (needs ``seq_len``) adds the first-order 1/d correction
    of the attention layers (docs/finite_width.md §7; the MLP and LayerNorm keep their
    d -> infinity maps). ``activation`` is a name or (Python API only) a callable /
    :class:`UserActivation`.
    """

    block: str = FIGURE1["block"]
    activation: Any = FIGURE1["activation"]
    beta: Any = FIGURE1["beta"]
    sigma_w2: Any = FIGURE1["sigma_w2"]
    sigma_v2: Any = FIGURE1["sigma_v2"]
    sigma_b2: Any = FIGURE1["sigma_b2"]
    alpha_sa: Any = FIGURE1["alpha_sa"]
    alpha_mlp: Any = FIGURE1["alpha_mlp"]
    seq_len: int | None = FIGURE1["seq_len"]
    width: int | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Architecture:
        # before the generated __init__: an unknown keyword is a user's typo, not a TypeError
        validate.keywords("architecture", kwargs, [f.name for f in fields(cls)])
        return super().__new__(cls)

    def __post_init__(self) -> None:
        validate.choice("block", self.block, block_names())
        if is_user(self.activation):  # Python API only: a callable phi
            object.__setattr__(self, "activation", as_user(self.activation))
        else:
            validate.choice("activation", self.activation, ACTIVATIONS)
        validate.positive("beta", self.beta)
        for name in ("sigma_w2", "sigma_v2", "sigma_b2", "alpha_sa", "alpha_mlp"):
            validate.nonnegative(name, getattr(self, name))
        if self.seq_len is not None:
            object.__setattr__(self, "seq_len", validate.integer("seq_len", self.seq_len, 2))
        object.__setattr__(self, "width", validate.width(self.width, self.seq_len))

    @property
    def finite_t(self) -> bool:
        return self.seq_len is not None

    @property
    def finite_width(self) -> bool:
        return self.width is not None

    def params(self) -> tuple[Any, ...]:
        """Values of the block evaluators' arguments after (q, p): symbols.PARAMS (beta, sigma_w2,
        sigma_v2, sigma_b2, alpha_sa, alpha_mlp, T), then the width d when it is given (the
        argument order of :attr:`symsig.theory.blocks.BlockMap.args`)."""
        t = self.seq_len if self.seq_len is not None else 0  # T is unused when T -> infinity
        width = () if self.width is None else (self.width,)
        return (self.beta, self.sigma_w2, self.sigma_v2, self.sigma_b2, self.alpha_sa, self.alpha_mlp, t, *width)

    def replace(self, **changes: Any) -> Architecture:
        """A copy with some fields changed (validated again)."""
        return Architecture(**(self.to_dict() | changes))

    def to_dict(self) -> dict[str, Any]:
        """Field name -> value (shallow: a UserActivation stays an object, so the
        dict round-trips through ``Architecture(**d)``). ``width`` is left out when it is
        None (d -> infinity), so that every output of the paper's theory is unchanged."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not (f.name == "width" and self.width is None)}
