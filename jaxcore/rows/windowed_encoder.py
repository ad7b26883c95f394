"""A gradient row's pass back through the encoder, its coarse levels on windows (CPU).

The cotangent of one output pixel's row on the encoder outputs x2 .. x5 covers 59, 27, 11
and 3 pixels of a 128-pixel crop's 64, 32, 16 and 8 along each axis
(receptive_field.encoder_windows). The forward map with x2 .. x5 restricted to their windows
is the true map followed by a restriction, so its transpose, applied to cotangents that are
zero beyond the windows, is the true adjoint: exact, not an approximation. On the CPU it
takes about a third off a crop row (benchmarks/RESULTS.md); gradients.gradient_row keeps
whole canvases on GPUs and where a window would not be smaller than its canvas.

Geometry along one axis: a block's output window [s, s + n) reads its input on
[2s - 3, 2s + 2n + 2): conv1 (3x3, stride 2) puts h on [s - 1, s + n], conv2 (3x3) brings
it back to [s, s + n), and the skip conv (3x3, stride 2) reads inside the same span. Windows
near the image's edge reach beyond it into canvases padded with zeros, masks included, which
is the image's own zero padding.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnninterp.jaxcore.model import receptive_field
from cnninterp.jaxcore.rows.linear import conv, transpose, upconv

LEVELS = receptive_field.WINDOWED_LEVELS
VALID = ((0, 0), (0, 0))


def applies(height: int, width: int) -> bool:
    """Whether every window is smaller than its level's canvas (images of 128 and more)."""
    windows = receptive_field.encoder_windows().items()
    return all(size < min(height, width) >> (level - 1) for level, (_, size) in windows)


def reads(offset: int, size: int) -> tuple[int, int]:
    """(offset, size) of what a block reads one level finer for the window (offset, size)."""
    return 2 * offset - 3, 2 * size + 5


def margins(length: int) -> dict[int, tuple[int, int]]:
    """{level: zeros (before, after)} that keep every window of every pixel of an axis
    `length` pixels long inside its padded canvas, with what is cut around it: h's masks one
    pixel wider than a window, the reads of the first window one level finer, and x3's
    cotangent around x4's window (upconv2's adjoint)."""
    windows = receptive_field.encoder_windows()
    spans = {level: (offset - 1, size + 2) for level, (offset, size) in windows.items()}
    spans[LEVELS[0] - 1] = reads(*windows[LEVELS[0]])
    spans[3] = _hull(spans[3], _upconv_inputs(*windows[4]))
    starts = receptive_field.stride_start(np.arange(length))
    out = {}
    for level, (offset, size) in spans.items():
        first = (starts >> (level - 1)) + offset
        canvas = length >> (level - 1)
        out[level] = (max(0, -int(first.min())), max(0, int(first.max()) + size - canvas))
    return out


def _upconv_inputs(offset: int, size: int) -> tuple[int, int]:
    """(offset, size) one level finer of what an upconv's adjoint on a window reads: input i
    feeds outputs 2i - 1 .. 2i + 1, so inputs on [s - 1, s + n) computed from the outputs on
    [2s - 2, 2s + 2n) alone are exact on [s, s + n)."""
    return 2 * offset - 2, 2 * size + 2


def _hull(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    low, high = min(a[0], b[0]), max(a[0] + a[1], b[0] + b[1])
    return low, high - low


def block_on_window(config, x_reads, layers, relu1, relu2):
    """A block's output on its window from its input on the window's reads; relu1 holds the
    masks of h on the window widened by one, relu2 the output's on the window."""
    n = relu2.shape[1]
    h = conv(config, x_reads, layers["conv1"], 2, VALID) * relu1
    skip = conv(config, x_reads, layers["skip"], 2, VALID)[:, 1 : n + 1, 1 : n + 1]
    return (conv(config, h, layers["conv2"], 1, VALID) + skip) * relu2


def pull_back(config, layers, masks, decoder_cotangents, y, x):
    """d p[y, x] / d image [H, W] from the cotangents on x1, x2 and x3 of the decoder's levels
    1-3 (whole canvases, gradients.decoder_cotangents): the decoder's levels 4-5 and the
    encoder's 2-5 on windows around (y, x), the stem and x1 on the whole image."""
    c1, c2, c3 = decoder_cotangents
    height, width = c1.shape[1:3]
    windows = receptive_field.encoder_windows()
    starts = receptive_field.stride_start(y), receptive_field.stride_start(x)
    cut = partial(_cut, margins(height), margins(width), *starts)

    (offset4, size4), (offset5, size5) = windows[4], windows[5]
    up2 = partial(upconv, config, kernel=layers["upconv2"])
    inputs = cut(c3, 3, *_upconv_inputs(offset4, size4))
    c4 = transpose(up2, (1, size4 + 1, size4 + 1, c3.shape[-1] * 2), inputs)[:, 1:, 1:]
    up1 = partial(upconv, config, kernel=layers["upconv1"])
    first, size = _upconv_inputs(offset5, size5)
    first -= offset4  # x5's inputs lie inside x4's window
    assert 0 <= first and first + size <= size4, "the architecture's windows do not nest"
    inputs = c4[:, first : first + size, first : first + size]
    c5 = transpose(up1, (1, size5 + 1, size5 + 1, c4.shape[-1] * 2), inputs)[:, 1:, 1:]

    dense = jax.tree.map(lambda m: m.astype(c1.dtype), masks)
    window_masks = {}
    for level in LEVELS:
        offset, size = windows[level]
        block = dense[f"resblock{level - 1}"]
        window_masks[level] = (
            cut(block["relu1"], level, offset - 1, size + 2),
            cut(block["relu2"], level, offset, size),
        )

    def encode(image):
        xs = [conv(config, image, layers["stem"]) * dense["relu"]]
        for level in LEVELS:
            first, size = reads(*windows[level])
            if level == LEVELS[0]:  # from the whole canvas one level finer
                x_reads = cut(xs[-1], level - 1, first, size)
            else:  # inside the window one level finer, at a fixed place
                first -= windows[level - 1][0]
                x_reads = xs[-1][:, first : first + size, first : first + size]
            block = layers[f"resblock{level - 1}"]
            xs.append(block_on_window(config, x_reads, block, *window_masks[level]))
        return tuple(xs)

    on_canvases = {1: c1, 2: c2, 3: c3}
    cotangents = [
        c if level < LEVELS[0] else cut(c, level, *windows[level])
        for level, c in on_canvases.items()
    ]
    cotangents += [c4, c5]
    return transpose(encode, (1, height, width, 1), tuple(cotangents))[0, :, :, 0]


def _cut(margins_y, margins_x, start_y, start_x, canvas, level, offset, size):
    """A level canvas [1, h, w, C] on [s + offset, s + offset + size) along both axes
    (s: the pixel's stride start at that level), zeros beyond the canvas."""
    (before_y, after_y), (before_x, after_x) = margins_y[level], margins_x[level]
    padded = jnp.pad(canvas, ((0, 0), (before_y, after_y), (before_x, after_x), (0, 0)))
    origin_y = (start_y >> (level - 1)) + offset + before_y
    origin_x = (start_x >> (level - 1)) + offset + before_x
    return lax.dynamic_slice(padded, (0, origin_y, origin_x, 0), (1, size, size, canvas.shape[-1]))
