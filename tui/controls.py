"""The app's face: its layout and what each key does to what the user is looking at.

`CnnInterpApp` (app.py) derives from this and supplies the work behind it: the hooks at the
end (repaint, recompute, switch image) are where a key's state change meets the workers.
Split from app.py so that each reads as one concern: here the user's side, there the
workers' results.
"""

from collections.abc import Callable
from typing import TypeVar

import numpy as np
from textual import events
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Footer, Static

from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.summaries.significance import ThresholdMode
from cnninterp.tui import prompts, render
from cnninterp.tui.looking import Looking
from cnninterp.tui.options import AppOptions
from cnninterp.tui.panels import CURSOR_VIEWS
from cnninterp.tui.threshold import Threshold
from cnninterp.tui.view import ImageView, current_threshold
from cnninterp.tui.widgets.colorbar import Colorbar
from cnninterp.tui.widgets.graphics_view import GraphicsView
from cnninterp.tui.widgets.help_screen import HelpScreen
from cnninterp.tui.widgets.image_list import ImageList
from cnninterp.tui.widgets.pixel_view import PixelView
from cnninterp.tui.widgets.prompt_screen import PromptScreen
from cnninterp.tui.widgets.stats_panel import StatsPanel
from cnninterp.tui.widgets.status_line import StatusLine

MIN_SIZE = (60, 20)
"""Below this many columns x rows the panels are replaced by a message (state is kept)."""
T = TypeVar("T")


class Controls(Looking):
    def __init__(self, options: AppOptions):
        super().__init__()
        self.options = options
        self._image_widget, self._cell = None, None
        if options.graphics != "halfblock":
            from cnninterp.tui.widgets.terminal_image import image_widget_class, terminal_cell_size

            self._image_widget = options.image_widget or image_widget_class(options.graphics)
            self._cell = options.cell_size or terminal_cell_size()
        self.explainer: Explainer | None = None
        self.view: ImageView | None = None
        """Results for the image on screen (None before the model is open)."""
        self.cursor = (0, 0)
        self.threshold = Threshold()
        self.cmap_index, self.log_scale, self.overlays = 0, True, True

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

    def warn_about_colours(self) -> None:
        if self.console.color_system != "truecolor":
            self.notify(
                f"This terminal reports {self.console.color_system} colours (COLORTERM is not "
                "forwarded over SSH): pictures are approximate. Start with --truecolor if the "
                "terminal supports 24-bit colour.",
                severity="warning",
                timeout=10,
            )

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
        self.call_after_refresh(self.after_resize)  # looking.py

    # ---- keys and clicks --------------------------------------------------------------------

    @property
    def cmap(self) -> str:
        return render.DIVERGING[self.cmap_index]

    def move_cursor(self, y: int, x: int) -> None:
        self.cursor = (y, x)
        self.place_cursor()

    def on_pixel_view_clicked(self, message: PixelView.Clicked) -> None:
        if message.view.id in CURSOR_VIEWS and self.view and self.view.shape:
            self.move_cursor(message.y, message.x)

    def on_image_list_selected(self, message: ImageList.Selected) -> None:
        self.select_image(message.index)

    def action_move(self, dy: int, dx: int) -> None:
        if self.view is not None and self.view.shape is not None:
            h, w = self.view.shape
            y, x = self.cursor
            self.move_cursor(min(h - 1, max(0, y + dy)), min(w - 1, max(0, x + dx)))

    def action_switch_image(self, step: int) -> None:
        if self.view is not None:
            self.select_image(self.view.index + step)

    def set_threshold(self, threshold: Threshold) -> None:
        """Counts in a worker; the detail view and statistics at once (the row is unchanged)."""
        self.threshold = threshold
        self.remember(mode=threshold.mode, percent=threshold.percent, absolute=threshold.absolute)
        self.request_significance()
        self.paint_row(detail_only=True)
        self.paint_statistics()

    def action_threshold_step(self, steps: int) -> None:
        refusal = prompts.step_refusal(self.threshold, steps)
        if refusal is not None:
            self.notify(refusal, timeout=4)
            return
        self.set_threshold(self.threshold.stepped(steps))

    def action_cycle_mode(self) -> None:
        value = current_threshold(self.view, self.threshold, *self.cursor) if self.view else None
        self.set_threshold(self.threshold.next_mode(value))
        self.notify(f"threshold mode: {self.threshold.describe()}", timeout=3)

    def ask(
        self, question: str, default: str, parse: Callable[[str], T], then: Callable[[T], None]
    ):
        """A one-line prompt; an empty answer cancels, a refused one warns (`prompts`)."""

        def refusal(text: str) -> str | None:
            try:
                parse(text)
            except prompts.Refused as exc:
                return str(exc)
            return None

        def done(text: str | None) -> None:
            if not text:
                return
            try:
                value = parse(text)
            except prompts.Refused as exc:
                self.notify(str(exc), severity="warning")
                return
            then(value)

        self.push_screen(PromptScreen(question, default, check=refusal), done)

    def action_type_threshold(self) -> None:
        if self.threshold.mode is ThresholdMode.LEGACY:
            value = (
                current_threshold(self.view, self.threshold, *self.cursor) if self.view else None
            )
            now = "" if value is None else f" (here |G| > {value:.3g})"
            self.notify(
                f"legacy mode's threshold is fixed at 1 % of the signed max{now}; "
                "T changes to a mode you can set",
                timeout=6,
            )
            return
        question = prompts.threshold_question(self.threshold)
        mode = self.threshold.mode
        self.ask(
            question,
            f"{self.threshold.t_value:g}",
            lambda text: prompts.parse_threshold(text, mode),
            lambda value: self.set_threshold(self.threshold.with_value(value)),
        )

    def action_goto(self) -> None:
        shape = self.view.shape if self.view else None
        y, x = self.cursor
        self.ask(
            "Go to pixel: y x",
            f"{y} {x}",
            lambda text: prompts.parse_pixel(text, shape),
            lambda yx: self.move_cursor(*yx),
        )

    def action_jump_to_max(self) -> None:
        sig = self.view.significance if self.view else None
        if sig is None or not np.isfinite(sig.counts).any():
            self.notify("no significance computed yet", severity="warning")
            return
        y, x = np.unravel_index(int(np.nanargmax(sig.counts)), sig.counts.shape)
        self.move_cursor(int(y), int(x))

    def action_toggle_overlays(self) -> None:
        self.overlays = not self.overlays
        self.paint_probability()

    def action_cycle_colormap(self) -> None:
        self.cmap_index = (self.cmap_index + 1) % len(render.DIVERGING)
        self.remember(colormap=self.cmap)
        self.paint_row()

    def action_toggle_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self.remember(log_scale=self.log_scale)
        self.paint_row()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.user_keymap))

    # ---- hooks: the work behind the keys (CnnInterpApp) -------------------------------------

    def select_image(self, index: int) -> None:
        raise NotImplementedError

    def place_cursor(self) -> None:
        """Show the cursor everywhere, then ask for what depends on it."""
        raise NotImplementedError

    def request_significance(self) -> None:
        raise NotImplementedError

    def paint_probability(self) -> None:
        raise NotImplementedError

    def paint_row(self, detail_only: bool = False) -> None:
        raise NotImplementedError

    def paint_statistics(self) -> None:
        raise NotImplementedError
