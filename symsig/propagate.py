"""Trajectories: a block map iterated over depth."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import numerics, validate
from .architecture import Architecture
from .blocks import BlockMap, block_map
from .results import Result


@dataclass(frozen=True)
class Trajectory(Result):
    """Order parameters per layer l = 0..L.

    ``q[l]``, ``p[l]``, ``rho[l]`` describe the tokens after l blocks (l = 0 is the
    input); ``Y2[l]`` is the IPR of the attention that reads the tokens of layer l
    (the attention of block l + 1; the last entry is what a further block would see).
    Values are floats, or mpf at ``dps`` digits when ``dps`` is given.
    """

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
    **architecture: Any,
) -> Trajectory:
    """Iterate a block ``depth`` times from (q0, p0 = rho0 q0).

    ``architecture`` takes the keys of :class:`Architecture` (block, activation,
    beta, sigma_w2, sigma_v2, sigma_b2, alpha_sa, alpha_mlp, seq_len); missing
    ones default to the paper's Figure-1 BERT setting. With ``dps`` the whole
    trajectory is computed with mpmath at dps + GUARD_DIGITS digits.
    """
    arch = Architecture(**architecture)
    depth = validate.integer("depth", depth, 0)
    validate.correlation("rho0", rho0)
    validate.positive("q0", q0)
    dps = validate.dps(dps)
    bm = block_map(arch.block, arch.activation, arch.finite_t)
    if dps is None:
        return _propagate_float(bm, arch, depth, float(rho0), float(q0))
    return _propagate_mp(bm, arch, depth, rho0, q0, dps)


def _propagate_float(bm: BlockMap, arch: Architecture, depth: int, rho0: float, q0: float) -> Trajectory:
    params = tuple(float(x) for x in arch.params())
    qs, ps, y2s = [q0], [rho0 * q0], []
    for _ in range(depth + 1):
        q_next, p_next, y2 = (float(x) for x in numerics.eval_np(bm.numpy, qs[-1], ps[-1], *params))
        y2s.append(y2)
        if len(qs) <= depth:
            qs.append(q_next)
            ps.append(p_next)
    return Trajectory(qs, ps, [b / a for a, b in zip(qs, ps)], y2s)


def _propagate_mp(bm: BlockMap, arch: Architecture, depth: int, rho0: Any, q0: Any, dps: int) -> Trajectory:
    import mpmath

    with mpmath.workdps(dps + numerics.GUARD_DIGITS):
        q0m = numerics.to_mpf(q0)
        qs, ps, y2s = [q0m], [numerics.to_mpf(rho0) * q0m], []
        for _ in range(depth + 1):
            q_next, p_next, y2 = numerics.eval_mp(bm.mpmath, (qs[-1], ps[-1], *arch.params()), dps)
            y2s.append(y2)
            if len(qs) <= depth:
                qs.append(q_next)
                ps.append(p_next)
        rhos = [b / a for a, b in zip(qs, ps)]
    return Trajectory(qs, ps, rhos, y2s, dps=dps)


def iterate_np(bm: BlockMap, q0: np.ndarray, p0: np.ndarray, params: tuple[Any, ...], depth: int) -> dict[str, np.ndarray]:
    """Vectorised trajectories over arrays of inputs/parameters (broadcast together).

    Returns arrays ``q``, ``p``, ``rho``, ``Y2`` of shape (depth + 1, *broadcast shape).
    """
    q, p = np.asarray(q0, float), np.asarray(p0, float)
    qs, ps, y2s = [q], [p], []
    for layer in range(depth + 1):
        q_next, p_next, y2 = numerics.eval_np(bm.numpy, qs[-1], ps[-1], *params)
        y2s.append(y2)
        if layer < depth:
            qs.append(q_next)
            ps.append(p_next)
    shape = np.broadcast_shapes(y2s[0].shape, q.shape)
    out = {k: np.stack([np.broadcast_to(a, shape) for a in arr]) for k, arr in (("q", qs), ("p", ps), ("Y2", y2s))}
    out["rho"] = out["p"] / out["q"]
    return out
