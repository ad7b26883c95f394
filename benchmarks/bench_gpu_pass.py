"""The full pass alone on a GPU, warm, and where its time goes:

    python benchmarks/bench_gpu_pass.py [SIZE ...]

For each size: the pass (best of 3), the same chunks computing rows only, and rows plus their
summaries on the device (no transfer, no host work), each scaled to all rows.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
from timing import timed

from cnninterp.jaxcore.model.network import ModelConfig, random_variables
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.passes.full_passes import colour_order
from cnninterp.jaxcore.rows import gradients
from cnninterp.jaxcore.summaries.significance import is_exact


def breakdown(explainer: Explainer, size: int) -> str:
    config = explainer.config
    image = np.random.default_rng(size).random((size, size), np.float32)
    explainer.warm_up(size, size)
    seconds = min(explainer.jacobian_stats(image).seconds for _ in range(3))
    probs, masks = explainer.linearised(image)
    chunk = explainer.engine.chunk_for(size, size)
    offsets = jnp.arange(chunk, dtype=jnp.int32) % size
    chunks = len(colour_order(size, size)) / chunk
    exact = is_exact(size, size)
    kernels = explainer.passes.kernels
    summaries = kernels.exact_summaries if exact else kernels.histogram_summaries

    def row(y, x):
        return gradients.gradient_row(config, explainer.variables, probs, masks, y, x)

    rows_only = jax.jit(jax.vmap(row))
    t_rows = timed(lambda: rows_only(offsets, offsets).block_until_ready(), 3) * chunks
    t_summaries = (
        timed(lambda: jax.block_until_ready(summaries(probs, masks, offsets, offsets)), 3) * chunks
    )
    return (
        f"{size}x{size} ({explainer.device_name}, chunks of {chunk}): pass {seconds:.3f} s; "
        f"rows only {t_rows:.3f} s; rows + {'sorted' if exact else 'histogram'} summaries "
        f"on the device {t_summaries:.3f} s"
    )


def main() -> None:
    config = ModelConfig(width=64)
    explainer = Explainer(config, random_variables(config), full_pass="rows")
    for size in [int(a) for a in sys.argv[1:]] or [64]:
        print(breakdown(explainer, size), flush=True)


if __name__ == "__main__":
    main()
