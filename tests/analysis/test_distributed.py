"""Scale-out on dask.distributed gives exactly the single-process sweep."""
from __future__ import annotations

import numpy as np
import pytest

from symsig.core.architecture import Architecture
from symsig.analysis.diagram import parse_grid, sweep
from symsig.analysis.distributed import sweep_many


def test_sweep_many_matches_local_sweep() -> None:
    from dask.distributed import Client, LocalCluster

    archs = [dict(block="post-ln"), dict(block="pre-ln", activation="erf")]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        out = sweep_many(archs, depth=12, beta="0.2:3:9", alpha_sa="0:2:7", chunks=3, client=client)
    betas, alphas = parse_grid("beta", "0.2:3:9"), parse_grid("alpha_sa", "0:2:7")
    for arch, (rho_l, mean_y2) in zip(archs, out):
        ref_rho, ref_y2 = sweep(Architecture(**arch), betas, alphas, 12, 0.3, 1.0)
        assert rho_l.shape == (7, 9)
        np.testing.assert_array_equal(rho_l, ref_rho)
        np.testing.assert_array_equal(mean_y2, ref_y2)


@pytest.mark.slow
def test_local_workers_keep_glibc_heap() -> None:
    """The local cluster's workers do not start with dask's MALLOC_TRIM_THRESHOLD_ = 65536
    (which doubled the cost of a training run), and keep the rest of dask's environment."""
    import os

    from symsig.analysis.distributed import dask_client

    def env() -> tuple[str | None, str | None]:
        return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS")

    own = os.environ.get("MALLOC_TRIM_THRESHOLD_")  # read first: dask's nanny writes its settings here
    with dask_client(workers=1) as client:
        (trim, omp), = client.run(env).values()
    assert trim == own  # the user's own setting, if any, else unset
    assert omp == "1"
