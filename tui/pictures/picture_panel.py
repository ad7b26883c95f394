"""What the app asks of a picture panel, and what it hands one: PixelView (half blocks) and
GraphicsView (Kitty, Sixel) both take a `Picture` (an RGB array or a message, with mask
layers) and show the shared viewport and the cursor."""

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cnninterp.tui.pictures.viewport import Viewport

Layer = tuple[np.ndarray, tuple[int, int, int]]
"""A bool mask [H, W] painted in one colour over a picture."""


class PicturePanel(Protocol):
    """What the app asks of a picture panel: PixelView (half blocks) and GraphicsView (kitty,
    sixel) both provide it."""

    def set_picture(
        self, rgb: np.ndarray | None, message: str = "", layers: tuple[Layer, ...] = ()
    ) -> None:
        """Show rgb (uint8 [h, w, 3]) with mask layers over it or, when None, `message`."""

    def set_cursor(self, y: int, x: int) -> None:
        """Mark image pixel (y, x)."""

    def set_viewport(self, viewport: Viewport) -> None:
        """Show the shared zoom and centre."""


@dataclass(frozen=True)
class Picture:
    """A panel's content: a picture, or a message when there is none."""

    rgb: np.ndarray | None
    """uint8 [h, w, 3], or None: show `message`."""
    message: str = ""
    subtitle: str | None = None
    """The panel's border subtitle; None leaves it as it is."""
    layers: tuple[Layer, ...] = ()
    """Masks painted over the picture after zooming out (block max: thin lines survive)."""
