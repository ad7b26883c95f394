"""Any exported segmentation model (graph_file.py) through the model seam (seam.py).

The record's `apply` is the graph's interpreter (interpreter.py) with the model's input
normalisation in front, so every gradient is with respect to the image as loaded ([0, 1]),
whatever mean and standard deviation the network was trained with. Its receptive field and
size multiple were derived from the graph at conversion (graph_field.py) and stored in the
file; the bytes per pixel of its passes are derived here from the graph's values (an abstract
evaluation: nothing is computed).
"""

import hashlib
import json
import math

import jax
import jax.numpy as jnp
import numpy as np

from cnninterp.jaxcore.model.graph import Graph, is_reference, references
from cnninterp.jaxcore.model.graph_file import GraphModelFile
from cnninterp.jaxcore.model.interpreter import graph_apply, run_graph
from cnninterp.jaxcore.model.seam import SegmentationModel

PROBE_SIDE = 4
"""The probe image measuring activation bytes is this many size multiples on a side (at
least 64 px): large enough that 1x1 values at the bottom of a U-Net weigh what they do."""
ROW_COPIES = 1
"""A row's backward pass, per image pixel, in units of the forward pass's activation bytes.
Measured: smp Unet-r18 at 256x256 (1,872 activation bytes per pixel), 8 rows in one call
took 353 MB more peak RSS than 1 row, 770 bytes per pixel per row: 1 copy bounds it."""


def graph_model(loaded: GraphModelFile, explained_class: int | None = None) -> SegmentationModel:
    """The seam's record of a generic model file; `explained_class` overrides the file's."""
    config = loaded.config
    network = graph_apply(loaded.graph)
    normalize = config.normalize

    def apply(params, images):
        if normalize is not None:
            mean = jnp.asarray(normalize["mean"], images.dtype)
            std = jnp.asarray(normalize["std"], images.dtype)
            images = (images - mean) / std
        return network(params, images)

    activation_bytes = activation_bytes_per_pixel(loaded, config.size_multiple)
    chosen = config.explained_class if explained_class is None else explained_class
    return SegmentationModel(
        apply=apply,
        params=loaded.weights,
        input_channels=config.input_channels,
        classes=config.classes,
        activation=config.activation,  # type: ignore[arg-type]  # checked at load
        explained_class=chosen,
        receptive_radius=config.receptive_radius,
        size_multiple=config.size_multiple,
        row_bytes_per_pixel=ROW_COPIES * activation_bytes,
        forward_bytes_per_pixel=float(activation_bytes),
        class_names=config.class_names,
        crops_exact=crops_exact(loaded.graph, loaded.weights),
        fingerprint=fingerprint(loaded),
        field_reason=config.receptive_reason if config.receptive_radius is None else "",
    )


def activation_bytes_per_pixel(loaded: GraphModelFile, size_multiple: int) -> int:
    """Bytes of every value the forward pass makes, per input pixel (float32)."""
    side = max(64, PROBE_SIDE * size_multiple)
    image = jax.ShapeDtypeStruct((1, side, side, loaded.config.input_channels), np.float32)
    params = {
        name: jax.ShapeDtypeStruct(array.shape, array.dtype)
        for name, array in loaded.weights.items()
    }

    def arrays(p, x):  # the symbolic sizes among the values are plain ints
        return {k: v for k, v in run_graph(loaded.graph, p, x).items() if isinstance(v, jax.Array)}

    values = jax.eval_shape(arrays, params, image)
    total = sum(
        math.prod(leaf.shape) * 4
        for leaf in jax.tree.leaves(values)
        if hasattr(leaf, "shape") and len(leaf.shape) == 4
    )
    return max(1, math.ceil(total / (side * side)))


SHIFT_EQUIVARIANT = {
    "conv2d", "conv_transpose2d", "batch_norm", "relu", "leaky_relu", "prelu", "hardswish",
    "hardsigmoid", "hardtanh", "clamp", "sigmoid", "tanh", "silu", "gelu", "identity",
    "max_pool2d", "avg_pool2d", "upsample_nearest2d", "upsample_bilinear2d", "pad", "add", "sub",
    "mul", "div", "cat", "sym_size", "int_add", "int_sub", "int_mul", "int_floordiv",
}  # fmt: skip
"""Ops whose output, shifted by a multiple of the total stride, is that of the shifted input
(away from the borders). Anything else (softmax, norms or means over space, reshapes, slices,
adaptive pooling) keeps rows on the whole image."""


def fingerprint(loaded: GraphModelFile) -> str:
    """sha256 of the graph and the normalisation: what apply computes beyond the weights."""
    what = {"graph": loaded.graph.to_json(), "normalize": loaded.config.normalize}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def crops_exact(graph: Graph, weights: dict) -> bool:
    """Whether rows on stride-aligned crops equal rows on the whole image: every op is shift
    equivariant, every resize is a fixed scale of its input (not a fixed size, nor
    align_corners, whose weights depend on the size), and no parameter that varies over space
    (a positional map, a mask) enters an elementwise op."""
    for node in graph.nodes:
        if node.op not in SHIFT_EQUIVARIANT:
            return False
        for name in references(node.args):
            shape = getattr(weights.get(name), "shape", ())
            if (
                len(shape) >= 2
                and any(side > 1 for side in shape[-2:])
                and node.op in ("add", "sub", "mul", "div")
            ):
                return False
        if node.op.startswith("upsample"):
            sizes = node.args.get("output_size") or []
            if node.args.get("align_corners") or not all(map(is_reference, sizes)):
                return False
    return True
