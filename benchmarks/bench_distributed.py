"""Benchmark: 8 architectures x 256 x 256 x depth 60 on dask LocalCluster with 1 and 2 workers."""
import time

from symsig.analysis.distributed import _client, sweep_many

ARCHS = [dict(sigma_w2=w, sigma_v2=v) for w in (0.1, 0.2, 0.3, 0.4) for v in (0.2, 0.4)]

if __name__ == "__main__":
    for workers in (1, 2):
        client = _client(None, workers)
        try:
            sweep_many(ARCHS[:1], depth=2, beta="1:2:4", alpha_sa="0:1:4", client=client)  # warm workers
            t = time.perf_counter()
            sweep_many(ARCHS, depth=60, beta="0.05:4:256", alpha_sa="0:3:256", chunks=4, client=client)
            print(f"{workers} worker(s): {time.perf_counter() - t:.2f} s for {len(ARCHS)} diagrams 256x256x60")
        finally:
            client.cluster.close()
            client.close()
