"""The interpolation tables of the finite-T moments and the overlap (float fast path; shipped: SHIPPED).

Tabulated functions (:mod:`.chebpanels`, verified against :mod:`.direct` at build time), in
t = s2 / log n (= beta^2 q (q - p): the moments are smooth functions of s2, and change on
the scale of beta), l = log n and, for X, v = sqrt((1 - rho) / 2) (which spreads the
structure near rho = 1):

    y2, y3, y4: log(n^(k-1) E[Y_k])       on t in [0, 144], l in [log 2, 42]
    y2pair:     log(n^2 P), P = E[Y_2^2] - E[Y_4] = n(n-1)/6 int du A_2^2 L^(n-2)  (same domain)
                (0 at s2 = 0 but y2pair; error measured in the log, i.e. relative)
    x:          X / E[Y2]                 on t in [0, 36], v in [0, 1], l in [1.5, 14]
                (1 at rho = 1; error measured in X: weight E[Y2]; 1e-10 suffices for the
                diagrams: a shift of X by 1e-10 moves rho_L after 60 post-LN blocks by < 1e-10)

E[Y_2^2] = E[Y_4] + P is tabulated in its two terms: each is smooth, but their sum
changes from pair- to Y_4-dominated across a layer of width ~1/log n in beta (near
beta ~ 1/2 for large n), where the log of the sum is too sharp for the panels.

and tolerances (the build's verification: every panel at 12 random points and its
Chebyshev tail) ``Spec.tol``. Points outside a table, in a panel that failed verification,
or without a shipped table use the direct method. The file and its build times:
:data:`TABLE_FILE`; rebuild with ``python -m symsig.numerics.finite_t [kinds]``.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .chebpanels import Panels, build, merge_last
from .direct import moment_integrals, overlap_direct

TABLE_FILE = Path(__file__).with_name("finite_t_table.npz")
L_MIN, L_MAX = math.log(2.0), 42.0
X_L_MIN, X_L_MAX = 1.5, 14.0   #: the X table covers e^1.5 ~ 4.5 <= n <= e^14 ~ 1.2e6 (direct method outside)
_L_BANDS = (L_MIN, 1.2, 2.0, 3.0, 4.5, 7.0, 10.0, 14.0, 20.0, 28.0, 36.0, L_MAX)


@dataclass(frozen=True)
class Spec:
    """Domain (coarse breakpoints per coordinate), maximum halvings, nodes per dimension, tolerance."""

    breaks: tuple[tuple[float, ...], ...]
    depth: tuple[int, ...]
    m: int | tuple[int, ...]
    tol: float


_Y = Spec((tuple(float(b * b) for b in range(13)), _L_BANDS), (5, 5), 16, 2e-11)
SPECS = {
    "y2": _Y, "y3": _Y, "y4": _Y, "y2pair": _Y,
    "x": Spec((tuple(b * b for b in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)), (0.0, 0.25, 0.5, 1.0),
               (X_L_MIN, 3.0, 5.0, 8.0, X_L_MAX)), (3, 3, 3), (12, 12, 8), 1e-10),
}
#: The tables in the shipped file. The X table ships two of its n-bands, e^3 ~ 20 <= n <= e^8 ~ 2981
#: (each band takes about 2 h of CPU to build and verify; T = 32..2048 are inside); elsewhere
#: overlap_np uses the direct method until bands 0 and 3 are built (``... x --band 0 3``, then --join).
SHIPPED = ("y2", "y3", "y4", "y2pair", "x")
_POWER = {"y2": 1, "y3": 2, "y4": 3, "y2pair": 2}       # the tabulated log(n^power E[...])


def target(kind: str, coords: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(tabulated function, error weight) at table coordinates, by the direct method."""
    if kind == "x":
        t, v, lg = coords
        s2, n = t * lg, np.exp(lg)
        y2 = moment_integrals(s2, n, (2,))[2]
        return overlap_direct(s2, 1.0 - 2.0 * v * v, n) / y2, y2
    t, lg = coords
    key = "pair" if kind == "y2pair" else int(kind[1])
    vals = moment_integrals(t * lg, np.exp(lg), () if key == "pair" else (key,), pair=key == "pair")[key]
    return np.log(vals) + _POWER[kind] * lg, np.ones(t.shape)


def build_table(kinds: tuple[str, ...] = tuple(SPECS), path: Path | str | None = TABLE_FILE,
                log: Callable[[str], None] | None = None, bands: tuple[int, ...] | None = None) -> dict:
    """Build (and save into ``path``, keeping the other kinds there) the tables of ``kinds``.

    ``bands``: build only these l-bands (indices into the coarse l breakpoints) and save
    them as ``<kind>@<band>`` parts; :func:`join_parts` joins complete sets of parts.
    Returns {name: (Panels, seconds)}.
    """
    out = {}
    for kind in kinds:
        spec = SPECS[kind]
        todo = range(len(spec.breaks[-1]) - 1) if bands is None else bands
        for band in todo:
            brk = [list(b) for b in spec.breaks[:-1]] + [list(spec.breaks[-1][band: band + 2])]
            t0 = time.perf_counter()
            tab = build(lambda c, kind=kind: target(kind, c), brk, list(spec.depth), spec.m, spec.tol,
                        seed=1000 * band + len(kind), log=log)
            out[f"{kind}@{band}"] = (tab, time.perf_counter() - t0)
        if bands is None:
            parts = [out.pop(f"{kind}@{band}") for band in todo]
            out[kind] = (merge_last([p for p, _ in parts]), sum(s for _, s in parts))
    if path is not None:
        _save(path, out)
    return out


def join_parts(path: Path | str = TABLE_FILE, sources: tuple[Path | str, ...] = ()) -> list[str]:
    """Gather the arrays of ``path`` and ``sources`` into ``path``, joining complete sets of
    ``<kind>@<band>`` parts into the table of ``kind``; returns the kinds joined."""
    stored = {}
    for src in (path, *sources):
        if Path(src).exists():
            with np.load(src) as z:
                stored.update({f: z[f] for f in z.files})
    joined = []
    for kind, spec in SPECS.items():
        have = [band for band in range(len(spec.breaks[-1]) - 1) if f"{kind}@{band}_index" in stored]
        run = have[have.index(max(have)) - _run_length(have) + 1:] if have else []   # the top consecutive bands
        names = [f"{kind}@{band}" for band in run]
        if names:  # a partial run covers the top of the n range: the direct method serves the rest
            parts = [Panels.from_arrays(stored, name) for name in names]
            seconds = sum(float(stored[f"{name}_seconds"]) for name in names)
            stored = {f: v for f, v in stored.items() if not any(f.startswith(name + "_") for name in names)}
            stored.update(_arrays(kind, merge_last(parts), seconds))
            joined.append(kind)
    np.savez_compressed(path, **stored)
    return joined


def _run_length(bands: list[int]) -> int:
    """Length of the consecutive run of band numbers ending at the largest."""
    k = 1
    while k < len(bands) and bands[-k - 1] == bands[-k] - 1:
        k += 1
    return k


def _arrays(name: str, tab: Panels, seconds: float) -> dict:
    """The saved arrays: coefficients in units of 1e-4 tol (all of a panel move by < 0.06 tol)."""
    tol = SPECS[name.split("@")[0]].tol
    return {**tab.arrays(name, 1e-4 * tol), f"{name}_seconds": np.array(seconds), f"{name}_tol": np.array(tol)}


def _save(path: Path | str, built: dict) -> None:
    stored = {}
    if Path(path).exists():
        with np.load(path) as z:
            stored = {f: z[f] for f in z.files if not any(f.startswith(name + "_") for name in built)}
    for name, (tab, seconds) in built.items():
        stored.update(_arrays(name, tab, seconds))
    np.savez_compressed(path, **stored)


@lru_cache(maxsize=1)
def tables() -> dict[str, Panels]:
    """The shipped tables by kind (empty if the file is missing)."""
    if not TABLE_FILE.exists():
        return {}
    with np.load(TABLE_FILE) as z:
        return {kind: Panels.from_arrays(z, kind) for kind in SPECS if f"{kind}_index" in z.files}


def _lookup(kind: str, coords: list[np.ndarray], lg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Table values and hit mask at the points ``coords``; log n ``lg`` per point or of shape (1,).
    One log n for all points contracts the l-dimension once (cached)."""
    tab, size = tables().get(kind), coords[0].size
    if tab is None or size == 0:
        return np.full(size, np.nan), np.zeros(size, bool)
    if lg.size == 1 or np.all(lg == lg[0]):
        sliced = tab.at_last(lg[0])
        if sliced is None:
            return np.full(size, np.nan), np.zeros(size, bool)
        return sliced(coords)
    return tab(coords + [lg])


#: The last lookup per kind: a layer map asks for E[Y2] at the same points twice (directly and
#: inside X = (X/E[Y2]) E[Y2]); the inputs are compared in full, so a hit is never stale.
_LAST: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}


def moment_table(kind: str, s2: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E[Y_k] for kind 'y2', 'y3'; E[Y_2^2] for 'y2sq', mask) from the tables; flat arrays (n may
    have shape (1,): one n for all points)."""
    last = _LAST.get(kind)
    if last is not None and last[0].shape == s2.shape and np.array_equal(last[0], s2) and np.array_equal(last[1], n):
        return last[2].copy(), last[3].copy()
    values, hit = _moment_table(kind, s2, n)
    _LAST[kind] = (s2.copy(), np.array(n, copy=True), values.copy(), hit.copy())
    return values, hit


def _moment_table(kind: str, s2: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if kind == "y2sq":
        y4, hit4 = moment_table("y4", s2, n)
        pair, hitp = moment_table("y2pair", s2, n)
        return y4 + pair, hit4 & hitp
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log(n)
        g, hit = _lookup(kind, [s2 / lg], lg)
        hit &= (s2 > 0) & (n >= 2)
        return np.exp(g - _POWER[kind] * lg), hit


def overlap_table(s2: np.ndarray, rho: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(X, mask) = (X/E[Y2] from the x table) * (E[Y2] from the y2 table) for flat arrays (n as in
    :func:`moment_table`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.log(n)
        ratio, hit = _lookup("x", [s2 / lg, np.sqrt(np.maximum(0.5 * (1.0 - rho), 0.0))], lg)
        y2, hit2 = moment_table("y2", s2, n)
        return ratio * y2, hit & hit2 & (s2 > 0) & (n >= 2)


def main(argv: list[str]) -> None:
    """``python -m symsig.numerics.finite_t [kind ...] [--band i ...] [--out FILE]`` builds into
    FILE (default the shipped file); ``--join FILE ...`` gathers part files into it."""
    if "--join" in argv:
        print("joined", join_parts(TABLE_FILE, tuple(argv[argv.index("--join") + 1:])))
        return
    out = TABLE_FILE
    if "--out" in argv:
        i = argv.index("--out")
        out, argv = Path(argv[i + 1]), argv[:i] + argv[i + 2:]
    bands = tuple(int(a) for a in argv[argv.index("--band") + 1:]) if "--band" in argv else None
    kinds = tuple(argv[: argv.index("--band")] if "--band" in argv else argv) or tuple(SPECS)
    t0 = time.perf_counter()
    built = build_table(kinds, path=out, bands=bands,
                        log=lambda s: print(f"{time.perf_counter() - t0:8.0f}s {s}", flush=True))
    for name, (tab, seconds) in built.items():
        print(f"{name}: {len(tab.ok)} panels ({int((~tab.ok).sum())} failed), {seconds:.0f} s")

