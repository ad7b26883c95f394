"""Zoom levels and the block reductions behind them: a `Scale` enlarges (every image pixel
a whole m x m square of display pixels) or shrinks (every display pixel one b x b block of
image pixels, averaged for values and max-ed for masks so a one-pixel vessel survives).
viewport.py places a scale's window on the image. Pure NumPy, no widgets.
"""

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scale:
    """Display pixels per image pixel along each axis: magnify / block (one of them is 1)."""

    magnify: int = 1
    """Each image pixel is a magnify x magnify square of display pixels."""
    block: int = 1
    """Each display pixel is a block x block square of image pixels."""

    @property
    def factor(self) -> float:
        return self.magnify / self.block

    @property
    def unit(self) -> int:
        """Image pixels per step of the region's grid: a block when shrinking, else a pixel."""
        return self.block

    @property
    def label(self) -> str:
        """'2:1' = two display columns per image column; '1:4' = four image columns per one."""
        return f"{self.magnify}:{self.block}"


ZOOM_LADDER = (Scale(block=4), Scale(block=2), Scale(), Scale(2), Scale(3), Scale(4))
"""The fixed zoom levels, coarse to fine, above "fit". At 4:1 an image pixel is 4 columns x 2
rows = 8 terminal cells."""
FIT = "fit"
"""The label of the level that shows the whole image."""
FOLLOW_MARGIN = 4
"""Units (pixels or blocks) kept between the cursor and the panel's edge when following."""


def fit_scale(image_shape: tuple[int, int], box_cols: int, box_rows: int) -> Scale:
    """The largest scale that shows the whole image in the box: an integer enlargement, or
    the smallest integer block (ceil) that makes it fit, so averages are over whole blocks."""
    height, width = image_shape
    box_h, box_w = 2 * max(box_rows, 1), max(box_cols, 1)
    magnify = min(box_w // max(width, 1), box_h // max(height, 1))
    if magnify >= 1:
        return Scale(magnify=magnify)
    return Scale(block=max(math.ceil(width / box_w), math.ceil(height / box_h)))


def zoom_levels(image_shape: tuple[int, int], box_cols: int, box_rows: int) -> list[Scale]:
    """Fit, then every ladder level finer than fit: what zooming steps through here."""
    fit = fit_scale(image_shape, box_cols, box_rows)
    return [fit, *(s for s in ZOOM_LADDER if s.factor > fit.factor)]


def scale_from_label(label: str) -> Scale | None:
    """The scale of a label (`Scale.label`), None for FIT; ValueError when it is neither."""
    if label == FIT:
        return None
    for scale in ZOOM_LADDER:
        if scale.label == label:
            return scale
    raise ValueError(f"unknown zoom level {label!r}")


# ---- block reductions ------------------------------------------------------------------------


def _blocks(values: np.ndarray, block: int, fill) -> np.ndarray:
    """(H, W, ...) padded with `fill` to whole blocks -> (H/b, W/b, ..., b*b)."""
    h, w = values.shape[:2]
    pad_h, pad_w = -h % block, -w % block
    pad = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (values.ndim - 2)
    padded = np.pad(values, pad, constant_values=fill)
    hb, wb = padded.shape[0] // block, padded.shape[1] // block
    tiles = padded.reshape(hb, block, wb, block, *values.shape[2:])  # (Hb, b, Wb, b, ...)
    tiles = np.moveaxis(tiles, (1, 3), (-2, -1))  # (Hb, Wb, ..., b, b)
    return tiles.reshape(hb, wb, *values.shape[2:], block * block)


def downscale_mean(values: np.ndarray, block: int) -> np.ndarray:
    """Mean of every block x block square (the ragged last ones over their real pixels only).
    NaN counts as not computed: a block's mean is over its finite pixels, NaN when none is."""
    values = np.asarray(values, np.float64)
    if block <= 1:
        return values.copy()
    finite = np.isfinite(values)
    total = _blocks(np.where(finite, values, 0.0), block, 0.0).sum(axis=-1)
    count = _blocks(finite, block, False).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def downscale_max(values: np.ndarray, block: int) -> np.ndarray:
    """Max of every block x block square, so a one-pixel line in a mask survives. NaN is
    ignored (a block of only NaN stays NaN)."""
    values = np.asarray(values)
    if block <= 1:
        return values.copy()
    if values.dtype == bool:
        return np.asarray(_blocks(values, block, False).any(axis=-1))
    if np.issubdtype(values.dtype, np.integer):
        return _blocks(values, block, np.iinfo(values.dtype).min).max(axis=-1)
    tiles = _blocks(values.astype(np.float64), block, np.nan)
    return np.fmax.reduce(tiles, axis=-1)


# ---- what a panel shows ----------------------------------------------------------------------
