"""Scale-out of diagram sweeps on dask.distributed (optional extra "dist", imported lazily).

The (alpha_SA, beta) grid is cut into row chunks; each chunk is one task running
:func:`symsig.diagram.sweep` (numpy) on a worker; the results are stitched. Use a
LocalCluster (default) or an existing scheduler by ``address``. Many
architectures: call :func:`sweep_many` with a list of architecture dicts.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core import validate
from ..core.architecture import Architecture
from .diagram import parse_grid

#: The dask setting of the environment its local worker processes start with.
PRE_SPAWN = "distributed.nanny.pre-spawn-environ"


@contextlib.contextmanager
def dask_client(client: Any = None, address: str | None = None, workers: int = 2) -> Iterator[Any]:
    """``client`` itself, or a new dask client (of the scheduler at ``address``, else of a
    LocalCluster of ``workers`` single-threaded processes) closed with its cluster on exit."""
    if client is not None:
        yield client
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - optional extra
        raise validate.InputError("dask is not installed: pip install 'symsig[dist]'") from None
    if address:
        own = Client(address)
    else:
        import dask

        # dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, so glibc returns every freed
        # block above 64 KiB to the system and faults it back in on the next step: a training
        # run spent 40% of its CPU time in the kernel and ran 2x slower than in a plain process.
        with dask.config.set({f"{PRE_SPAWN}.MALLOC_TRIM_THRESHOLD_": None}):
            own = Client(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None))
    try:
        yield own
    finally:
        cluster = getattr(own, "cluster", None)
        own.close()
        if cluster is not None:
            cluster.close()


def _chunk(arch: dict[str, Any], betas: np.ndarray, alphas: np.ndarray, depth: int, rho0: float, q0: float) -> tuple[np.ndarray, np.ndarray]:
    from .diagram import sweep

    return sweep(Architecture(**arch), betas, alphas, depth, rho0, q0)


def sweep_many(
    architectures: list[dict[str, Any]], *, depth: int, beta: Any, alpha_sa: Any, rho0: float = 0.3, q0: float = 1.0,
    chunks: int = 8, address: str | None = None, workers: int = 2, client: Any = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(rho_L, mean_Y2)] per architecture, each (N_alpha, N_beta), computed in ``chunks`` row blocks per architecture."""
    betas, alphas = parse_grid("beta", beta), parse_grid("alpha_sa", alpha_sa)
    archs = [Architecture(**a).to_dict() for a in architectures]  # validate before shipping
    with dask_client(client, address, workers) as client:
        parts = np.array_split(alphas, max(1, min(chunks, alphas.size)))
        futures = [[client.submit(_chunk, a, betas, rows, depth, rho0, q0, pure=False) for rows in parts] for a in archs]
        out = []
        for fut in futures:
            res = client.gather(fut)
            out.append((np.vstack([r for r, _ in res]), np.vstack([y for _, y in res])))
        return out
