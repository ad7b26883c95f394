"""A one-line colour ramp with the scale's numbers under it (linear or signed-log)."""

from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget

from cnninterp.tui.pictures import colours


class Colorbar(Widget):
    DEFAULT_CSS = """
    Colorbar { height: 2; width: 1fr; }
    """

    def __init__(self, id: str | None = None):
        super().__init__(id=id)
        self.scale: colours.SignedScale | None = None
        self.cmap = colours.DIVERGING[0]

    def set_scale(self, scale: colours.SignedScale | None, cmap: str) -> None:
        self.scale, self.cmap = scale, cmap
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self.scale is None or width < 4:
            return Strip.blank(width, self.rich_style)
        ramp, labels = colours.colorbar_text(self.scale, self.cmap, width)
        if y == 0:
            return Strip(ramp, width)
        if y == 1:
            return Strip([Segment(labels, self.rich_style)], width)
        return Strip.blank(width, self.rich_style)
