"""GPU design choices, measured: weights as constants vs arguments, chunk sizes, peak memory.

Run on a GPU machine; prints compile time, one-row latency and full-pass time per variant.
With --rss-256 it runs only a 256x256 full pass and prints the host memory it added.
"""

import argparse
import resource
import statistics
import time

import jax
import numpy as np

from cnninterp.jaxcore.model.network import ModelConfig, init_variables
from cnninterp.jaxcore.passes.explainer import Explainer


def random_variables(width: int) -> dict:
    shapes = jax.eval_shape(lambda: init_variables(ModelConfig(width=width)))
    rng = np.random.default_rng(0)
    variables = jax.tree.map(
        lambda s: (rng.standard_normal(s.shape) * 0.05).astype(np.float32), shapes
    )
    variables["batch_stats"] = jax.tree.map(lambda a: np.abs(a) + 0.5, variables["batch_stats"])
    return variables


def median_row_ms(explainer, image) -> float:
    explainer.gradient_row(image, 1, 2)
    times = []
    for i in range(20):
        start = time.perf_counter()
        explainer.gradient_row(image, i, 2 * i)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rss-256", action="store_true")
    args = parser.parse_args()
    config, variables = ModelConfig(width=64), random_variables(64)
    if args.rss_256:
        explainer = Explainer(config, variables)
        image = np.random.default_rng(0).random((256, 256), np.float32)
        explainer.warm_up(256, 256)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        stats = explainer.jacobian_stats(image)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(
            f"256x256 pass {stats.seconds:.1f} s; peak RSS {before:.2f} -> {after:.2f} GiB "
            f"(+{after - before:.2f} GiB for the pass)"
        )
        return
    image = np.random.default_rng(0).random((64, 64), np.float32)
    for constants in (False, True):
        for chunk in (128, 512):
            explainer = Explainer(
                config, variables, weights_as_constants=constants, chunk_size=chunk
            )
            start = time.perf_counter()
            explainer.warm_up(64, 64)
            compile_s = time.perf_counter() - start
            row = median_row_ms(explainer, image)
            explainer.jacobian_stats(image)
            passes = [explainer.jacobian_stats(image).seconds for _ in range(2)]
            print(
                f"constants={constants!s:5} chunk={chunk:4}: compile {compile_s:5.1f} s, "
                f"row {row:5.2f} ms, 64x64 pass {min(passes):.3f} s",
                flush=True,
            )
    explainer = Explainer(config, variables, weights_as_constants=False, chunk_size=512)
    image = np.random.default_rng(0).random((128, 128), np.float32)
    explainer.warm_up(128, 128)
    stats = explainer.jacobian_stats(image)
    print(f"constants=False chunk=512: 128x128 pass {stats.seconds:.2f} s", flush=True)


if __name__ == "__main__":
    main()
