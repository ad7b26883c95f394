"""The image list from the keyboard (`i`): type to filter the names, arrows and enter to pick.

The side list (image_list.py) is hidden below 120 columns and is not focusable (arrows move
the pixel cursor); this modal reaches every image at any size. Dismisses with the picked
image's index in the folder's list, or None on escape.
"""

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option


def matching(names: list[str], query: str) -> list[int]:
    """Indices of the names containing every word of `query` (case-insensitive), in order."""
    words = query.lower().split()
    return [i for i, name in enumerate(names) if all(w in name.lower() for w in words)]


class ImagePicker(ModalScreen[int | None]):
    DEFAULT_CSS = """
    ImagePicker { align: center middle; background: $background; }
    ImagePicker > Vertical { width: 60; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1; }
    ImagePicker OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]

    def __init__(self, names: list[str], current: int = 0):
        super().__init__()
        self.names, self.current = names, current
        self.shown: list[int] = list(range(len(names)))

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text.assemble(("images", "bold"), "  type to filter · enter opens"))
            yield Input(placeholder="filter", id="picker-filter")
            yield OptionList(id="picker-list")

    def on_mount(self) -> None:
        self._fill("")
        options = self.query_one(OptionList)
        if self.current in self.shown:
            options.highlighted = self.shown.index(self.current)

    def _fill(self, query: str) -> None:
        self.shown = matching(self.names, query)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(self.names[i]) for i in self.shown])
        if self.shown:
            options.highlighted = 0
        else:
            options.add_option(Option(Text("no image matches", style="dim"), disabled=True))

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if self.shown:
            now = options.highlighted or 0
            options.highlighted = min(max(now + step, 0), len(self.shown) - 1)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._pick(self.query_one(OptionList).highlighted)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._pick(event.option_index)

    def _pick(self, position: int | None) -> None:
        if position is not None and 0 <= position < len(self.shown):
            self.dismiss(self.shown[position])

    def action_cancel(self) -> None:
        self.dismiss(None)
