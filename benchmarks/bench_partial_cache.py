"""What keeping a partial pass costs: writing and loading partial cache entries
(jaxcore/store/partial_entries.py) at the sizes a pass leaves unfinished, and the share of a pass's
time the keeping policy allows (a write at most every max(KEEP_INTERVAL, OVERHEAD_FACTOR x
its duration) seconds). Synthetic stats with random rows done: the cost depends on how many
rows are done and on the image size, not on their values.

    python benchmarks/bench_partial_cache.py [--big]   # --big adds 128x128 half done (512 MiB)
"""

import argparse
import hashlib
import tempfile
import time

import numpy as np

from cnninterp.jaxcore.store.partial_entries import KEEP_INTERVAL, OVERHEAD_FACTOR
from cnninterp.jaxcore.store.results import StatsCache
from cnninterp.jaxcore.summaries.significance import JacobianStats

CASES = [  # (side, share of rows done, what it stands for)
    (64, 64 / 4096, "64x64 pass by columns: its preview rows"),
    (128, 256 / 16384, "128x128 pass by columns: its preview rows"),
    (256, 0.1, "256x256 on crops, 10 % done"),
    (256, 0.5, "256x256 on crops, half done"),
    (256, 1.0, "256x256 on crops, every row (cancelled at the end)"),
]


def partial_stats(side: int, share: float, rng) -> JacobianStats:
    stats = JacobianStats.empty(side, side)
    n = side * side
    flat = rng.permutation(n)[: max(1, int(n * share))]
    done = np.zeros(n, bool)
    done[flat] = True
    stats.done = done.reshape(side, side)
    stats.row_max_abs.ravel()[flat] = 1.0
    stats.row_max_signed.ravel()[flat] = 0.5
    if stats.rows is not None:
        stats.rows[flat, 0, 0] = 1.0  # the row max, as the checks on load require
    else:
        stats.edges[flat] = np.float32(1.0)
        stats.above_edges[flat] = 1
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big", action="store_true", help="add 128x128 half done (GPU pass)")
    args = parser.parse_args()
    cases = CASES + ([(128, 0.5, "128x128 by rows (GPUs), half done")] if args.big else [])
    rng = np.random.default_rng(0)
    key = hashlib.sha256(b"bench").hexdigest()
    print(f"{'case':55s} {'rows':>7s} {'MiB':>6s} {'write s':>8s} {'load s':>7s} {'overhead':>8s}")
    for side, share, what in cases:
        stats = partial_stats(side, share, rng)
        with tempfile.TemporaryDirectory() as folder:
            cache = StatsCache(folder)
            start = time.perf_counter()
            assert cache.store_partial(key, stats)
            wrote = time.perf_counter() - start
            mib = cache.partial_path_for(key).stat().st_size / 2**20
            start = time.perf_counter()
            loaded = cache.load_partial(key)
            load = time.perf_counter() - start
            assert loaded is not None and loaded.done.sum() == stats.done.sum()
        overhead = wrote / max(KEEP_INTERVAL, OVERHEAD_FACTOR * wrote)
        rows = int(stats.done.sum())
        print(f"{what:55s} {rows:7d} {mib:6.1f} {wrote:8.3f} {load:7.3f} {overhead:8.2%}")


if __name__ == "__main__":
    main()
