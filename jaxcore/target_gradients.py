"""Gradients of a target, T = sum_yx weights[y, x] * p[y, x], at one or many inputs.

A target is a weighted sum of vessel probabilities, so its gradient is one backward pass with
a dense cotangent: the masked network's adjoint (linear.py) applied to weights * dp/dlogits.
pull_back_pixels (gradients.py) is the wrong tool for it: it vmaps a decoder window per pixel,
so a target of K pixels would cost K windows. Here the decoder runs once on whole canvases;
only a single pixel keeps the windowed row, which is what gradient_row computes.

Attribution methods (attribution.py) need the gradient at many inputs (noisy copies,
interpolation steps), each with its own ReLU masks: `weighted_gradient_sum` vmaps forward and
backward over a chunk of inputs and returns the coefficient-weighted sum of their gradients,
so the host only ever sees one [H, W] map per chunk.
"""

from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from cnninterp.jaxcore import gradients, linear
from cnninterp.jaxcore.linear import conv, upconv
from cnninterp.jaxcore.model import DEPTH, ModelConfig


def decoder(config: ModelConfig, layers: dict, features: tuple):
    """Tangents of x1 .. x5 -> the tangent of the logits [1, H, W, C] (no ReLUs there)."""
    y = features[-1]
    for k in range(1, DEPTH + 1):
        y = upconv(config, y, layers[f"upconv{k}"]) + features[DEPTH - k]
    return conv(config, y, layers["final"])


def pull_back_weights(
    config: ModelConfig,
    variables: dict,
    probs: Float[Array, "H W C"],
    masks: dict,
    weights: Float[Array, "H W"],
) -> Float[Array, "H W"]:
    """d (sum_yx weights[y, x] * p[y, x]) / d image, by one backward pass of the whole masked
    network with a dense cotangent."""
    height, width = probs.shape[:2]
    layers = linear.folded_layers(config, variables)
    cotangent = (weights[:, :, None] * linear.d_p_d_logits(config, probs))[None]  # (1, H, W, C)
    dense_masks = jax.tree.map(lambda m: m.astype(probs.dtype), masks)

    def masked_network(image):  # (1, H, W, 1) -> (1, H, W, C)
        return decoder(config, layers, linear.encoder(config, layers, dense_masks, image))

    template = jax.ShapeDtypeStruct((1, height, width, 1), probs.dtype)
    return jax.linear_transpose(masked_network, template)(cotangent)[0][0, :, :, 0]


def target_value_and_gradient(
    config: ModelConfig,
    variables: dict,
    image: Float[Array, "H W"],
    weights: Float[Array, "H W"],
    pixel: Int[Array, " 2"],
    *,
    dense: bool,
) -> tuple[Float[Array, ""], Float[Array, "H W"]]:
    """(T, dT / d image) at one input. `dense` False: the target is the single `pixel`
    (weights one-hot there), pulled back by the windowed row of gradients.py."""
    probs, masks = gradients.forward(config, variables, image)
    value = (weights * probs[..., config.vessel_class]).sum()
    if dense:
        return value, pull_back_weights(config, variables, probs, masks, weights)
    row = gradients.gradient_row(config, variables, probs, masks, pixel[0], pixel[1])
    return value, row


def weighted_gradient_sum(
    config: ModelConfig,
    variables: dict,
    inputs: Float[Array, "K H W"],
    coefficients: Float[Array, " K"],
    weights: Float[Array, "H W"],
    pixel: Int[Array, " 2"],
    *,
    dense: bool,
) -> tuple[Float[Array, "H W"], Float[Array, " K"]]:
    """(sum_k coefficients[k] * dT/d image at inputs[k], T at every input), each input with
    its own ReLU masks, all K in one vmapped forward and backward pass."""
    one = partial(target_value_and_gradient, config, variables, dense=dense)
    values, grads = jax.vmap(one, in_axes=(0, None, None))(inputs, weights, pixel)
    return jnp.tensordot(coefficients, grads, axes=1), values


def target_value(
    config: ModelConfig, variables: dict, image: Float[Array, "H W"], weights: Float[Array, "H W"]
) -> Float[Array, ""]:
    """T at one input (a forward pass only): IG's completeness needs T at the baseline."""
    probs, _ = gradients.forward(config, variables, image)
    return (weights * probs[..., config.vessel_class]).sum()
