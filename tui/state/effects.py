"""What a change of the session asks of the app: work to submit and panels to repaint.

Every transition of `Session` (a key, a click, a worker's answer) returns `Effects`; the app
submits the requests first (the slowest answer starts computing while the rest is painted),
then the screen repaints the panels named in `paints`, in order, reading the session. So the
state's logic is plain Python, tested without an App, and the widgets only draw it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

Severity = Literal["information", "warning", "error"]


class Paint(Enum):
    """A part of the screen to repaint from the session's state."""

    IMAGE_LIST = "image list"
    """The image list's entries (the model is open)."""
    IMAGE_LOADING = "image loading"
    """An image was chosen: its name, and nothing of the previous one left on screen."""
    IMAGE_FAILED = "image failed"
    IMAGE = "image"
    """The image panel and its list entry (the image is loaded)."""
    PROBABILITY = "probability"
    OUTLINE = "outline"
    """The target's outline over the image and probability panels (AttributionState.outline)."""
    LIST_PROGRESS = "list progress"
    """The image list's entry: done, or the pass's percent."""
    PASS_STATUS = "pass status"
    """The status line's report of the pass (needs the image panel's window)."""
    CURSOR = "cursor"
    """The cursor on every picture, the shared viewport following it."""
    GRADIENT_TITLE = "gradient title"
    GRADIENT_SUBTITLE = "gradient subtitle"
    """Effects.gradient_subtitle in the gradient box's border."""
    REFUSAL = "refusal"
    """Effects.refusal where the explanation's pictures would be."""
    SIGNIFICANCE_TITLE = "significance title"
    SIGNIFICANCE = "significance"
    ROW = "row"
    """The gradient panel (the row or the attribution), its colour bar and the detail."""
    ROW_PICTURE = "row picture"
    """The gradient panel and colour bar only: the detail follows after the next refresh."""
    DETAILS_LATER = "details later"
    """Ask for Session.details_due after the next refresh (Session.details_pending)."""
    DETAIL = "detail"
    """The detail panel (and the gradient box's title of an attribution)."""
    STATISTICS = "statistics"


@dataclass(frozen=True)
class Note:
    """A notification."""

    text: str
    severity: Severity = "information"
    timeout: float | None = None


@dataclass(frozen=True)
class Prompt:
    """A one-line question: `parse` turns the answer into a value (prompts.Refused when it
    cannot; the prompt then stays open saying why) and `then` applies it."""

    question: str
    default: str
    parse: Callable[[str], Any]
    then: "Callable[[Any], Effects]"


@dataclass
class Effects:
    requests: list[Any] = field(default_factory=list)
    """Work for the workers (requests.py), submitted in this order before any repaint."""
    paints: list[Paint] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    status: str | None = None
    """The status line's activity (None: unchanged)."""
    device: str | None = None
    """The status line's device text (None: unchanged)."""
    gradient_subtitle: str | None = None
    refusal: str | None = None
    remember: dict[str, Any] = field(default_factory=dict)
    """Choices to keep for the next session (settings.Settings fields)."""
    prompt: Prompt | None = None

    def then(self, later: "Effects") -> "Effects":
        """These effects followed by `later`'s (its texts win where both set one)."""
        self.requests += later.requests
        self.paints += later.paints
        self.notes += later.notes
        self.remember |= later.remember
        for name in ("status", "device", "gradient_subtitle", "refusal", "prompt"):
            if getattr(later, name) is not None:
                setattr(self, name, getattr(later, name))
        return self

    def paint(self, *paints: Paint) -> "Effects":
        self.paints += paints
        return self

    def note(self, text: str, severity: Severity = "information", timeout: float | None = None):
        self.notes.append(Note(text, severity, timeout))
        return self

    def unique_paints(self) -> list[Paint]:
        """The paints in order, each once (a later repeat repaints the same state)."""
        return list(dict.fromkeys(self.paints))
