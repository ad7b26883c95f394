"""One image panel drawn with half blocks on Textual's line API.

The picture is resampled and turned into per-cell segments once per picture or size; a
cursor move then marks only the cell the cursor leaves and the cell it enters as dirty, so a
key press costs a couple of cells of terminal output instead of a whole image (over SSH the
difference between instant and laggy). A one-pixel cursor is easy to lose in a large picture,
so a tick in the margin left of its row and one below its column point at it (four more
cells per move).
"""

from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from cnninterp.tui import render

TICK_STYLE = Style.parse(f"bold rgb({','.join(map(str, render.CURSOR_RGB))})")


class PixelView(Widget):
    """An RGB picture [H, W, 3] of image pixels with an optional one-pixel cursor."""

    DEFAULT_CSS = """
    PixelView { width: 1fr; height: 1fr; }
    """

    @dataclass
    class Clicked(Message):
        """The user clicked image pixel (y, x) of `view`."""

        view: Widget
        """The panel clicked (a PixelView or a GraphicsView)."""
        y: int
        x: int

    def __init__(self, *, show_cursor: bool = True, id: str | None = None, classes: str = ""):
        super().__init__(id=id, classes=classes)
        self.show_cursor = show_cursor
        self._rgb: np.ndarray | None = None
        self._cursor: tuple[int, int] | None = None
        self._message = ""
        self._fit: render.Fit | None = None
        self._picture: np.ndarray | None = None
        self._cells: list[list[Segment]] = []
        self._left = 0
        self._cursor_cell: tuple[int, int, bool] | None = None

    # ---- state --------------------------------------------------------------------------

    def set_picture(self, rgb: np.ndarray | None, message: str = "") -> None:
        """Show rgb (or, when None, `message` centred); keeps the cursor. An identical
        picture is not redrawn (progress updates repaint the same gradient row)."""
        if rgb is not None and self._rgb is not None and np.array_equal(rgb, self._rgb):
            return
        self._rgb = rgb
        self._message = message
        self._fit = None
        self.refresh()

    @property
    def picture_shape(self) -> tuple[int, int] | None:
        return None if self._rgb is None else self._rgb.shape[:2]

    @property
    def picture_left(self) -> int:
        """Column of the picture's first cell inside the panel."""
        self._ensure_cells()
        return self._left

    @property
    def fit(self) -> render.Fit | None:
        self._ensure_cells()
        return self._fit

    def set_cursor(self, y: int, x: int) -> None:
        """Move the cursor, repainting only the two cells involved."""
        old = self._cursor_cell
        self._cursor = (y, x)
        if self._fit is None or not self.show_cursor:
            return
        self._cursor_cell = self._fit.cell_of(y, x) if self._fit.cols else None
        for cell in {c for c in (old, self._cursor_cell) if c is not None}:
            row, col = cell[0], self._left + cell[1]
            self.refresh(
                Region(col, row, 1, 1),
                Region(self._left - 1, row, 1, 1),  # the row's tick
                Region(col, self._fit.rows, 1, 1),  # the column's tick
            )

    # ---- drawing ------------------------------------------------------------------------

    def _ensure_cells(self) -> None:
        size = self.size
        if self._fit is not None and self._box == (size.width, size.height):
            return
        self._box = (size.width, size.height)
        if self._rgb is None:
            self._fit = render.Fit(0, 0, 0, 0)
            self._cells = []
            return
        h, w = self._rgb.shape[:2]
        margin = 1 if self.show_cursor else 0  # room for the ticks, left and below
        self._fit = render.Fit.into(h, w, size.width - margin, size.height - margin)
        self._picture = render.resample(self._rgb, self._fit)
        self._cells = render.half_block_cells(self._picture)
        self._left = margin + max(0, (size.width - margin - self._fit.cols) // 2)
        self._cursor_cell = None
        if self._cursor is not None and self.show_cursor and self._fit.cols:
            self._cursor_cell = self._fit.cell_of(*self._cursor)

    _box: tuple[int, int] = (-1, -1)

    def render_line(self, y: int) -> Strip:
        self._ensure_cells()
        width, style = self.size.width, self.rich_style
        cc = self._cursor_cell
        if y >= len(self._cells):
            if self._rgb is None and self._message and y == self.size.height // 2:
                text = self._message[:width].center(width)
                return Strip([Segment(text, style)], width)
            if cc is not None and y == len(self._cells):
                left = self._left + cc[1]
                segments = [Segment(" " * left, style), Segment("▲", TICK_STYLE)]
                return Strip(segments, left + 1).extend_cell_length(width, style)
            return Strip.blank(width, style)
        cells = self._cells[y]
        margin = [Segment(" " * self._left, style)]
        if cc is not None and cc[0] == y and self._picture is not None:
            cells = list(cells)
            cells[cc[1]] = render.cursor_segment(self._picture, cc[0], cc[1], cc[2])
            if self._left:
                margin = [Segment(" " * (self._left - 1), style), Segment("▶", TICK_STYLE)]
        segments = [*margin, *cells]
        return Strip(segments, self._left + len(cells)).extend_cell_length(width, self.rich_style)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return container.height

    # ---- input --------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        fit = self.fit
        if offset is None or fit is None or not fit.cols:
            return
        pixel = fit.pixel_at(offset.y, offset.x - self._left)
        if pixel is not None:
            event.stop()
            self.post_message(self.Clicked(self, *pixel))
