"""A one-line prompt that refuses bad answers in place: the reason (with what is allowed) shows
under the input and the prompt stays open with the text, so nothing typed is lost."""

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from cnninterp.tui.prompts import Refused
from cnninterp.tui.widgets.prompt_screen import PromptScreen


class CheckedPromptScreen(PromptScreen):
    DEFAULT_CSS = """
    CheckedPromptScreen > Vertical { width: 90; }
    CheckedPromptScreen #prompt-refusal { color: $warning; }
    """

    def __init__(self, question: str, value: str, check: Callable[[str], object]):
        """check(text) raises prompts.Refused for an answer that cannot be used."""
        super().__init__(question, value)
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question)
            yield Input(self.value, id="prompt-input")
            yield Static("", id="prompt-refusal")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.prevent_default()  # PromptScreen would dismiss with any answer
        if event.value:
            try:
                self.check(event.value)
            except Refused as exc:
                self.query_one("#prompt-refusal", Static).update(str(exc))
                return
        self.dismiss(event.value)
