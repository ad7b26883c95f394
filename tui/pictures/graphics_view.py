"""One image panel drawn with real pixels (Kitty or Sixel) through a textual-image widget.

The same interface as PixelView, so the app does not care which one it holds. The panel shows
the shared `Viewport`'s window for its size, exactly the region a half-block panel of that size
shows (viewport.py: one code for both), but at the finest resolution the terminal's pixels
allow (`Window.at_resolution`): exact pixels when they fit, nearest-upscaled by a whole factor
when zoomed in; block means of image-aligned blocks when they do not, with mask layers
(outlines) block-maxed after the reduction so a one-pixel vessel survives.

The picture is encoded once per picture, panel size or window (nearest-upscaled and
palettised by `terminal_picture`), never on a cursor move inside the window: the cursor is
shown with text, a tick in the margin left of its row and one below its column and, with
Kitty, a `CursorMark` laid over the cells of its pixel (half blocks: exact to the pixel at 1:1
or closer, like the half-block panels); moving it repaints only those cells. The
textual-image widget class is passed in, so tests can substitute one.
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

from cnninterp.tui.pictures import colours, half_blocks
from cnninterp.tui.pictures.picture_panel import Layer
from cnninterp.tui.pictures.pixel_view import PixelView, display_picture, same_layers
from cnninterp.tui.pictures.terminal_picture import CellGeometry, cursor_patch, upscaled_picture
from cnninterp.tui.pictures.viewport import Viewport, Window

TICK_STYLE = Style.parse(f"bold rgb({','.join(map(str, colours.CURSOR_RGB))})")


class CursorMark(Widget):
    """The cells over the cursor's pixel, in half blocks with the pixel's part in the cursor's
    colour, laid over the picture: with Kitty's placeholder cells the terminal shows this text
    there instead of the picture, so the mark is exact without sending the picture again."""

    DEFAULT_CSS = """
    CursorMark { position: absolute; width: 1; height: 1; display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[list[Segment]] = []
        self.halves: np.ndarray | None = None
        """The half-cell colours drawn [2 rows, cols, 3] (tests read them)."""

    def show(self, left: int, top: int, halves: np.ndarray | None) -> None:
        self.halves = halves
        if halves is None or not halves.size:
            self.display = False
            return
        self.lines = half_blocks.half_block_runs(halves)
        self.styles.offset = (left, top)
        self.styles.width, self.styles.height = halves.shape[1], halves.shape[0] // 2
        self.display = True
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y >= len(self.lines) or self.halves is None:
            return Strip.blank(self.size.width)
        return Strip(self.lines[y], self.halves.shape[1])


class GraphicsView(Widget):
    """An RGB picture [H, W, 3] in real pixels, with the cursor marked in the margins."""

    DEFAULT_CSS = """
    GraphicsView { width: 1fr; height: 1fr; }
    GraphicsView > .picture { width: 1; height: 1; display: none; }
    """
    can_focus = True  # tab picks the panel `f` maximises; keys still reach the app's bindings

    def __init__(
        self,
        image_class: type,
        cell: tuple[int, int],
        *,
        show_cursor: bool = True,
        mark_over_picture: bool = True,
        id: str | None = None,
        classes: str = "",
    ):
        super().__init__(id=id, classes=classes)
        self.image_class, self.cell, self.show_cursor = image_class, cell, show_cursor
        self.mark_over_picture = mark_over_picture
        """Lay the CursorMark over the picture (Kitty). Not with Sixel: its picture is drawn
        from its last text row, so repainting the cells a mark leaves would blank them."""
        self._rgb: np.ndarray | None = None
        self._layers: tuple[Layer, ...] = ()
        self.viewport = Viewport()
        self._message = ""
        self._cursor: tuple[int, int] | None = None
        self._window: Window | None = None
        self._fine: Window | None = None
        self._geometry: CellGeometry | None = None
        self._shown: tuple | None = None  # (picture identity, fine window, geometry) encoded
        self._left = 0
        self._cursor_cell: tuple[int, int] | None = None
        self.encodes = 0
        """Pictures built and handed to the terminal widget (tests count them)."""
        self.display_pixels: np.ndarray | None = None
        """The picture last handed over, before its upscaling onto the cells: uint8
        [h, w, 3] of `picture_window` (tests compare it with the image)."""

    def compose(self) -> ComposeResult:
        yield self.image_class(classes="picture")
        yield CursorMark()

    # ---- state ----------------------------------------------------------------------------

    def set_picture(
        self, rgb: np.ndarray | None, message: str = "", layers: tuple[Layer, ...] = ()
    ) -> None:
        """Show rgb (or, when None, `message` centred) with mask `layers` painted over it
        after the zoom's reduction; an identical one is not resent."""
        if (
            rgb is not None
            and self._rgb is not None
            and np.array_equal(rgb, self._rgb)
            and same_layers(layers, self._layers)
        ):
            return
        self._rgb, self._layers, self._message = rgb, layers, message
        self._shown = None
        self._place_picture()
        self.refresh()

    def set_viewport(self, viewport: Viewport) -> None:
        """Zoom and centre shared by the panels; re-encoded only when the window changes."""
        if viewport == self.viewport:
            return
        self.viewport = viewport
        if self._rgb is not None and self._window_for_size() != self._window:
            self._place_picture()
            self.refresh()

    @property
    def box(self) -> tuple[int, int]:
        """Cells (columns, rows) the picture may use: the panel less the ticks' margin."""
        margin = 1 if self.show_cursor else 0
        return max(self.size.width - margin, 1), max(self.size.height - margin, 1)

    @property
    def picture_shape(self) -> tuple[int, int] | None:
        return None if self._rgb is None else self._rgb.shape[:2]

    @property
    def window(self) -> Window | None:
        """The image region shown, at the half-block panels' scale (the zoom level)."""
        return self._window

    @property
    def picture_window(self) -> Window | None:
        """The same region at the scale of the picture handed to the terminal."""
        return self._fine

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
        self._mark_cursor()
        old, self._cursor_cell = self._cursor_cell, self._locate_cursor()
        for cell in {c for c in (old, self._cursor_cell) if c is not None}:
            for region in self._tick_regions(cell):
                self.refresh(region)

    # ---- layout ---------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._place_picture()

    def _window_for_size(self) -> Window | None:
        if self._rgb is None:
            return None
        return self.viewport.visible(self._rgb.shape[:2], *self.box)

    def _place_picture(self) -> None:
        if not self.is_mounted:
            return
        image: Any = self.query_one(".picture")  # textual-image's widget: typed by its module
        width, height = self.size
        margin = 1 if self.show_cursor else 0
        window, rgb = self._window_for_size(), self._rgb
        if window is None or rgb is None or width <= margin or height <= margin:
            self._window, self._fine, self._geometry, self._shown = None, None, None, None
            image.display = False
            image.image = None
            self._cursor_cell = None
            self._mark_cursor()
            return
        cell_w, cell_h = self.cell
        fine = window.at_resolution(window.cols * cell_w, window.rows * cell_h, rgb.shape[:2])
        h, w = fine.display_rows, fine.display_cols
        geometry = CellGeometry.into(h, w, window.cols, window.rows, self.cell)
        self._window, self._fine, self._geometry = window, fine, geometry
        self._left = margin + max(0, (width - margin - geometry.cols) // 2)
        key = (id(rgb), fine, geometry)
        if self._shown != key:
            _, background = self.background_colors
            self.display_pixels = display_picture(rgb, self._layers, fine)
            picture = upscaled_picture(self.display_pixels, geometry, background.rgb)
            image.styles.width, image.styles.height = geometry.cols, geometry.rows
            image.styles.offset = (self._left, 0)
            image.image = picture
            self.encodes += 1
            self._shown = key
        image.display = True
        self._cursor_cell = self._locate_cursor()
        self._mark_cursor()

    def _mark_cursor(self) -> None:
        if not self.is_mounted:
            return
        mark = self.query_one(CursorMark)
        g, fine, pixels = self._geometry, self._fine, self.display_pixels
        cursor = self._cursor
        if g is None or fine is None or pixels is None or cursor is None or not self.show_cursor:
            mark.show(0, 0, None)
            return
        if not self.mark_over_picture or not fine.contains(*cursor):
            mark.show(0, 0, None)
            return
        block = fine.scale.block
        pixel = ((cursor[0] - fine.y0) // block, (cursor[1] - fine.x0) // block)
        _, background = self.background_colors
        row, col, halves = cursor_patch(pixels, g, pixel, colours.CURSOR_RGB, background.rgb)
        mark.show(self._left + col, row, halves)

    def _locate_cursor(self) -> tuple[int, int] | None:
        """The cell showing the cursor's pixel (its block's, zoomed out); None outside."""
        g, fine = self._geometry, self._fine
        if g is None or fine is None or not g.cols or self._cursor is None:
            return None
        if not self.show_cursor or not fine.contains(*self._cursor):
            return None
        y, x = self._cursor
        block = fine.scale.block
        return g.cell_of((y - fine.y0) // block, (x - fine.x0) // block)

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
        if self._geometry is None:
            return
        # From screen coordinates: a click on the picture arrives from the textual-image
        # child, whose own offset (x, y) would count from the picture, not from the panel.
        content = self.content_region
        row, col = event.screen_y - content.y, event.screen_x - content.x
        fine = self._fine
        pixel = self._geometry.pixel_at(row, col - self._left)
        if pixel is not None and fine is not None:
            block = fine.scale.block  # the centre of the block clicked, inside the image
            y = min(fine.y0 + pixel[0] * block + block // 2, fine.y1 - 1)
            x = min(fine.x0 + pixel[1] * block + block // 2, fine.x1 - 1)
            event.stop()
            self.post_message(PixelView.Clicked(self, y, x))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.post_message(PixelView.Zoom(self, 1))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.post_message(PixelView.Zoom(self, -1))
