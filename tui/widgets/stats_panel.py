"""The statistics of the cursor pixel: threshold, footprint of its gradient row, p and label."""

from rich.text import Text
from textual.widgets import Static

from cnninterp.tui.view import compact_rows

LABEL_WIDTH = 10


def stats_text(rows: list[tuple[str, str]]) -> Text:
    """One line per row: a dim fixed-width label, then the value (cropped, never wrapped)."""
    lines = []
    for label, value in rows:
        line = Text(f"{label:<{LABEL_WIDTH}}", style="dim")
        line.append(f" {value}")
        lines.append(line)
    text = Text("\n").join(lines)
    text.no_wrap = True
    text.overflow = "crop"
    return text


class StatsPanel(Static):
    """Rows of (label, value) strings computed by the app from jaxcore results."""

    DEFAULT_CSS = """
    StatsPanel { width: 1fr; height: 1fr; text-wrap: nowrap; text-overflow: clip; }
    """
    can_focus = True  # so `f` can maximise it on a small terminal

    rows: list[tuple[str, str]] = []
    """The lines shown: the app's rows, paired two to a line when the panel is too short."""
    full_rows: list[tuple[str, str]] = []

    def show_rows(self, rows: list[tuple[str, str]]) -> None:
        self.full_rows = rows
        self.lay_out()

    def lay_out(self) -> None:
        """Decided by the panel's own height, so a resize re-lays it out at once."""
        rows = self.full_rows
        if self.size.height and len(rows) > self.size.height:
            rows = compact_rows(rows)
        self.rows = rows
        self.update(stats_text(rows))

    def on_resize(self) -> None:
        self.lay_out()

    def text(self) -> str:
        """The rows as plain 'label: value' lines (tests and saves)."""
        return "\n".join(f"{label}: {value}" for label, value in self.rows)
