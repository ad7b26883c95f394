"""Gradient rows on the receptive field: a row's backward pass on a crop around its pixel.

A row is zero beyond receptive_field.radius() pixels of its pixel, so on a large image most of
a whole-image backward pass computes cotangents that are provably zero. Here the image's
probabilities and ReLU masks are cropped to the stride-aligned crop that holds the pixel's
field (receptive_field.py), the masked network's backward pass (gradients.gradient_row) runs on
the crop alone, and the host pastes the crop's row into a zero canvas. The crop's edge is
either the image's edge (same zero padding) or beyond the field at every level (the cotangent
never reaches it), so the row is exact, not an approximation.

The backward pass sees only crop-sized arrays: one compilation per crop size serves every
image size (the slicing, compiled per image size, is a few copies). Rows are batched: a chunk
of pixels is cropped and pulled back in one vmapped call.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float, Int

from cnninterp.jaxcore.model import receptive_field
from cnninterp.jaxcore.rows import gradients
from cnninterp.jaxcore.summaries.significance import BINS_PER_DECADE, EDGES

# Rows per vmapped call. XLA:CPU gains nothing from larger batches (as for the pass's chunks);
# GPUs want many, and a crop row of the full-size model takes about 130 MB there.
ROWS_PER_CALL = {"cpu": 8, "gpu": 64}


def crop_shape(height: int, width: int) -> tuple[int, int]:
    """The crop of every row of an image this size (the whole image if it is smaller)."""
    return receptive_field.crop_extent(height), receptive_field.crop_extent(width)


def is_cropped(height: int, width: int) -> bool:
    """Whether rows of this image size are cheaper on crops (some axis longer than a crop)."""
    crop_h, crop_w = crop_shape(height, width)
    return crop_h * crop_w < height * width


def crop_origins(ys, xs, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the crops of pixels (ys, xs) start: int32 arrays, multiples of the stride."""
    return (
        receptive_field.crop_origin(np.asarray(ys), height).astype(np.int32),
        receptive_field.crop_origin(np.asarray(xs), width).astype(np.int32),
    )


def crop_inputs(
    probs: Float[Array, "H W C"],
    masks: dict,
    origins_y: Int[Array, " N"],
    origins_x: Int[Array, " N"],
    crop_h: int,
    crop_w: int,
) -> tuple[Float[Array, "N h w C"], dict]:
    """The forward results of N crops: probabilities [N, h, w, C] and masks [N, 1, h', w', c]
    at every level (each level's crop starts at the origin over that level's stride, an
    integer since origins are multiples of 2**DEPTH). crop_h, crop_w are static."""
    height = probs.shape[0]

    def one(oy, ox):
        p = lax.dynamic_slice(probs, (oy, ox, 0), (crop_h, crop_w, probs.shape[-1]))

        def level(mask):
            scale = height // mask.shape[1]
            size = (1, crop_h // scale, crop_w // scale, mask.shape[-1])
            return lax.dynamic_slice(mask, (0, oy // scale, ox // scale, 0), size)

        return p, jax.tree.map(level, masks)

    return jax.vmap(one)(origins_y, origins_x)


def rows_on_crops(
    config,
    variables,
    probs: Float[Array, "N h w C"],
    masks: dict,
    ys: Int[Array, " N"],
    xs: Int[Array, " N"],
) -> Float[Array, "N h w"]:
    """Row i of pixel (ys[i], xs[i]) in crop i's coordinates, on crop i alone."""

    def one(p, m, y, x):
        return gradients.gradient_row(config, variables, p, m, y, x)

    return jax.vmap(one)(probs, masks, ys, xs)


def rows_on_image(config, variables, probs, masks, ys, xs) -> Float[Array, "N H W"]:
    """Rows of N pixels of one uncropped image, in one vmapped backward pass."""

    def one(y, x):
        return gradients.gradient_row(config, variables, probs, masks, y, x)

    return jax.vmap(one)(ys, xs)


def histogram_summaries_on_crops(
    config, variables, probs, masks, ys, xs, origins_y, origins_x, keep_rows=False
):
    """The pass's histogram summaries (significance.py) of N rows, computed on their crops at
    the given origins without pasting: zeros outside a crop never count above an edge, so a
    crop's histogram is its row's. Same keys and values as the pass by colouring; with
    `keep_rows`, also the crop rows themselves ("crop_rows", [N, h, w])."""
    crop_h, crop_w = crop_shape(*probs.shape[:2])
    crop_probs, crop_masks = crop_inputs(probs, masks, origins_y, origins_x, crop_h, crop_w)
    rows = rows_on_crops(config, variables, crop_probs, crop_masks, ys - origins_y, xs - origins_x)
    flat = rows.reshape(rows.shape[0], -1)
    ascending = jnp.sort(jnp.abs(flat), axis=-1)
    steps = jnp.arange(EDGES, dtype=jnp.float32) / BINS_PER_DECADE
    edges = ascending[:, -1:] * jnp.power(10.0, -steps)[None, :]
    search = jax.vmap(partial(jnp.searchsorted, side="right"))
    above = flat.shape[1] - search(ascending, edges)
    nonzero = flat.shape[1] - search(ascending, jnp.zeros_like(edges[:, :1]))
    out = {
        "row_max_abs": ascending[:, -1],
        "row_max_signed": flat.max(axis=-1),
        "edges": edges,
        "above_edges": jnp.concatenate([above, nonzero], axis=-1).astype(jnp.int32),
    }
    return out | ({"crop_rows": rows} if keep_rows else {})


def traced_origins(q: Int[Array, " N"], length: int) -> Int[Array, " N"]:
    """crop_origins' on-device twin along one axis, for pixels traced in a pass's chunk."""
    start = receptive_field.stride_start(q)
    return jnp.clip(start, 0, length - receptive_field.crop_extent(length))


def pass_summaries(config, variables, probs, masks, ys, xs, keep_rows=False):
    """The full pass's chunk on crops: histogram summaries of the rows of pixels (ys, xs), each
    with a member axis of one ([N, 1, ...]) like a colour chunk's; origins found on the device.
    With `keep_rows`, also the crop rows and their origins ("crop_rows", "crop_origins")."""
    height, width = probs.shape[:2]
    origins_y, origins_x = traced_origins(ys, height), traced_origins(xs, width)
    out = histogram_summaries_on_crops(
        config, variables, probs, masks, ys, xs, origins_y, origins_x, keep_rows
    )
    if keep_rows:
        out["crop_origins"] = jnp.stack([origins_y, origins_x], axis=-1)
    return {name: value[:, None] for name, value in out.items()}


def counts_on_crops(config, variables, probs, masks, ys, xs, thresholds):
    """Exact #(|G| > threshold of its pixel) for the rows of pixels (ys, xs), each on its crop:
    zeros outside a crop never count, thresholds being >= 0. A member axis of one, like a
    colour chunk's counts (kernels.chunk_counts)."""
    height, width = probs.shape[:2]
    origins_y, origins_x = traced_origins(ys, height), traced_origins(xs, width)
    crop_h, crop_w = crop_shape(height, width)
    crop_probs, crop_masks = crop_inputs(probs, masks, origins_y, origins_x, crop_h, crop_w)
    local_y, local_x = ys - origins_y, xs - origins_x
    rows = rows_on_crops(config, variables, crop_probs, crop_masks, local_y, local_x)
    above = (jnp.abs(rows) > thresholds[ys, xs][:, None, None]).sum(axis=(-2, -1))
    return {"counts": above.astype(jnp.float32)[:, None]}


def paste_rows(
    crop_rows: np.ndarray,
    origins_y: np.ndarray,
    origins_x: np.ndarray,
    out: np.ndarray,
) -> None:
    """Write crop rows [N, h, w] into zero canvases out [N, H, W] at their origins."""
    crop_h, crop_w = crop_rows.shape[1:]
    out[...] = 0.0
    for i, (oy, ox) in enumerate(zip(origins_y, origins_x, strict=True)):
        out[i, oy : oy + crop_h, ox : ox + crop_w] = crop_rows[i]
