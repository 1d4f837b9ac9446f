"""Float finite-T moments and overlap on arrays: exact shortcuts, the shipped tables, the direct method.

Each function broadcasts its arguments, answers the exact cases exactly (n = 1; s2 = 0;
for X also rho = 0 and rho = 1), takes the points inside the shipped tables of
:mod:`.tables` from them (``fast=True``, ~1 microsecond per point on a grid of one n) and
evaluates the rest by the direct method of :mod:`.direct` (~1 ms per moment point, 2-90 ms
per X point). Accuracy (docs/theory.md §4.1, §4.2):

* E[Y2], E[Y3]: 2e-11 relative (table), ~1e-12 (direct);
* E[Y_2^2]: 2e-11 relative (two tables: E[Y_4] and the pair term), ~1e-12 (direct);
* X: 1e-10 E[Y2] absolute (table: X / E[Y2] to 1e-10, times E[Y2] to 2e-11), ~1e-12 E[Y2] (direct).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ...core.validate import InputError
from .direct import moments_direct, overlap_direct
from .inputs import check_k, flat_s2_n, flat_s2_rho_n, n_at, n_per_point, unflatten
from .tables import moment_table, overlap_table


_USE_TABLES = [True]
#: Largest logit variance of the float direct moments. Checked against 25-digit mpmath at n = 512:
#: E[Y2] to 7e-16 relative at s2 = 1e6 and 1.6e-13 at s2 = 1e8 (1 - E[Y2] to 5e-10 there); beyond,
#: the double-precision integrals degrade (s2 = 1e15: E[Y2] < E[Y3]; 1e16: E[Y2] = 1.3e7).
S2_MAX_DIRECT = 1e8


@contextmanager
def direct_method() -> Iterator[None]:
    """Within this context the float functions ignore the tables (as with fast=False), also when
    called through compiled maps; for checks of table-based results against the direct method."""
    _USE_TABLES.append(False)
    try:
        yield
    finally:
        _USE_TABLES.pop()


def _moments(s2: Any, n: Any, k: int, squared: bool, fast: bool) -> np.ndarray | float:
    s2f, nf, shape = flat_s2_n(s2, n)
    out = np.ones(s2f.size)
    exact0 = (s2f == 0) & (nf > 1)
    out[exact0] = n_at(nf, exact0) ** (-2.0 if squared else 1.0 - k)
    todo = np.flatnonzero((s2f > 0) & (nf > 1))
    kind = "y2sq" if squared else {2: "y2", 3: "y3"}.get(k)
    if fast and _USE_TABLES[-1] and kind is not None and todo.size:
        vals, hit = moment_table(kind, s2f[todo], n_at(nf, todo))
        if hit.all():
            out[todo] = vals
            return unflatten(out, shape)
        out[todo[hit]] = vals[hit]
        todo = todo[~hit]
    if todo.size:
        if s2f[todo].max() > S2_MAX_DIRECT:
            raise InputError(f"the finite-T moments at logit variance s2 = {s2f[todo].max():.3g} are beyond the float "
                             f"direct method (s2 <= {S2_MAX_DIRECT:g}); pass dps (--dps N) for mpmath, or omit seq_len")
        out[todo] = moments_direct(s2f[todo], n_per_point(n_at(nf, todo), todo.size), k, squared)
    return unflatten(out, shape)


def y_moment_np(k: int, s2: Any, n: Any, *, fast: bool = True) -> np.ndarray | float:
    """E[Y_k] = n/(k-1)! int du A_k(u) L(u)^(n-1) in float, vectorised over s2 and n.

    Y_k = sum_s A_s^k for a softmax of n iid N(0, s2) logits. ``fast``: k = 2, 3 from the
    table inside its domain (2 <= n <= e^42, s2 <= 144 log n), 2e-11 relative; otherwise
    (or fast=False) the direct method, ~1e-12 relative, ~1 ms per point.
    """
    return _moments(s2, n, check_k(k), False, fast)


def y2_squared_np(s2: Any, n: Any, *, fast: bool = True) -> np.ndarray | float:
    """E[Y_2^2] = E[Y_4] + n(n-1)/6 int du A_2(u)^2 L(u)^(n-2) in float (vectorised).

    ``fast`` as in :func:`y_moment_np` (table: 2e-11 relative, same domain)."""
    return _moments(s2, n, 4, True, fast)


def overlap_np(s2: Any, rho: Any, n: Any, *, fast: bool = True) -> np.ndarray | float:
    """X = E[sum_s A_s A'_s] = n int du du' B(u,u') L2(u,u')^(n-1) in float (vectorised).

    The logit pairs (z_s, z'_s) have variance s2 and correlation rho (see
    :func:`.direct.overlap_point` for the factorisation). Exact shortcuts: n = 1 -> 1;
    s2 = 0 or rho = 0 -> 1/n; rho = 1 -> E[Y2]. ``fast``: from the table inside its domain
    (shipped for e^3 <= n <= e^8, s2 <= 36 log n, any rho: tables.SHIPPED), 1e-10 E[Y2] absolute; otherwise (or
    fast=False) the direct method, ~1e-12 E[Y2], 1-50 ms per point.
    """
    s2f, rf, nf, shape = flat_s2_rho_n(s2, rho, n)
    out = np.empty(s2f.size)
    trivial = (nf == 1) | (s2f == 0) | (rf == 0)
    out[trivial] = 1.0 / n_at(nf, trivial)
    one = ~trivial & (rf == 1)
    if one.any():
        out[one] = y_moment_np(2, s2f[one], n_at(nf, one), fast=fast)
    todo = np.flatnonzero(~trivial & ~one)
    if fast and _USE_TABLES[-1] and todo.size:
        vals, hit = overlap_table(s2f[todo], rf[todo], n_at(nf, todo))
        if hit.all():
            out[todo] = vals
            return unflatten(out, shape)
        out[todo[hit]] = vals[hit]
        todo = todo[~hit]
    if todo.size:
        out[todo] = overlap_direct(s2f[todo], rf[todo], n_per_point(n_at(nf, todo), todo.size))
    return unflatten(out, shape)
