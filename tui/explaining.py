"""The app's method x target side: keys to choose what the gradient panels explain, the box
drawn with keys or the mouse, jumps through the model's mistakes, and the attribution worker.

Between Controls (layout and plain keys) and CnnInterpApp (the plain row's workers), so the
app only calls in at four places: a cursor placed (`request_explanation`), the row painted
(`paint_explanation` when the explanation is not the plain row), the statistics shown
(`explained_record`, `show_statistics`), the probability repainted (`outline_target`).

Attributions run through a latest-only runner like the rows; each request carries its own
cancel event, set by the next one, so a slow IG stops between chunks when the user moves on.
Results are cached in memory for the image on screen (explanation.AttributionCache).
"""

import threading
from dataclasses import replace

import numpy as np

from cnninterp.jaxcore.explain.attribution import Attributor
from cnninterp.jaxcore.explain.groundtruth import next_mistake
from cnninterp.jaxcore.explain.targets import Target, TargetError, target_weights
from cnninterp.tui import jobs, messages, paint, render
from cnninterp.tui.controls import Controls
from cnninterp.tui.explanation import (
    AttributionCache,
    Explanation,
    parameters_question,
    parameters_text,
    parse_parameters,
    target_support,
)
from cnninterp.tui.explanation_stats import (
    GroundTruthMemo,
    attribution_detail,
    attribution_limit,
    explained_rows,
    explained_statistics,
)
from cnninterp.tui.latest import LatestOnly
from cnninterp.tui.options import AppOptions
from cnninterp.tui.panels import CURSOR_VIEWS, Panels, set_border
from cnninterp.tui.prompts import Refused
from cnninterp.tui.requests import AttributionRequest
from cnninterp.tui.view import ImageView, StatsRecord
from cnninterp.tui.widgets.colorbar import Colorbar
from cnninterp.tui.widgets.pixel_view import PixelView
from cnninterp.tui.widgets.prompt_screen import PromptScreen
from cnninterp.tui.widgets.stats_panel import StatsPanel

TARGET_OUTLINE_RGB = (255, 255, 0)
"""The target's outline on the image and probability panels (beside orange mask, cyan label)."""
MISTAKE_NAMES = {"fp": "false positive", "fn": "false negative"}


class Explaining(Controls):
    panels: Panels
    """Made by CnnInterpApp."""

    def __init__(self, options: AppOptions):
        super().__init__(options)
        self.explanation = Explanation()
        self.box_corner: tuple[int, int] | None = None
        """The first corner of a box being drawn (`b`), until the second is marked."""
        self.attributions = AttributionCache()
        self.target_weights: np.ndarray | None = None
        """float32 [H, W]: the weights of the target explained now (None: the cursor pixel)."""
        self._attributor: Attributor | None = None
        self._asked: AttributionRequest | None = None
        self._outlined = False
        self._outline_key: tuple | None = None
        self._ground_truth = GroundTruthMemo()
        self._weights_for: tuple[int, Target] | None = None
        """(image token, target) of target_weights: recomputed only when either changes."""
        self._attribution_runner = LatestOnly(
            self._compute_attribution, self._start_attributions, self._attribution_failed
        )

    # ---- the worker ------------------------------------------------------------------------

    def _start_attributions(self, drain: jobs.Drain) -> None:
        self.run_worker(drain, thread=True, group="attribution", exit_on_error=False)

    def _compute_attribution(self, request: AttributionRequest) -> None:
        if not request.cancel.is_set() and self._attributor is not None:
            jobs.attribution(self.post_message, self._attributor, request)

    def _attribution_failed(self, request: AttributionRequest, exc: BaseException) -> None:
        self._asked = None  # asking again may succeed
        self.post_message(messages.WorkFailed(f"{request.key} failed: {exc}"))

    def request_explanation(self, loud: bool = False) -> None:
        """Ask for the attribution at the cursor unless it is cached or on its way; refuse a
        target that cannot be built at once (`loud`: with a notification, after a key)."""
        view, (y, x) = self.view, self.cursor
        set_border(self.query_one("#gradient-box"), title=self.explanation.title(y, x))
        if view is None or view.loaded is None or view.probability is None:
            self.target_weights, self._weights_for = None, None
            return
        if self.explanation.is_plain or self.explainer is None:
            self.target_weights, self._weights_for = None, None
            self.cancel_attribution()
            self.outline_target(force=False)
            return
        try:
            target = self.explanation.target_at(y, x)
            if self._weights_for != (view.token, target):  # kept while the target stays
                self.target_weights, self._weights_for = None, None
                self.target_weights = target_weights(target, view.probability)
                self._weights_for = (view.token, target)
        except TargetError as exc:
            self.target_weights, self._weights_for = None, None
            self.cancel_attribution()
            self.outline_target(force=False)
            self.refuse(str(exc), loud)
            return
        self.outline_target(force=False)
        key = self.explanation.key(y, x)
        if self.attributions.get(view.token, key) is not None:
            self.cancel_attribution()
            return
        asked = self._asked
        if asked and (asked.token, asked.key) == (view.token, key) and not asked.cancel.is_set():
            return  # on its way
        self.cancel_attribution()
        if self._attributor is None or self._attributor.explainer is not self.explainer:
            self._attributor = Attributor(self.explainer)
        method, pixels = self.explanation.method, view.loaded.pixels
        self._asked = AttributionRequest(view.token, key, pixels, method, target, threading.Event())
        set_border(self.query_one("#gradient-box"), subtitle="computing…")
        self._attribution_runner.submit(self._asked)

    def cancel_attribution(self) -> None:
        if self._asked is not None:
            self._asked.cancel.set()
            self._asked = None

    def refuse(self, message: str, loud: bool) -> None:
        """The explanation cannot be computed here: say why where its picture would be."""
        for name in ("gradient", "detail"):
            self.panels.picture(name).set_picture(None, message)
        set_border(self.query_one("#gradient-box"), subtitle="refused")
        self.panels.status(message)
        if loud:
            self.notify(message, severity="warning", timeout=8)

    # ---- results ---------------------------------------------------------------------------

    def _asked_now(self, token: int, key: str) -> bool:
        """Whether (token, key) is what the panels explain at this moment (never once the app
        has stopped running: its panels may be going)."""
        view = self.view
        if not self.is_running or view is None or view.token != token:
            return False
        return key == self.explanation.key(*self.cursor)

    def on_attribution_progress(self, message: messages.AttributionProgress) -> None:
        if self._asked_now(message.token, message.key):
            done = f"computing {100 * message.share:.0f} %"
            set_border(self.query_one("#gradient-box"), subtitle=done)
            self.panels.status(f"{self.explanation.title(*self.cursor)}: {done}")

    def on_attribution_ready(self, message: messages.AttributionReady) -> None:
        if not self.is_running or self.view is None or self.view.token != message.token:
            return
        self.attributions.put(message.token, message.key, message.attribution)
        if self._asked_now(message.token, message.key):
            self.panels.status(f"{message.attribution.title()} in {message.seconds:.1f} s")
            self.paint_row()

    def on_attribution_refused(self, message: messages.AttributionRefused) -> None:
        if self._asked_now(message.token, message.key):
            self.refuse(message.message, loud=True)

    def shown_attribution(self):
        """The attribution the panels show now, or None (the plain row, or not computed)."""
        if self.view is None or self.explanation.is_plain:
            return None
        return self.attributions.get(self.view.token, self.explanation.key(*self.cursor))

    # ---- painting --------------------------------------------------------------------------

    def paint_explanation(self, detail_only: bool = False) -> None:
        """The attribution in the gradient, colour bar and detail panels, once computed."""
        attribution, (y, x) = self.shown_attribution(), self.cursor
        if attribution is None:
            return
        values = attribution.values
        scale = paint.row_scale(values, self.log_scale)
        box = self.query_one("#gradient-box")
        set_border(box, title=attribution.title())
        if not detail_only:
            picture = paint.gradient_picture(values, scale, self.cmap)
            self.panels.picture("gradient").set_picture(picture.rgb)
            self.query_one(Colorbar).set_scale(scale, self.cmap)
            set_border(box, subtitle=picture.subtitle or "")
        limit = attribution_limit(self.threshold, values)
        self.panels.show("detail", attribution_detail(values, limit, y, x, scale, self.cmap))

    def outline_target(self, force: bool = True) -> None:
        """The target (and a box being drawn) outlined on the image and probability panels;
        unless `force`d (the app repainted p), only when the outline changed: two panels
        repainted on every key repeat would slow the cursor."""
        view = self.view
        if view is None or view.loaded is None:
            return
        drawing = (self.box_corner, self.cursor) if self.box_corner is not None else None
        key = (view.token, self._weights_for, self.explanation.is_pixel, drawing, self.overlays)
        if not force and key == self._outline_key:
            return
        self._outline_key = key
        mask = np.zeros(view.loaded.pixels.shape, bool)
        weights = self.target_weights
        # (weights of the image just left can still be here while the next one loads)
        if weights is not None and weights.shape == mask.shape and not self.explanation.is_pixel:
            mask |= render.outline(target_support(weights))
        if self.box_corner is not None:
            (ya, xa), (yb, xb) = self.box_corner, self.cursor
            drawn = np.zeros_like(mask)
            drawn[min(ya, yb) : max(ya, yb) + 1, min(xa, xb) : max(xa, xb) + 1] = True
            mask |= render.outline(drawn)
        if not mask.any() and not self._outlined:
            return  # nothing drawn before, nothing to draw: spare the repaint
        self._outlined = bool(mask.any())
        target = (mask, TARGET_OUTLINE_RGB)  # a layer: painted after zooming out (block max)
        self.panels.picture("image").set_picture(paint.image_picture(view.loaded), layers=(target,))
        probability = paint.probability_picture(view, self.overlays)
        if probability is not None:
            layers = (*probability.layers, target)
            self.panels.picture("probability").set_picture(probability.rgb, layers=layers)

    def explained_record(self, view: ImageView) -> StatsRecord:
        weights = None if self.explanation.is_plain else self.target_weights
        attribution = self.shown_attribution()
        if attribution is None:
            weights = None  # the row's numbers are shown meanwhile: ground truth of the row
        y, x = self.cursor
        memo = self._ground_truth
        return explained_statistics(view, self.threshold, y, x, attribution, weights, memo)

    def show_statistics(self, record: StatsRecord) -> None:
        self.query_one(StatsPanel).show_rows(explained_rows(record, self.threshold))

    # ---- keys and clicks -------------------------------------------------------------------

    def set_explanation(self, explanation: Explanation) -> None:
        self.explanation = explanation
        plain_gradient = explanation.is_plain
        title = "significance" if plain_gradient else "significance (per-pixel gradient)"
        self.panels.title("significance", title)
        self.request_explanation(loud=True)
        self.paint_row()

    def action_cycle_method(self) -> None:
        self.set_explanation(self.explanation.next_method())
        self.notify(f"method: {self.explanation.method.describe()}", timeout=3)

    def action_cycle_target(self) -> None:
        self.set_explanation(self.explanation.next_target())
        self.notify(f"target: {self.explanation.target_kind}", timeout=3)

    def action_method_parameters(self) -> None:
        method = self.explanation.method

        def apply(text: str | None) -> None:
            if text:
                chosen = parse_parameters(text, self.explanation.method)
                self.set_explanation(replace(self.explanation, method=chosen))

        def check(text: str) -> str | None:
            try:
                parse_parameters(text, method)
            except Refused as exc:
                return str(exc)
            return None

        prompt = PromptScreen(parameters_question(method), parameters_text(method), check)
        self.push_screen(prompt, apply)

    def action_mark_box_corner(self) -> None:
        self.mark_box_corner(*self.cursor)

    def mark_box_corner(self, y: int, x: int) -> None:
        """The first call marks a corner, the second the opposite one: the box is the target."""
        if self.view is None or self.view.shape is None:
            return
        if self.box_corner is None:
            self.box_corner = (y, x)
            self.notify(
                f"box corner ({y}, {x}): move and press b, or click, at the other", timeout=5
            )
            self.outline_target()
            return
        corner, self.box_corner = self.box_corner, None
        self.set_explanation(self.explanation.with_box(corner, (y, x)))

    def on_pixel_view_clicked(self, message: PixelView.Clicked) -> None:
        # Controls moves the cursor too (Textual calls both handlers, this one first).
        if self.box_corner is not None and message.view.id in CURSOR_VIEWS:
            self.mark_box_corner(message.y, message.x)

    def action_next_mistake(self, kind: str) -> None:
        view = self.view
        label = view.loaded.label if view is not None and view.loaded is not None else None
        if view is None or view.probability is None or label is None:
            self.notify("no labels for this image: no mistakes to walk", severity="warning")
            return
        found = next_mistake(kind, view.probability, label, *self.cursor)
        if found is None:
            self.notify(f"no other {MISTAKE_NAMES[kind]} in this image", timeout=4)
            return
        self.move_cursor(*found)
