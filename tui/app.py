"""The app: routes keys to the session, the session's requests to the workers, and the
workers' answers back to the session, then has the screen repaint what changed.

    key -> Session (state/session.py, plain Python) -> Effects (requests, paints)
        -> workers (jobs.py, typed requests in, messages out) -> Session -> Effects -> panels

The screen (main_screen.py) holds the layout and the viewport; `Panels` draws the session.
Any exception that escapes a worker becomes a WorkFailed message: the user is told, and the
app keeps running. Results for an image the user has left are dropped by the session, and
anything arriving while the app shuts down (its panels being removed) by the app.
"""

import gc
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial

from textual.app import App, SystemCommand
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from cnninterp.tui import messages
from cnninterp.tui.key_labels import palette_entries
from cnninterp.tui.keymap import default_bindings
from cnninterp.tui.main_screen import MainScreen
from cnninterp.tui.options import AppOptions
from cnninterp.tui.pictures.pixel_view import PixelView
from cnninterp.tui.remembered import Remembered
from cnninterp.tui.state import cursor_jumps, exact_counts, threshold_keys
from cnninterp.tui.state.effects import Effects, Paint
from cnninterp.tui.state.session import CURSOR_VIEWS, Session
from cnninterp.tui.widgets.help_screen import HelpScreen
from cnninterp.tui.widgets.image_list import ImageList
from cnninterp.tui.workers import Workers


class CnnInterpApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "cnninterp"
    BINDINGS = default_bindings()
    # Ctrl+P lists every key's action (get_system_commands); off with Kitty graphics, whose
    # placeholder images are garbled under the palette's tinted background (__init__).
    ENABLE_COMMAND_PALETTE = True
    ALLOW_IN_MAXIMIZED_VIEW = "Footer, StatusLine"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]  # -short: the compact layout

    def __init__(self, options: AppOptions):
        super().__init__()
        self.options = options
        self.session = Session()
        """What the user looks at (image, cursor, threshold, explanation): plain Python."""
        self.main = MainScreen(self.session, options)
        self.remembered = Remembered(self)
        """What is kept between sessions (settings.json) and the user's keys.toml."""
        self.use_command_palette = options.graphics == "halfblock"
        self.runner = Workers(self, self.session, options)
        self.notified: deque[str] = deque(maxlen=100)
        """The last notifications' texts, in order (tests and benchmarks read what was said)."""
        self.paint_listeners: list[Callable[[Paint], None]] = []
        """Called with each Paint once the panels show it (tests and benchmarks wait on it)."""
        self.frame_listeners: list[Callable[[], None]] = []
        """Called each time a screen update is handed to the terminal driver."""

    def get_default_screen(self) -> Screen:
        return self.main

    # ---- start and stop -------------------------------------------------------------------

    def on_mount(self) -> None:
        self.warn_about_colours()
        self.remembered.apply()

    def on_main_screen_ready(self) -> None:
        self.runner.open_everything()

    def warn_about_colours(self) -> None:
        if self.console.color_system != "truecolor":
            self.notify(
                f"This terminal reports {self.console.color_system} colours (COLORTERM is not "
                "forwarded over SSH): pictures are approximate. Start with --truecolor if the "
                "terminal supports 24-bit colour.",
                severity="warning",
                timeout=10,
            )

    def action_quit(self) -> None:  # type: ignore[override]
        """Quit at once: every worker's cancel is set, so a pass stops at its next chunk."""
        self.session.cancel_all()
        self.runner.keep_unfinished_pass()
        self.exit()

    def on_unmount(self) -> None:
        self.session.cancel_all()  # the passes stop with the app
        gc.unfreeze()  # what jobs.settle_heap froze is collectable again (tests run many apps)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's own commands (themes, quit, ...), then every key's action, by what it
        does and with its keys (key_labels.py)."""
        yield from super().get_system_commands(screen)
        for title, _key_id, action, keys in palette_entries(self.remembered.keymap):
            yield SystemCommand(title, f"keys: {keys}", partial(self.run_action, action))

    def notify(self, message: str, **kwargs) -> None:
        """Textual's notification, its text kept in `notified`."""
        self.notified.append(message)
        super().notify(message, **kwargs)

    def _display(self, screen, renderable) -> None:
        # Textual's one hook where a screen update reaches the terminal: frame_listeners.
        super()._display(screen, renderable)
        for listener in self.frame_listeners:
            listener()

    # ---- carrying out what the session asks ---------------------------------------------------

    def apply(self, effects: Effects) -> None:
        """Submit the requests first (the slowest answer computes while the rest is painted),
        then repaint, then tell: notes, the status line, a prompt."""
        for request in effects.requests:
            self.runner.submit(request)
        if effects.remember:
            self.remembered.remember(**effects.remember)
        for paint in effects.unique_paints():
            self.main.show(paint, effects)
            if paint is Paint.DETAILS_LATER and self.session.details_pending is not None:
                self.call_after_refresh(self.details_due, *self.session.details_pending)
            for listener in self.paint_listeners:
                listener(paint)
        if effects.status is not None or effects.device is not None:
            self.main.panels.status(effects.status, device=effects.device)
        for note in effects.notes:
            self.notify(note.text, severity=note.severity, timeout=note.timeout)
        if effects.prompt is not None:
            self.main.ask(effects.prompt, self.apply)

    def details_due(self, token: int, cursor: tuple[int, int]) -> None:
        if self.is_running:
            self.apply(self.session.details_due(token, cursor))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if event.state is WorkerState.ERROR and error is not None:
            what = f"{event.worker.group} failed: {type(error).__name__}: {error}"
            self.post_message(messages.WorkFailed(what, fatal=event.worker.group == "open"))

    # ---- the workers' answers: to the session, unless the app is shutting down --------------

    def on_status(self, message: messages.Status) -> None:
        if self.is_running:
            self.main.panels.status(message.text)

    def on_notice(self, message: messages.Notice) -> None:
        if self.is_running:
            self.notify(message.text, severity=message.severity, timeout=8)

    def on_work_failed(self, message: messages.WorkFailed) -> None:
        if not self.is_running:
            return
        self.notify(message.message, severity="error", timeout=15)
        self.main.panels.status(message.message)
        if message.fatal:
            self.main.panels.say(CURSOR_VIEWS, "nothing to show")
            self.main.panels.text(message.message)

    def on_model_ready(self, m: messages.ModelReady) -> None:
        if self.is_running:
            self.main.panels.title("probability", m.explainer.model.score_label)
            self.apply(self.session.model_ready(m.explainer, m.images, m.notes))

    def on_class_ready(self, m: messages.ClassReady) -> None:
        if self.is_running:
            self.main.panels.title("probability", m.explainer.model.score_label)
            self.apply(self.session.class_ready(m.explainer))

    def on_image_failed(self, m: messages.ImageFailed) -> None:
        if self.is_running:
            self.apply(self.session.image_failed(m.token, m.message))

    def on_image_ready(self, m: messages.ImageReady) -> None:
        if self.is_running:
            self.apply(self.session.image_ready(m.token, m.loaded, m.probability))

    def on_row_ready(self, m: messages.RowReady) -> None:
        if self.is_running:
            self.apply(self.session.row_ready(m.token, m.y, m.x, m.row, m.seconds))

    def on_stats_progress(self, m: messages.StatsProgress) -> None:
        if self.is_running:
            rows = (m.rows_done, m.rows_total)
            self.apply(self.session.stats_progress(m.token, m.stats, rows, m.fraction, m.seconds))

    def on_significance_ready(self, m: messages.SignificanceReady) -> None:
        if self.is_running:
            self.apply(self.session.significance_ready(m.token, m.key, m.significance))

    def on_exact_counts_ready(self, m: messages.ExactCountsReady) -> None:
        if self.is_running:
            answer = (m.token, m.key, m.counts, m.seconds, m.rows, m.thresholds)
            self.apply(exact_counts.exact_counts_ready(self.session, *answer))

    def on_attribution_progress(self, m: messages.AttributionProgress) -> None:
        if self.is_running:
            self.apply(self.session.attribution.progress(m.token, m.key, m.share))

    def on_attribution_ready(self, m: messages.AttributionReady) -> None:
        if self.is_running:
            self.apply(self.session.attribution.ready(m.token, m.key, m.attribution, m.seconds))

    def on_attribution_refused(self, m: messages.AttributionRefused) -> None:
        if self.is_running:
            self.apply(self.session.attribution.refused(m.token, m.key, m.message))

    # ---- clicks and keys: to the session, or to the screen for how to look --------------------

    def on_pixel_view_clicked(self, message: PixelView.Clicked) -> None:
        self.apply(self.session.click(message.view.id or "", message.y, message.x))

    def on_pixel_view_zoom(self, message: PixelView.Zoom) -> None:
        if message.view.id in CURSOR_VIEWS:
            self.action_zoom(message.steps)

    def on_image_list_selected(self, message: ImageList.Selected) -> None:
        self.apply(self.session.select_image(message.index))

    def action_move(self, dy: int, dx: int) -> None:
        self.apply(self.session.move(dy, dx))

    def action_switch_image(self, step: int) -> None:
        self.apply(self.session.switch_image(step))

    def action_threshold_step(self, steps: int) -> None:
        self.apply(threshold_keys.threshold_step(self.session, steps))

    def action_cycle_mode(self) -> None:
        self.apply(threshold_keys.cycle_mode(self.session))

    def action_type_threshold(self) -> None:
        self.apply(threshold_keys.type_threshold(self.session))

    def action_goto(self) -> None:
        self.apply(cursor_jumps.goto(self.session))

    def action_jump_to_max(self) -> None:
        self.apply(cursor_jumps.jump_to_max(self.session))

    def action_exact_counts(self) -> None:
        self.apply(exact_counts.request_exact_counts(self.session))

    def action_toggle_overlays(self) -> None:
        self.apply(self.session.toggle_overlays())

    def action_cycle_colormap(self) -> None:
        self.apply(self.session.cycle_colormap())

    def action_cycle_channel(self) -> None:
        self.apply(self.session.cycle_channel())

    def action_cycle_class(self) -> None:
        self.apply(self.session.cycle_class())

    def action_toggle_log_scale(self) -> None:
        self.apply(self.session.toggle_log_scale())

    def action_save(self) -> None:
        self.apply(self.session.save())

    def action_cycle_method(self) -> None:
        self.apply(self.session.attribution.cycle_method())

    def action_cycle_target(self) -> None:
        self.apply(self.session.attribution.cycle_target())

    def action_method_parameters(self) -> None:
        self.apply(self.session.attribution.method_parameters())

    def action_mark_box_corner(self) -> None:
        self.apply(self.session.attribution.mark_box_corner())

    def action_next_mistake(self, kind: str) -> None:
        self.apply(cursor_jumps.next_mistake(self.session, kind))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.remembered.keymap))

    def action_zoom(self, steps: int) -> None:
        if self.main.zoom(steps):
            self.remembered.remember(zoom=self.main.viewport.label)

    def action_maximise(self) -> None:
        self.main.maximise()

    def action_cycle_picture(self) -> None:
        if not self.main.cycle_picture():
            self.notify("every picture is on screen already (w is for short terminals)")

    def action_pick_image(self) -> None:
        if not self.main.pick_image(lambda index: self.apply(self.session.pick_image(index))):
            self.notify("no images to pick from", severity="warning")


def create_app(options: AppOptions | None = None) -> CnnInterpApp:
    """The app for these options (the CLI and the tests both start here)."""
    return CnnInterpApp(options or AppOptions())
