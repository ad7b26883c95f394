"""RGB pictures -> half-block terminal cells: two picture rows per terminal row (the upper
half is the foreground of "▀", the lower half the background), resampled nearest-neighbour
to the cells available, and encoded as runs of equal cells."""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style

UPPER_HALF = "▀"
LOWER_HALF = "▄"


@dataclass(frozen=True)
class Fit:
    """How an H x W picture is shown in a box of cells: nearest-neighbour, aspect kept.

    The picture is drawn `cols` cells wide and `rows` cells high, i.e. cols x 2*rows picture
    pixels, each terminal cell showing two vertically stacked picture pixels.
    """

    height: int
    width: int
    cols: int
    rows: int

    @classmethod
    def into(cls, height: int, width: int, box_cols: int, box_rows: int) -> "Fit":
        """The largest size that fits; integer enlargement when the picture is smaller."""
        if height <= 0 or width <= 0 or box_cols <= 0 or box_rows <= 0:
            return cls(height, width, 0, 0)
        scale = min(box_cols / width, 2 * box_rows / height)
        if scale >= 1:
            scale = float(int(scale))
        cols = max(1, min(box_cols, int(round(width * scale))))
        rows = max(1, min(box_rows, int(np.ceil(height * scale / 2))))
        return cls(height, width, cols, rows)

    def source_columns(self) -> np.ndarray:
        """Image column shown in each display column."""
        return np.minimum((np.arange(self.cols) + 0.5) * self.width / self.cols, self.width - 1)

    def source_rows(self) -> np.ndarray:
        """Image row shown in each display half-row (2 * rows of them); -1 past the bottom."""
        n = 2 * self.rows
        shown = self._shown_half_rows()
        y = ((np.arange(n) + 0.5) * self.height / shown).astype(np.intp)
        return np.where(np.arange(n) < shown, np.minimum(y, self.height - 1), -1)

    def _shown_half_rows(self) -> int:
        # Keep aspect: the picture is height * cols / width half-rows tall, at most 2 * rows.
        return max(1, min(2 * self.rows, int(round(self.height * self.cols / self.width))))

    def cell_of(self, y: int, x: int) -> tuple[int, int, bool]:
        """(row, col, lower_half) of the cell showing image pixel (y, x)."""
        cols = self.source_columns().astype(np.intp)
        rows = self.source_rows()
        col_hits = np.flatnonzero(cols == x)
        half_hits = np.flatnonzero(rows == y)
        col = (
            int(col_hits[len(col_hits) // 2]) if len(col_hits) else int(x * self.cols / self.width)
        )
        half = (
            int(half_hits[len(half_hits) // 2])
            if len(half_hits)
            else int(y * 2 * self.rows / self.height)
        )
        return half // 2, col, bool(half % 2)

    def pixel_at(self, row: int, col: int) -> tuple[int, int] | None:
        """The image pixel (y, x) under a cell (its lower half when it shows two); None outside."""
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            return None
        rows = self.source_rows()
        y = int(rows[2 * row + 1]) if rows[2 * row + 1] >= 0 else int(rows[2 * row])
        if y < 0:
            return None
        return y, int(self.source_columns()[col])


def resample(rgb: np.ndarray, fit: Fit) -> np.ndarray:
    """Nearest-neighbour RGB picture of (shown half-rows, cols, 3): at most 2 * rows high."""
    ys = fit.source_rows()
    xs = fit.source_columns().astype(np.intp)
    return rgb[ys[ys >= 0]][:, xs]


@lru_cache(maxsize=65536)
def half_block_style(top: tuple[int, int, int], bottom: tuple[int, int, int] | None) -> Style:
    """Upper pixel as foreground, lower as background (None: the terminal's background)."""
    return Style.from_color(
        Color.from_rgb(*top), None if bottom is None else Color.from_rgb(*bottom)
    )


def half_block_runs(picture: np.ndarray) -> list[list[Segment]]:
    """(N, C, 3) uint8 -> ceil(N / 2) terminal rows of C cells (with N odd the last row's lower
    halves are left to the background), one segment per run of equal cells: a panel's repaint
    costs Textual work per segment (styles, filters, crops), and a gradient row is mostly one
    colour beyond its receptive field."""
    tops, bottoms = picture[0::2], picture[1::2]
    pairs = np.zeros((len(tops), picture.shape[1], 6), np.int16)  # -1: no lower half
    pairs[:, :, :3] = tops
    pairs[:, :, 3:] = -1
    pairs[: len(bottoms), :, 3:] = bottoms
    changes = np.any(pairs[:, 1:] != pairs[:, :-1], axis=2)
    lines = []
    for pair, change in zip(pairs, changes, strict=True):
        starts = [0, *(np.flatnonzero(change) + 1).tolist()]
        ends = [*starts[1:], pair.shape[0]]
        colours = pair[starts].tolist()
        lines.append(
            [
                Segment(UPPER_HALF * (end - start), run_style(colour))
                for start, end, colour in zip(starts, ends, colours, strict=True)
            ]
        )
    return lines


def run_style(colour: list[int]) -> Style:
    """The style of a cell whose (top RGB, bottom RGB or -1s) are `colour`."""
    top, bottom = tuple(colour[:3]), tuple(colour[3:])
    return half_block_style(top, None if bottom[0] < 0 else bottom)
