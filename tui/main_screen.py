"""The main screen: the layout of the panels, the terminal's size, and how the user looks
at the pictures (the shared zoom and pan, the maximised panel, the compact layout's one
picture slot, the image picker).

It keeps what only widgets can know (the panels' sizes, hence the viewport) and draws the
session through `Panels`; what the keys change in the session is the session's.
"""

from collections.abc import Callable

from textual import events
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from cnninterp.tui.options import AppOptions
from cnninterp.tui.panels import Panels, set_border
from cnninterp.tui.pictures.colorbar import Colorbar
from cnninterp.tui.pictures.graphics_view import GraphicsView
from cnninterp.tui.pictures.pixel_view import PixelView
from cnninterp.tui.pictures.viewport import Viewport
from cnninterp.tui.prompts import Refused
from cnninterp.tui.state.effects import Effects, Paint, Prompt
from cnninterp.tui.state.session import CURSOR_VIEWS, Session
from cnninterp.tui.widgets.image_list import ImageList
from cnninterp.tui.widgets.image_picker import ImagePicker
from cnninterp.tui.widgets.prompt_screen import PromptScreen
from cnninterp.tui.widgets.stats_panel import StatsPanel
from cnninterp.tui.widgets.status_line import StatusLine

MIN_SIZE = (60, 20)
"""Below this many columns x rows the panels are replaced by a message (state is kept)."""
COMPACT_PICTURES = ("image", "probability", "significance", "detail")
"""The pictures that take turns in the compact layout's one picture slot (`w`)."""


class MainScreen(Screen[None]):
    def __init__(self, session: Session, options: AppOptions):
        super().__init__()
        self.session = session
        self.options = options
        self.panels = Panels(self, session)
        self.viewport = Viewport()
        """Zoom and centre shared by the cursor panels (the detail panel frames itself)."""
        self.compact_picture = 0
        """Which of COMPACT_PICTURES the compact layout shows."""
        self._image_widget, self._cell = None, None
        if options.graphics != "halfblock":
            from cnninterp.tui.pictures.terminal_image import image_widget_class, terminal_cell_size

            self._image_widget = options.image_widget or image_widget_class(options.graphics)
            self._cell = options.cell_size or terminal_cell_size()

    # ---- layout ---------------------------------------------------------------------------

    def picture_panel(
        self, id: str, classes: str = "", show_cursor: bool = True
    ) -> PixelView | GraphicsView:
        """A half-block PixelView, or a GraphicsView when kitty/sixel graphics are on."""
        if self._image_widget is None or self._cell is None:
            return PixelView(id=id, classes=classes, show_cursor=show_cursor)
        return GraphicsView(
            self._image_widget,
            self._cell,
            id=id,
            classes=classes,
            show_cursor=show_cursor,
            mark_over_picture=self.options.graphics == "kitty",
        )

    def compose(self) -> ComposeResult:
        yield Static("", id="too-small")
        with Horizontal(id="main"):
            yield ImageList(id="images")
            with Grid(id="panels"):
                for name in ("image", "probability", "significance"):
                    yield self.picture_panel(name, "panel")
                with Vertical(id="gradient-box", classes="panel"):
                    yield self.picture_panel("gradient")
                    yield Colorbar(id="colorbar")
                yield self.picture_panel("detail", "panel", show_cursor=False)
                yield StatsPanel(id="stats", classes="panel")
        yield StatusLine(id="status")
        yield Footer()

    class Ready(Message):
        """The panels are mounted and say "loading…": the app may start its workers (their
        answers would otherwise find no panels, or be overwritten)."""

    def on_mount(self) -> None:
        self.panels.set_titles()
        self.panels.say(CURSOR_VIEWS, "loading…")
        self.show_compact_picture()
        self.post_message(self.Ready())

    def on_resize(self, event: events.Resize) -> None:
        width, height = event.size
        small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        self.query_one("#main").display = not small
        message = self.query_one("#too-small", Static)
        message.display = small
        message.update(
            f"Terminal too small: {width}x{height}. "
            f"cnninterp needs at least {MIN_SIZE[0]}x{MIN_SIZE[1]}; enlarge the window."
        )
        self.call_after_refresh(self.after_resize)

    def after_resize(self) -> None:
        """Once the panels have their new sizes: the viewport re-follows, the statistics
        take the layout of the new size at once, not at the next key."""
        self.follow_cursor()
        if self.session.view is not None:
            self.query_one(StatsPanel).show_rows(self.session.statistics_rows())

    def show(self, paint: Paint, effects: Effects) -> None:
        """Repaint `paint` from the session; the cursor's panels follow it first."""
        if paint is Paint.CURSOR:
            self.follow_cursor()
        self.panels.paint(paint, effects)

    # ---- zoom, pan, maximise, the compact layout, the image picker -------------------------

    def cursor_panels(self) -> list[PixelView | GraphicsView]:
        panels = [self.query_one(f"#{name}") for name in CURSOR_VIEWS]
        return [p for p in panels if isinstance(p, PixelView | GraphicsView)]

    def smallest_box(self) -> tuple[int, int] | None:
        """(columns, rows) of the smallest cursor panel on screen (a maximised one alone):
        followed there, the cursor is inside every larger panel too."""
        maximised = self.maximized
        boxes = [
            panel.box
            for panel in self.cursor_panels()
            if panel.size.width > 0
            and (maximised is None or maximised is panel or panel in maximised.walk_children())
        ]
        if not boxes:
            return None
        return min(b[0] for b in boxes), min(b[1] for b in boxes)

    def follow_cursor(self) -> None:
        """Pan the shared viewport to keep the cursor in view and hand it to the panels."""
        view = self.session.view
        shape, box = (view.shape if view is not None else None), self.smallest_box()
        if shape is not None and box is not None:
            self.viewport = self.viewport.follow(self.session.cursor, shape, *box)
        for panel in self.cursor_panels():
            panel.set_viewport(self.viewport)
        set_border(self.query_one("#image"), subtitle=f"zoom {self.viewport.label}")

    def zoom(self, steps: int) -> bool:
        """Zoom the cursor panels `steps` levels in (negative: out) around the cursor;
        whether there was anything to zoom."""
        view = self.session.view
        shape, box = (view.shape if view is not None else None), self.smallest_box()
        if shape is None or box is None:
            return False
        self.viewport = self.viewport.zoomed(steps, shape, *box, anchor=self.session.cursor)
        self.follow_cursor()
        return True

    def maximise(self) -> None:
        """The focused panel (tab moves the focus; the image panel when none) fills the
        screen; again, back to the grid."""
        if self.maximized is not None:
            self.minimize()
        else:
            focused = self.focused
            panel: Widget | None = focused if focused is not None else self.query_one("#image")
            while panel is not None and not panel.has_class("panel"):
                parent = panel.parent
                panel = parent if isinstance(parent, Widget) else None
            self.maximized = panel or self.query_one("#image")
        self.call_after_refresh(self.after_resize)

    def show_compact_picture(self) -> None:
        for i, name in enumerate(COMPACT_PICTURES):
            self.query_one(f"#{name}").set_class(i != self.compact_picture, "compact-hidden")

    def cycle_picture(self) -> bool:
        """In the compact layout (short terminals), show the next picture in its slot;
        False when every picture is on screen already."""
        if not self.has_class("-short"):
            return False
        self.compact_picture = (self.compact_picture + 1) % len(COMPACT_PICTURES)
        self.show_compact_picture()
        self.call_after_refresh(self.after_resize)
        return True

    def pick_image(self, picked: Callable[[int | None], None]) -> bool:
        """The image picker over the list's names; False when there are none."""
        names = [entry.name for entry in self.query_one(ImageList).entries]
        if not names:
            return False
        current = self.session.view.index if self.session.view is not None else 0
        self.app.push_screen(ImagePicker(names, current), picked)
        return True

    def ask(self, prompt: Prompt, apply: Callable[[Effects], None]) -> None:
        """A one-line prompt; an empty answer cancels, a refused one warns (`prompts`), an
        accepted one is applied (`apply`: what prompt.then returns)."""

        def refusal(text: str) -> str | None:
            try:
                prompt.parse(text)
            except Refused as exc:
                return str(exc)
            return None

        def done(text: str | None) -> None:
            if not text:
                return
            try:
                value = prompt.parse(text)
            except Refused as exc:
                self.app.notify(str(exc), severity="warning")
                return
            apply(prompt.then(value))

        self.app.push_screen(PromptScreen(prompt.question, prompt.default, check=refusal), done)
