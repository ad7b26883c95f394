"""Apply KEY_TABLE to a checked state dict and prove the result fills the Flax model exactly.

The torch-side check (key_map.check_state) says the checkpoint is a CustomResNet; this one
says our table and layout rules produce every variable VesselCNN declares, each with the
shape Flax expects. A failure here is a bug in cnninterp, not in the user's file.
"""

import functools

import jax
import numpy as np

from cnninterp.convert.key_map import KEY_TABLE, is_dropped
from cnninterp.jaxcore.model.model_file import unflatten_variables
from cnninterp.jaxcore.model.network import ModelConfig, init_variables


def flax_variable_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """'params/conv1/kernel' -> shape, for every variable of VesselCNN (traced, not run)."""
    tree = jax.eval_shape(functools.partial(init_variables, config, 0, 2 * 16))
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {"/".join(k.key for k in path): tuple(leaf.shape) for path, leaf in leaves}


def flax_variables(state: dict[str, np.ndarray], config: ModelConfig) -> dict:
    """{'params': ..., 'batch_stats': ...} of VesselCNN(config) from a checked torch state."""
    flat = {}
    for key, value in state.items():
        if is_dropped(key):
            continue
        path, rule = KEY_TABLE[key]
        flat[path] = rule(np.asarray(value, np.float32))
    template = flax_variable_shapes(config)
    problems = [f"{p} not filled" for p in template if p not in flat]
    problems += [f"{p} is not a VesselCNN variable" for p in flat if p not in template]
    problems += [
        f"{p} has shape {flat[p].shape}, VesselCNN expects {template[p]}"
        for p in flat
        if p in template and flat[p].shape != template[p]
    ]
    if problems:
        raise AssertionError(
            "cnninterp bug: the key table does not fit VesselCNN: " + "; ".join(problems)
        )
    return unflatten_variables(flat)


def parameter_count(state: dict[str, np.ndarray]) -> int:
    """Trainable parameters (BatchNorm running statistics and counters excluded)."""
    return sum(
        int(v.size)
        for k, v in state.items()
        if k in KEY_TABLE and KEY_TABLE[k][0].startswith("params/")
    )
