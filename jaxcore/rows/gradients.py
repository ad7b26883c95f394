"""Pure functions for gradient rows of the vessel probability, G_yx = d p[y, x] / d image.

The network is piecewise linear (model.py), so one forward pass per image records its ReLU
masks, and every row is then a backward pass of the *masked* network (linear.py): no
activations are stored and the weights can be compile-time constants, which XLA:CPU runs about
2x faster than weights passed as arguments (benchmarks/RESULTS.md). Pixels are traced
arguments, so one compilation serves every pixel of an image size. Near the output the
cotangent of one pixel stays within a few pixels, so the decoder's part runs on windows; on
the CPU, a single row's encoder levels below full resolution do too (windowed_encoder.py).

Receptive-field colouring: an output pixel sees at most RF_RADIUS pixels each way, so rows
of pixels COLOUR_SPACING apart have disjoint supports. One backward pass with their summed
cotangents yields all of them, separated again by masking each pixel's window.
"""

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Float, Int

from cnninterp.jaxcore.model import receptive_field
from cnninterp.jaxcore.model.network import ModelConfig, VesselCNN
from cnninterp.jaxcore.rows import linear, windowed_encoder
from cnninterp.jaxcore.rows.linear import (
    WINDOWS,
    conv,
    pad_canvas,
    paste,
    transpose,
    upconv,
    window,
)

# Derived from the architecture (62 for DEPTH 4), proven tight by
# tests/jaxcore/test_gradients.py::test_receptive_field_radius.
RF_RADIUS = receptive_field.radius()
COLOUR_SPACING = 128  # > 2 * RF_RADIUS + 1, and a multiple of 16 keeps the stride phase
WINDOW = COLOUR_SPACING // 2  # pixel u belongs to the member with u - y in [-WINDOW, WINDOW)


def forward(config: ModelConfig, variables: dict, image: Float[Array, "H W"]):
    """(class probabilities [H, W, C], ReLU masks) of one image."""
    logits, state = VesselCNN(config).apply(
        variables, image[None, :, :, None], mutable=["relu_masks"]
    )
    return jax.nn.softmax(logits[0], axis=-1), state["relu_masks"]


def _decoder_windows(config, layers, d_p, valid, y, x):
    """Cotangents of d p[y, x] on the windows of decoder levels 1-3 (linear.py's geometry).

    The decoder has no ReLUs, and its adjoint near the output mirrors the encoder near the
    input: final's 3x3 conv puts the cotangent on [y-1, y+1]; upconv4's adjoint (a stride-2
    conv) on [2a-1, 2a+2] at half resolution; upconv3's on [a-1, a+1] at quarter resolution, for
    y = 4a + r. Each window is multiplied by `valid` (zero beyond the image) before it moves on,
    as the whole network never sees positions there."""
    (start, size1), (_, size2), (_, size3) = WINDOWS[1], WINDOWS[2], WINDOWS[3]
    a_y, a_x = y // 4, x // 4
    width = config.width
    logits = jnp.zeros((1, size1, size1, config.classes), d_p.dtype)
    logits = logits.at[0, y - 4 * a_y - start, x - 4 * a_x - start].set(d_p[y, x])
    final = partial(conv, config, kernel=layers["final"])
    c1 = transpose(final, (1, size1, size1, width), logits) * window(valid[1], 1, a_y, a_x)
    up4 = partial(upconv, config, kernel=layers["upconv4"])
    c2 = transpose(up4, (1, size2, size2, 2 * width), c1) * window(valid[2], 2, a_y, a_x)
    # upconv3 maps the level-3 window [a-3, a+5) onto level 2's [2a-6, 2a+10): c2, which
    # covers [2a-3, 2a+5), padded by 3 low and 5 high.
    c2_wide = jnp.pad(c2, ((0, 0), (3, 5), (3, 5), (0, 0)))
    up3 = partial(upconv, config, kernel=layers["upconv3"])
    c3 = transpose(up3, (1, size3, size3, 4 * width), c2_wide) * window(valid[3], 3, a_y, a_x)
    return c1, c2, c3


def pull_back_pixels(
    config: ModelConfig,
    variables: dict,
    probs: Float[Array, "H W C"],
    masks: dict,
    ys: Int[Array, " G"],
    xs: Int[Array, " G"],
    weights: Float[Array, " G"],
) -> Float[Array, "H W"]:
    """sum_g weights[g] * d p[ys[g], xs[g]] / d image, by one backward pass of the masked
    network. The decoder's part runs on windows around each pixel (about 20 % of a row's
    FLOPs at 64x64 would otherwise go to cotangents that are provably zero)."""
    height, width = probs.shape[:2]
    layers = linear.folded_layers(config, variables)
    c1, c2, c3 = decoder_cotangents(config, layers, probs, ys, xs, weights)
    up2 = partial(upconv, config, kernel=layers["upconv2"])
    c4 = transpose(up2, (1, height >> 3, width >> 3, 8 * config.width), c3)
    up1 = partial(upconv, config, kernel=layers["upconv1"])
    c5 = transpose(up1, (1, height >> 4, width >> 4, 16 * config.width), c4)
    dense_masks = jax.tree.map(lambda m: m.astype(probs.dtype), masks)
    encode = partial(linear.encoder, config, layers, dense_masks)
    return transpose(encode, (1, height, width, 1), (c1, c2, c3, c4, c5))[0, :, :, 0]


def decoder_cotangents(config, layers, probs, ys, xs, weights) -> tuple:
    """The cotangents [1, h, w, C] of sum_g weights[g] * p[ys[g], xs[g]] on x1, x2 and x3
    through decoder levels 1-3 (on windows around each pixel, pasted on whole canvases)."""
    height, width = probs.shape[:2]
    d_p = linear.d_p_d_logits(config, probs)
    valid = {
        level: pad_canvas(jnp.ones((1, height >> (level - 1), width >> (level - 1), 1)), level)
        for level in (1, 2, 3)
    }

    def placed(y, x, weight):
        windows = _decoder_windows(config, layers, d_p, valid, y, x)
        return [
            weight * paste(c, level, y // 4, x // 4, height, width)
            for level, c in enumerate(windows, start=1)
        ]

    return tuple(c.sum(axis=0) for c in jax.vmap(placed)(ys, xs, weights))


def gradient_row(config, variables, probs, masks, y, x) -> Float[Array, "H W"]:
    """d p[y, x] / d image, exactly; on the CPU with the encoder's coarse levels on windows
    around the pixel where those are smaller than the image (windowed_encoder.py)."""
    one = jnp.ones((1,), probs.dtype)
    ys, xs = jnp.asarray(y).reshape(1), jnp.asarray(x).reshape(1)

    def whole(probs):
        return pull_back_pixels(config, variables, probs, masks, ys, xs, one)

    def windowed(probs):
        layers = linear.folded_layers(config, variables)
        cotangents = decoder_cotangents(config, layers, probs, ys, xs, one)
        return windowed_encoder.pull_back(config, layers, masks, cotangents, y, x)

    if not windowed_encoder.applies(*probs.shape[:2]):
        return whole(probs)
    # GPUs run whole canvases at full rate: there the windows' slicing would only cost.
    return lax.platform_dependent(probs, cpu=windowed, default=whole)


def colour_members(offset_y, offset_x, height: int, width: int, spacing: int = COLOUR_SPACING):
    """The pixels sharing one colour: offset + spacing * (i, j), with validity.

    Returns ys, xs: int [G] and valid: bool [G], G = ceil(H / S) * ceil(W / S).
    """
    gy, gx = -(-height // spacing), -(-width // spacing)
    i, j = jnp.meshgrid(jnp.arange(gy), jnp.arange(gx), indexing="ij")
    ys = (offset_y + spacing * i).ravel()
    xs = (offset_x + spacing * j).ravel()
    return ys, xs, (ys < height) & (xs < width)


def colour_rows(
    config, variables, probs, masks, offset_y, offset_x
) -> tuple[Float[Array, "G H W"], Bool[Array, " G"]]:
    """All rows of one colour from a single backward pass."""
    height, width = probs.shape[:2]
    ys, xs, valid = colour_members(offset_y, offset_x, height, width)
    inside = jnp.clip(ys, 0, height - 1), jnp.clip(xs, 0, width - 1)  # invalid ones weigh 0
    combined = pull_back_pixels(config, variables, probs, masks, *inside, valid.astype(probs.dtype))
    if ys.shape[0] == 1:
        return combined[None], valid
    rows_u = jnp.arange(height)[None, :] - ys[:, None]  # (G, H)
    cols_u = jnp.arange(width)[None, :] - xs[:, None]  # (G, W)
    in_y = (rows_u >= -WINDOW) & (rows_u < WINDOW)
    in_x = (cols_u >= -WINDOW) & (cols_u < WINDOW)
    window = in_y[:, :, None] & in_x[:, None, :]  # (G, H, W)
    return jnp.where(window, combined[None], 0.0), valid
