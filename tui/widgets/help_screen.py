"""The help screen (`?` / F1): every key and what it does, read from the keymap table.

Opaque background on purpose: Kitty placeholder images are garbled under Textual's default
tinted modal background.
"""

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from cnninterp.tui.keymap import DEFAULT_KEYS, HELP_TEXT

PANELS = (
    "image | vessel probability p (outlines: orange = predicted mask, cyan = label) | "
    "significance: input pixels above the threshold per output pixel (grey = not computed yet) | "
    "gradient row d p[y,x] / d image of the cursor pixel | detail: the thresholded row cropped "
    "to its bounding box | statistics"
)


KEY_NAMES = {
    "right_square_bracket": "]",
    "left_square_bracket": "[",
    "plus": "+",
    "minus": "-",
    "question_mark": "?",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "shift+up": "shift+↑",
    "f1": "F1",
}


def key_label(keys: str) -> str:
    """'right_square_bracket,plus' -> '] +'."""
    return " ".join(KEY_NAMES.get(k, k) for k in keys.split(","))


def help_table(keys: dict[str, str] | None = None) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key_id, default_keys, _action, _label, _show in DEFAULT_KEYS:
        if key_id in HELP_TEXT:
            shown = (keys or {}).get(key_id, default_keys)
            table.add_row(
                shown.replace("_square_bracket", "[").replace(",", " "), HELP_TEXT[key_id]
            )
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background; }
    HelpScreen > Vertical { width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; padding: 0 1; background: $surface; }
    """
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text.assemble(("cnninterp keys", "bold"), "   esc closes\n"))
            yield Static(help_table(), id="help-keys")
            yield Static("\n" + PANELS, id="help-panels")
