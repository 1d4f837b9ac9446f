"""Piecewise tensor Chebyshev interpolation in d dimensions, built adaptively and verified.

A :class:`Panels` table approximates f on a box (a product of coarse cells given by
breakpoints per dimension) by boxes ("panels") each carrying the tensor Chebyshev
interpolant of f on m nodes per dimension (first kind, x_j = cos(pi (j + 1/2) / m)):

    f(x) ~ sum_{i_1..i_d} c[i_1..i_d] T_{i_1}(t_1) ... T_{i_d}(t_d),   t = affine map of the panel to [-1, 1]^d.

:func:`build` starts from the coarse cells and halves a panel (along the dimension whose
coefficient tail is largest; in several dimensions first judged on the lines through the
panel's centre, which is cheap) until (1) the interpolant matches f at ``ncheck`` random
points of the panel to ``tol`` and (2) its tail is small: the last coefficient slab below
``tol``, the one before below 4 ``tol`` (a decay of at least ~4x per degree), both measured
as w |f - interpolant| with a weight w >= 0 returned by f (relative or absolute error, as
the caller chooses). Panels still failing at the maximum depth are kept but flagged
(``ok`` False); callers evaluate f directly there.

Lookup is O(1): every coarse cell is cut into 2^depth fine cells per dimension, and
``index`` maps each fine cell to its panel. :meth:`Panels.at_last` fixes the last
coordinate (e.g. log n on a grid of fixed n), contracting the last dimension once and
returning a (d-1)-dimensional table, cached per value.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_SECOND = 4.0      # tail: last coefficient slab below tol, the one before below 4 tol
_KEEP = 1e-3       # coefficients below _KEEP * tol (weighted) are set to 0 before the checks
_CHUNK = 4096      # points per batch of Chebyshev bases: (12 + 12) x 4096 doubles (X) stay in a core's
                   # L2 cache and are small enough for malloc to recycle without page faults (the bases
                   # of a whole 256 x 256 grid at once made the X lookup 2-3x slower)


def cheb_nodes(m: int) -> np.ndarray:
    """Chebyshev points of the first kind on [-1, 1] (descending)."""
    return np.cos(np.pi * (np.arange(m) + 0.5) / m)


def _values_to_coef(m: int) -> np.ndarray:
    """V with c = V f on the nodes (discrete cosine transform of the first kind)."""
    vmat = np.cos(np.outer(np.arange(m), np.arccos(cheb_nodes(m)))) * (2.0 / m)
    vmat[0] /= 2.0
    return vmat


def _basis(t: np.ndarray, m: int) -> np.ndarray:
    """T_0..T_{m-1} at t (clipped to [-1, 1]), shape (m, P) (rows contiguous), by the recurrence."""
    return _basis_inplace(np.array(t, float, ndmin=1), m)


def _basis_inplace(t: np.ndarray, m: int, buffer: np.ndarray | None = None) -> np.ndarray:
    """:func:`_basis`, clipping ``t`` (a float array, overwritten) in place; into ``buffer[:m, :t.size]``
    if given (reused across chunks: a fresh large array costs page faults)."""
    np.minimum(t, 1.0, out=t)      # np.clip is slower; NaN stays NaN either way
    np.maximum(t, -1.0, out=t)
    out = np.empty((m, t.size)) if buffer is None else buffer[:m, :t.size]
    out[0] = 1.0
    if m > 1:
        out[1] = t
    t2 = 2.0 * t
    for k in range(2, m):
        np.multiply(t2, out[k - 1], out=out[k])
        out[k] -= out[k - 2]
    return out


def _contract(coef: np.ndarray, bases: list[np.ndarray]) -> np.ndarray:
    """sum_i coef[i_1..i_d] prod_k bases[k][i_k, p] for one panel and P points (bases (m_k, P))."""
    acc = coef.reshape(coef.shape[0], -1).T @ bases[0]            # (m_2 ... m_d, P)
    for k, b in enumerate(bases[1:], start=1):
        acc = np.einsum("jrp,jp->rp", acc.reshape(coef.shape[k], -1, acc.shape[-1]), b)
    return acc[0]


class Panels:
    """A built table (see the module docstring); arrays as saved by :meth:`arrays`."""

    FIELDS = ("index", "lo", "hi", "ok", "depth")

    def __init__(self, breaks: list[np.ndarray], index: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 coef: np.ndarray, ok: np.ndarray, depth: np.ndarray):
        self.breaks = [np.asarray(b, float) for b in breaks]
        self.index, self.lo, self.hi, self.coef, self.ok = index, lo, hi, coef, ok
        self.depth = np.asarray(depth, int)
        self.dim = len(self.breaks)
        self.m = coef.shape[1:]
        self._slices: dict[float, Panels] = {}
        self._usable: np.ndarray | None = None
        self._luts = [self._lut(k) for k in range(self.dim)]

    def _lut(self, k: int) -> tuple[float, np.ndarray] | None:
        """(w, fine index of each bin [b0 + j w, b0 + (j+1) w)) when every fine-cell edge of
        coordinate k is a multiple of w (then locating is one division), else None."""
        br, steps = self.breaks[k], 1 << int(self.depth[k])
        edges = np.concatenate([np.linspace(a, b, steps + 1)[:-1] for a, b in zip(br[:-1], br[1:])] + [br[-1:]])
        w = float(np.min(np.diff(edges)))
        units = (edges - br[0]) / w
        if not np.allclose(units, np.round(units), rtol=0, atol=1e-9) or units[-1] > 1e6:
            return None
        bins = np.arange(int(round(units[-1])))
        return w, np.searchsorted(np.round(units), bins, side="right") - 1

    # -------------------------------------------------------------- storage
    def arrays(self, prefix: str, quantum: float) -> dict[str, np.ndarray]:
        """The arrays to save; coefficients as integer multiples of ``quantum`` (small integers
        compress well): each value then moves by at most (number of coefficients) quantum / 2."""
        out = {f"{prefix}_{f}": getattr(self, f) for f in self.FIELDS}
        out.update({f"{prefix}_breaks{k}": b for k, b in enumerate(self.breaks)})
        out[f"{prefix}_coefq"] = np.round(self.coef / quantum).astype(np.int64)
        out[f"{prefix}_quantum"] = np.array(quantum)
        return out

    @classmethod
    def from_arrays(cls, z: Any, prefix: str) -> Panels:
        dim = sum(1 for f in getattr(z, "files", z) if f.startswith(f"{prefix}_breaks"))  # npz or dict
        fields = {f: z[f"{prefix}_{f}"] for f in cls.FIELDS}
        names = list(getattr(z, "files", z))
        coef = (z[f"{prefix}_coef"] if f"{prefix}_coef" in names  # parts written before quantisation
                else z[f"{prefix}_coefq"] * float(z[f"{prefix}_quantum"]))
        return cls([z[f"{prefix}_breaks{k}"] for k in range(dim)], fields["index"], fields["lo"], fields["hi"], coef,
                   fields["ok"], fields["depth"])

    # -------------------------------------------------------------- evaluation
    def _fine(self, k: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inside, fine-cell index) of coordinate k."""
        br = self.breaks[k]
        inside = (x >= br[0]) & (x <= br[-1])
        if self._luts[k] is not None:
            w, lut = self._luts[k]
            # outside points (NaN included) are read at br[0]; their panel is discarded
            j = ((np.where(inside, x, br[0]) - br[0]) / w).astype(np.intp)
            return inside, lut[np.minimum(j, lut.size - 1, out=j)]
        cell = np.clip(np.searchsorted(br, x, side="right") - 1, 0, br.size - 2)
        steps = 1 << int(self.depth[k])
        with np.errstate(invalid="ignore"):
            frac = (x - br[cell]) / (br[cell + 1] - br[cell]) * steps
        sub = np.clip(np.nan_to_num(frac).astype(np.int64), 0, steps - 1)
        return inside, cell * steps + sub

    def locate(self, coords: list[np.ndarray]) -> np.ndarray:
        """Panel id of each point (-1 outside the table or in a flagged panel)."""
        if self._usable is None:    # panel of each fine cell, -1 where flagged; row-major flat
            self._usable = np.where(self.ok[self.index], self.index, -1).astype(np.int32).ravel()
        inside, flat = None, None
        for k, x in enumerate(coords):
            ins, f = self._fine(k, x)
            inside = ins if inside is None else inside & ins
            stride = int(np.prod(self.index.shape[k + 1:]))
            flat = f * stride if flat is None else flat + f * stride
        pid = self._usable[flat]
        pid[~inside] = -1
        return pid

    def __call__(self, coords: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(values, mask) at the points coords (d arrays of equal shape P); NaN where not mask.

        The points are grouped by panel (a radix sort of the panel ids) and mapped to [-1, 1]
        in place one panel at a time; then, a chunk of points at a time, their Chebyshev bases
        are computed at once and each panel in the chunk does one small matrix product. The
        values are those of :meth:`pointwise` up to the order of the sums (a few ulp).
        """
        coords = [np.asarray(c, float).ravel() for c in coords]
        pid = self.locate(coords)
        out = np.full(pid.shape, np.nan)
        counts = np.bincount(pid + 1, minlength=self.ok.size + 1)
        if counts[0] == pid.size:
            return out, pid >= 0
        # 16-bit keys sort by radix (linear time); the misses (-1) come first
        key = pid.astype(np.int16) if self.ok.size < 32767 else pid
        order = np.argsort(key, kind="stable")[counts[0]:]
        present = np.flatnonzero(counts[1:])
        ends = np.cumsum(counts[1:][present])
        groups = list(zip(present.tolist(), (ends - counts[1:][present]).tolist(), ends.tolist()))
        ts = [c[order] for c in coords]
        for p, a, b in groups:
            for k, t in enumerate(ts):
                lo, hi, seg = self.lo[p, k], self.hi[p, k], t[a:b]
                seg *= 2.0
                seg -= lo
                seg -= hi
                seg /= hi - lo
        vals = np.empty(order.size)
        buffers = [np.empty((mk, min(_CHUNK, order.size))) for mk in self.m]
        chunk, bases = -1, []
        for p, a, b in groups:
            while a < b:                                  # the group's pieces in successive chunks
                c0 = a - a % _CHUNK
                if c0 != chunk:
                    chunk = c0
                    bases = [_basis_inplace(t[c0:c0 + _CHUNK], mk, buf) for t, mk, buf in zip(ts, self.m, buffers)]
                e = min(b, c0 + _CHUNK)
                vals[a:e] = _contract(self.coef[p], [bk[:, a - c0:e - c0] for bk in bases])
                a = e
        out[order] = vals
        return out, pid >= 0

    def pointwise(self, coords: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`__call__` one point at a time: sum_i c[i] prod_k T_{i_k}((2 x_k - lo_k - hi_k) / (hi_k - lo_k))
        of the point's panel (slow; the reference the fast evaluations are tested against)."""
        coords = [np.asarray(c, float).ravel() for c in coords]
        pid = self.locate(coords)
        out = np.full(pid.shape, np.nan)
        for i in np.flatnonzero(pid >= 0):
            p = pid[i]
            ts = [(2.0 * c[i] - self.lo[p, k] - self.hi[p, k]) / (self.hi[p, k] - self.lo[p, k]) for k, c in enumerate(coords)]
            out[i] = _contract(self.coef[p], [_basis(np.array([t]), mk) for t, mk in zip(ts, self.m)])[0]
        return out, pid >= 0

    def at_last(self, x: float) -> Panels | None:
        """The (d-1)-dimensional table at last coordinate x (None outside), cached per x."""
        key = float(x)
        if key not in self._slices:
            if len(self._slices) > 64:
                self._slices.clear()
            self._slices[key] = self._slice(key)
        return self._slices[key]

    def _slice(self, x: float) -> Panels | None:
        inside, fine = self._fine(self.dim - 1, np.array([x]))
        if not inside[0]:
            return None
        sub_index = self.index[..., int(fine[0])]
        used, new_index = np.unique(sub_index, return_inverse=True)
        t = (2.0 * x - self.lo[used, -1] - self.hi[used, -1]) / (self.hi[used, -1] - self.lo[used, -1])
        tb = np.stack([_basis(np.array([ti]), self.m[-1])[:, 0] for ti in t])    # (K', m)
        coef = np.einsum("k...j,kj->k...", self.coef[used], tb)
        return Panels(self.breaks[:-1], new_index.reshape(sub_index.shape).astype(np.int32),
                      self.lo[used, :-1], self.hi[used, :-1], coef, self.ok[used], self.depth[:-1])


# ============================================================================ build
def build(f: Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray]], breaks: list[Any], depth: list[int],
          m: int | tuple[int, ...], tol: float, ncheck: int = 12, seed: int = 2024,
          log: Callable[[str], None] | None = None) -> Panels:
    """Build a verified table of f (module docstring).

    f(coords) -> (values, weights) at the points coords (d arrays); the error of the
    interpolant is measured as weights * |values - interpolant|. ``depth[k]``: at most
    2^depth[k] halvings of a coarse cell along dimension k; ``m``: nodes per dimension.
    """
    rng = np.random.default_rng(seed)
    breaks = [np.asarray(b, float) for b in breaks]
    depth = np.asarray(depth, int)
    dim = len(breaks)
    ms = (m,) * dim if isinstance(m, int) else tuple(m)
    xs = [cheb_nodes(mk) for mk in ms]
    vmats = [_values_to_coef(mk) for mk in ms]
    size = int(np.prod(ms))
    shape = tuple((b.size - 1) << int(dk) for b, dk in zip(breaks, depth))
    index = -np.ones(shape, dtype=np.int32)
    panels: list[tuple] = []

    def fine_bounds(k: int, i0: int, i1: int) -> tuple[float, float]:
        steps = 1 << int(depth[k])
        c0, c1 = i0 // steps, (i1 - 1) // steps
        br = breaks[k]
        w = (br[c0 + 1] - br[c0]) / steps
        return br[c0] + (i0 - c0 * steps) * w, br[c1] + (i1 - c1 * steps) * w

    def fit(box: list[tuple[float, float]]) -> tuple[np.ndarray, float, np.ndarray]:
        grids = np.meshgrid(*[0.5 * (a + b) + 0.5 * (b - a) * x for x, (a, b) in zip(xs, box)], indexing="ij")
        checks = [rng.uniform(a, b, ncheck) for a, b in box]
        vals, wts = f([np.concatenate([g.ravel(), c]) for g, c in zip(grids, checks)])
        coef = vals[:size].reshape(ms)
        for k in range(dim):
            coef = np.moveaxis(np.tensordot(vmats[k], coef, axes=([1], [k])), 0, k)
        wmax = float(np.max(wts))
        coef = np.where(np.abs(coef) * wmax < _KEEP * tol, 0.0, coef)
        t = [(2.0 * c - a - b) / (b - a) for c, (a, b) in zip(checks, box)]
        got = _contract(coef, [_basis(tk, mk) for tk, mk in zip(t, ms)])
        err = float(np.max(wts[size:] * np.abs(got - vals[size:])))
        tails = np.array([wmax * max(np.abs(np.moveaxis(coef, k, 0)[ms[k] - 1]).max(),
                                     np.abs(np.moveaxis(coef, k, 0)[ms[k] - 2]).max() / _SECOND) for k in range(dim)])
        return coef, err, tails

    def probe(box: list[tuple[float, float]]) -> np.ndarray:
        """Weighted coefficient tails along the lines through the centre of the box (cheap)."""
        mid = [0.5 * (a + b) for a, b in box]
        tails = np.zeros(dim)
        for k in range(dim):
            line = [np.full(ms[k], c) for c in mid]
            line[k] = 0.5 * (box[k][0] + box[k][1]) + 0.5 * (box[k][1] - box[k][0]) * xs[k]
            vals, wts = f(line)
            c = vmats[k] @ vals
            tails[k] = float(np.max(wts)) * max(abs(c[-1]), abs(c[-2]) / _SECOND)
        return tails

    def rec(lo_idx: list[int], hi_idx: list[int], level: list[int]) -> None:
        box = [fine_bounds(k, lo_idx[k], hi_idx[k]) for k in range(dim)]
        can = [k for k in range(dim) if level[k] < depth[k]]
        if dim > 1 and can:
            # a failing centre line means the full tensor fit would fail: split right away
            line_tails = probe(box)
            if line_tails.max() >= tol:
                k = max(can, key=lambda j: line_tails[j])
                if line_tails[k] >= tol:
                    split(lo_idx, hi_idx, level, k)
                    return
        coef, err, tails = fit(box)
        good = err < tol and tails.max() < tol
        # stop (flag) when the dimension that needs it most cannot be halved any more: halving
        # the others would multiply flagged panels
        if good or int(np.argmax(tails)) not in can:
            index[tuple(slice(a, b) for a, b in zip(lo_idx, hi_idx))] = len(panels)
            panels.append(([a for a, _ in box], [b for _, b in box], coef, good))
            if log is not None:
                log(f"panel {len(panels)}: " + " x ".join(f"[{a:.4g},{b:.4g}]" for a, b in box)
                    + f" err {err:.1e} tail {tails.max():.1e} ok {good}")
            return
        split(lo_idx, hi_idx, level, max(can, key=lambda j: tails[j]))

    def split(lo_idx: list[int], hi_idx: list[int], level: list[int], k: int) -> None:
        mid = (lo_idx[k] + hi_idx[k]) // 2
        for a, b in ((lo_idx[k], mid), (mid, hi_idx[k])):
            lo2, hi2, lev2 = list(lo_idx), list(hi_idx), list(level)
            lo2[k], hi2[k], lev2[k] = a, b, level[k] + 1
            rec(lo2, hi2, lev2)

    for cell in np.ndindex(*[b.size - 1 for b in breaks]):
        steps = [1 << int(dk) for dk in depth]
        rec([c * s for c, s in zip(cell, steps)], [(c + 1) * s for c, s in zip(cell, steps)], [0] * dim)
    lo = np.array([p[0] for p in panels])
    hi = np.array([p[1] for p in panels])
    coef = np.array([p[2] for p in panels])
    ok = np.array([p[3] for p in panels])
    return Panels(breaks, index, lo, hi, coef, ok, depth)


def merge_last(parts: list[Panels]) -> Panels:
    """Join tables built on consecutive ranges of the last coordinate (same other breaks and depth)."""
    first = parts[0]
    offsets = np.cumsum([0] + [len(p.ok) for p in parts[:-1]])
    last = np.concatenate([parts[0].breaks[-1]] + [p.breaks[-1][1:] for p in parts[1:]])
    for p, q in zip(parts[:-1], parts[1:]):
        if p.breaks[-1][-1] != q.breaks[-1][0] or any((a.shape != b.shape) or np.any(a != b)
                                                       for a, b in zip(p.breaks[:-1], q.breaks[:-1])):
            raise ValueError("tables do not join")
    return Panels(first.breaks[:-1] + [last], np.concatenate([p.index + o for p, o in zip(parts, offsets)], axis=-1).astype(np.int32),
                  np.concatenate([p.lo for p in parts]), np.concatenate([p.hi for p in parts]),
                  np.concatenate([p.coef for p in parts]), np.concatenate([p.ok for p in parts]), first.depth)


def random_points(breaks: list[Any], size: int, seed: int) -> list[np.ndarray]:
    """Uniform random points in the table's box (for verification)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(float(b[0]), float(b[-1]), size) for b in breaks]


def panel_count(table: Panels) -> tuple[int, int, int]:
    """(panels, flagged panels, stored nonzero coefficients)."""
    return len(table.ok), int((~table.ok).sum()), int(np.count_nonzero(table.coef))

