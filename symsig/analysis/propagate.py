"""Trajectories: a block map iterated over depth (encoder, causal per position, late-token window)."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import validate
from ..core.architecture import Architecture, as_user
from ..core.results import Result
from ..core.validate import InputError
from ..numerics.contexts import NUMPY, MpContext
from ..numerics.iterate import check_start, iterate
from ..theory.blocks import BlockMap, architecture_map, build
from ..theory.symbols import PARAMS

if TYPE_CHECKING:
    from .scatter import ScatterTrajectory


@dataclass(frozen=True)
class Trajectory(Result):
    """Order parameters per layer l = 0..L.

    ``q[l]``, ``p[l]``, ``rho[l]`` describe the tokens after l blocks (l = 0 is the
    input); ``Y2[l]`` is the IPR of the attention that reads the tokens of layer l
    (the attention of block l + 1; the last entry is what a further block would see).
    Values are floats, or mpf at ``dps`` digits when ``dps`` is given.
    """

    _per_layer = ("q", "p", "rho", "Y2")

    q: list[Any]
    p: list[Any]
    rho: list[Any]
    Y2: list[Any]
    dps: int | None = field(default=None, repr=False)


def propagate(
    *,
    depth: int = 50,
    rho0: Any = 0.3,
    q0: Any = 1.0,
    dps: int | None = None,
    causal: bool = False,
    position: int | None = None,
    derivative: Callable[[Any], Any] | None = None,
    scatter: bool = False,
    **architecture: Any,
) -> Trajectory | ScatterTrajectory:
    """Iterate a block ``depth`` times from (q0, p0 = rho0 q0).

    ``architecture`` takes the keys of :class:`Architecture` (block, activation,
    beta, sigma_w2, sigma_v2, sigma_b2, alpha_sa, alpha_mlp, seq_len, width); missing
    ones default to the paper's Figure-1 BERT setting. With ``dps`` the whole
    trajectory is computed with mpmath at dps + GUARD_DIGITS digits.

    ``activation`` may be a callable phi (numpy-vectorised; for ``dps`` it must
    accept mpf, or pass a :class:`symsig.activations.UserActivation` with
    ``fn_mp``), with optional ``derivative`` phi'. Its kernel is registered and
    the block compiled once per process (later calls with the same callable
    reuse both).

    ``width`` d (requires ``seq_len``): the attention layers at finite width, to first order
    in 1/d (docs/finite_width.md §7); float only (``dps`` raises). Post-LN, pre-LN and their
    gain-controlled variants, encoder or causal (§9).

    ``causal=True, position=t`` (requires ``seq_len`` = T): the decoder map of
    the query at 1-based position t, which sees n = t keys while the logit
    variance keeps log T (exact finite-T moments E_t[Y2], X with t states at
    s2 = beta^2 log(T) q (q - p)). Iterated over depth under the assumption
    that the tokens a query at position t interacts with share its geometry.

    ``scatter=True`` (needs ``width``; encoder blocks, floats): each network's (q, p) scatters about
    the mean by O(1/d^(1/2)); carry that covariance beside the mean and add its curvature drag
    1/2 f'':S to the mean (:mod:`symsig.analysis.scatter`, docs/finite_width.md §11). Returns a
    :class:`~symsig.analysis.scatter.ScatterTrajectory`: the means over networks (rho = E[p/q]) and
    rho's standard deviation over networks.
    """
    if derivative is not None:
        architecture["activation"] = as_user(architecture.get("activation"), derivative)
    arch = Architecture(**architecture)
    depth = validate.integer("depth", depth, 0)
    check_start(q0, rho0, arch.seq_len)
    dps = validate.dps(dps)
    validate.width(arch.width, arch.seq_len, dps)
    extra = _causal_extra(arch, causal, position)
    if scatter:
        from .scatter import propagate_scatter

        if arch.width is None or dps is not None or causal:
            raise InputError("scatter needs width and seq_len, in floats (no dps), encoder blocks (not causal)")
        return propagate_scatter(arch, depth=depth, rho0=float(rho0), q0=float(q0))
    bm = architecture_map(arch, bool(causal))
    return trajectory(bm, arch, depth=depth, rho0=rho0, q0=q0, dps=dps, extra=extra)


def _causal_extra(arch: Architecture, causal: bool, position: Any) -> tuple[int, ...]:
    """The trailing evaluator argument n of a causal block (validated), else ()."""
    if not causal:
        if position is not None:
            raise InputError("position is only meaningful with causal=True")
        return ()
    if arch.seq_len is None:
        raise InputError("causal attention needs seq_len (the exact finite-T theory)")
    if position is None:
        raise InputError("causal=True needs position (1-based query position, 1..seq_len)")
    pos = validate.integer("position", position, 1)
    if pos > arch.seq_len:
        raise InputError(f"position must be <= seq_len = {arch.seq_len}, got {pos}")
    return (pos,)


def trajectory(
    bm: BlockMap,
    arch: Architecture,
    *,
    depth: int,
    rho0: Any,
    q0: Any = 1.0,
    dps: int | None = None,
    extra: tuple[Any, ...] = (),
) -> Trajectory:
    """Iterate an already composed block map ``bm`` with the parameters of ``arch``.

    ``extra`` are the trailing evaluator arguments (n for causal blocks). Used by
    :func:`propagate`, and directly for maps that are not CLI blocks, e.g.
    ``block_map("pre-ln-published", ...)``. One iteration (:func:`symsig.numerics.iterate.iterate`),
    in floats or in mpmath at ``dps`` digits; depth + 1 blocks are evaluated so that
    the last Y2 is the one a further block would see.
    """
    ctx = NUMPY if dps is None else MpContext(dps)
    it = iterate(bm, (*arch.params(), *extra), q0, rho0, depth + 1, ctx)
    rho = it.rho[: depth + 1]
    if dps is None:
        as_float = lambda xs: [float(x) for x in xs]  # noqa: E731
        return Trajectory(as_float(it.q[:-1]), as_float(it.p[:-1]), as_float(rho), as_float(it.y2))
    return Trajectory(it.q[:-1], it.p[:-1], rho, it.y2, dps=dps)


# ----------------------------------------------------------------------------- causal


def causal_beta(beta: Any, seq_len: Any, position: Any) -> float:
    """Asymptotic causal form: beta_t = beta sqrt(log T / log t) (docs/theory.md §6.4).

    A query at position t sees a REM with N = log t states but logit variance
    beta^2 log(T) v = beta_t^2 log(t) v; the T -> infinity map at beta_t is this
    form's prediction (only an approximation: the exact finite-t moments are
    what :func:`propagate` with ``causal=True`` uses). Needs t >= 2.
    """
    b = validate.positive("beta", beta)
    t_len = validate.integer("seq_len", seq_len, 2)
    pos = validate.integer("position", position, 2)
    if pos > t_len:
        raise InputError(f"position must be <= seq_len = {t_len}, got {pos}")
    return b * math.sqrt(math.log(t_len) / math.log(pos))


def causal_positions(
    *,
    positions: Sequence[int],
    depth: int = 50,
    rho0: Any = 0.3,
    q0: Any = 1.0,
    **architecture: Any,
) -> dict[str, np.ndarray]:
    """Position-resolved decoder theory, vectorised over query positions (float).

    For each 1-based position t in ``positions`` the causal block map with n = t keys
    (see :func:`propagate`) is iterated ``depth`` times from (q0, rho0 q0). Returns
    arrays ``q``, ``p``, ``rho`` of shape (depth + 1, P) (row l = after l blocks) and
    ``Y2`` of shape (depth, P) (row l - 1 = attention of block l), plus ``positions``.
    Requires ``seq_len``. ``width`` d: every attention at first order in 1/d with n = t keys
    (docs/finite_width.md §9; two queries of a pair both see n keys, as at finite T).
    """
    arch = Architecture(**architecture)
    depth = validate.integer("depth", depth, 1)
    check_start(q0, rho0, arch.seq_len)
    pos = np.asarray([_causal_extra(arch, True, t)[0] for t in positions], dtype=float)
    if pos.size == 0:
        raise InputError("positions must not be empty")
    if arch.width is not None:  # float finite-width moments, position by position (about 20-30 ms each and layer)
        validate.limited("finite-width evaluations (positions x depth)", pos.size * depth, "finite_width")
    bm = architecture_map(arch, True)
    out = iterate(bm, (*arch.params(), pos), np.full(pos.shape, float(q0)), float(rho0), depth).arrays()
    out["positions"] = pos.astype(int)
    return out


@dataclass(frozen=True)
class LateTokens(Result):
    """Decoder theory averaged over the late-token window (the paper's Figure 12 quantity).

    ``rho[l]`` (l = 0..L) and ``Y2[l]`` (l = 0..L-1, attention of block l + 1) are the
    plain means over the window positions t of the per-position values rho_l(t) =
    p_l(t)/q_l(t) and Y2_l(t) of :func:`causal_positions`; ``q``, ``p`` likewise.
    ``positions`` lists the 1-based positions averaged.
    """

    _per_layer = ("q", "p", "rho", "Y2")

    q: list[float]
    p: list[float]
    rho: list[float]
    Y2: list[float]
    positions: list[int]


def late_tokens(
    *,
    window: int = 50,
    stride: int = 1,
    depth: int = 50,
    rho0: Any = 0.3,
    q0: Any = 1.0,
    cross_positions: bool = False,
    grid: Any = None,
    **architecture: Any,
) -> LateTokens:
    """Decoder (causal) theory for the last ``window`` tokens of a length-T sequence.

    Positions averaged: t = T - window + 1, ..., T, every ``stride``-th one counted
    from T (stride 1 = all of them; a stride > 1 trades accuracy for speed, each
    position costing one finite-T overlap evaluation per layer). Averaged exactly:
    the per-position rho_l(t) = p_l(t)/q_l(t) and Y2_l(t) (not the ratio of averaged
    p and q). The paper's Figure 12: T = 512, window = 50. With ``width`` each position and layer
    costs about 30 ms (window 50, depth 50: about 75 s; a stride trades accuracy for speed).

    ``cross_positions``: the theory with the tokens' cross-position Gram instead of each position's
    own geometry (:mod:`symsig.analysis.positions`; docs/theory.md §6.4): rho is the mean cosine of
    the window's distinct pairs, Y2 the mean over its queries, d -> infinity only, every window
    position counts (no stride). ``grid``: the 1-based positions its Gram is kept on (default
    :func:`~symsig.analysis.positions.default_grid`, 27 positions at T = 256; twice as fine moves rho
    by 1e-5 and Y2 by 5e-5 relative in GPT-2's setting over 12 blocks). Cost: one nested overlap
    (7-15 ms) per pair of grid positions and attention, about 1-8 s per block at T = 256-512.
    """
    arch = Architecture(**architecture)
    if arch.seq_len is None:
        raise InputError("late_tokens needs seq_len (the exact finite-T theory)")
    window = validate.integer("window", window, 1)
    stride = validate.integer("stride", stride, 1)
    if window > arch.seq_len:
        raise InputError(f"window must be <= seq_len = {arch.seq_len}, got {window}")
    if cross_positions:
        return _late_tokens_cross(arch, window, stride, depth, rho0, q0, grid)
    positions = list(range(arch.seq_len, arch.seq_len - window, -stride))[::-1]
    out = causal_positions(positions=positions, depth=depth, rho0=rho0, q0=q0, **arch.to_dict())
    return LateTokens(*(out[k].mean(axis=1).tolist() for k in ("q", "p", "rho", "Y2")), positions=positions)


def _late_tokens_cross(arch: Architecture, window: int, stride: int, depth: Any, rho0: Any, q0: Any,
                       grid: Any) -> LateTokens:
    """:func:`late_tokens` with ``cross_positions`` (arguments validated there but these)."""
    from .positions import propagate_positions

    if stride != 1 or window < 2:
        raise InputError("cross_positions: the window needs 2 or more tokens, every one of them (stride 1)")
    if arch.width is not None:
        raise InputError("cross_positions is a d -> infinity theory (leave width out)")
    depth = validate.integer("depth", depth, 1)
    check_start(q0, rho0, arch.seq_len)
    win = slice(arch.seq_len - window, arch.seq_len)
    block = build(arch.block, arch.activation, finite_t=True, causal=True)
    out = propagate_positions(block, values=dict(zip(PARAMS, arch.params())), seq_len=arch.seq_len, depth=depth,
                              q0=float(q0), rho0=float(rho0), window=win, grid=grid)
    return LateTokens(*(out[k].tolist() for k in ("q", "p", "rho", "Y2")),
                      positions=list(range(win.start + 1, win.stop + 1)))
