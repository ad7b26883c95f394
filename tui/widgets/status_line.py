"""One line at the bottom: what is being computed, how far along, and on which device."""

from rich.text import Text
from textual.widgets import Static


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; width: 1fr; background: $panel; color: $text; }
    """

    def __init__(self, id: str | None = None):
        super().__init__("", id=id)
        self.activity = "starting"
        self.device = ""
        self.extra = ""

    def show(
        self, activity: str | None = None, device: str | None = None, extra: str | None = None
    ):
        if activity is not None:
            self.activity = activity
        if device is not None:
            self.device = device
        if extra is not None:
            self.extra = extra
        line = Text(f" {self.activity}")
        if self.extra:
            line.append(f"  {self.extra}", style="dim")
        if self.device:
            line.append(f"  [{self.device}]", style="bold")
        self.update(line)
