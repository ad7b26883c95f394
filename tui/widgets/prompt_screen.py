"""A one-line question (`t` threshold, `g` pixel); dismisses with the text or None on escape.

With a `check`, an answer it refuses keeps the prompt open with the reason under the input,
so the user corrects the entry instead of typing it again.
"""

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class PromptScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PromptScreen { align: center middle; background: $background; }
    PromptScreen > Vertical { width: 60; height: auto; border: round $accent;
        background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(
        self, question: str, value: str = "", check: Callable[[str], str | None] | None = None
    ):
        super().__init__()
        self.question, self.value, self.check = question, value, check

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question)
            yield Input(self.value, id="prompt-input")
            yield Static("", id="prompt-error", classes="error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        problem = self.check(event.value) if self.check and event.value else None
        if problem:
            self.query_one("#prompt-error", Static).update(f"[b red]{problem}[/] (esc cancels)")
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
