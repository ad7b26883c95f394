"""One image panel drawn with real pixels (Kitty or Sixel) through a textual-image widget.

The same interface as PixelView, so the app does not care which one it holds. The picture is
encoded once per picture or panel size (nearest-upscaled and palettised by
`terminal_picture`), never on a cursor move: the cursor is shown with text around the picture,
a tick in the margin left of its row and one below its column, and moving it repaints only
those margin cells. The textual-image widget class is passed in, so tests can substitute one.
"""

from typing import Any

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.app import ComposeResult
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from cnninterp.tui import render
from cnninterp.tui.terminal_picture import CellGeometry, upscaled_picture
from cnninterp.tui.viewport import Viewport
from cnninterp.tui.widgets.pixel_view import PixelView

TICK_STYLE = Style.parse(f"bold rgb({','.join(map(str, render.CURSOR_RGB))})")


class GraphicsView(Widget):
    """An RGB picture [H, W, 3] in real pixels, with the cursor marked in the margins."""

    DEFAULT_CSS = """
    GraphicsView { width: 1fr; height: 1fr; }
    GraphicsView > .picture { width: 1; height: 1; display: none; }
    """

    def __init__(
        self,
        image_class: type,
        cell: tuple[int, int],
        *,
        show_cursor: bool = True,
        id: str | None = None,
        classes: str = "",
    ):
        super().__init__(id=id, classes=classes)
        self.image_class, self.cell, self.show_cursor = image_class, cell, show_cursor
        self._rgb: np.ndarray | None = None
        self.viewport = Viewport()
        self._message = ""
        self._cursor: tuple[int, int] | None = None
        self._geometry: CellGeometry | None = None
        self._shown: tuple | None = None  # (picture identity, geometry) last encoded
        self._left = 0
        self._cursor_cell: tuple[int, int] | None = None
        self.encodes = 0
        """Pictures built and handed to the terminal widget (tests count them)."""

    def compose(self) -> ComposeResult:
        yield self.image_class(classes="picture")

    # ---- state ----------------------------------------------------------------------------

    def set_picture(
        self,
        rgb: np.ndarray | None,
        message: str = "",
        layers: tuple[tuple[np.ndarray, tuple[int, int, int]], ...] = (),
    ) -> None:
        """Show rgb (or, when None, `message` centred) with its mask layers painted in (at
        full resolution: the terminal scales the picture); an identical one is not resent."""
        if rgb is not None and layers:
            rgb = rgb.copy()
            for mask, colour in layers:
                rgb[mask] = colour
        if rgb is not None and self._rgb is not None and np.array_equal(rgb, self._rgb):
            return
        self._rgb, self._message = rgb, message
        self._place_picture()
        self.refresh()

    def set_viewport(self, viewport: Viewport) -> None:
        """Terminal graphics show the whole image at the terminal's own pixel resolution;
        zoom and pan are the half-block panels' (a known limit of this mode)."""
        self.viewport = viewport

    @property
    def picture_shape(self) -> tuple[int, int] | None:
        return None if self._rgb is None else self._rgb.shape[:2]

    @property
    def geometry(self) -> CellGeometry | None:
        return self._geometry

    @property
    def picture_left(self) -> int:
        """Column of the picture's first cell inside the panel."""
        return self._left

    def set_cursor(self, y: int, x: int) -> None:
        """Move the cursor: repaint the margin cells of the old and the new ticks only."""
        self._cursor = (y, x)
        old, self._cursor_cell = self._cursor_cell, self._locate_cursor()
        for cell in {c for c in (old, self._cursor_cell) if c is not None}:
            for region in self._tick_regions(cell):
                self.refresh(region)

    # ---- layout ---------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._place_picture()

    def _place_picture(self) -> None:
        if not self.is_mounted:
            return
        image: Any = self.query_one(".picture")  # textual-image's widget: typed by its module
        width, height = self.size
        margin = 1 if self.show_cursor else 0
        if self._rgb is None or width <= margin or height <= margin:
            self._geometry, self._shown = None, None
            image.display = False
            image.image = None
            self._cursor_cell = None
            return
        h, w = self._rgb.shape[:2]
        geometry = CellGeometry.into(h, w, width - margin, height - margin, self.cell)
        self._geometry = geometry
        self._left = margin + max(0, (width - margin - geometry.cols) // 2)
        key = (id(self._rgb), geometry)
        if self._shown != key:
            _, background = self.background_colors
            picture = upscaled_picture(self._rgb, geometry, background.rgb)
            image.styles.width, image.styles.height = geometry.cols, geometry.rows
            image.styles.offset = (self._left, 0)
            image.image = picture
            self.encodes += 1
            self._shown = key
        image.display = True
        self._cursor_cell = self._locate_cursor()

    def _locate_cursor(self) -> tuple[int, int] | None:
        g = self._geometry
        if g is None or not g.cols or self._cursor is None or not self.show_cursor:
            return None
        y, x = self._cursor
        return g.cell_of(min(y, g.height - 1), min(x, g.width - 1))

    def _tick_regions(self, cell: tuple[int, int]) -> list[Region]:
        row, col = cell
        bottom = self._geometry.rows if self._geometry else 0
        return [Region(self._left - 1, row, 1, 1), Region(self._left + col, bottom, 1, 1)]

    # ---- drawing --------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width, style = self.size.width, self.rich_style
        g, cc = self._geometry, self._cursor_cell
        if g is None:
            if self._message and y == self.size.height // 2:
                return Strip([Segment(self._message[:width].center(width), style)], width)
            return Strip.blank(width, style)
        if cc is not None and y == cc[0] and self._left >= 1:
            segments = [Segment(" " * (self._left - 1), style), Segment("▶", TICK_STYLE)]
            return Strip(segments, self._left).extend_cell_length(width, style)
        if cc is not None and y == g.rows:
            left = self._left + cc[1]
            segments = [Segment(" " * left, style), Segment("▲", TICK_STYLE)]
            return Strip(segments, left + 1).extend_cell_length(width, style)
        return Strip.blank(width, style)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return container.height

    # ---- input ----------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self._geometry is None:
            return
        pixel = self._geometry.pixel_at(offset.y, offset.x - self._left)
        if pixel is not None:
            event.stop()
            self.post_message(PixelView.Clicked(self, *pixel))
