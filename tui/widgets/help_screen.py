"""The help screen (`?` / F1): every key, with the keys in force as a person reads them
(key_labels.py), and what each panel shows. It scrolls (arrows, page keys, the wheel), so a
24-row terminal reaches every line.

Opaque background on purpose: Kitty placeholder images are garbled under Textual's default
tinted modal background.
"""

from collections.abc import Mapping

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cnninterp.tui.key_labels import help_rows

PANELS = (
    "image | vessel probability p (outlines: orange = predicted mask, cyan = label) | "
    "significance: input pixels above the threshold per output pixel (grey = not computed yet) | "
    "gradient row d p[y,x] / d image of the cursor pixel | detail: the thresholded row cropped "
    "to its bounding box | statistics. Zoomed out, pictures show block means (outlines: block "
    "maxima); at 1:1 or closer every image pixel is exact. Ctrl+P lists every action."
)


def help_table(keymap: Mapping[str, str] | None = None) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for keys, text in help_rows(keymap):
        table.add_row(keys, text)
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background; }
    HelpScreen > VerticalScroll { width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; padding: 0 1; background: $surface; }
    """
    BINDINGS = [Binding("escape,question_mark,f1", "dismiss", "close")]

    def __init__(self, keymap: Mapping[str, str] | None = None):
        super().__init__()
        self.keymap = dict(keymap or {})
        self.help_renderable = help_table(self.keymap)
        """The keys table shown (tests read it back as text)."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-scroll"):
            yield Static(
                Text.assemble(("cnninterp keys", "bold"), "   esc closes, arrows scroll\n")
            )
            yield Static(self.help_renderable, id="help-keys")
            yield Static("\n" + PANELS, id="help-panels")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()  # arrows and page keys scroll the help
