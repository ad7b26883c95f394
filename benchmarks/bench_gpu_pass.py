"""The full pass alone on a GPU, warm: python benchmarks/bench_gpu_pass.py [SIZE ...]."""

import sys

import numpy as np

from cnninterp.jaxcore.explainer import Explainer
from cnninterp.jaxcore.model import ModelConfig, random_variables


def main() -> None:
    config = ModelConfig(width=64)
    explainer = Explainer(config, random_variables(config))
    for size in [int(a) for a in sys.argv[1:]] or [64]:
        image = np.random.default_rng(size).random((size, size), np.float32)
        explainer.warm_up(size, size)
        seconds = min(explainer.jacobian_stats(image).seconds for _ in range(3))
        print(f"{size}x{size}: all {size * size} rows + summaries in {seconds:.3f} s", flush=True)


if __name__ == "__main__":
    main()
