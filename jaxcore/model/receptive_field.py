"""The receptive field of an output pixel, derived from the architecture, and the crop that
holds it.

Every layer of network.py is a 3x3 conv (stride 1 or 2, padding PAD_1) or a stride-2 transposed
conv (PAD_TRANSPOSED), so the input pixels a layer's output pixel reads form an interval that
follows from the layer alone. Walking the network backwards from output pixel y (final conv,
then the decoder down to the bottleneck, and the encoder back up from every skip) gives the
interval of image pixels that d p[y] / d image can touch: its reach depends only on y's phase
modulo the network's stride 2**DEPTH. tests/jaxcore/test_gradients.py checks every phase's
interval against the measured support of a network in which nothing can cancel.

A row needs only a crop that contains this interval, starts on a multiple of the stride (so
every strided conv samples the same grid as on the whole image) and, near the image's edge,
stops at the edge itself (so the crop's zero padding is the image's own). Inside the image,
an edge of the crop lies beyond the field at every level, where the cotangent is provably zero.
"""

from functools import cache

import jax
import jax.numpy as jnp
import numpy as np

from cnninterp.jaxcore.model.network import DEPTH, PAD_1, PAD_TRANSPOSED, SIZE_MULTIPLE

KERNEL = sum(PAD_1[0]) + 1  # every conv is "same"-padded: 3 for padding 1
TRANSPOSED_LOW = PAD_TRANSPOSED[0][0]  # zeros before the dilated input of a transposed conv


def _conv_reads(low: int, high: int, stride: int) -> tuple[int, int]:
    """Input interval a conv's output interval [low, high] reads."""
    pad = PAD_1[0][0]
    return stride * low - pad, stride * high - pad + KERNEL - 1


def _transposed_reads(low: int, high: int) -> tuple[int, int]:
    """Input interval a stride-2 transposed conv's output interval reads: output o reads the
    dilated positions o - TRANSPOSED_LOW .. o - TRANSPOSED_LOW + KERNEL - 1, of which the even
    ones 2i are input pixels i."""
    first = low - TRANSPOSED_LOW
    last = high - TRANSPOSED_LOW + KERNEL - 1
    return -(-first // 2), last // 2


def _block_reads(low: int, high: int) -> tuple[int, int]:
    """A residual block: conv1 (stride 2) then conv2 (stride 1), or the stride-2 skip conv,
    whose reach the main path's contains."""
    return _conv_reads(*_conv_reads(low, high, 1), 2)


def _union(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """The two intervals overlap at every use here, so the union is an interval."""
    return min(a[0], b[0]), max(a[1], b[1])


def _decoder_intervals(y: int) -> list[tuple[int, int]]:
    """Where the cotangent of output pixel y can be nonzero on the decoder's inputs at levels
    1 (full resolution) .. DEPTH + 1 (the bottleneck), in each level's pixels."""
    decoder = [_conv_reads(y, y, 1)]  # decoder output at full resolution, read by `final`
    for _ in range(DEPTH):  # each upconv's input, one level coarser, down to the bottleneck
        decoder.append(_transposed_reads(*decoder[-1]))
    return decoder


def field_interval(y: int) -> tuple[int, int]:
    """The image pixels [low, high] that output pixel y's row can be nonzero on, ignoring the
    image's edges (one axis; the network is separable in its geometry)."""
    decoder = _decoder_intervals(y)
    # Encoder outputs x1 (full resolution) .. x5 (bottleneck): the cotangent on x_l is the
    # decoder's at that level (skip connection) plus what block l pulls back from x_{l+1}.
    encoder = decoder[DEPTH]
    for level in range(DEPTH - 1, -1, -1):
        encoder = _union(decoder[level], _block_reads(*encoder))
    return _conv_reads(*encoder, 1)  # the stem


@cache
def radius() -> int:
    """The farthest any row reaches from its pixel, over every stride phase (62 here)."""
    reaches = []
    for y in _phases():
        low, high = field_interval(y)
        reaches += [y - low, high - y]
    return max(reaches)


def _phases() -> range:
    """One pixel of every stride phase, far from 0 so floor division sees no sign change."""
    return range(4 * SIZE_MULTIPLE, 5 * SIZE_MULTIPLE)


@cache
def low_reach() -> np.ndarray:
    """y - low of the field, by y's stride phase: int [2**DEPTH]."""
    return np.asarray([y - field_interval(y)[0] for y in _phases()])  # phases 0, 1, ... in order


@cache
def crop_size() -> int:
    """Side of a square crop that holds any pixel's field when it starts on the stride below
    the field's low end (128 here: the field spans at most 125 pixels and, at every phase,
    8 stride cells)."""
    sizes = []
    for y in _phases():
        low, high = field_interval(y)
        sizes.append(-(-(high + 1) // SIZE_MULTIPLE) - low // SIZE_MULTIPLE)
    return max(sizes) * SIZE_MULTIPLE


def stride_start(y):
    """The multiple of the stride at or below the low end of pixel y's field: where its crop
    starts unless the image's edge is nearer. y: an int, a NumPy array or a traced array."""
    if isinstance(y, jax.Array):
        low = jnp.asarray(low_reach())[y % SIZE_MULTIPLE]
    else:
        y = np.asarray(y)
        low = low_reach()[y % SIZE_MULTIPLE]
    return (y - low) // SIZE_MULTIPLE * SIZE_MULTIPLE


WINDOWED_LEVELS = range(2, DEPTH + 2)
"""Levels of the encoder outputs x2 .. x5 (level l: 1 / 2**(l - 1) of the resolution)."""


@cache
def encoder_windows() -> dict[int, tuple[int, int]]:
    """{level: (offset, size)} for the encoder outputs x2 .. x5: the window
    [s + offset, s + offset + size) of level-l pixels, s = stride_start(y) >> (l - 1), holds
    the cotangent of output pixel y's row on x_l at every stride phase (one axis; the same
    on both). It holds the decoder's part at that level and all that the block above reads
    for the next window: 59, 27, 11 and 3 pixels of a 128-pixel crop's 64, 32, 16 and 8."""
    windows: dict[int, tuple[int, int]] = {}
    for level in reversed(WINDOWED_LEVELS):
        lows, highs = [], []
        for y in _phases():
            start = int(stride_start(y)) >> (level - 1)
            low, high = _decoder_intervals(y)[level - 1]
            lows.append(low - start)
            highs.append(high - start)
        low, high = min(lows), max(highs)
        if level + 1 in windows:  # the next block reads this level around the next window
            offset, size = windows[level + 1]
            low, high = _union((low, high), _block_reads(offset, offset + size - 1))
        windows[level] = (low, high - low + 1)
    return dict(sorted(windows.items()))


def crop_extent(length: int) -> int:
    """The crop's length along an axis of the image: the whole axis when that is shorter."""
    return min(length, crop_size())


def crop_origin(y: "int | np.ndarray", length: int) -> np.ndarray:
    """Where pixel y's crop starts along an axis of `length` pixels: the stride cell where its
    field starts, moved inward to keep the crop inside the image (which keeps the field inside
    the crop and puts the crop's edge on the image's where the field leaves the image).
    y: an int or an integer NumPy array (host side: origins are computed before dispatch)."""
    start = stride_start(y)
    last = length - crop_extent(length)  # a multiple of the stride, as both terms are
    return np.clip(start, 0, last)
