"""The textual-image widgets the graphics panels embed (imported only when graphics are on).

Importing textual-image probes the terminal, which only works before Textual owns stdin, so
the CLI imports this module before `App.run()` and only for `--graphics kitty|sixel`.

textual-image 0.12's Kitty widget builds a new renderable on every render, which deletes the
image from the terminal and transmits it again: any repaint of the panel (a notification
passing over it, a screen popped) would resend the whole picture. `KittyImage` keeps the
renderable, and so the transmitted image, until the picture or the cell box changes. The
Sixel widget already caches its encoding per picture and crop; its data is re-emitted on each
repaint, which is how Sixel works, but nothing repaints the panel on a cursor move.
"""

from textual_image.renderable.tgp import Image as TGPRenderable
from textual_image.widget import SixelImage, TGPImage


class KittyImage(TGPImage, Renderable=TGPRenderable):
    """TGPImage that transmits each picture once per cell box, not once per repaint."""

    _cached_for: tuple | None = None

    def render(self):
        if not self._image:
            return ""
        key = (id(self._image), self._get_styled_size())
        if self._renderable is not None and self._cached_for == key:
            return self._renderable
        if self._renderable is not None:
            self._renderable.cleanup()
        self._renderable = self._Renderable(self._image, *self._get_styled_size())
        self._cached_for = key
        return self._renderable


def image_widget_class(mode: str) -> type:
    """The widget class for 'kitty' or 'sixel'."""
    return {"kitty": KittyImage, "sixel": SixelImage}[mode]


def terminal_cell_size() -> tuple[int, int]:
    """(width, height) of a cell in screen pixels, as textual-image measured it at import."""
    try:
        from textual_image._terminal import get_cell_size

        size = get_cell_size()
        return int(size.width), int(size.height)
    except Exception:  # a private helper: if a later version moves it, assume VT340 cells
        return 10, 20
