"""The list of images in the folder: name, size, and whether its significance map is done.

Not focusable on purpose: arrow keys belong to the pixel cursor. `n`/`p` or a click select.
"""

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

MARKS = {"done": "●", "partial": "◐", "error": "✗", "": " "}


@dataclass
class ImageEntry:
    name: str
    size: str = ""
    state: str = ""
    """'' (not computed), 'partial', 'done' or 'error'."""


class ImageList(Widget):
    """One line per image; the current one highlighted and kept in view."""

    DEFAULT_CSS = """
    ImageList { width: 24; height: 1fr; }
    """

    @dataclass
    class Selected(Message):
        index: int

    def __init__(self, id: str | None = None):
        super().__init__(id=id)
        self.entries: list[ImageEntry] = []
        self.current = 0

    def set_entries(self, entries: list[ImageEntry]) -> None:
        self.entries = entries
        self.refresh()

    def set_current(self, index: int) -> None:
        self.current = index
        self.refresh()

    def update_entry(self, index: int, **changes) -> None:
        entry = self.entries[index]
        for key, value in changes.items():
            setattr(entry, key, value)
        self.refresh()

    def _first_shown(self) -> int:
        height = max(1, self.size.height)
        return max(0, min(self.current - height // 2, len(self.entries) - height))

    def render(self) -> Text:
        if not self.entries:
            return Text("no images", style="dim")
        width = max(1, self.size.width)
        first = self._first_shown()
        lines = []
        for i, entry in enumerate(self.entries[first : first + max(1, self.size.height)], first):
            mark = MARKS.get(entry.state, " ")
            name_width = max(1, width - len(entry.size) - 3)
            name = (
                entry.name if len(entry.name) <= name_width else entry.name[: name_width - 1] + "…"
            )
            line = Text(f"{mark} {name:<{name_width}} {entry.size}"[:width])
            if i == self.current:
                line.stylize("reverse")
            elif entry.state == "error":
                line.stylize("red")
            lines.append(line)
        return Text("\n").join(lines)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = self._first_shown() + offset.y
        if 0 <= index < len(self.entries):
            event.stop()
            self.post_message(self.Selected(index))
