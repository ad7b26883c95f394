"""Where the GPU full pass spends its time, and what reduced precision would buy.

For the full-size model at 64x64: the full pass, the same chunks computing rows only (no
sort, no transfer), and the pass and row error at each jax.lax precision against "highest".
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from timing import timed

from cnninterp.jaxcore.model.network import ModelConfig, random_variables
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.rows import gradients


def measure(config: ModelConfig, variables: dict, image: np.ndarray, pixels) -> tuple:
    """(rows at `pixels`, full-pass seconds, rows-only seconds for all H*W rows)."""
    explainer = Explainer(
        config,
        variables,
        weights_as_constants=False,
        chunk_size=512 if jax.default_backend() != "cpu" else 16,
    )
    explainer.warm_up(*image.shape)
    rows = explainer.gradient_rows(image, pixels)
    t_pass = timed(lambda: explainer.jacobian_stats(image), 2, warm_up=1, statistic=min)
    probs, masks = explainer.linearised(image)

    def row(y, x):
        return gradients.gradient_row(config, explainer.variables, probs, masks, y, x)

    rows_only = jax.jit(jax.vmap(row))
    ys = jnp.arange(512, dtype=jnp.int32) % image.shape[0]
    t_rows = (
        timed(lambda: rows_only(ys, ys).block_until_ready(), 3, warm_up=1, statistic=min)
        * image.size
        / 512
    )
    return rows, t_pass, t_rows


def main() -> None:
    base = ModelConfig(width=64)
    variables = random_variables(base, seed=0)
    image = np.random.default_rng(0).random((64, 64), np.float32)
    pixels = [(5, 7), (32, 32), (60, 2), (17, 45)]
    reference = None
    for precision in ("highest", "high", "default"):
        config = dataclasses.replace(base, precision=precision)
        rows, t_pass, t_rows = measure(config, variables, image, pixels)
        reference = rows if reference is None else reference
        error = np.abs(rows - reference).max(axis=(1, 2)) / np.abs(reference).max(axis=(1, 2))
        print(
            f"{precision:8}: full pass {t_pass:.3f} s, rows only {t_rows:.3f} s, "
            f"row error vs highest: max {error.max():.1e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
