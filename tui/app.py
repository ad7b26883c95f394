"""The app: composes the panels, turns keys into state changes and routes worker results.

Computation lives in `jobs` (thread workers), pictures in `render`, numbers in `view`; this
module only decides what to ask for and which widget shows the answer. Results carry the
image's token, and anything for an image the user has left is dropped.
"""

import threading
from pathlib import Path

import numpy as np
from textual import events, work
from textual.app import App, ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Footer, Static

from cnninterp.jaxcore.cache import StatsCache
from cnninterp.jaxcore.footprint import crop_to_footprint
from cnninterp.jaxcore.significance import ThresholdMode, fill_coarse, row_thresholds
from cnninterp.tui import jobs, messages, render, saving
from cnninterp.tui.keymap import default_bindings
from cnninterp.tui.latest import LatestOnly
from cnninterp.tui.options import AppOptions
from cnninterp.tui.threshold import Threshold
from cnninterp.tui.view import (
    ImageView,
    compact_rows,
    current_threshold,
    cursor_footprint,
    cursor_statistics,
    statistics_rows,
)
from cnninterp.tui.widgets.colorbar import Colorbar
from cnninterp.tui.widgets.graphics_view import GraphicsView
from cnninterp.tui.widgets.help_screen import HelpScreen
from cnninterp.tui.widgets.image_list import ImageEntry, ImageList
from cnninterp.tui.widgets.pixel_view import PixelView
from cnninterp.tui.widgets.prompt_screen import PromptScreen
from cnninterp.tui.widgets.stats_panel import StatsPanel
from cnninterp.tui.widgets.status_line import StatusLine

MIN_SIZE = (60, 20)
"""Below this many columns x rows the panels are replaced by a message (state is kept)."""
CURSOR_VIEWS = ("image", "probability", "significance", "gradient")


class CnnInterpApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "cnninterp"
    BINDINGS = default_bindings()
    # Kitty placeholder images are garbled under the palette's tinted background; keys suffice.
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self, options: AppOptions):
        super().__init__()
        self.options = options
        self._image_widget, self._cell = None, None
        if options.graphics != "halfblock":
            from cnninterp.tui.widgets.terminal_image import image_widget_class, terminal_cell_size

            self._image_widget = options.image_widget or image_widget_class(options.graphics)
            self._cell = options.cell_size or terminal_cell_size()
        self.explainer = None
        self.sources: list = []
        self.view: ImageView | None = None
        self.cursor = (0, 0)
        self.threshold = Threshold()
        self.cmap_index = 0
        self.log_scale = True
        self.overlays = True
        self._token = 0
        self._cancel = threading.Event()
        self._warmed: set = set()
        self._cache = StatsCache(enabled=options.cache)
        self._rows = LatestOnly(self._compute_row, self._start_rows, self._row_failed)
        self._counts = LatestOnly(self._compute_counts, self._start_counts, self._counts_failed)

    # ---- layout ---------------------------------------------------------------------------

    def picture_panel(self, id: str, classes: str = "", show_cursor: bool = True):
        """A half-block PixelView, or a GraphicsView when kitty/sixel graphics are on."""
        if self._image_widget is None:
            return PixelView(id=id, classes=classes, show_cursor=show_cursor)
        return GraphicsView(
            self._image_widget, self._cell, id=id, classes=classes, show_cursor=show_cursor
        )

    def compose(self) -> ComposeResult:
        yield Static("", id="too-small")
        with Horizontal(id="main"):
            yield ImageList(id="images")
            with Grid(id="panels"):
                yield self.picture_panel("image", "panel")
                yield self.picture_panel("probability", "panel")
                yield self.picture_panel("significance", "panel")
                with Vertical(id="gradient-box", classes="panel"):
                    yield self.picture_panel("gradient")
                    yield Colorbar(id="colorbar")
                yield self.picture_panel("detail", "panel", show_cursor=False)
                yield StatsPanel(id="stats", classes="panel")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        titles = {
            "#image": "image",
            "#probability": "p(vessel)",
            "#significance": "significance",
            "#gradient-box": "gradient row",
            "#detail": "detail",
            "#stats": "statistics",
        }
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        for name in ("image", "probability", "significance", "gradient"):
            self.query_one(f"#{name}").set_picture(None, "loading…")
        if self.console.color_system != "truecolor":
            self.notify(
                f"This terminal reports {self.console.color_system} colours (COLORTERM is not "
                "forwarded over SSH): pictures are approximate. Start with --truecolor if the "
                "terminal supports 24-bit colour.",
                severity="warning",
                timeout=10,
            )
        self.open_everything()

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

    # ---- workers (bodies in jobs.py) -------------------------------------------------------

    @work(thread=True, exclusive=True, group="open")
    def open_everything(self) -> None:
        jobs.open_everything(self.post_message, self.options)

    @work(thread=True, exclusive=True, group="image")
    def analyse_image(self, token: int, source, cancel: threading.Event) -> None:
        jobs.analyse_image(
            self.post_message, self.explainer, token, source, cancel, self._warmed, self._cache
        )

    @work(thread=True, exclusive=True, group="exact")
    def count_exactly(self, request: tuple, cancel: threading.Event) -> None:
        jobs.exact_counts(self.post_message, self.explainer, request, cancel)

    def _start_rows(self, drain) -> None:
        self.run_worker(drain, thread=True, group="rows")

    def _start_counts(self, drain) -> None:
        self.run_worker(drain, thread=True, group="counts")

    def _compute_row(self, request) -> None:
        jobs.gradient_row(self.post_message, self.explainer, request)

    def _compute_counts(self, request) -> None:
        jobs.significance(self.post_message, request)

    def _row_failed(self, request, exc: BaseException) -> None:
        self.post_message(messages.WorkFailed(f"gradient row {request[1:3]} failed: {exc}"))

    def _counts_failed(self, request, exc: BaseException) -> None:
        self.post_message(messages.WorkFailed(f"significance counts failed: {exc}"))

    # ---- results ---------------------------------------------------------------------------

    def on_status(self, message: messages.Status) -> None:
        self.query_one(StatusLine).show(message.text)

    def on_notice(self, message: messages.Notice) -> None:
        self.notify(message.text, severity=message.severity, timeout=8)

    def on_work_failed(self, message: messages.WorkFailed) -> None:
        self.notify(message.message, severity="error", timeout=15)
        self.query_one(StatusLine).show(message.message)
        if message.fatal:
            for name in ("image", "probability", "significance", "gradient"):
                self.query_one(f"#{name}").set_picture(None, "nothing to show")
            self.query_one(StatsPanel).update(message.message)

    def on_model_ready(self, message: messages.ModelReady) -> None:
        self.explainer, self.sources = message.explainer, message.images
        self.query_one(StatusLine).show(device=self.explainer.device_name)
        self.query_one(ImageList).set_entries([ImageEntry(s.name) for s in self.sources])
        for note in message.notes:
            self.notify(note, timeout=10)
        self.select_image(0)

    def on_image_failed(self, message: messages.ImageFailed) -> None:
        if self.view is None or message.token != self.view.token:
            return
        self.view.error = message.message
        self.query_one(ImageList).update_entry(self.view.index, state="error")
        for name in ("image", "probability", "significance", "gradient", "detail"):
            self.query_one(f"#{name}").set_picture(None, "cannot read this image")
        self.query_one(StatsPanel).update(message.message)
        self.query_one(StatusLine).show(f"skipped {self.sources[self.view.index].name}")
        self.notify(message.message, severity="warning", timeout=10)

    def on_image_ready(self, message: messages.ImageReady) -> None:
        view = self.view
        if view is None or message.token != view.token:
            return
        view.loaded, view.probability = message.loaded, message.probability
        h, w = view.shape
        self.cursor = (min(self.cursor[0], h - 1), min(self.cursor[1], w - 1))
        oh, ow = message.loaded.original_shape
        self.query_one(ImageList).update_entry(view.index, size=f"{ow}x{oh}")
        for note in message.loaded.notes:
            self.notify(f"{message.loaded.source.name}: {note}", timeout=8)
        stretched = render.contrast_stretch(message.loaded.pixels)
        self.query_one("#image").set_picture(render.gray_rgb(stretched))
        name, (low, high) = message.loaded.source.name, render.STRETCH_PERCENTILES
        self.query_one(
            "#image"
        ).border_title = (
            f"{name} ({view.index + 1}/{len(self.sources)}) · stretch p{low:g}-p{high:g}"
        )
        self.query_one("#significance").set_picture(None, "computing…")
        self.paint_probability()
        self.query_one(StatusLine).show(f"{message.loaded.source.name}: significance pass starting")
        self.place_cursor()

    def on_row_ready(self, message: messages.RowReady) -> None:
        view = self.view
        if view is None or message.token != view.token or (message.y, message.x) != self.cursor:
            return
        view.row, view.row_yx, view.row_seconds = (
            message.row,
            (message.y, message.x),
            message.seconds,
        )
        self.paint_row()

    def on_stats_progress(self, message: messages.StatsProgress) -> None:
        view = self.view
        if view is None or message.token != view.token:
            return
        view.stats, view.rows_done, view.rows_total = (
            message.stats,
            message.rows_done,
            message.rows_total,
        )
        view.stats_seconds = message.seconds
        done = message.stats.complete
        state = "done" if done else "partial"
        self.query_one(ImageList).update_entry(view.index, state=state)
        if done:
            text = f"significance of {view.loaded.source.name} done in {message.seconds:.1f} s"
        else:
            left = view.record_progress(message.seconds, message.fraction)
            text = (
                f"significance {100 * message.fraction:.0f} % ({message.rows_done}/"
                f"{message.rows_total} rows shown), {message.seconds:.1f} s"
                + (", estimating time left" if left is None else f", ~{left:.0f} s left")
            )
        self.query_one(StatusLine).show(text)
        self.request_significance()
        self.paint_row()

    def on_significance_ready(self, message: messages.SignificanceReady) -> None:
        view = self.view
        if view is None or message.token != view.token:
            return
        view.significance, view.significance_key = message.significance, message.key
        self.paint_significance()
        self.paint_statistics()

    def on_exact_counts_ready(self, message: messages.ExactCountsReady) -> None:
        view = self.view
        if view is None or message.token != view.token:
            return
        view.exact_counts, view.exact_key = message.counts, message.key
        self.query_one(StatusLine).show(f"exact counts done in {message.seconds:.1f} s")
        self.paint_significance()
        self.paint_statistics()

    # ---- requests --------------------------------------------------------------------------

    def select_image(self, index: int) -> None:
        if not self.sources:
            return
        index %= len(self.sources)
        self._cancel.set()
        self._cancel = threading.Event()
        self._token += 1
        self.view = ImageView(self._token, index)
        self.query_one(ImageList).set_current(index)
        for name in ("image", "probability", "significance", "gradient", "detail"):
            self.query_one(f"#{name}").set_picture(None, "loading…")
        self.query_one(Colorbar).set_scale(None, self.cmap)
        self.analyse_image(self._token, self.sources[index], self._cancel)

    def request_row(self) -> None:
        view = self.view
        if view is None or view.loaded is None or self.explainer is None:
            return
        y, x = self.cursor
        self._rows.submit((view.token, y, x, view.loaded.pixels, view.stats))

    def request_significance(self) -> None:
        view = self.view
        if view is None or view.stats is None:
            return
        mode, t = self.threshold.mode, self.threshold.t_value
        key = (mode, t, view.rows_done)
        predicted = view.predicted_mask if mode is ThresholdMode.LEGACY else None
        self._counts.submit((view.token, key, view.stats, mode, t, predicted))

    def place_cursor(self) -> None:
        """Show the cursor everywhere, then ask for what depends on it."""
        y, x = self.cursor
        for name in CURSOR_VIEWS:
            self.query_one(f"#{name}").set_cursor(y, x)
        self.query_one("#gradient-box").border_title = f"gradient ({y}, {x})"
        if self.view is not None and self.view.row_for(y, x) is None:
            self.query_one("#gradient-box").border_subtitle = "computing…"
        self.paint_statistics()
        self.request_row()

    # ---- painting ----------------------------------------------------------------------------

    @property
    def cmap(self) -> str:
        return render.DIVERGING[self.cmap_index]

    def paint_probability(self) -> None:
        view = self.view
        if view is None or view.probability is None:
            return
        rgb = render.gray_rgb(view.probability)
        if self.overlays:
            rgb = render.paint(
                rgb, render.outline(view.predicted_mask), render.PREDICTED_OUTLINE_RGB
            )
            if view.loaded.label is not None:
                rgb = render.paint(rgb, render.outline(view.loaded.label), render.LABEL_OUTLINE_RGB)
        self.query_one("#probability").set_picture(rgb)

    def paint_significance(self) -> None:
        sig = self.view.significance if self.view else None
        if sig is None:
            return
        exact = self.view.exact_for(self.threshold)
        counts = sig.counts if exact is None else exact
        if self.view.stats is not None and not self.view.stats.complete:
            # While the pass runs, undone pixels borrow their coarse-grid neighbour's value.
            counts = fill_coarse(counts, np.isfinite(counts))  # the rows these counts saw
        top = float(np.nanmax(counts)) if np.isfinite(counts).any() else 0.0
        rgb = render.sequential_rgb(counts, 0.0, top, render.SEQUENTIAL)
        self.query_one("#significance").set_picture(rgb)
        estimate = "≈ " if exact is None and sig.error is not None else ""
        subtitle = f"{estimate}0…{render.format_value(top)}"
        self.query_one("#significance").border_subtitle = subtitle

    def paint_row(self) -> None:
        view = self.view
        y, x = self.cursor
        row = view.row_for(y, x) if view else None
        if row is None:
            return
        vmax = float(np.max(np.abs(row)))
        scale = render.SignedScale(vmax, log=self.log_scale)
        self.query_one("#gradient").set_picture(render.signed_rgb(row, scale, self.cmap))
        self.query_one(Colorbar).set_scale(scale, self.cmap)
        box = self.query_one("#gradient-box")
        box.border_subtitle = f"{'log' if self.log_scale else 'linear'} {self.cmap}"
        self.paint_detail(row, scale)
        self.paint_statistics()

    def paint_detail_only(self) -> None:
        y, x = self.cursor
        row = self.view.row_for(y, x) if self.view else None
        if row is not None:
            scale = render.SignedScale(float(np.max(np.abs(row))), log=self.log_scale)
            self.paint_detail(row, scale)

    def paint_detail(self, row: np.ndarray, scale: render.SignedScale) -> None:
        y, x = self.cursor
        detail = self.query_one("#detail")
        fp = cursor_footprint(self.view, self.threshold, y, x)
        if fp is None:
            detail.set_picture(None, "threshold pending")
            return
        crop = crop_to_footprint(row, fp)
        if crop.size == 0:
            detail.set_picture(None, "none above threshold")
            detail.border_subtitle = ""
            return
        shown = np.where(np.abs(crop) > fp.threshold, crop, 0.0)
        detail.set_picture(render.signed_rgb(shown, scale, self.cmap))
        detail.border_subtitle = f"y {fp.y_min}..{fp.y_max} x {fp.x_min}..{fp.x_max}"

    def paint_statistics(self) -> None:
        if self.view is None:
            return
        y, x = self.cursor
        stats = cursor_statistics(self.view, self.threshold, y, x)
        rows = statistics_rows(stats, self.threshold)
        if self.size.width < 120 or self.size.height < 36:  # the compact layout
            rows = compact_rows(rows)
        self.query_one(StatsPanel).show_rows(rows)

    # ---- actions ---------------------------------------------------------------------------

    def on_pixel_view_clicked(self, message: PixelView.Clicked) -> None:
        if message.view.id in CURSOR_VIEWS and self.view and self.view.shape:
            self.cursor = (message.y, message.x)
            self.place_cursor()

    def on_image_list_selected(self, message: ImageList.Selected) -> None:
        self.select_image(message.index)

    def action_move(self, dy: int, dx: int) -> None:
        if self.view is None or self.view.shape is None:
            return
        h, w = self.view.shape
        self.cursor = (
            min(h - 1, max(0, self.cursor[0] + dy)),
            min(w - 1, max(0, self.cursor[1] + dx)),
        )
        self.place_cursor()

    def action_switch_image(self, step: int) -> None:
        if self.view is not None:
            self.select_image(self.view.index + step)

    def set_threshold(self, threshold: Threshold) -> None:
        """Counts in a worker; the detail view and statistics at once (the row is unchanged)."""
        self.threshold = threshold
        self.request_significance()
        self.paint_detail_only()
        self.paint_statistics()

    def action_threshold_step(self, steps: int) -> None:
        self.set_threshold(self.threshold.stepped(steps))

    def action_cycle_mode(self) -> None:
        value = current_threshold(self.view, self.threshold, *self.cursor) if self.view else None
        self.set_threshold(self.threshold.next_mode(value))
        self.notify(f"threshold mode: {self.threshold.describe()}", timeout=3)

    def action_type_threshold(self) -> None:
        unit = "absolute value" if self.threshold.mode is ThresholdMode.ABSOLUTE else "percent"
        question = f"Threshold ({unit}), now {self.threshold.t_value:g}:"

        def done(text: str | None) -> None:
            try:
                value = float(text) if text else None
            except ValueError:
                value = None
            if value is None or not value > 0:
                if text:
                    self.notify(f"not a positive number: {text!r}", severity="warning")
                return
            self.set_threshold(self.threshold.with_value(value))

        self.push_screen(PromptScreen(question, f"{self.threshold.t_value:g}"), done)

    def action_goto(self) -> None:
        def done(text: str | None) -> None:
            parts = (text or "").replace(",", " ").split()
            shape = self.view.shape if self.view else None
            if len(parts) != 2 or not all(p.isdigit() for p in parts) or shape is None:
                if text:
                    self.notify(f"type two numbers, y x: {text!r}", severity="warning")
                return
            y, x = int(parts[0]), int(parts[1])
            if not (y < shape[0] and x < shape[1]):
                self.notify(
                    f"({y}, {x}) is outside the {shape[0]}x{shape[1]} image", severity="warning"
                )
                return
            self.cursor = (y, x)
            self.place_cursor()

        self.push_screen(
            PromptScreen("Go to pixel: y x", f"{self.cursor[0]} {self.cursor[1]}"), done
        )

    def action_jump_to_max(self) -> None:
        sig = self.view.significance if self.view else None
        if sig is None or not np.isfinite(sig.counts).any():
            self.notify("no significance computed yet", severity="warning")
            return
        y, x = np.unravel_index(int(np.nanargmax(sig.counts)), sig.counts.shape)
        self.cursor = (int(y), int(x))
        self.place_cursor()

    def action_exact_counts(self) -> None:
        view = self.view
        stats = view.stats if view else None
        if stats is None or self.explainer is None:
            self.notify("no significance computed yet", severity="warning")
        elif stats.exact:
            self.notify("the counts of this image are exact already", timeout=4)
        elif not stats.complete:
            self.notify("exact counts need the significance pass to finish first", timeout=4)
        elif view.exact_for(self.threshold) is None:
            mode, t = self.threshold.mode, self.threshold.t_value
            thresholds = row_thresholds(stats, mode, t)
            request = (view.token, (mode, t), view.loaded.pixels, thresholds, view.predicted_mask)
            self.query_one(StatusLine).show("exact counts: starting a second pass")
            self.count_exactly(request, self._cancel)

    def action_toggle_overlays(self) -> None:
        self.overlays = not self.overlays
        self.paint_probability()

    def action_cycle_colormap(self) -> None:
        self.cmap_index = (self.cmap_index + 1) % len(render.DIVERGING)
        self.paint_row()

    def action_toggle_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self.paint_row()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_save(self) -> None:
        if self.view is None or self.view.loaded is None:
            self.notify("nothing to save yet", severity="warning")
            return
        y, x = self.cursor
        stats = cursor_statistics(self.view, self.threshold, y, x)
        self.save_view(self.view, stats, self.cursor, self.log_scale, self.cmap)

    @work(thread=True, group="save")
    def save_view(self, view: ImageView, stats: dict, cursor, log_scale: bool, cmap: str) -> None:
        try:
            folder = saving.save_view(
                Path(self.options.save_dir), view, stats, cursor, log_scale, cmap
            )
        except OSError as exc:
            self.post_message(messages.WorkFailed(f"could not save: {exc}"))
            return
        self.post_message(messages.Notice(f"saved the view to {folder}"))


def create_app(options: AppOptions | None = None) -> CnnInterpApp:
    """The app for these options (the CLI and the tests both start here)."""
    return CnnInterpApp(options or AppOptions())
