"""Layer maps on the token simplex (docs/theory.md §5).

Each layer is a small immutable object that maps a :class:`State` (the order
parameters q, p plus observables such as the attention IPR) to a new one, as
SymPy expressions. Layers compose with :class:`Serial` and :class:`Residual`,
in the spirit of neural-tangents' ``stax``: each layer carries its own kernel
map and composition is substitution. Numbers come from compiling the composed
expressions once (:mod:`symsig.numerics.compile`), never from re-deriving them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from . import activations, rem, special
from .symbols import T, alpha_mlp, alpha_sa, beta, p, q, sigma_b2, sigma_v2, sigma_w2


@dataclass(frozen=True)
class State:
    """Token geometry (q, p) and the observables recorded on the way (name -> expr)."""

    q: sp.Expr
    p: sp.Expr
    observables: tuple[tuple[str, sp.Expr], ...] = ()

    def record(self, name: str, value: sp.Expr) -> State:
        """Return a copy with ``name`` recorded (a later record of the same name wins)."""
        kept = tuple((k, x) for k, x in self.observables if k != name)
        return State(self.q, self.p, kept + ((name, value),))

    def observable(self, name: str) -> sp.Expr:
        """The recorded expression called ``name``."""
        return dict(self.observables)[name]


def symbolic_state() -> State:
    """The generic input state (q, p) in the canonical symbols."""
    return State(q, p)


class Layer:
    """A map State -> State; subclasses implement ``__call__``."""

    def __call__(self, state: State) -> State:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Serial(Layer):
    """Composition: apply ``layers`` left to right."""

    layers: tuple[Layer, ...]

    def __init__(self, *layers: Layer) -> None:
        object.__setattr__(self, "layers", tuple(layers))

    def __call__(self, state: State) -> State:
        for layer in self.layers:
            state = layer(state)
        return state


@dataclass(frozen=True)
class Dense(Layer):
    """Fully connected layer with bias: q' = s_w q + s_b, p' = s_w p + s_b."""

    weight: sp.Expr = sigma_w2
    bias: sp.Expr = sigma_b2

    def __call__(self, state: State) -> State:
        return State(self.weight * state.q + self.bias, self.weight * state.p + self.bias, state.observables)


@dataclass(frozen=True)
class LayerNorm(Layer):
    """LayerNorm without affine parameters (d -> infinity): q' = 1, p' = p / q."""

    def __call__(self, state: State) -> State:
        return State(sp.Integer(1), state.p / state.q, state.observables)


@dataclass(frozen=True)
class Activation(Layer):
    """Elementwise nonlinearity: (q, p) -> (K_qq(q), K_qp(q, p))."""

    kernel: activations.Kernel

    def __call__(self, state: State) -> State:
        k_qq, k_qp = self.kernel(state.q, state.p)
        return State(k_qq, k_qp, state.observables)


@dataclass(frozen=True)
class Residual(Layer):
    """Skip connection of strength alpha around ``branch``: h <- alpha h + branch(h).

    Branches are independent of the stream at initialisation, so
    q' = q_branch + alpha^2 q and p' = p_branch + alpha^2 p.
    """

    alpha: sp.Expr
    branch: Layer

    def __call__(self, state: State) -> State:
        out = self.branch(state)
        a2 = self.alpha**2
        return State(out.q + a2 * state.q, out.p + a2 * state.p, out.observables)


class MLP(Serial):
    """Dense(weight, bias) -> Activation(kernel) -> Dense(weight, bias) (docs/theory.md §5.7).

    Exactly that Serial (same map); a class of its own because a finite-width network
    must know where the hidden layer is: its width is the MLP width m, which is the
    fan-in of the second Dense (:mod:`symsig.simulation.network`).
    """

    def __init__(self, kernel: activations.Kernel, weight: sp.Expr = sigma_w2, bias: sp.Expr = sigma_b2) -> None:
        super().__init__(Dense(weight, bias), Activation(kernel), Dense(weight, bias))

    @property
    def kernel(self) -> activations.Kernel:
        """The activation's kernel."""
        return self.layers[1].kernel

    @property
    def weight(self) -> sp.Expr:
        """Weight variance (times fan-in) of both dense layers."""
        return self.layers[0].weight

    @property
    def bias(self) -> sp.Expr:
        """Bias variance of both dense layers."""
        return self.layers[0].bias


def mlp(kernel: activations.Kernel) -> MLP:
    """dense(sigma_w2, sigma_b2) -> activation -> dense(sigma_w2, sigma_b2)."""
    return MLP(kernel)


@dataclass(frozen=True)
class Attention(Layer):
    """REM self-attention with value weights (variance sigma_v2/d) and bias (sigma_b2).

    Result 1 (T -> infinity), with Y2 the Poisson–Dirichlet IPR of :mod:`symsig.rem`:
        q' = sigma_v2 [p + (q - p) Y2] + sigma_b2,   p' = sigma_v2 p + sigma_b2.
    With ``finite_t`` the moments are the exact finite-T ones and the two-query
    overlap X enters p' = sigma_v2 [p + (q - p) X] + sigma_b2 (docs/theory.md §4.2, §5.1).

    ``gain_control`` subtracts the sequence mean of the attention output (the bias
    cancels): asymptotically q' = sigma_v2 (q - p) Y2, p' = 0; exactly at finite T
    q' = sigma_v2 (q - p)(1 - 1/T)(Y2 - X) and p' = -q'/(T - 1).

    ``n_states`` is the number of keys a query sees (default: all T). A causal
    query at position t sees t keys while the initialisation still scales with
    log T; only the exact finite-T moments know the difference.

    ``width`` (default None: d -> infinity, the maps above unchanged) switches on the
    finite-width correction of :mod:`symsig.theory.finite_width` (docs/finite_width.md):
    Y2 -> Y2_d + Dq/d in q' and X -> X_d + Dp/d in p', with the recorded IPR Y2_d. It needs
    the exact finite-T moments (``finite_t``) and is derived for all T keys without gain
    control; ``tokens`` ("gaussian" or "normalized") is the token model of its 1/d smearing.

    Records the observable ``Y2`` (the IPR of this attention).
    """

    value: sp.Expr = sigma_v2
    bias: sp.Expr = sigma_b2
    inverse_temperature: sp.Expr = beta
    finite_t: bool = False
    gain_control: bool = False
    seq_len: sp.Expr = field(default=T)
    n_states: sp.Expr | None = None
    width: sp.Expr | None = None
    tokens: str = "gaussian"

    def moments(self, state: State) -> tuple[sp.Expr, sp.Expr]:
        """(Y2, X) of this attention acting on ``state``."""
        sub = {q: state.q, p: state.p, beta: self.inverse_temperature}
        if not self.finite_t:
            return rem.y_moment(2).xreplace(sub), sp.Integer(0)
        keys = self.seq_len if self.n_states is None else self.n_states
        sub |= {T: self.seq_len}
        return special.finite_t_y2(keys).xreplace(sub), special.finite_t_x(keys).xreplace(sub)

    def __call__(self, state: State) -> State:
        if self.width is not None:
            return self._finite_width(state)
        y2, x = self.moments(state)
        return self.output(state, y2, x)

    def _finite_width(self, state: State) -> State:
        """q', p' with the finite-width moments; records the smeared IPR Y2_d."""
        if not self.finite_t or self.gain_control or self.n_states is not None:
            raise ValueError("width needs finite_t=True, no gain control and all T keys (derived only there)")
        from . import finite_width

        y2_eff, x_eff, y2_d = finite_width.attention_width_moments(
            state.q, state.p, inverse_temperature=self.inverse_temperature, seq_len=self.seq_len,
            width=self.width, tokens=self.tokens)
        return self.output(state, y2_eff, x_eff).record("Y2", y2_d)

    def output(self, state: State, y2: sp.Expr, x: sp.Expr) -> State:
        """The output geometry for input ``state`` given the moments (Y2, X) (formulas above).

        Split from :meth:`moments` so that a variant may evaluate the moments
        elsewhere (e.g. the published pre-LN recipe, :func:`symsig.theory.blocks.pre_ln_published`).
        """
        gap = state.q - state.p
        if self.gain_control:
            if self.finite_t:
                n = self.seq_len
                q_out = self.value * gap * (1 - 1 / n) * (y2 - x)
                p_out = -q_out / (n - 1)
            else:
                q_out, p_out = self.value * gap * y2, sp.Integer(0)
        else:
            q_out = self.value * (state.p + gap * y2) + self.bias
            p_out = self.value * (state.p + gap * x) + self.bias
        return State(q_out, p_out, state.observables).record("Y2", y2)


__all__ = [
    "State",
    "Layer",
    "Serial",
    "Dense",
    "LayerNorm",
    "Activation",
    "Residual",
    "Attention",
    "MLP",
    "mlp",
    "symbolic_state",
    "alpha_sa",
    "alpha_mlp",
]
