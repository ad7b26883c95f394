"""Gradient rows of any model through the seam: reverse mode over its apply function.

The seed's rows (gradients.py) pull back through its masked network with windows and folded
weights; a model interpreted from an exported graph (model/interpreter.py) has none of that
structure to exploit, so here every row is a plain vector-Jacobian product of the explained
score map: one forward pass per call, then one backward pass per row, vmapped (what PyTorch's
autograd does with retain_graph, in one program). The "forward results" these functions take
are the scores and the image itself: a chunk function recomputes the forward pass it
differentiates, which costs one forward per chunk of rows.

An image is [H, W] (gray) or [H, W, channels] for a model of several input channels (RGB: 3).
A gray image given to a model of several channels is repeated over them inside the
differentiated function. Either way a row stays [H, W]: d score / d brightness, the sum over
channels of d score / d image[..., c] (for a gray image, exactly d score / d (gray image)).
The functions that serve attributions (pull_back_weights, weighted_gradient_sum) keep the
image's shape, so an RGB image's attribution has its per-channel maps (explain/attribution.py).

Colours work as for the seed where the model's field is local: rows of pixels `spacing` apart
(more than twice the receptive radius) have disjoint supports, so one backward pass with their
summed cotangents yields all of them. A whole-image field makes every colour one pixel.

Crops too, where the field is local and the model's ops do not depend on where they are or on
the image's size (seam.SegmentationModel.crops_exact): a row is then computed on the crop of
the image that holds its pixel's field, aligned to the size multiple so that every stride's
phase is the image's. Every value the pixel's score depends on depends only on pixels inside
the crop (the field is the union of theirs), so the crop's row is the image's row.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float, Int

from cnninterp.jaxcore.model.seam import Activation, SegmentationModel, activate
from cnninterp.jaxcore.rows.gradients import colour_members

WHOLE_IMAGE_SPACING = 1 << 30
"""The colour spacing of a model whose every output sees the whole image: one pixel each."""


@dataclass(frozen=True, eq=False)  # a static jit argument: hashed by identity
class GenericNet:
    """What the row functions need of a model, without its parameters (those are traced or
    folded in separately, as binding.bind_model decides)."""

    apply: Callable[..., Any]
    activation: Activation
    explained_class: int
    input_channels: int
    colour_spacing: int
    crop_radius: int | None = None
    """The receptive radius where rows may go on crops; None: never."""
    size_multiple: int = 1


def generic_net(model: SegmentationModel) -> GenericNet:
    """The static part of a model for these functions; the colour spacing from its field."""
    radius = model.receptive_radius
    spacing = WHOLE_IMAGE_SPACING if radius is None else 2 * radius + 2
    crop_radius = radius if model.crops_exact else None
    return GenericNet(
        model.apply,
        model.activation,
        model.explained_class,
        model.input_channels,
        spacing,
        crop_radius,
        model.size_multiple,
    )


def class_scores(
    net: GenericNet, params, image: Float[Array, "H W *channels"]
) -> Float[Array, "H W C"]:
    """Every class's score (the activation of the logits) at every pixel."""
    height, width = image.shape[:2]
    if image.ndim == 2:  # gray: repeated over the model's channels
        batch = jnp.broadcast_to(image[None, :, :, None], (1, height, width, net.input_channels))
    else:
        batch = image[None]  # (1, H, W, channels)
    return activate(net.activation, net.apply(params, batch)[0])


def explained_scores(
    net: GenericNet, params, image: Float[Array, "H W *channels"]
) -> Float[Array, "H W"]:
    return class_scores(net, params, image)[..., net.explained_class]


def forward(net: GenericNet, params, image: Float[Array, "H W *channels"]):
    """(class scores [H, W, C], the image): what the row functions start from."""
    return class_scores(net, params, image), image


def pull_back(
    net, params, image: Float[Array, "H W *channels"], cotangents: Float[Array, "N H W"]
) -> Float[Array, "N H W *channels"]:
    """cotangent_n . d scores / d image for each n, the image's shape each: one forward, N
    backward passes."""
    _, vjp = jax.vjp(partial(explained_scores, net, params), image)
    return jax.vmap(lambda c: vjp(c)[0])(cotangents)


def pull_back_brightness(net, params, image, cotangents: Float[Array, "N H W"]):
    """pull_back summed over the image's channels, if it has any: rows [N, H, W]."""
    pulled = pull_back(net, params, image, cotangents)
    return pulled if image.ndim == 2 else pulled.sum(axis=-1)  # (N, H, W, channels) -> (N, H, W)


def rows_on_image(net, params, probs, image, ys: Int[Array, " N"], xs: Int[Array, " N"]):
    """Rows [N, H, W] of N pixels, d score[y, x] / d image (summed over its channels)."""
    cotangents = jnp.zeros((ys.shape[0], *image.shape[:2]), image.dtype)
    cotangents = cotangents.at[jnp.arange(ys.shape[0]), ys, xs].set(1.0)
    return pull_back_brightness(net, params, image, cotangents)


def gradient_row(net, params, probs, image, y, x) -> Float[Array, "H W"]:
    """d score[y, x] / d image."""
    ys, xs = jnp.asarray(y).reshape(1), jnp.asarray(x).reshape(1)
    return rows_on_image(net, params, probs, image, ys, xs)[0]


def colour_rows(
    net, params, probs, image, offset_y, offset_x
) -> tuple[Float[Array, "G H W"], Bool[Array, " G"]]:
    """All rows of one colour from a single backward pass, separated by each member's window
    (spacing // 2 each way: beyond the receptive radius)."""
    height, width = image.shape[:2]
    spacing = net.colour_spacing
    ys, xs, valid = colour_members(offset_y, offset_x, height, width, spacing)
    inside = jnp.clip(ys, 0, height - 1), jnp.clip(xs, 0, width - 1)
    cotangent = jnp.zeros((height, width), image.dtype).at[inside].add(valid.astype(image.dtype))
    combined = pull_back_brightness(net, params, image, cotangent[None])[0]
    if ys.shape[0] == 1:
        return combined[None], valid
    half = spacing // 2
    rows_u = jnp.arange(height)[None, :] - ys[:, None]
    cols_u = jnp.arange(width)[None, :] - xs[:, None]
    in_y = (rows_u >= -half) & (rows_u < half)
    in_x = (cols_u >= -half) & (cols_u < half)
    window = in_y[:, :, None] & in_x[:, None, :]
    return jnp.where(window, combined[None], 0.0), valid


def pull_back_weights(net, params, probs, image, weights: Float[Array, "H W"]):
    """d (sum_yx weights[y, x] * score[y, x]) / d image, the image's shape ([H, W] or
    [H, W, channels]: per channel): one backward pass."""
    return pull_back(net, params, image, weights[None])[0]


def target_value(net, params, image, weights) -> Float[Array, ""]:
    """T = sum_yx weights[y, x] * score[y, x] at one input."""
    return (weights * explained_scores(net, params, image)).sum()


def weighted_gradient_sum(net, params, inputs, coefficients, weights, pixel, *, dense: bool):
    """(sum_k coefficients[k] * dT/d image at inputs[k], the image's shape, per channel
    where it has channels; T at every input): one vmapped forward and backward pass over the
    inputs. `pixel` and `dense` are the seed's (its
    single-pixel target takes a windowed row); here every target is the same product."""
    del pixel, dense
    values, grads = jax.vmap(jax.value_and_grad(partial(target_value, net, params)), (0, None))(
        inputs, weights
    )
    return jnp.tensordot(coefficients, grads, axes=1), values


def crop_extent(net: GenericNet, length: int) -> int:
    """The crop's side along an axis of `length`: every pixel's field, from an origin rounded
    down to the size multiple (the whole axis where that is no smaller)."""
    if net.crop_radius is None:
        return length
    m = net.size_multiple
    return min(length, m * -(-(2 * net.crop_radius + m) // m))


def crop_origins(net: GenericNet, ys, xs, height: int, width: int):
    """Where the crops of pixels (ys, xs) start: int32 arrays, multiples of the size multiple,
    the crop inside the image."""
    m, radius = net.size_multiple, net.crop_radius or 0

    def along(q, length):
        start = (np.asarray(q) - radius) // m * m
        return np.clip(start, 0, length - crop_extent(net, length)).astype(np.int32)

    return along(ys, height), along(xs, width)


def crop_inputs(probs, image, origins_y, origins_x, crop_h: int, crop_w: int):
    """The crops [N, h, w, ...] of the scores and of the image (crop_h, crop_w static)."""

    def one(oy, ox):
        def cut(a):
            start = (oy, ox) + (0,) * (a.ndim - 2)
            return lax.dynamic_slice(a, start, (crop_h, crop_w, *a.shape[2:]))

        return cut(probs), cut(image)

    return jax.vmap(one)(origins_y, origins_x)


def rows_on_crops(net, params, crop_probs, crop_images, ys, xs) -> Float[Array, "N h w"]:
    """Row i of pixel (ys[i], xs[i]) in crop i's coordinates, on crop i alone."""

    def one(probs, image, y, x):
        return gradient_row(net, params, probs, image, y, x)

    return jax.vmap(one)(crop_probs, crop_images, ys, xs)
