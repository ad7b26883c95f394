"""Warm timing shared by the benchmark scripts (run as `python benchmarks/NAME.py`)."""

import statistics
import time
from collections.abc import Callable


def timed(
    fn: Callable[[], object],
    repeat: int = 10,
    warm_up: int = 2,
    statistic: Callable[[list[float]], float] = statistics.median,
) -> float:
    """Seconds of fn() over `repeat` calls (median by default) after `warm_up` untimed calls:
    first calls of PyTorch and of jitted functions are several times slower."""
    for _ in range(warm_up):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistic(times)
