"""The masked network as explicit linear maps, and windows of its levels around a pixel.

With the ReLU masks of one image fixed, the network is linear in its input (biases and
BatchNorm shifts only move the point it is linearised at). Columns (columns.py, forward mode)
and rows (gradients.py, reverse mode) both use these maps, and both exploit that near one end
of the network a pixel's tangent or cotangent stays within a few pixels: there they run on
small windows instead of whole canvases.

Window geometry, for a pixel q = 4a + r (r in 0..3) along each axis, at level 1 (full
resolution), 2 (half) and 3 (quarter): windows [4a-6, 4a+10), [2a-3, 2a+5) and [a-3, a+5)
in that level's pixels. They start on multiples of the stride, so every conv on a window
samples the same grid as on the whole image, and they contain every support a pixel's
(co)tangent reaches there (derived in columns.py and gradients.py, proven in the tests), so
zero padding at a window's edge equals the true zeros beyond it. Canvases are padded by
MARGIN >> (level - 1) so that a window near the image's edge stays inside them; masks are
zero there, which reproduces the image's own zero padding.
"""

import jax
import jax.numpy as jnp
from jax import lax

from cnninterp.jaxcore.model.network import DEPTH, PAD_1, PAD_TRANSPOSED, ModelConfig

DIMENSIONS = ("NHWC", "HWIO", "NHWC")
# (window origin relative to 4a, window size) at levels 1-3, in that level's pixels.
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


# XLA:CPU runs 3x3 convs on small canvases with many channels far below its matmul rate (a
# 1024-channel 8x8 conv's adjoint: 47 ms, as one matmul over its 9 shifted copies: 12 ms;
# benchmarks/RESULTS.md), so there they are spelled as that matmul. GPUs keep their convs.
MATMUL_CONV_PIXELS = 16 * 16


def conv(config, x, kernel, stride=1, padding=PAD_1):
    if stride == 1 and padding == PAD_1 and x.shape[1] * x.shape[2] <= MATMUL_CONV_PIXELS:
        return lax.platform_dependent(
            x,
            cpu=lambda x: _conv_as_matmul(config, x, kernel),
            default=lambda x: _conv(config, x, kernel, stride, padding),
        )
    return _conv(config, x, kernel, stride, padding)


def _conv_as_matmul(config, x, kernel):
    """A 3x3 stride-1 conv with padding 1 as one matmul of the input's 9 shifted copies."""
    n, height, width, channels = x.shape
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    shifted = [padded[:, i : i + height, j : j + width] for i in range(3) for j in range(3)]
    patches = jnp.concatenate(shifted, axis=-1).reshape(n * height * width, 9 * channels)
    out = jnp.dot(patches, kernel.reshape(9 * channels, -1), precision=config.precision)
    return out.reshape(n, height, width, -1)


def _conv(config, x, kernel, stride, padding):
    return lax.conv_general_dilated(
        x,
        kernel,
        (stride, stride),
        padding,
        dimension_numbers=DIMENSIONS,
        precision=config.precision,
    )


def block(config, x, layers, masks, padding=PAD_1):
    """A residual block's tangent map; `padding` of its stride-2 convs (window geometry)."""
    h = conv(config, x, layers["conv1"], 2, padding) * masks["relu1"]
    h = conv(config, h, layers["conv2"])
    return (h + conv(config, x, layers["skip"], 2, padding)) * masks["relu2"]


def upconv(config, x, kernel):
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
    out = jax.tree.map(lambda mask: mask.astype(dtype), masks)
    out["relu"] = pad_canvas(out["relu"], 1)
    for n, level in ((1, 2), (2, 3)):
        out[f"resblock{n}"] = {k: pad_canvas(v, level) for k, v in out[f"resblock{n}"].items()}
    return out


def pad_canvas(canvas, level: int):
    """A level canvas [1, h, w, C] with MARGIN >> (level - 1) zeros around it."""
    m = MARGIN >> (level - 1)
    return jnp.pad(canvas, ((0, 0), (m, m), (m, m), (0, 0)))


def origin(level, a_y, a_x):
    """Where the window of quarter-pixel (a_y, a_x) starts on a padded level canvas."""
    start, _ = WINDOWS[level]
    scale = 4 >> (level - 1)  # level pixels per quarter-resolution pixel
    margin = MARGIN >> (level - 1)
    return scale * a_y + start + margin, scale * a_x + start + margin


def window(canvas, level, a_y, a_x):
    """The window of a padded level canvas [1, h', w', C]."""
    size = WINDOWS[level][1]
    return lax.dynamic_slice(
        canvas, (0, *origin(level, a_y, a_x), 0), (1, size, size, canvas.shape[-1])
    )


def paste(patch, level, a_y, a_x, height, width):
    """A window's values [1, s, s, C] on its level's zero canvas, cropped to the image."""
    margin = MARGIN >> (level - 1)
    h, w = height >> (level - 1), width >> (level - 1)
    canvas = jnp.zeros((1, h + 2 * margin, w + 2 * margin, patch.shape[-1]), patch.dtype)
    canvas = lax.dynamic_update_slice(canvas, patch, (0, *origin(level, a_y, a_x), 0))
    return canvas[:, margin : margin + h, margin : margin + w]


def transpose(linear_map, input_shape: tuple, cotangent):
    """The adjoint of a linear map (from float32 [input_shape]) applied to `cotangent`."""
    template = jax.ShapeDtypeStruct(input_shape, jnp.float32)
    return jax.linear_transpose(linear_map, template)(cotangent)[0]


def encoder(config, layers, masks, image):
    """Image [1, H, W, 1] -> the tangents of x1 .. x5, the stem's and blocks' outputs."""
    xs = [conv(config, image, layers["stem"]) * masks["relu"]]
    for n in range(1, DEPTH + 1):
        xs.append(block(config, xs[-1], layers[f"resblock{n}"], masks[f"resblock{n}"]))
    return tuple(xs)


def d_p_d_logits(config: ModelConfig, probs):
    """Per pixel, d p_vessel / d logits = p_vessel * (onehot_vessel - p): [H, W, C]."""
    one_hot = jax.nn.one_hot(config.vessel_class, probs.shape[-1])[None, None, :]
    return probs[..., config.vessel_class, None] * (one_hot - probs)
