"""Models in which no gradient can cancel to zero by chance: every weight positive and every
ReLU open. Tests of supports (receptive field, windows) use them, since a value that is
missing then shows."""

import jax
import jax.numpy as jnp
import numpy as np

from cnninterp.jaxcore.model.network import ModelConfig, init_variables
from cnninterp.jaxcore.rows import gradients


def positive_variables(config: ModelConfig) -> dict:
    """Weights uniform in [0.5, 1], BatchNorm means zero: values grow layer by layer."""
    shapes = jax.eval_shape(lambda: init_variables(config))
    rng = np.random.default_rng(0)
    variables = jax.tree.map(lambda s: rng.uniform(0.5, 1.0, s.shape).astype(np.float32), shapes)
    variables["batch_stats"] = jax.tree.map(np.zeros_like, variables["batch_stats"])  # means
    return variables


def averaging_variables(config: ModelConfig) -> dict:
    """Positive kernels that average their inputs and unit variances, so values stay near 1
    through all 23 layers and p does not saturate; class 0's logit is constant, so p's
    cotangent reaches the network with one sign only."""
    variables = positive_variables(config)
    variables["params"] = jax.tree.map(
        lambda v: v / np.prod(v.shape[:-1]) if v.ndim == 4 else v, variables["params"]
    )
    variables["batch_stats"] = jax.tree_util.tree_map_with_path(
        lambda path, v: np.ones_like(v) if path[-1].key == "var" else v, variables["batch_stats"]
    )
    variables["params"]["final"]["kernel"][..., 0] = 0.0
    return variables


def open_network(height: int, width: int):
    """A width-2 model with averaging_variables and the forward pass of a blank image of this
    size, every ReLU open (checked): (config, variables, probs, masks)."""
    config = ModelConfig(width=2)
    variables = averaging_variables(config)
    probs, masks = gradients.forward(config, variables, jnp.ones((height, width), jnp.float32))
    assert all(bool(m.all()) for m in jax.tree.leaves(masks))
    return config, variables, probs, masks
