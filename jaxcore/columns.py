"""Columns of the Jacobian, J[:, :, qy, qx] = d p / d image[qy, qx], by forward mode.

A row (gradients.py) pushes one output pixel back through the whole encoder, and at small
image sizes every encoder level is dense by then. A column pushes one input pixel forward, and
its tangent stays local through the shallow encoder: at most 3 pixels wide after the stem, 6
after block 1 and 6 after block 2, each at its own resolution (derived below). So the stem and
blocks 1-2 run on small windows around the pixel, and only blocks 3-4 and the decoder run on
whole canvases: at 64x64 a column costs 2.0 GFLOP where a row costs 3.0. On the CPU that makes
the full-Jacobian pass faster by columns (benchmarks/RESULTS.md); J is then assembled on the
host, which the exact summaries (up to 128x128) hold anyway.

Window geometry, for an input pixel q = 4a + r (r in 0..3) along each axis. The stem's 3x3
conv puts q's tangent on [q-1, q+1]; block 1 (stride-2 convs, then a 3x3) on [2a-2, 2a+3] at
half resolution; block 2 on [a-2, a+3] at quarter resolution. The windows below contain those
supports, so zero padding at a window's edge equals the true zeros beyond it, and they start
on multiples of the stride, so every conv samples the same grid as on the whole image.
Masks are padded with zeros beyond the image, which reproduces the image's own zero padding.
"""

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, Int

from cnninterp.jaxcore.model import DEPTH, PAD_1, PAD_TRANSPOSED, ModelConfig

DIMENSIONS = ("NHWC", "HWIO", "NHWC")
# (window origin relative to 4a, window size) at full, half and quarter resolution, in
# that level's pixels: x1 on [4a-6, 4a+10), x2 on [2a-3, 2a+5), x3 on [a-3, a+5).
WINDOWS = {1: (-6, 16), 2: (-3, 8), 3: (-3, 8)}
MARGIN = 16  # image pixels of zero masks around the image: every window stays inside


def folded_layers(config: ModelConfig, variables: dict) -> dict:
    """The linear part of every layer: conv kernels with their BatchNorm scale folded in.

    Biases and BatchNorm shifts do not move tangents, so they are left out."""
    params, stats = variables["params"], variables["batch_stats"]

    def fold(kernel, bn, bn_stats):
        scale = bn["scale"] / jnp.sqrt(bn_stats["var"] + config.bn_eps)
        return kernel * scale[None, None, None, :]  # scales the output channels

    layers = {"stem": fold(params["conv1"]["kernel"], params["bn1"], stats["bn1"])}
    for n in range(1, DEPTH + 1):
        p, s = params[f"resblock{n}"], stats[f"resblock{n}"]
        layers[f"resblock{n}"] = {
            "conv1": fold(p["conv1"]["kernel"], p["bn1"], s["bn1"]),
            "conv2": fold(p["conv2"]["kernel"], p["bn2"], s["bn2"]),
            "skip": fold(p["skip_conv"]["kernel"], p["skip_bn"], s["skip_bn"]),
        }
    for k in range(1, DEPTH + 1):
        layers[f"upconv{k}"] = params[f"upconv{k}"]["kernel"]
    layers["final"] = params["final"]["kernel"]
    return layers


def _conv(config, x, kernel, stride=1, padding=PAD_1):
    return lax.conv_general_dilated(
        x,
        kernel,
        (stride, stride),
        padding,
        dimension_numbers=DIMENSIONS,
        precision=config.precision,
    )


def _block(config, x, layers, masks, padding=PAD_1):
    """A residual block's tangent map; `padding` of its stride-2 convs (window geometry)."""
    h = _conv(config, x, layers["conv1"], 2, padding) * masks["relu1"]
    h = _conv(config, h, layers["conv2"])
    return (h + _conv(config, x, layers["skip"], 2, padding)) * masks["relu2"]


def _upconv(config, x, kernel):
    return lax.conv_transpose(
        x,
        kernel,
        (2, 2),
        PAD_TRANSPOSED,
        dimension_numbers=DIMENSIONS,
        transpose_kernel=True,
        precision=config.precision,
    )


def prepared_masks(masks: dict, dtype=jnp.float32) -> dict:
    """The ReLU masks as numbers; those of the windowed levels padded with zeros by
    MARGIN >> (level - 1), so a window near the image's edge stays inside its canvas."""

    def pad(mask, level):
        m = MARGIN >> (level - 1)
        return jnp.pad(mask.astype(dtype), ((0, 0), (m, m), (m, m), (0, 0)))

    out = jax.tree.map(lambda mask: mask.astype(dtype), masks)
    out["relu"] = pad(masks["relu"], 1)
    for n, level in ((1, 2), (2, 3)):
        out[f"resblock{n}"] = {k: pad(v, level) for k, v in masks[f"resblock{n}"].items()}
    return out


def _origin(level, a_y, a_x):
    """Where the window of quarter-pixel (a_y, a_x) starts on a padded level canvas."""
    start, _ = WINDOWS[level]
    scale, margin = 4 >> (level - 1), MARGIN >> (level - 1)  # level pixels per quarter pixel
    return scale * a_y + start + margin, scale * a_x + start + margin


def _window(canvas, level, a_y, a_x):
    """The window of a padded level canvas [1, h', w', C]."""
    size = WINDOWS[level][1]
    return lax.dynamic_slice(
        canvas, (0, *_origin(level, a_y, a_x), 0), (1, size, size, canvas.shape[-1])
    )


def _paste(window, level, a_y, a_x, height, width):
    """A window [1, s, s, C] on its level's zero canvas, cropped to the image."""
    margin = MARGIN >> (level - 1)
    h, w = height >> (level - 1), width >> (level - 1)
    canvas = jnp.zeros((1, h + 2 * margin, w + 2 * margin, window.shape[-1]), window.dtype)
    canvas = lax.dynamic_update_slice(canvas, window, (0, *_origin(level, a_y, a_x), 0))
    return canvas[:, margin : margin + h, margin : margin + w]


def column(
    config: ModelConfig,
    layers: dict,
    d_p_d_logits: Float[Array, "H W C"],
    masks: dict,
    qy: Int[Array, ""],
    qx: Int[Array, ""],
) -> Float[Array, "H W"]:
    """d p_vessel / d image[qy, qx] over the whole image; masks from prepared_masks."""
    height, width = d_p_d_logits.shape[:2]
    a_y, a_x = qy // 4, qx // 4
    start, size = WINDOWS[1]
    tangent = jnp.zeros((1, size, size, 1)).at[0, qy - 4 * a_y - start, qx - 4 * a_x - start].set(1)
    x1 = _conv(config, tangent, layers["stem"]) * _window(masks["relu"], 1, a_y, a_x)

    def window_masks(n, level):
        return {k: _window(v, level, a_y, a_x) for k, v in masks[f"resblock{n}"].items()}

    # x1 window [4a-6, 4a+10) -> x2 window [2a-3, 2a+5): output i reads x1 at 2i-1..2i+1.
    x2 = _block(config, x1, layers["resblock1"], window_masks(1, 2))
    # x3 window [a-3, a+5) reads x2 on [2a-7, 2a+9]: the x2 window padded by 4 low, 5 high.
    x2_wide = jnp.pad(x2, ((0, 0), (4, 5), (4, 5), (0, 0)))
    x3 = _block(config, x2_wide, layers["resblock2"], window_masks(2, 3), ((0, 0), (0, 0)))
    skips = [_paste(x, level, a_y, a_x, height, width) for x, level in ((x1, 1), (x2, 2), (x3, 3))]
    for n in range(3, DEPTH + 1):  # whole canvases from here on
        skips.append(_block(config, skips[-1], layers[f"resblock{n}"], masks[f"resblock{n}"]))
    y = skips.pop()
    for k in range(1, DEPTH + 1):
        y = _upconv(config, y, layers[f"upconv{k}"]) + skips.pop()
    logits = _conv(config, y, layers["final"])[0]  # (H, W, C) tangent
    return (logits * d_p_d_logits).sum(-1)


def columns(config, layers, probs, masks, qys, qxs) -> Float[Array, "N H W"]:
    """The columns of the input pixels (qys[i], qxs[i]); masks as the forward pass sowed them."""
    one_hot = jax.nn.one_hot(config.vessel_class, probs.shape[-1])[None, None, :]
    d_p_d_logits = probs[..., config.vessel_class, None] * (one_hot - probs)  # (H, W, C)
    masks = prepared_masks(masks, probs.dtype)

    def one(qy, qx):
        return column(config, layers, d_p_d_logits, masks, qy, qx)

    return jax.vmap(one)(qys, qxs)
