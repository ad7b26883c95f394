"""One image panel drawn with half blocks on Textual's line API.

What the panel shows is the shared `Viewport`'s window for its size (viewport.py): exact
pixels at 1:1 or closer, block means when zoomed out, and mask layers (outlines) drawn after
the reduction by block maxima, so a one-pixel vessel survives. The window is turned into
ready lines (one segment per run of equal cells) once per picture, size, window or style; a
cursor move inside the window then marks only the rows the cursor leaves and enters as dirty,
so a key press costs a few rows of terminal output instead of a whole image (over SSH the
difference between instant and laggy). A one-pixel cursor is easy to lose in a large
picture, so a tick in the margin left of its row and one below its column point at it.
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

from cnninterp.tui.pictures import colours, half_blocks
from cnninterp.tui.pictures.picture_panel import Layer
from cnninterp.tui.pictures.viewport import Viewport, Window

TICK_STYLE = Style.parse(f"bold rgb({','.join(map(str, colours.CURSOR_RGB))})")


class PixelView(Widget):
    """An RGB picture [H, W, 3] of image pixels with an optional one-pixel cursor."""

    DEFAULT_CSS = """
    PixelView { width: 1fr; height: 1fr; }
    """
    can_focus = True  # tab picks the panel `f` maximises; keys still reach the app's bindings

    @dataclass
    class Clicked(Message):
        """The user clicked image pixel (y, x) of `view`."""

        view: Widget
        """The panel clicked (a PixelView or a GraphicsView)."""
        y: int
        x: int

    @dataclass
    class Zoom(Message):
        """The mouse wheel turned over `view`: `steps` levels finer (negative: coarser)."""

        view: Widget
        steps: int

    def __init__(self, *, show_cursor: bool = True, id: str | None = None, classes: str = ""):
        super().__init__(id=id, classes=classes)
        self.show_cursor = show_cursor
        self._rgb: np.ndarray | None = None
        self._layers: tuple[Layer, ...] = ()
        self._cursor: tuple[int, int] | None = None
        self._message = ""
        self.viewport = Viewport()
        self._window: Window | None = None
        self._picture: np.ndarray | None = None
        self._lines: list[Strip] = []
        """The picture's terminal rows, margin and padding included, without the cursor."""
        self._style: Style | None = None
        """self.rich_style, which Textual recomputes through every ancestor on each call."""
        self._left = 0
        self._cursor_rows: range = range(0)

    # ---- state --------------------------------------------------------------------------

    def set_picture(
        self, rgb: np.ndarray | None, message: str = "", layers: tuple[Layer, ...] = ()
    ) -> None:
        """Show rgb (or, when None, `message` centred) with mask `layers` painted over it;
        keeps the cursor. An identical picture is not redrawn (progress updates repaint the
        same gradient row)."""
        if (
            rgb is not None
            and self._rgb is not None
            and np.array_equal(rgb, self._rgb)
            and same_layers(layers, self._layers)
        ):
            return
        self._rgb, self._layers = rgb, layers
        self._message = message
        self._window = None
        self.refresh()

    def set_viewport(self, viewport: Viewport) -> None:
        """Zoom and centre shared by the panels; redrawn only when the window changes."""
        if viewport == self.viewport:
            return
        self.viewport = viewport
        if self._rgb is not None and self._window is not None:
            if self._window_for(self.size.width, self.size.height) == self._window:
                return
        self._window = None
        self.refresh()

    @property
    def box(self) -> tuple[int, int]:
        """Cells (columns, rows) the picture may use: the panel less the ticks' margin."""
        margin = 1 if self.show_cursor else 0
        return max(self.size.width - margin, 1), max(self.size.height - margin, 1)

    @property
    def shown_rgb(self) -> np.ndarray | None:
        """uint8 [H, W, 3]: the picture as last set (None: a message instead)."""
        return self._rgb

    @property
    def shown_layers(self) -> tuple[Layer, ...]:
        """The mask layers painted over it."""
        return self._layers

    @property
    def shown_message(self) -> str:
        """The message shown instead of a picture ('' with a picture)."""
        return self._message

    @property
    def picture_shape(self) -> tuple[int, int] | None:
        return None if self._rgb is None else self._rgb.shape[:2]

    @property
    def picture_left(self) -> int:
        """Column of the picture's first cell inside the panel."""
        self._ensure_cells()
        return self._left

    @property
    def window(self) -> Window | None:
        """The image region shown and its scale (None without a picture)."""
        self._ensure_cells()
        return self._window if self._rgb is not None else None

    def set_cursor(self, y: int, x: int) -> None:
        """Move the cursor, repainting only the rows and ticks involved."""
        old = self._cursor_rows
        self._cursor = (y, x)
        window = self._window
        if window is None or not self.show_cursor:
            return
        self._cursor_rows = self._rows_of_cursor(window)
        for row in {*old, *self._cursor_rows}:
            self.refresh(Region(0, row, self.size.width, 1))
        self.refresh(Region(0, window.rows, self.size.width, 1))  # the column's tick

    def _rows_of_cursor(self, window: Window) -> range:
        cells = window.cells_of(*self._cursor) if self._cursor is not None else None
        return range(0) if cells is None else range(cells[0], cells[2])

    # ---- drawing ------------------------------------------------------------------------

    def _window_for(self, width: int, height: int) -> Window | None:
        if self._rgb is None:
            return None
        margin = 1 if self.show_cursor else 0  # room for the ticks, left and below
        shape = self._rgb.shape[:2]
        return self.viewport.visible(shape, max(width - margin, 1), max(height - margin, 1))

    def _ensure_cells(self) -> None:
        size = self.size
        if self._window is not None and self._box == (size.width, size.height):
            return
        self._box = (size.width, size.height)
        window = self._window_for(size.width, size.height)
        self._style = style = self.rich_style
        if window is None or self._rgb is None:
            self._window, self._lines, self._picture = None, [], None
            self._cursor_rows = range(0)
            return
        self._window = window
        self._picture = display_picture(self._rgb, self._layers, window)
        margin = 1 if self.show_cursor else 0
        self._left = margin + max(0, (size.width - margin - window.cols) // 2)
        self._lines = [
            self._line([Segment(" " * self._left, style)], runs)
            for runs in half_blocks.half_block_runs(self._picture)
        ]
        self._cursor_rows = self._rows_of_cursor(window) if self.show_cursor else range(0)

    _box: tuple[int, int] = (-1, -1)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._window = None  # the lines carry the background: rebuilt with the new one

    def _line(self, margin: list[Segment], runs: list[Segment]) -> Strip:
        assert self._picture is not None
        strip = Strip([*margin, *runs], self._left + self._picture.shape[1])
        return strip.extend_cell_length(self.size.width, self._style)

    def render_line(self, y: int) -> Strip:
        self._ensure_cells()
        width, style = self.size.width, self._style
        window = self._window
        box = None
        if window is not None and self.show_cursor and self._cursor is not None:
            box = window.display_box(*self._cursor)
        if y >= len(self._lines):
            if self._rgb is None and self._message and y == self.size.height // 2:
                text = self._message[:width].center(width)
                return Strip([Segment(text, style)], width)
            if box is not None and y == len(self._lines):
                left = self._left + (box[1] + box[3] - 1) // 2
                segments = [Segment(" " * left, style), Segment("▲", TICK_STYLE)]
                return Strip(segments, left + 1).extend_cell_length(width, style)
            return Strip.blank(width, style)
        if box is None or y not in self._cursor_rows or self._picture is None:
            return self._lines[y]
        margin = [Segment(" " * self._left, style)]
        if self._left:
            margin = [Segment(" " * (self._left - 1), style), Segment("▶", TICK_STYLE)]
        return self._line(margin, cursor_runs(self._picture, y, box))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return container.height

    # ---- input --------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        window = self.window
        if offset is None or window is None:
            return
        pixel = window.pixel_at(offset.y, offset.x - self._left)
        if pixel is not None:
            event.stop()
            self.post_message(self.Clicked(self, *pixel))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.post_message(self.Zoom(self, 1))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.post_message(self.Zoom(self, -1))


def display_picture(rgb: np.ndarray, layers: tuple[Layer, ...], window: Window) -> np.ndarray:
    """uint8 [R, C, 3] display pixels of `window`: colours block-averaged (exact squares when
    enlarged), then each layer's mask block-maxed and painted, so thin outlines survive."""
    picture = np.rint(window.crop_mean(rgb)).astype(np.uint8)
    for mask, colour in layers:
        picture[window.crop_max(mask)] = colour
    return picture


def cursor_runs(picture: np.ndarray, row: int, box: tuple[int, int, int, int]) -> list[Segment]:
    """Terminal row `row` of `picture` with the cursor's display pixels (r0, c0, r1, c1)
    painted: exactly the pixel's square when enlarged, its block's display pixel shrunk."""
    pair = picture[2 * row : 2 * row + 2].copy()
    r0, c0, r1, c1 = box
    lo, hi = max(r0 - 2 * row, 0), min(r1 - 2 * row, len(pair))
    pair[lo:hi, c0:c1] = colours.CURSOR_RGB
    return half_blocks.half_block_runs(pair)[0]


def same_layers(a: tuple[Layer, ...], b: tuple[Layer, ...]) -> bool:
    return len(a) == len(b) and all(
        ca == cb and np.array_equal(ma, mb) for (ma, ca), (mb, cb) in zip(a, b, strict=True)
    )
