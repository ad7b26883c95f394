"""The app: asks the workers for results and routes their answers to the panels.

Layout and keys live in `controls` (the base class), computation in `jobs` (thread workers,
typed `requests` in, `messages` out), what each panel shows in `paint` (applied by `panels`),
numbers in `view`, exact counts (`E`) in `counting`. Results carry the image's token, and
anything for an image the user has left is dropped. Any exception that escapes a worker
becomes a WorkFailed message: the user is told, and the app keeps running.
"""

import gc
import threading
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import numpy as np
from textual import work
from textual.app import SystemCommand
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from cnninterp.jaxcore.images.loading import ImageSource
from cnninterp.jaxcore.store.results import StatsCache, stats_key
from cnninterp.jaxcore.summaries.significance import JacobianStats, ThresholdMode
from cnninterp.tui import jobs, messages, saving
from cnninterp.tui.counting import Counting
from cnninterp.tui.eta import format_percent
from cnninterp.tui.explanation_stats import explained_rows
from cnninterp.tui.key_labels import palette_entries
from cnninterp.tui.keymap import default_bindings
from cnninterp.tui.latest import LatestOnly
from cnninterp.tui.options import AppOptions
from cnninterp.tui.panels import CURSOR_VIEWS, PICTURES, Panels
from cnninterp.tui.pass_status import pass_status
from cnninterp.tui.requests import (
    CountsKey,
    CountsRequest,
    RowRequest,
)
from cnninterp.tui.view import ImageView, StatsRecord, exact_counts_note
from cnninterp.tui.widgets.colorbar import Colorbar
from cnninterp.tui.widgets.image_list import ImageEntry, ImageList
from cnninterp.tui.widgets.pixel_view import PixelView


class CnnInterpApp(Counting):
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
        super().__init__(options)
        self.sources: list[ImageSource] = []
        self._token = 0
        self._cancel = threading.Event()
        self._warmed: set[tuple[int, int]] = set()
        self._cache = StatsCache(enabled=options.cache)
        self._rows = LatestOnly(self._compute_row, self._start_rows, self._row_failed)
        self._counts = LatestOnly(self._compute_counts, self._start_counts, self._counts_failed)
        self.panels = Panels(self)
        self.use_command_palette = options.graphics == "halfblock"
        self._passes: dict[int, JacobianStats] = {}
        """Each image's pass so far, by index: a partial one resumes when the user is back."""
        self._pass_locks: dict[int, threading.Lock] = {}
        self._cancels: set[threading.Event] = set()
        """Every cancel event handed to a worker; quitting sets them all."""
        self.details_pending: tuple[int, tuple[int, int]] | None = None
        """(image token, cursor) of a row whose detail and statistics are still to come."""

    # ---- start ----------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.panels.set_titles()
        self.panels.say(CURSOR_VIEWS, "loading…")
        self.warn_about_colours()
        self.apply_remembered()
        self.show_compact_picture()
        self.open_everything()

    def action_quit(self) -> None:  # type: ignore[override]
        """Quit at once: every worker's cancel is set, so a pass stops at its next chunk."""
        self.cancel_everything()
        self.keep_current_pass()
        self.exit()

    def keep_current_pass(self) -> None:
        """Write the current image's unfinished pass to the cache now, on quitting: its worker
        writes it too once the chunk in flight is in, but at full size on a CPU that chunk
        takes seconds, longer than the exit waits (cli.EXIT_GRACE). Safe while the pass runs:
        rows are marked done only once filed, and stats.done is swapped, never edited."""
        view, explainer = self.view, self.explainer
        if view is None or view.loaded is None or view.stats is None or explainer is None:
            return
        if not view.stats.complete and view.stats.done.any():
            self._cache.store_partial(stats_key(explainer, view.loaded.pixels), view.stats)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's own commands (themes, quit, ...), then every key's action, by what it
        does and with its keys (key_labels.py)."""
        yield from super().get_system_commands(screen)
        for title, _key_id, action, keys in palette_entries(self.user_keymap):
            yield SystemCommand(title, f"keys: {keys}", partial(self.run_action, action))

    def cancel_everything(self) -> None:
        self._cancel.set()
        for event in self._cancels:
            event.set()

    # ---- workers (bodies in jobs.py); a failure in any of them becomes WorkFailed ----------

    @work(thread=True, exclusive=True, group="open", exit_on_error=False)
    def open_everything(self) -> None:
        jobs.open_everything(self.post_message, self.options)

    @work(thread=True, exclusive=True, group="image", exit_on_error=False)
    def analyse_image(
        self, token: int, index: int, source: ImageSource, cancel: threading.Event
    ) -> None:
        assert self.explainer is not None
        explainer, cache = self.explainer, self._cache
        lock = self._pass_locks.setdefault(index, threading.Lock())
        jobs.analyse_image(
            self.post_message,
            explainer,
            token,
            source,
            cancel,
            self._warmed,
            cache,
            focus=lambda: self.cursor,  # read between chunks: the pass follows the user's eyes
            resume=self._passes.get(index),
            lock=lock,
            max_pixels=self.options.max_pixels,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if event.state is WorkerState.ERROR and error is not None:
            what = f"{event.worker.group} failed: {type(error).__name__}: {error}"
            self.post_message(messages.WorkFailed(what, fatal=event.worker.group == "open"))

    def _start_rows(self, drain: jobs.Drain) -> None:
        self.run_worker(drain, thread=True, group="rows", exit_on_error=False)

    def _start_counts(self, drain: jobs.Drain) -> None:
        self.run_worker(drain, thread=True, group="counts", exit_on_error=False)

    def _compute_row(self, request: RowRequest) -> None:
        assert self.explainer is not None
        jobs.gradient_row(self.post_message, self.explainer, request)

    def _compute_counts(self, request: CountsRequest) -> None:
        jobs.significance(self.post_message, request)

    def _row_failed(self, request: RowRequest, exc: BaseException) -> None:
        where = f"({request.y}, {request.x})"
        self.post_message(messages.WorkFailed(f"gradient row {where} failed: {exc}"))

    def _counts_failed(self, request: CountsRequest, exc: BaseException) -> None:
        self.post_message(messages.WorkFailed(f"significance counts failed: {exc}"))

    # ---- results ---------------------------------------------------------------------------

    def current(self, token: int) -> ImageView | None:
        """The view of the image `token`, or None when the user has left it or the app is
        closing (a worker's last message can arrive while the panels are being removed: Textual
        stops running the app before it removes them, children before containers)."""
        if not self.is_running or self.view is None or self.view.token != token:
            return None
        return self.view

    def on_unmount(self) -> None:
        self.cancel_everything()  # the passes stop with the app
        gc.unfreeze()  # what jobs.settle_heap froze is collectable again (tests run many apps)

    # A worker's last messages can arrive while the app shuts down (its panels being removed):
    # every handler below, like current(), drops them once the app has stopped running.

    def on_status(self, message: messages.Status) -> None:
        if self.is_running:
            self.panels.status(message.text)

    def on_notice(self, message: messages.Notice) -> None:
        if self.is_running:
            self.notify(message.text, severity=message.severity, timeout=8)

    def on_work_failed(self, message: messages.WorkFailed) -> None:
        if not self.is_running:
            return
        self.notify(message.message, severity="error", timeout=15)
        self.panels.status(message.message)
        if message.fatal:
            self.panels.say(CURSOR_VIEWS, "nothing to show")
            self.panels.text(message.message)

    def on_model_ready(self, message: messages.ModelReady) -> None:
        if not self.is_running:
            return
        self.explainer, self.sources = message.explainer, message.images
        self.panels.status(device=self.explainer.device_name)
        self.query_one(ImageList).set_entries([ImageEntry(s.name) for s in self.sources])
        for note in message.notes:
            self.notify(note, timeout=10)
        self.select_image(0)

    def on_image_failed(self, message: messages.ImageFailed) -> None:
        if (view := self.current(message.token)) is None:
            return
        view.error = message.message
        self.query_one(ImageList).update_entry(view.index, state="error")
        self.panels.say(PICTURES, "cannot read this image")
        self.panels.text(message.message)
        self.panels.status(f"skipped {self.sources[view.index].name}")
        self.notify(message.message, severity="warning", timeout=10)

    def on_image_ready(self, message: messages.ImageReady) -> None:
        if (view := self.current(message.token)) is None:
            return
        loaded = view.loaded = message.loaded
        view.probability = message.probability
        h, w = loaded.pixels.shape
        self.cursor = (min(self.cursor[0], h - 1), min(self.cursor[1], w - 1))
        oh, ow = loaded.original_shape
        self.query_one(ImageList).update_entry(view.index, size=f"{ow}x{oh}")
        for note in loaded.notes:
            self.notify(f"{loaded.source.name}: {note}", timeout=8)
        self.panels.image(loaded, view.index, len(self.sources))
        self.panels.say(("significance",), "computing…")
        self.paint_probability()
        self.panels.status(f"{loaded.source.name}: significance pass starting")
        self.place_cursor()

    def on_row_ready(self, message: messages.RowReady) -> None:
        view = self.current(message.token)
        if view is None or (message.y, message.x) != self.cursor:
            return
        view.row, view.row_yx, view.row_seconds = message.row, self.cursor, message.seconds
        self.paint_row(details_later=True)

    def on_stats_progress(self, message: messages.StatsProgress) -> None:
        if (view := self.current(message.token)) is None:
            return
        view.stats, view.stats_seconds = message.stats, message.seconds
        view.rows_done, view.rows_total = message.rows_done, message.rows_total
        self._passes[view.index] = message.stats
        self.list_progress(view, message.stats)
        image = self.query_one("#image")
        window = image.window if isinstance(image, PixelView) else None
        status = pass_status(view, message.fraction, message.seconds, window)
        if (note := exact_counts_note(view, self.threshold)) is not None:
            status = f"{status} · {note}"
        self.panels.status(status, device=self.device_status(running=not message.stats.complete))
        self.request_significance()
        # The row itself is unchanged; its threshold (relative to the max so far) may not be:
        # only what depends on the threshold is repainted.
        self.paint_row(detail_only=True)

    def list_progress(self, view: ImageView, stats: JacobianStats) -> None:
        """The image list's entry: done with its size, or partial with its percent (a pass
        resumed from the cache shows it at once)."""
        image_list = self.query_one(ImageList)
        if stats.complete:
            size = ""
            if view.loaded is not None:
                height, width = view.loaded.original_shape
                size = f"{width}x{height}"
            image_list.update_entry(view.index, state="done", **({"size": size} if size else {}))
        else:
            image_list.update_entry(
                view.index, state="partial", size=format_percent(stats.fraction_done)
            )

    def device_status(self, running: bool) -> str:
        """The device's name and, while a pass runs, what each device is doing."""
        assert self.explainer is not None
        name = self.explainer.device_name
        return f"{name}: {self.explainer.device_summary()}" if running else name

    def on_significance_ready(self, message: messages.SignificanceReady) -> None:
        if (view := self.current(message.token)) is None:
            return
        view.significance, view.significance_key = message.significance, message.key
        self.paint_significance()
        self.paint_statistics()

    # ---- requests --------------------------------------------------------------------------

    def select_image(self, index: int) -> None:
        if not self.sources:
            return
        index %= len(self.sources)
        self._cancel.set()
        self._cancel = threading.Event()
        self._cancels = {e for e in self._cancels if not e.is_set()} | {self._cancel}
        self._token += 1
        self.view = ImageView(self._token, index)
        self.query_one(ImageList).set_current(index)
        self.panels.say(PICTURES, "loading…")
        # Nothing of the previous image may stay on screen while this one loads.
        name = self.sources[index].name
        self.panels.title("image", f"{name} ({index + 1}/{len(self.sources)}) · loading…")
        self.panels.text(f"loading {name}…")
        self.query_one(Colorbar).set_scale(None, self.cmap)
        self.analyse_image(self._token, index, self.sources[index], self._cancel)

    def request_row(self) -> None:
        view = self.view
        if view is None or view.loaded is None or self.explainer is None:
            return
        y, x = self.cursor
        self._rows.submit(RowRequest(view.token, y, x, view.loaded.pixels, view.stats))

    def request_significance(self) -> None:
        view = self.view
        if view is None or view.stats is None:
            return
        mode, t = self.threshold.mode, self.threshold.t_value
        predicted = view.predicted_mask if mode is ThresholdMode.LEGACY else None
        key = CountsKey(mode, t, view.rows_done)
        self._counts.submit(CountsRequest(view.token, key, view.stats, predicted))

    def place_cursor(self) -> None:
        """Ask for the cursor's row (the slowest answer: it computes while the rest is
        painted), show the cursor everywhere, then ask for what else depends on it."""
        self.request_row()
        self.follow_cursor()
        self.panels.cursor(self.view, *self.cursor)
        self.request_explanation()
        self.paint_statistics()

    # ---- painting (what to show is paint.py's) ----------------------------------------------

    def paint_probability(self) -> None:
        if self.view is not None:
            self.panels.probability(self.view, self.overlays)
            self.outline_target()

    def paint_significance(self) -> None:
        if self.view is not None:
            self.panels.significance(self.view, self.threshold)

    def paint_row(self, detail_only: bool = False, details_later: bool = False) -> None:
        """The row (or the explanation) at the cursor, its detail and the statistics.
        details_later: the plain row at once, its detail and the statistics after the next
        refresh, unless the cursor has moved on by then (the row reaches the screen a frame
        sooner, and keys held down skip what the next row replaces)."""
        view, cursor = self.view, self.cursor
        if view is None:
            return
        if not self.explanation.is_plain:
            self.paint_explanation(detail_only)
        elif details_later and not detail_only:
            self.panels.row(view, self.threshold, cursor, self.log_scale, self.cmap, detail=False)
            self.details_pending = (view.token, cursor)
            self.call_after_refresh(self._paint_details, view.token, cursor)
            return
        else:
            gradient = not detail_only
            self.panels.row(
                view, self.threshold, cursor, self.log_scale, self.cmap, gradient=gradient
            )
        self.paint_statistics()

    def _paint_details(self, token: int, cursor: tuple[int, int]) -> None:
        if self.details_pending == (token, cursor):
            self.details_pending = None
        if self.current(token) is not None and self.cursor == cursor:
            self.paint_row(detail_only=True)

    def paint_statistics(self) -> None:
        if self.view is not None:
            self.show_statistics(self.cursor_statistics(self.view))

    def cursor_statistics(self, view: ImageView) -> StatsRecord:
        return self.explained_record(view)

    # ---- actions ---------------------------------------------------------------------------

    def action_save(self) -> None:
        if self.view is None or self.view.loaded is None:
            self.notify("nothing to save yet", severity="warning")
            return
        stats = self.cursor_statistics(self.view)
        shown = self.shown_attribution()  # what the gradient panel shows, when not the row
        explained = None if shown is None else (shown.values, shown.title())
        self.save_view(self.view, stats, self.cursor, self.log_scale, self.cmap, explained)

    @work(thread=True, group="save", exit_on_error=False)
    def save_view(
        self,
        view: ImageView,
        stats: StatsRecord,
        cursor: tuple[int, int],
        log: bool,
        cmap: str,
        explained: tuple[np.ndarray, str] | None,
    ) -> None:
        rows = explained_rows(stats, self.threshold)  # the statistics panel's lines
        origin = saving.provenance(self.explainer, self.options.model) if self.explainer else None
        try:
            folder = saving.save_view(
                Path(self.options.save_dir), view, stats, cursor, log, cmap, rows, origin, explained
            )
        except OSError as exc:
            self.post_message(messages.WorkFailed(f"could not save: {exc}"))
            return
        self.post_message(messages.Notice(f"saved the view to {folder}"))


def create_app(options: AppOptions | None = None) -> CnnInterpApp:
    """The app for these options (the CLI and the tests both start here)."""
    return CnnInterpApp(options or AppOptions())
