"""Pictures for real terminal graphics (Kitty, Sixel): exact pixels, whole cells, palettised.

textual-image 0.12 resizes whatever it is given to its cell box with bicubic filtering, which
blurs image pixels and makes PNG and Sixel payloads 10-50x larger. So the picture handed to
it is already nearest-upscaled to the exact pixel size of the cells it covers (its resize is
then a copy), and palettised ("P" mode, which PIL would only ever resize nearest) whenever it
has at most 256 colours. Pure NumPy and PIL: testable without a terminal.
"""

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

DEFAULT_CELL = (10, 20)
"""Cell size in screen pixels when the terminal does not say (textual-image's VT340 guess)."""


@dataclass(frozen=True)
class CellGeometry:
    """An H x W picture shown `scale` screen pixels per picture pixel over cols x rows cells."""

    height: int
    width: int
    scale: float
    """Screen pixels per picture pixel (an integer when enlarging, so every pixel is equal)."""
    cell_width: int
    cell_height: int
    cols: int
    rows: int

    @classmethod
    def into(cls, height: int, width: int, box_cols: int, box_rows: int, cell=DEFAULT_CELL):
        """The largest nearest-neighbour size that fits box_cols x box_rows cells."""
        cw, ch = cell
        if min(height, width, box_cols, box_rows, cw, ch) <= 0:
            return cls(height, width, 0.0, cw, ch, 0, 0)
        scale = min(box_cols * cw / width, box_rows * ch / height)
        if scale >= 1:
            scale = float(int(scale))
        cols = min(box_cols, max(1, math.ceil(width * scale / cw)))
        rows = min(box_rows, max(1, math.ceil(height * scale / ch)))
        return cls(height, width, scale, cw, ch, cols, rows)

    @property
    def canvas_size(self) -> tuple[int, int]:
        """(width, height) in screen pixels of the cells covered."""
        return self.cols * self.cell_width, self.rows * self.cell_height

    def cell_of(self, y: int, x: int) -> tuple[int, int]:
        """(row, col) of the cell showing picture pixel (y, x)."""
        row = int((y + 0.5) * self.scale // self.cell_height)
        col = int((x + 0.5) * self.scale // self.cell_width)
        return min(row, self.rows - 1), min(col, self.cols - 1)

    def pixel_at(self, row: int, col: int) -> tuple[int, int] | None:
        """The picture pixel at the centre of a cell; None outside the picture."""
        if not (0 <= row < self.rows and 0 <= col < self.cols) or self.scale <= 0:
            return None
        y = int((row + 0.5) * self.cell_height / self.scale)
        x = int((col + 0.5) * self.cell_width / self.scale)
        if y >= self.height or x >= self.width:
            return None
        return y, x


def palettise(rgb: np.ndarray, background) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(indices [H, W] uint8, palette [K, 3] uint8, background index), or None when the
    picture has more than 256 colours. With 256 colours the padding takes the nearest one
    (it covers less than a cell)."""
    colours, inverse = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
    if len(colours) > 256:
        return None
    colours = colours.astype(np.uint8)
    distance = np.abs(colours.astype(int) - np.asarray(background, int)).sum(axis=1)
    if distance.min() == 0 or len(colours) == 256:
        background_index = int(np.argmin(distance))
    else:
        colours = np.concatenate([colours, np.array([background], np.uint8)])
        background_index = len(colours) - 1
    return inverse.reshape(rgb.shape[:2]).astype(np.uint8), colours, background_index


def upscaled_picture(rgb: np.ndarray, geometry: CellGeometry, background=(0, 0, 0)) -> Image.Image:
    """rgb [H, W, 3] uint8 nearest-resampled onto the cells' exact pixels, top-left aligned,
    the rest of the last cells filled with `background`."""
    g = geometry
    canvas_w, canvas_h = g.canvas_size
    shown_h = min(canvas_h, round(g.height * g.scale))
    shown_w = min(canvas_w, round(g.width * g.scale))
    ys = np.minimum(((np.arange(shown_h) + 0.5) / g.scale).astype(np.intp), g.height - 1)
    xs = np.minimum(((np.arange(shown_w) + 0.5) / g.scale).astype(np.intp), g.width - 1)
    indexed = palettise(rgb, background)
    if indexed is not None:
        indices, palette, background_index = indexed
        canvas = np.full((canvas_h, canvas_w), background_index, np.uint8)  # (rows*ch, cols*cw)
        canvas[:shown_h, :shown_w] = indices[ys][:, xs]
        picture = Image.frombytes("P", (canvas_w, canvas_h), canvas.tobytes())
        picture.putpalette(palette.ravel().tolist())
        return picture
    canvas = np.empty((canvas_h, canvas_w, 3), np.uint8)
    canvas[:] = background
    canvas[:shown_h, :shown_w] = rgb[ys][:, xs]
    return Image.fromarray(canvas)  # (h, w, 3) uint8 -> RGB


def cursor_patch(
    picture: np.ndarray,
    geometry: CellGeometry,
    pixel: tuple[int, int],
    colour,
    background=(0, 0, 0),
) -> tuple[int, int, np.ndarray]:
    """The cells over picture pixel (y, x) as half-cell colours: (row0, col0, [2 R, C, 3]).
    A half that overlaps the pixel's screen square takes `colour`; the others what the
    terminal shows at their centre (the upscaled picture, or the padding). Drawn as text over
    the picture, it marks exactly one pixel without sending the picture again."""
    g, (py, px) = geometry, pixel
    s, cw, ch = g.scale, g.cell_width, g.cell_height
    top, left, bottom, right = py * s, px * s, (py + 1) * s, (px + 1) * s  # screen pixels
    r0, c0 = int(top // ch), int(left // cw)
    r1, c1 = min(math.ceil(bottom / ch), g.rows), min(math.ceil(right / cw), g.cols)
    shown_h, shown_w = round(g.height * s), round(g.width * s)
    halves = np.empty((2 * (r1 - r0), c1 - c0, 3), np.uint8)
    for i in range(halves.shape[0]):
        y_lo = (2 * r0 + i) * ch / 2
        y_hi = y_lo + ch / 2
        for j in range(halves.shape[1]):
            x_lo = (c0 + j) * cw
            x_hi = x_lo + cw
            if y_lo < bottom and y_hi > top and x_lo < right and x_hi > left:
                halves[i, j] = colour
                continue
            y_mid, x_mid = int((y_lo + y_hi) / 2), int((x_lo + x_hi) / 2)
            if y_mid < shown_h and x_mid < shown_w:  # as upscaled_picture samples
                halves[i, j] = picture[int((y_mid + 0.5) / s), int((x_mid + 0.5) / s)]
            else:
                halves[i, j] = background
    return r0, c0, halves
