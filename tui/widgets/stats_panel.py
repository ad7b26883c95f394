"""The statistics of the cursor pixel: threshold, footprint of its gradient row, p and label.

Laid out by the panel's own size, so a resize re-lays it out at once: nothing is ever cut on
the right. A narrow panel (the 80x24 layout gives it about 23 columns) takes short labels and
wraps a long value onto indented lines at its fields (`y 3  x 5` splits between `y 3` and
`x 5`, not inside one); a short one pairs related rows on one line where the pair fits. Rows
that still do not fit the height are the least essential ones, last (`f` maximises the
panel to show them all).
"""

import textwrap
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

LABEL_WIDTH = 10
SHORT_LABEL_WIDTH = 6
NARROW = LABEL_WIDTH + 1 + 16
"""Below this many columns the labels shorten, leaving the values 16 columns or more."""

SHORT_LABELS = {
    "row max": "max|G|",
    "max |A|": "max|A|",
    "threshold": "thresh",
    "y min..max": "bbox y",
    "x min..max": "bbox x",
    "fulfilment": "fulfil",
    "mass +/-": "mass±",
    "signific.": "signif",
    "IoU p>0.5": "IoU",
    "|A| ves/bg": "|A|v/b",
    "footprint": "fp v/b",
    "mass acc.": "m.acc",
    "rank acc.": "r.acc",
    "pointing": "point",
    "explains": "expl.",
    "complete.": "compl.",
}
"""Labels of at most SHORT_LABEL_WIDTH columns for narrow panels (the rest already fit)."""

PAIRS = {"p(y,x)": "pixel", "row max": "G(y,x)", "x min..max": "y min..max", "area": "above"}
"""{row: the row it joins} when the panel is too short: the second one's value goes after
the first's, behind its label's first word."""


@dataclass(frozen=True)
class StatsLayout:
    rows: list[tuple[str, str]]
    """The (label, value) rows shown, related ones paired where the panel is short."""
    lines: list[tuple[str, str]]
    """Display lines: (label, text), the label "" on a wrapped value's continuation."""
    label_width: int


def lay_out(rows: list[tuple[str, str]], width: int, height: int) -> StatsLayout:
    """Rows for a panel of width x height cells (0: not laid out yet, nothing wrapped)."""
    narrow = 0 < width < NARROW
    label_width = SHORT_LABEL_WIDTH if narrow else LABEL_WIDTH
    value_width = width - label_width - 1 if width > 0 else 10**6

    def lines_of(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
        lines = []
        for label, value in rows:
            shown = SHORT_LABELS.get(label, label)[:label_width] if narrow else label
            pieces = wrapped(value, max(value_width, 1))
            lines += [(shown if i == 0 else "", piece) for i, piece in enumerate(pieces)]
        return lines

    lines = lines_of(rows)
    if height and len(lines) > height:
        rows = paired(rows, value_width)
        lines = lines_of(rows)
    return StatsLayout(rows, lines, label_width)


def paired(rows: list[tuple[str, str]], value_width: int) -> list[tuple[str, str]]:
    """Two related rows on one line (PAIRS) where the joined value fits value_width."""
    out: list[tuple[str, str]] = []
    for label, value in rows:
        if out and PAIRS.get(label) == out[-1][0]:
            joined = f"{out[-1][1]}  {label.split()[0]} {value}"
            if cell_len(joined) <= value_width:
                out[-1] = (out[-1][0], joined)
                continue
        out.append((label, value))
    return out


def wrapped(value: str, width: int) -> list[str]:
    """value in pieces of at most `width` columns: whole fields (separated by two spaces)
    where they fit, a field longer than the width split between words."""
    if cell_len(value) <= width:
        return [value]
    pieces: list[str] = []
    line = ""
    for field in value.split("  "):
        candidate = f"{line}  {field}" if line else field
        if cell_len(candidate) <= width:
            line = candidate
            continue
        if line:
            pieces.append(line)
        parts = textwrap.wrap(field, width, break_on_hyphens=False) or [""]
        pieces += parts[:-1]
        line = parts[-1]
    pieces.append(line)
    return pieces


def stats_text(layout: StatsLayout) -> Text:
    """One display line each: a dim fixed-width label, then the value or its continuation."""
    lines = []
    for label, value in layout.lines:
        line = Text(f"{label:<{layout.label_width}}", style="dim")
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
    """The rows shown: the app's rows, related ones paired when the panel is too short."""
    full_rows: list[tuple[str, str]] = []
    layout_shown = StatsLayout([], [], LABEL_WIDTH)
    """The last layout drawn (its display lines fit the panel's width)."""
    _drawn: StatsLayout | None = None
    """The layout whose text the panel shows now (None: a message, or nothing yet)."""
    _message: str | None = None
    """The message shown instead of rows (kept through resizes), or None."""

    def show_rows(self, rows: list[tuple[str, str]]) -> None:
        self.full_rows, self._message = rows, None
        self.lay_out()

    def lay_out(self) -> None:
        """Decided by the panel's own size, so a resize re-lays it out at once."""
        width, height = self.content_region.width, self.content_region.height
        layout = lay_out(self.full_rows, width, height)
        self.layout_shown, self.rows = layout, layout.rows
        if layout == self._drawn:
            return  # the pass's progress and the row's arrival often change nothing here
        self._drawn = layout
        # layout=False: the panel's size is its grid cell's, not its text's (a layout would
        # repaint every panel at each cursor move).
        self.update(stats_text(self.layout_shown), layout=False)

    def show_message(self, message: str) -> None:
        """A message instead of the rows (nothing to show)."""
        self._drawn, self._message = None, message
        self.update(message)

    def on_resize(self) -> None:
        if self._message is None:  # a message (nothing to show) stays whatever the size
            self.lay_out()

    def text(self) -> str:
        """The rows as plain 'label: value' lines (tests and saves)."""
        return "\n".join(f"{label}: {value}" for label, value in self.rows)

    def lines(self) -> list[str]:
        """The display lines as drawn, one string each (tests check their widths)."""
        return [line.plain for line in stats_text(self.layout_shown).split("\n")]
