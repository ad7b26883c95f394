"""The session: the image on screen, the cursor, the threshold and the explanation, and what
each key, click and worker's answer changes.

Plain Python (no Textual): every transition returns `Effects`, the requests to submit and the
panels to repaint, which the app and its screen carry out. A key thus reads in one place:
`Session.move` -> a RowRequest and the cursor's panels. Results carry the image's token, and
anything for an image the user has left is dropped.
"""

import threading

import numpy as np

from cnninterp.jaxcore.images.loading import ImageSource, LoadedImage
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.summaries.significance import JacobianStats, Significance, ThresholdMode
from cnninterp.tui.attribution_statistics import (
    GroundTruthMemo,
    explained_rows,
    explained_statistics,
)
from cnninterp.tui.cursor_statistics import StatsRecord, current_threshold
from cnninterp.tui.pictures import colours
from cnninterp.tui.requests import (
    ClassRequest,
    CountsKey,
    CountsRequest,
    ImageRequest,
    RowRequest,
    SaveRequest,
)
from cnninterp.tui.state.attribution_state import AttributionState
from cnninterp.tui.state.effects import Effects, Paint
from cnninterp.tui.state.explanation_choice import Explanation
from cnninterp.tui.state.image_results import ImageResults
from cnninterp.tui.state.threshold import Threshold

CURSOR_VIEWS = ("image", "probability", "significance", "gradient")
"""The panels that show the cursor (a click there moves it)."""


class Session:
    def __init__(self, threshold: Threshold | None = None) -> None:
        self.explainer: Explainer | None = None
        """The model's Explainer, once open (ModelReady)."""
        self.sources: list[ImageSource] = []
        self.view: ImageResults | None = None
        """Results for the image on screen (None before the model is open)."""
        self.cursor = (0, 0)
        self.threshold = threshold or Threshold()
        self.cmap_index, self.log_scale, self.overlays = 0, True, True
        self.channel: int | None = None
        """The input channel whose map the gradient panels show of an attribution of an image
        with channels (RGB); None: their sum, the attribution of brightness."""
        self.attribution = AttributionState(self)
        """The explanation (method x target) the gradient panels show, and its requests."""
        self.passes: dict[int, JacobianStats] = {}
        """Each image's pass so far, by index: a partial one resumes when the user is back."""
        self.details_pending: tuple[int, tuple[int, int]] | None = None
        """(image token, cursor) of a row whose detail and statistics are still to come."""
        self.image_cancel = threading.Event()
        """Set when the user leaves the image: its pass and exact counts stop."""
        self._cancels: set[threading.Event] = set()
        self._token = 0
        self._ground_truth = GroundTruthMemo()

    # ---- reading -------------------------------------------------------------------------

    @property
    def cmap(self) -> str:
        return colours.DIVERGING[self.cmap_index]

    @property
    def explanation(self) -> Explanation:
        return self.attribution.explanation

    def current(self, token: int) -> ImageResults | None:
        """The view of the image `token`, or None when the user has left it."""
        return self.view if self.view is not None and self.view.token == token else None

    def shown_attribution(self):
        """The attribution the panels show now, or None (the plain row, or not computed)."""
        return self.attribution.shown()

    def cursor_statistics(self, view: ImageResults | None = None) -> StatsRecord:
        """Every number the statistics panel shows for the cursor (and `s` saves)."""
        view = view or self.view
        assert view is not None
        explained = self.shown_attribution()
        weights = None if self.explanation.is_plain else self.attribution.target_weights
        if explained is None:
            weights = None  # the row's numbers are shown meanwhile: ground truth of the row
        y, x = self.cursor
        memo = self._ground_truth
        return explained_statistics(view, self.threshold, y, x, explained, weights, memo)

    def threshold_here(self) -> float | None:
        """The threshold in force at the cursor (None while it depends on rows to come)."""
        return current_threshold(self.view, self.threshold, *self.cursor) if self.view else None

    def statistics_rows(self) -> list[tuple[str, str]]:
        return explained_rows(self.cursor_statistics(), self.threshold)

    def unfinished_pass(self) -> tuple[np.ndarray, JacobianStats] | None:
        """(pixels, stats) of the image's pass when it has rows but is not complete."""
        view = self.view
        if view is None or view.loaded is None or view.stats is None:
            return None
        if view.stats.complete or not view.stats.done.any():
            return None
        return view.loaded.pixels, view.stats

    def cancel_all(self) -> None:
        """Set every cancel event handed to a worker (quitting)."""
        self.image_cancel.set()
        for event in self._cancels:
            event.set()
        self.attribution.cancel()

    # ---- the model and the image ---------------------------------------------------------

    def model_ready(self, explainer, sources: list[ImageSource], notes: list[str]) -> Effects:
        self.explainer, self.sources = explainer, sources
        effects = Effects(paints=[Paint.IMAGE_LIST], device=explainer.device_name)
        for note in notes:
            effects.note(note, timeout=10)
        return effects.then(self.select_image(0))

    def select_image(self, index: int) -> Effects:
        if not self.sources:
            return Effects()
        index %= len(self.sources)
        self.image_cancel.set()
        self.image_cancel = threading.Event()
        self._cancels = {e for e in self._cancels if not e.is_set()} | {self.image_cancel}
        self._token += 1
        self.view = ImageResults(self._token, index)
        request = ImageRequest(self._token, index, self.sources[index], self.image_cancel)
        return Effects(requests=[request], paints=[Paint.IMAGE_LOADING])

    def switch_image(self, step: int) -> Effects:
        return Effects() if self.view is None else self.select_image(self.view.index + step)

    def pick_image(self, index: int | None) -> Effects:
        if index is None or (self.view is not None and index == self.view.index):
            return Effects()
        return self.select_image(index)

    def image_failed(self, token: int, message: str) -> Effects:
        if (view := self.current(token)) is None:
            return Effects()
        view.error = message
        effects = Effects(paints=[Paint.IMAGE_FAILED])
        effects.status = f"skipped {self.sources[view.index].name}"
        return effects.note(message, "warning", 10)

    def image_ready(self, token: int, loaded: LoadedImage, probability: np.ndarray) -> Effects:
        if (view := self.current(token)) is None:
            return Effects()
        view.loaded, view.probability = loaded, probability
        h, w = loaded.pixels.shape[:2]
        self.cursor = (min(self.cursor[0], h - 1), min(self.cursor[1], w - 1))
        effects = Effects(paints=[Paint.IMAGE])
        for note in loaded.notes:
            effects.note(f"{loaded.source.name}: {note}", timeout=8)
        effects.then(self.repaint_probability())
        effects.status = f"{loaded.source.name}: significance pass starting"
        return effects.then(self.place_cursor())

    # ---- the cursor ----------------------------------------------------------------------

    def place_cursor(self) -> Effects:
        """Ask for the cursor's row (the slowest answer: it computes while the rest is
        painted), show the cursor everywhere, then ask for what else depends on it."""
        effects = Effects()
        view = self.view
        if view is not None and view.loaded is not None and self.explainer is not None:
            y, x = self.cursor
            effects.requests.append(RowRequest(view.token, y, x, view.loaded.pixels, view.stats))
        effects.paint(Paint.CURSOR)
        effects.then(self.attribution.request())
        return effects.paint(Paint.STATISTICS)

    def move_to(self, y: int, x: int) -> Effects:
        self.cursor = (y, x)
        return self.place_cursor()

    def move(self, dy: int, dx: int) -> Effects:
        if self.view is None or self.view.shape is None:
            return Effects()
        (h, w), (y, x) = self.view.shape, self.cursor
        return self.move_to(min(h - 1, max(0, y + dy)), min(w - 1, max(0, x + dx)))

    def click(self, panel: str, y: int, x: int) -> Effects:
        """A click on a picture: it marks a box's second corner when one is being drawn, and
        moves the cursor there."""
        effects = Effects()
        if panel not in CURSOR_VIEWS:
            return effects
        if self.attribution.box_corner is not None:
            effects.then(self.attribution.mark_box_corner(y, x))
        if self.view is not None and self.view.shape:
            effects.then(self.move_to(y, x))
        return effects

    # ---- the threshold and how pictures are drawn ----------------------------------------

    def set_threshold(self, threshold: Threshold) -> Effects:
        """Counts in a worker; the detail view and statistics at once (the row is unchanged)."""
        self.threshold = threshold
        effects = Effects(remember=dict(mode=threshold.mode, percent=threshold.percent))
        effects.remember["absolute"] = threshold.absolute
        effects.then(self.request_significance())
        return effects.then(self.repaint_row(detail_only=True))

    def toggle_overlays(self) -> Effects:
        self.overlays = not self.overlays
        return self.repaint_probability()

    def cycle_colormap(self) -> Effects:
        self.cmap_index = (self.cmap_index + 1) % len(colours.DIVERGING)
        return Effects(remember={"colormap": self.cmap}).then(self.repaint_row())

    def cycle_class(self) -> Effects:
        """`C`: explain the model's next output class (the model is opened again for it)."""
        explainer = self.explainer
        if explainer is None:
            return Effects()
        model = explainer.model
        if model.classes < 2 or explainer.source is None:
            return Effects().note("this model explains one output class")
        return Effects(requests=[ClassRequest((model.explained_class + 1) % model.classes)])

    def class_ready(self, explainer: Explainer) -> Effects:
        """The model explaining another class: every result of the image is recomputed (the
        cursor stays); passes kept for other images belong to the former class."""
        self.attribution.cancel()
        self.explainer = explainer
        self.passes.clear()
        index = self.view.index if self.view is not None else 0
        effects = Effects(device=explainer.device_name)
        effects.note(f"explaining {explainer.model.score_label}", timeout=5)
        return effects.then(self.select_image(index))

    def cycle_channel(self) -> Effects:
        """`R`: an RGB image's attribution shown as its sum over channels, then R, G, B alone."""
        view = self.view
        pixels = None if view is None or view.loaded is None else view.loaded.pixels
        if pixels is None or pixels.ndim == 2:
            return Effects().note("the image is gray: its attribution has one channel")
        count = pixels.shape[2]
        self.channel = 0 if self.channel is None else self.channel + 1
        if self.channel == count:  # after B: the sum again
            self.channel = None
        effects = self.repaint_row()
        if self.explanation.is_plain:
            effects.note(
                "a gradient row is the sum over channels: pick a method or target (a, r) "
                "for maps per channel"
            )
        return effects

    def toggle_log_scale(self) -> Effects:
        self.log_scale = not self.log_scale
        return Effects(remember={"log_scale": self.log_scale}).then(self.repaint_row())

    # ---- what depends on the cursor, the threshold and the explanation -------------------

    def request_significance(self) -> Effects:
        view = self.view
        if view is None or view.stats is None:
            return Effects()
        mode, t = self.threshold.mode, self.threshold.t_value
        predicted = view.predicted_mask if mode is ThresholdMode.LEGACY else None
        key = CountsKey(mode, t, view.rows_done)
        return Effects(requests=[CountsRequest(view.token, key, view.stats, predicted)])

    def repaint_probability(self) -> Effects:
        """The probability map, then the target's outline over it (always: it was replaced)."""
        if self.view is None:
            return Effects()
        effects = Effects(paints=[Paint.PROBABILITY])
        return effects.then(self.attribution.outline(force=True))

    def repaint_row(self, detail_only: bool = False, details_later: bool = False) -> Effects:
        """The row (or the explanation) at the cursor, its detail and the statistics.
        details_later: the plain row at once, its detail and the statistics after the next
        refresh, unless the cursor has moved on by then (the row reaches the screen a frame
        sooner, and keys held down skip what the next row replaces)."""
        if self.view is None:
            return Effects()
        if details_later and not detail_only and self.explanation.is_plain:
            self.details_pending = (self.view.token, self.cursor)
            return Effects(paints=[Paint.ROW_PICTURE, Paint.DETAILS_LATER])
        return Effects(paints=[Paint.DETAIL if detail_only else Paint.ROW, Paint.STATISTICS])

    def details_due(self, token: int, cursor: tuple[int, int]) -> Effects:
        """After the refresh that showed a row: its detail and the statistics, unless the
        cursor has moved on (or the image changed) since."""
        if self.details_pending == (token, cursor):
            self.details_pending = None
        if self.current(token) is None or self.cursor != cursor:
            return Effects()
        return self.repaint_row(detail_only=True)

    # ---- the workers' answers ------------------------------------------------------------

    def row_ready(self, token: int, y: int, x: int, row: np.ndarray, seconds: float) -> Effects:
        view = self.current(token)
        if view is None or (y, x) != self.cursor:
            return Effects()
        view.row, view.row_yx, view.row_seconds = row, self.cursor, seconds
        return self.repaint_row(details_later=True)

    def stats_progress(
        self, token: int, stats: JacobianStats, rows: tuple[int, int], fraction, seconds
    ) -> Effects:
        """The pass's report: `rows` (done, total), `fraction` of its work, `seconds` so far."""
        if (view := self.current(token)) is None:
            return Effects()
        view.stats, view.stats_seconds = stats, seconds
        (view.rows_done, view.rows_total), view.pass_fraction = rows, fraction
        self.passes[view.index] = stats
        effects = Effects(paints=[Paint.LIST_PROGRESS, Paint.PASS_STATUS])
        effects.then(self.request_significance())
        # The row itself is unchanged; its threshold (relative to the max so far) may not be:
        # only what depends on the threshold is repainted.
        return effects.then(self.repaint_row(detail_only=True))

    def significance_ready(self, token: int, key: CountsKey, significance: Significance):
        if (view := self.current(token)) is None:
            return Effects()
        view.significance, view.significance_key = significance, key
        return Effects(paints=[Paint.SIGNIFICANCE, Paint.STATISTICS])

    # ---- saving --------------------------------------------------------------------------

    def save(self) -> Effects:
        """`s`: the view as on screen (the statistics panel's numbers and lines, and the
        gradient panel's attribution when it is not the row)."""
        view = self.view
        if view is None or view.loaded is None:
            return Effects().note("nothing to save yet", "warning")
        record = self.cursor_statistics(view)
        shown = self.shown_attribution()
        explained = None if shown is None else (shown.values, shown.title())
        rows = explained_rows(record, self.threshold)
        request = SaveRequest(view, record, self.cursor, self.log_scale, self.cmap, rows, explained)
        return Effects(requests=[request])
