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

#: Observables a residual branch leaves for a finite-width LayerNorm reading the sum
#: (docs/finite_width.md §8): the skip part's Gram (alpha^2 q, alpha^2 p), recorded by Residual, and
#: the O(1) covariance (Var N_a, Cov(N_a, N_b), Cov(P, N_a)) of the branch's pair Gram over its own
#: randomness, recorded by Attention(width=d) and scaled by Dense.
SKIP = ("skip_q", "skip_p")
BRANCH_COV = ("branch_var_n", "branch_cov_nn", "branch_cov_pn")


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
        # a branch's recorded Gram covariance (finite width, BRANCH_COV) scales with the weight squared
        obs = tuple((k, self.weight**2 * x if k in BRANCH_COV else x) for k, x in state.observables)
        return State(self.weight * state.q + self.bias, self.weight * state.p + self.bias, obs)


@dataclass(frozen=True)
class LayerNorm(Layer):
    """LayerNorm without affine parameters (d -> infinity): q' = 1, p' = p / q.

    ``width`` d (default None: the map above): p' = E cos(h_a, h_b) at first order in 1/d with the
    empirical mean and norm over d features (:func:`symsig.theory.finite_width.layernorm_width_cosine`,
    docs/finite_width.md §8). ``skip`` ("normalized", "gaussian": the input is a residual sum whose
    skip part, recorded by :class:`Residual`, is a LayerNorm output / Gaussian tokens; "stream": the
    input itself is modelled as Gaussian tokens) says which part of the input is fixed.
    """

    width: sp.Expr | None = None
    skip: str = "normalized"

    def __call__(self, state: State) -> State:
        if self.width is None:
            return State(sp.Integer(1), state.p / state.q, state.observables)
        from .finite_width import layernorm_width_cosine

        obs = dict(state.observables)
        if self.skip != "stream" and not all(k in obs for k in SKIP):
            raise ValueError(f"LayerNorm(width, skip={self.skip!r}) reads a residual sum (no skip part recorded)")
        skip = (obs.get(SKIP[0], 0), obs.get(SKIP[1], 0))
        cov = tuple(obs.get(k, sp.Integer(0)) for k in BRANCH_COV) if self.skip != "stream" else (0, 0, 0)
        rho = layernorm_width_cosine(state.q, state.p, *skip, self.width, self.skip, cov)
        kept = tuple((k, x) for k, x in state.observables if k not in (*SKIP, *BRANCH_COV))
        return State(sp.Integer(1), rho, kept)


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
        # the skip part's Gram, for a finite-width LayerNorm reading the sum (ignored at d -> infinity)
        return State(out.q + a2 * state.q, out.p + a2 * state.p, out.observables).record(
            SKIP[0], a2 * state.q).record(SKIP[1], a2 * state.p)


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
    the exact finite-T moments (``finite_t``); ``tokens`` ("gaussian" or "normalized") is the
    token model of its 1/d smearing. With ``n_states`` n every moment, Dq, Dp and the branch
    covariance take n keys (s2 keeps log T; both rows of a pair see n keys, as at finite T). With
    ``gain_control`` the centred formulas above hold with (Y2_eff, X_eff), and the branch covariance
    is that of the centred Gram (:mod:`symsig.theory.finite_width_gc`, three-row terms closed); not
    both (causal gain control raises, docs/finite_width.md §9.1).

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
        if not self.finite_t:
            raise ValueError("width needs finite_t=True (the correction is derived at exact finite T)")
        if self.gain_control and self.n_states is not None:  # docs/finite_width.md §9.1
            raise ValueError("width: causal gain-controlled attention is not derived (the sequence mean mixes rows "
                             "that see different numbers of keys)")
        from . import finite_width, finite_width_gc

        kw = dict(inverse_temperature=self.inverse_temperature, seq_len=self.seq_len, keys=self.n_states)
        y2_eff, x_eff, y2_d = finite_width.attention_width_moments(state.q, state.p, width=self.width,
                                                                   tokens=self.tokens, **kw)
        # gain control: the centred outputs' q', p' are linear in the pair moments (output()), so the
        # first-order moments carry over exactly
        out = self.output(state, y2_eff, x_eff).record("Y2", y2_d)
        # the O(1) fluctuation of the output's pair Gram over the logits, for the LayerNorm after it
        if self.gain_control:
            two = finite_width.overlap_covariances(state.q, state.p, **kw)
            cov = finite_width_gc.gain_control_branch_cov(
                self.seq_len, self.value * (state.q - state.p), **two,
                **finite_width_gc.three_row_closure(two["V1"], two["C2"], two["E2"]))
        else:
            cov = finite_width.attention_branch_cov(state.q, state.p, value=self.value, **kw)
        for name, x in zip(BRANCH_COV, cov):
            out = out.record(name, x)
        return out

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


# ----------------------------------------------------------------------------- modern layers
# docs/modern_blocks.md; derivations/rmsnorm.py, gated_mlp.py, qk_norm.py.


@dataclass(frozen=True)
class RMSNorm(Layer):
    """RMSNorm x <- g x / sqrt(|x|^2/d + eps), no centring (docs/modern_blocks.md §1):

        q' = g^2 q / (q + eps),   p' = g^2 p / (q + eps).

    Each token is divided by its own norm, so cosines are kept exactly (at any d) and
    p' = rho: with g = 1, eps = 0 the map is LayerNorm's. ``gain`` g is the (uniform)
    initial weight of the norm (1 in every stock model).
    """

    gain: sp.Expr = sp.Integer(1)
    eps: sp.Expr = sp.Integer(0)

    def __call__(self, state: State) -> State:
        scale = self.gain**2 / (state.q + self.eps)
        return State(scale * state.q, scale * state.p, state.observables)


@dataclass(frozen=True)
class GatedMLP(Layer):
    """Gated MLP (SwiGLU, GeGLU): h <- (phi(h W_g + b) * (h W_u + b)) W_d + b (docs/modern_blocks.md §2).

    W_g, W_u: fan-in d, variances ``gate``/d and ``up``/d; W_d: fan-in m, variance ``down``/m;
    biases ``bias`` (0: none, as in LLaMA). With the :class:`~symsig.theory.activations.GatedKernel`
    K of phi:  q' = down K_qq(gate q + b, up q + b) + b,  p' = down K_qp(gate (q, p) + b, up (q, p) + b) + b.
    """

    kernel: activations.GatedKernel
    gate: sp.Expr = sigma_w2
    up: sp.Expr = sigma_w2
    down: sp.Expr = sigma_w2
    bias: sp.Expr = sp.Integer(0)

    def __call__(self, state: State) -> State:
        g = Dense(self.gate, self.bias)(state)
        u = Dense(self.up, self.bias)(state)
        k_qq, k_qp = self.kernel(g.q, g.p, u.q, u.p)
        return Dense(self.down, self.bias)(State(k_qq, k_qp, state.observables))


@dataclass(frozen=True)
class MultiHeadAttention(Attention):
    """``heads`` heads of width d/heads, concatenated (docs/modern_blocks.md §3).

    Every head has W_Q, W_K of fan-in d (variance sigma_a/d) and logits scaled by
    1/sqrt(d_head), so each head's key-dependent logit variance is sigma_a^2 q (q - p) whatever
    the number of heads; the heads are independent REMs with the same law, and the
    concatenated output has q' and p' of :class:`Attention` with the per-head mean IPR.
    As d -> infinity (d_head -> infinity) the map is therefore exactly Attention's; ``heads``
    (None: the network's number of heads) matters for the finite-width network only.
    """

    heads: sp.Expr | None = None


def qk_norm_beta(gain: sp.Expr, seq_len: sp.Expr = T, logit_scale: sp.Expr = sp.Integer(1)) -> sp.Expr:
    """The inverse temperature that QK-normalisation with gain g realises (docs/modern_blocks.md §4):

        beta = logit_scale g^2 / sqrt(log T),

    where queries and keys are RMS-normalised per head (|q_t|^2 = |k_s|^2 = g^2 d_head) and the
    logits are tau q_t . k_s with tau = logit_scale / sqrt(d_head) (1/sqrt(d_head): logit_scale = 1).
    The key-dependent logit variance is then g^4 logit_scale^2 (1 - rho): a function of g and the
    token cosine alone, whatever the query/key weight scale and the token norm q.
    """
    return logit_scale * gain**2 / sp.sqrt(sp.log(seq_len))


def head_cosine(rho_: sp.Expr, head_width: sp.Expr | None) -> sp.Expr:
    """E[cos(k_s, k_s')] of two projected keys at input cosine rho, to first order in 1/d_head:
    rho - rho (1 - rho^2) / (2 d_head) (None: d_head -> infinity, rho). derivations/qk_norm.py
    derives the exact value (a 2F1) and this expansion."""
    if head_width is None:
        return rho_
    return rho_ - rho_ * (1 - rho_**2) / (2 * head_width)


@dataclass(frozen=True)
class QKNormAttention(MultiHeadAttention):
    """Attention with RMSNorm (gain g) on every head's queries and keys (docs/modern_blocks.md §4).

    The normalised logits are g^2 tau d_head cos(q_t, k_s): their key-dependent variance is
    beta_qk^2 log T (1 - rho_h), with rho_h = :func:`head_cosine` (rho = p/q as d_head -> infinity),
    so the REM moments are those of :class:`Attention` at the normalised state (1, rho_h) and
    inverse temperature beta_qk; the values still read the raw tokens (q' as in Attention).

    ``gain`` None: beta_qk is ``inverse_temperature`` (the block's beta), realised by the gain
    g = (beta sqrt(log T) / logit_scale)^(1/2); else beta_qk = :func:`qk_norm_beta` (gain,
    seq_len, logit_scale). A fixed gain gives beta_qk -> 0 as T -> infinity: without
    ``finite_t`` such an attention is liquid, Y2 = X = 0. ``head_width`` d_head (None: infinite)
    switches on the first-order finite-d_head cosine.
    """

    gain: sp.Expr | None = None
    logit_scale: sp.Expr = sp.Integer(1)
    head_width: sp.Expr | None = None

    def effective_beta(self) -> sp.Expr:
        """beta_qk (see the class docstring)."""
        if self.gain is None:
            return self.inverse_temperature
        return qk_norm_beta(self.gain, self.seq_len, self.logit_scale)

    def realised_gain(self) -> sp.Expr:
        """The gain g that realises beta_qk: g = (beta_qk sqrt(log T) / logit_scale)^(1/2)."""
        if self.gain is not None:
            return self.gain
        return sp.sqrt(self.inverse_temperature * sp.sqrt(sp.log(self.seq_len)) / self.logit_scale)

    def moments(self, state: State) -> tuple[sp.Expr, sp.Expr]:
        """(Y2, X) of the normalised logits: Attention's at (1, rho_h) and beta_qk."""
        if self.gain is not None and not self.finite_t:
            return sp.Integer(0), sp.Integer(0)
        plain = Attention(inverse_temperature=self.effective_beta(), finite_t=self.finite_t,
                          seq_len=self.seq_len, n_states=self.n_states)
        return plain.moments(State(sp.Integer(1), head_cosine(state.p / state.q, self.head_width)))

    def __call__(self, state: State) -> State:
        if self.width is not None:
            raise ValueError("the finite-width correction is not derived for QK-normalised attention")
        y2, x = self.moments(state)
        return self.output(state, y2, x)


__all__ = [
    "State",
    "Layer",
    "SKIP",
    "BRANCH_COV",
    "Serial",
    "Dense",
    "LayerNorm",
    "Activation",
    "Residual",
    "Attention",
    "MLP",
    "mlp",
    "RMSNorm",
    "GatedMLP",
    "MultiHeadAttention",
    "QKNormAttention",
    "qk_norm_beta",
    "head_cosine",
    "symbolic_state",
    "alpha_sa",
    "alpha_mlp",
]
