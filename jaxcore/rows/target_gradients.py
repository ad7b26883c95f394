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

from cnninterp.jaxcore.model.network import DEPTH, ModelConfig
from cnninterp.jaxcore.rows import gradients, linear
from cnninterp.jaxcore.rows.linear import conv, upconv


def pull_back_weights(
    config: ModelConfig,
    variables: dict,
    probs: Float[Array, "H W C"],
    masks: dict,
    weights: Float[Array, "H W"],
) -> Float[Array, "H W"]:
    """d (sum_yx weights[y, x] * p[y, x]) / d image, by one backward pass of the whole masked
    network with a dense cotangent: the decoder's adjoint level by level on whole canvases,
    then the encoder's (the same stages as pull_back_pixels, without the windows). Staged so,
    it measured a few per cent faster than transposing decoder(encoder(.)) in one go, with
    bit-identical results."""
    height, width = probs.shape[:2]
    layers = linear.folded_layers(config, variables)
    cotangent = (weights[:, :, None] * linear.d_p_d_logits(config, probs))[None]  # (1, H, W, C)
    features = [cotangent]  # cotangents of logits, then of x1 .. x5's decoder inputs
    stages = [partial(conv, config, kernel=layers["final"])]
    stages += [partial(upconv, config, kernel=layers[f"upconv{k}"]) for k in range(DEPTH, 0, -1)]
    for level, stage in enumerate(stages):  # level 0: full size, width channels
        shape = (1, height >> level, width >> level, config.width << level)
        features.append(linear.transpose(stage, shape, features[-1]))
    dense_masks = jax.tree.map(lambda m: m.astype(probs.dtype), masks)
    encode = partial(linear.encoder, config, layers, dense_masks)
    return linear.transpose(encode, (1, height, width, 1), tuple(features[1:]))[0, :, :, 0]


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
