"""Zoom and pan shared by every picture panel: which image pixels a panel shows, at what scale.

Geometry is counted in display pixels: one terminal cell is one display column and two display
rows (half blocks), so a display pixel is about square. A `Scale` either enlarges (every image
pixel a whole m x m square of display pixels, so at 1:1 or closer each pixel is exact and the
cursor marks exactly its pixel) or shrinks (every display pixel one b x b block of image pixels,
averaged for values and max-ed for masks so a one-pixel vessel survives). Never by skipping
pixels: that turned 256x256 images into speckle and outlines into confetti.

Blocks are aligned to a grid from the image's top-left corner, so panning never changes what a
block contains (no shimmer), and a region is always a whole number of units (pixels, or blocks
with only the image's own last block ragged). Pure NumPy, no widgets.
"""

from dataclasses import dataclass, replace

import numpy as np

from cnninterp.tui.pictures.zoom import (
    FIT,
    FOLLOW_MARGIN,
    Scale,
    downscale_max,
    downscale_mean,
    fit_scale,
    zoom_levels,
)


@dataclass(frozen=True)
class Window:
    """The image region [y0, y1) x [x0, x1) a panel shows, at `scale`, from its top-left cell."""

    y0: int
    x0: int
    y1: int
    x1: int
    scale: Scale

    @property
    def display_rows(self) -> int:
        return self._display(self.y1 - self.y0)

    @property
    def display_cols(self) -> int:
        return self._display(self.x1 - self.x0)

    @property
    def rows(self) -> int:
        """Terminal rows used (two display rows each; an odd last one leaves a lower half)."""
        return (self.display_rows + 1) // 2

    @property
    def cols(self) -> int:
        return self.display_cols

    def _display(self, pixels: int) -> int:
        return (
            pixels * self.scale.magnify if self.scale.block == 1 else -(-pixels // self.scale.block)
        )

    def contains(self, y: int, x: int) -> bool:
        return self.y0 <= y < self.y1 and self.x0 <= x < self.x1

    def display_box(self, y: int, x: int) -> tuple[int, int, int, int] | None:
        """Display pixels (r0, c0, r1, c1), half-open, that show image pixel (y, x): exactly its
        m x m square when enlarged, its block's one display pixel when shrunk; None outside."""
        if not self.contains(y, x):
            return None
        m, b = self.scale.magnify, self.scale.block
        r, c = (y - self.y0) // b * m, (x - self.x0) // b * m
        return r, c, r + m, c + m

    def cells_of(self, y: int, x: int) -> tuple[int, int, int, int] | None:
        """Terminal cells (row0, col0, row1, col1), half-open, that show some of pixel (y, x)."""
        box = self.display_box(y, x)
        if box is None:
            return None
        r0, c0, r1, c1 = box
        return r0 // 2, c0, (r1 + 1) // 2, c1

    def pixel_at(self, row: int, col: int, lower: bool = False) -> tuple[int, int] | None:
        """The image pixel under a cell's upper (or lower) half; shrunk, the centre of its block
        (clipped to the image). None outside the picture."""
        r, c = 2 * row + int(lower), col
        if not (0 <= r < self.display_rows and 0 <= c < self.display_cols):
            return None
        m, b = self.scale.magnify, self.scale.block
        y = min(self.y0 + r // m * b + b // 2, self.y1 - 1)
        x = min(self.x0 + c // m * b + b // 2, self.x1 - 1)
        return y, x

    def crop_mean(self, values: np.ndarray) -> np.ndarray:
        """values[H, W, ...] as display pixels: block means shrunk, exact squares enlarged.
        For images, probabilities, gradients and counts."""
        region = np.asarray(values)[self.y0 : self.y1, self.x0 : self.x1]
        return self._enlarge(downscale_mean(region, self.scale.block))

    def crop_max(self, values: np.ndarray) -> np.ndarray:
        """values[H, W, ...] as display pixels: block maxima shrunk. For masks and outlines."""
        region = np.asarray(values)[self.y0 : self.y1, self.x0 : self.x1]
        return self._enlarge(downscale_max(region, self.scale.block))

    def at_resolution(self, width: int, height: int, image_shape: tuple[int, int]) -> "Window":
        """The same region at the finest scale whose picture fits width x height pixels, for
        terminal graphics (many screen pixels per cell where half blocks have 1 x 2): exact
        pixels when they fit, else the smallest block that divides this window's own, so
        blocks keep the same image-aligned grid and panning never changes what one holds.
        Showing the whole image (fit, nothing to pan), any block will do."""
        h, w = self.y1 - self.y0, self.x1 - self.x0
        own = self.scale.block
        whole = (self.y0, self.x0, self.y1, self.x1) == (0, 0, *image_shape)
        for block in (b for b in range(1, own) if whole or own % b == 0):
            if -(-h // block) <= height and -(-w // block) <= width:
                return replace(self, scale=Scale(block=block))
        return replace(self, scale=Scale(block=own))

    def _enlarge(self, values: np.ndarray) -> np.ndarray:
        m = self.scale.magnify
        if m == 1:
            return values
        return np.repeat(np.repeat(values, m, axis=0), m, axis=1)


@dataclass(frozen=True)
class Viewport:
    """Zoom and centre shared by the picture panels. Centre is in image pixels; with `scale`
    None the panel fits the whole image and the centre is kept for when it zooms in."""

    scale: Scale | None = None
    """A level of ZOOM_LADDER, or None for "fit the whole image"."""
    centre: tuple[int, int] = (0, 0)
    """Image pixel (y, x) the panels centre on (where the image's edges allow)."""

    @property
    def label(self) -> str:
        return FIT if self.scale is None else self.scale.label

    def effective_scale(self, image_shape: tuple[int, int], box_cols: int, box_rows: int) -> Scale:
        fit = fit_scale(image_shape, box_cols, box_rows)
        if self.scale is None or self.scale.factor <= fit.factor:
            return fit
        return self.scale

    def visible(self, image_shape: tuple[int, int], box_cols: int, box_rows: int) -> Window:
        """The region a box_cols x box_rows cell panel shows, centred where the edges allow."""
        scale = self.effective_scale(image_shape, box_cols, box_rows)
        (y0, y1), (x0, x1) = (
            _span(self.centre[axis], image_shape[axis], units, scale)
            for axis, units in ((0, 2 * max(box_rows, 1)), (1, max(box_cols, 1)))
        )
        return Window(y0, x0, y1, x1, scale)

    def zoomed(
        self,
        steps: int,
        image_shape: tuple[int, int],
        box_cols: int,
        box_rows: int,
        anchor: tuple[int, int] | None = None,
    ) -> "Viewport":
        """`steps` levels finer (negative: coarser, down to fit). The anchor pixel (the cursor)
        keeps its place in the panel where the edges allow."""
        levels = zoom_levels(image_shape, box_cols, box_rows)
        current = self.effective_scale(image_shape, box_cols, box_rows)
        position = sum(level.factor <= current.factor for level in levels) - 1
        index = min(max(position + steps, 0), len(levels) - 1)
        scale = None if index == 0 else levels[index]
        if anchor is None:
            return replace(self, scale=scale)
        old = self.visible(image_shape, box_cols, box_rows)
        new = replace(self, scale=scale).visible(image_shape, box_cols, box_rows)
        cy, cx = (
            round(a - (a - lo) * (n_hi - n_lo) / max(hi - lo, 1) + (n_hi - n_lo) / 2)
            for a, lo, hi, n_lo, n_hi in (
                (anchor[0], old.y0, old.y1, new.y0, new.y1),
                (anchor[1], old.x0, old.x1, new.x0, new.x1),
            )
        )
        centre = (cy, cx)
        return replace(self, scale=scale, centre=centre)

    def panned(
        self, dy: int, dx: int, image_shape: tuple[int, int], box_cols: int, box_rows: int
    ) -> "Viewport":
        """Moved by (dy, dx) image pixels, stopping at the image's edges (so panning back
        takes effect at once)."""
        window = self.visible(image_shape, box_cols, box_rows)
        return replace(self, centre=_centre_of(window, (dy, dx), image_shape))

    def follow(
        self,
        cursor: tuple[int, int],
        image_shape: tuple[int, int],
        box_cols: int,
        box_rows: int,
        margin: int = FOLLOW_MARGIN,
    ) -> "Viewport":
        """Panned just enough that the cursor is inside with `margin` units to spare (at most a
        quarter of the panel, so small panels still let the cursor move before they pan);
        unchanged when it already is. Use the smallest panel's box: the others show more."""
        window = self.visible(image_shape, box_cols, box_rows)
        unit = window.scale.unit
        shift = []
        for c, lo, hi in ((cursor[0], window.y0, window.y1), (cursor[1], window.x0, window.x1)):
            units = -(-(hi - lo) // unit)
            keep = min(margin, units // 4) * unit
            if c < lo + keep:
                shift.append((c - keep) // unit * unit - lo)
            elif c >= hi - keep:
                shift.append(-(-(c + keep + 1 - hi) // unit) * unit)
            else:
                shift.append(0)
        if shift == [0, 0]:
            return self
        return replace(self, centre=_centre_of(window, (shift[0], shift[1]), image_shape))


def _span(centre: int, size: int, display: int, scale: Scale) -> tuple[int, int]:
    """[lo, hi) along one axis: `display` display pixels of a `size`-pixel axis around centre,
    in whole units (pixels enlarged, aligned blocks shrunk), clamped inside the image."""
    unit = scale.unit
    total = -(-size // unit)  # units in the image, the last one possibly ragged
    shown = min(total, display // scale.magnify)
    first = min(max(centre // unit - shown // 2, 0), total - shown)
    return first * unit, min(size, (first + shown) * unit)


def _centre_of(window: Window, shift: tuple[int, int], image_shape) -> tuple[int, int]:
    """The centre whose window is `window` moved by shift (clamped by the image's edges)."""
    centre = []
    for lo, hi, d, size in (
        (window.y0, window.y1, shift[0], image_shape[0]),
        (window.x0, window.x1, shift[1], image_shape[1]),
    ):
        unit = window.scale.unit
        shown = -(-(hi - lo) // unit)
        total = -(-size // unit)
        first = min(max((lo + d) // unit, 0), total - shown)
        centre.append((first + shown // 2) * unit)
    return centre[0], centre[1]
