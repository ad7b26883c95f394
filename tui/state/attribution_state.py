"""The explanation half of the session: which attribution the gradient panels show, whether
it is computed, on its way or refused, and the target's outline.

The default explanation, the plain gradient of the cursor pixel, is the session's row and
needs nothing from here; any other method or target is one AttributionRequest at a time
(each with its own cancel event, set by the next, so a slow IG stops between chunks when the
user moves on), kept in memory for the image on screen (RecentAttributions).
"""

import threading
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from cnninterp.jaxcore.explain.attribution import Attribution
from cnninterp.jaxcore.explain.targets import Target, TargetError, target_weights
from cnninterp.tui.requests import AttributionRequest
from cnninterp.tui.state.effects import Effects, Paint, Prompt
from cnninterp.tui.state.explanation_choice import (
    Explanation,
    parameters_question,
    parameters_text,
    parse_parameters,
    target_support,
)

if TYPE_CHECKING:
    from cnninterp.tui.state.session import Session

CACHED_PER_IMAGE = 32
"""Attributions kept in memory for the image on screen (a 256x256 map is 256 KiB)."""
TARGET_OUTLINE_RGB = (255, 255, 0)
"""The target's outline on the image and probability panels (beside orange mask, cyan label)."""


class RecentAttributions:
    """Results of the image on screen by Explanation.key: dropped when the image changes, the
    oldest dropped beyond CACHED_PER_IMAGE (in memory only: an IG map is seconds of work, a
    disk entry per cursor pixel would outgrow its use)."""

    def __init__(self, size: int = CACHED_PER_IMAGE):
        self.size = size
        self.token: int | None = None
        self._entries: OrderedDict[str, Attribution] = OrderedDict()

    def get(self, token: int, key: str) -> Attribution | None:
        if token != self.token:
            return None
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, token: int, key: str, attribution: Attribution) -> None:
        if token != self.token:
            self.token, self._entries = token, OrderedDict()
        self._entries[key] = attribution
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class AttributionState:
    """The session's explanation: `session` is read for the image, cursor and model."""

    def __init__(self, session: "Session") -> None:
        self.session = session
        self.explanation = Explanation()
        self.box_corner: tuple[int, int] | None = None
        """The first corner of a box being drawn (`b`), until the second is marked."""
        self.recent = RecentAttributions()
        self.target_weights: np.ndarray | None = None
        """float32 [H, W]: the weights of the target explained now (None: the cursor pixel)."""
        self.weights_for: tuple[int, Target] | None = None
        """(image token, target) of target_weights: recomputed only when either changes."""
        self.asked: AttributionRequest | None = None
        """The attribution on its way (None: none, or the answer is in)."""
        self.outlined: tuple[np.ndarray, ...] = ()
        """bool [H, W] each: the regions outlined on the pictures (the target's support, a box
        being drawn), as last painted."""
        self._outline_key: tuple | None = None

    def shown(self) -> Attribution | None:
        """The attribution the panels show now, or None (the plain row, or not computed)."""
        view, cursor = self.session.view, self.session.cursor
        if view is None or self.explanation.is_plain:
            return None
        return self.recent.get(view.token, self.explanation.key(*cursor))

    def asked_now(self, token: int, key: str) -> bool:
        """Whether (token, key) is what the panels explain at this moment."""
        view, cursor = self.session.view, self.session.cursor
        if view is None or view.token != token:
            return False
        return key == self.explanation.key(*cursor)

    def forget(self, request: AttributionRequest) -> None:
        """The request failed (in its worker thread): asking again may succeed."""
        if self.asked is request:
            self.asked = None

    def cancel(self) -> None:
        if self.asked is not None:
            self.asked.cancel.set()
            self.asked = None

    def request(self, loud: bool = False) -> Effects:
        """Ask for the attribution at the cursor unless it is cached or on its way; refuse a
        target that cannot be built at once (`loud`: with a notification, after a key)."""
        effects = Effects(paints=[Paint.GRADIENT_TITLE])
        view, can_compute = self.session.view, self.session.explainer is not None
        y, x = self.session.cursor
        if view is None or view.loaded is None or view.probability is None:
            self.target_weights, self.weights_for = None, None
            return effects
        if self.explanation.is_plain or not can_compute:
            self.target_weights, self.weights_for = None, None
            self.cancel()
            return effects.then(self.outline(force=False))
        try:
            target = self.explanation.target_at(y, x)
            if self.weights_for != (view.token, target):  # kept while the target stays
                self.target_weights, self.weights_for = None, None
                self.target_weights = target_weights(target, view.probability)
                self.weights_for = (view.token, target)
        except TargetError as exc:
            self.target_weights, self.weights_for = None, None
            self.cancel()
            effects.then(self.outline(force=False))
            return effects.then(refusal(str(exc), loud))
        effects.then(self.outline(force=False))
        key = self.explanation.key(y, x)
        if self.recent.get(view.token, key) is not None:
            self.cancel()
            return effects
        asked = self.asked
        if asked and (asked.token, asked.key) == (view.token, key) and not asked.cancel.is_set():
            return effects  # on its way
        self.cancel()
        method, pixels = self.explanation.method, view.loaded.pixels
        self.asked = AttributionRequest(view.token, key, pixels, method, target, threading.Event())
        effects.requests.append(self.asked)
        effects.gradient_subtitle = "computing…"
        return effects.paint(Paint.GRADIENT_SUBTITLE)

    def outline(self, force: bool = True) -> Effects:
        """The target (and a box being drawn) outlined on the image and probability panels;
        unless `force`d (the probability repainted), only when the outline changed: two panels
        repainted on every key repeat would slow the cursor."""
        view, cursor = self.session.view, self.session.cursor
        if view is None or view.loaded is None:
            return Effects()
        drawing = (self.box_corner, cursor) if self.box_corner is not None else None
        key = (view.token, self.weights_for, self.explanation.is_pixel, drawing)
        if not force and key == self._outline_key:
            return Effects()
        self._outline_key = key
        regions = []
        weights = self.target_weights
        shape = view.loaded.pixels.shape[:2]
        # (weights of the image just left can still be here while the next one loads)
        if weights is not None and weights.shape == shape and not self.explanation.is_pixel:
            regions.append(target_support(weights))
        if self.box_corner is not None:
            (ya, xa), (yb, xb) = self.box_corner, cursor
            drawn = np.zeros(shape, bool)
            drawn[min(ya, yb) : max(ya, yb) + 1, min(xa, xb) : max(xa, xb) + 1] = True
            regions.append(drawn)
        regions = [region for region in regions if region.any()]
        if not regions and not self.outlined:
            return Effects()  # nothing drawn before, nothing to draw: spare the repaint
        self.outlined = tuple(regions)
        return Effects(paints=[Paint.OUTLINE])

    # ---- the worker's answers ------------------------------------------------------------

    def progress(self, token: int, key: str, share: float) -> Effects:
        if not self.asked_now(token, key):
            return Effects()
        done = f"computing {100 * share:.0f} %"
        effects = Effects(paints=[Paint.GRADIENT_SUBTITLE], gradient_subtitle=done)
        effects.status = f"{self.explanation.title(*self.session.cursor)}: {done}"
        return effects

    def ready(self, token: int, key: str, attribution, seconds: float) -> Effects:
        if self.session.current(token) is None:
            return Effects()
        self.recent.put(token, key, attribution)
        if not self.asked_now(token, key):
            return Effects()
        effects = Effects(status=f"{attribution.title()} in {seconds:.1f} s")
        return effects.then(self.session.repaint_row())

    def refused(self, token: int, key: str, message: str) -> Effects:
        if not self.asked_now(token, key):
            return Effects()
        return refusal(message, loud=True)

    # ---- keys: what the gradient panels explain -------------------------------------------

    def set_explanation(self, explanation: Explanation) -> Effects:
        self.explanation = explanation
        effects = Effects(paints=[Paint.SIGNIFICANCE_TITLE])
        effects.then(self.request(loud=True))
        return effects.then(self.session.repaint_row())

    def cycle_method(self) -> Effects:
        effects = self.set_explanation(self.explanation.next_method())
        return effects.note(f"method: {self.explanation.method.describe()}", timeout=3)

    def cycle_target(self) -> Effects:
        effects = self.set_explanation(self.explanation.next_target())
        return effects.note(f"target: {self.explanation.target_kind}", timeout=3)

    def method_parameters(self) -> Effects:
        method = self.explanation.method
        return Effects(
            prompt=Prompt(
                parameters_question(method),
                parameters_text(method),
                lambda text: parse_parameters(text, method),
                lambda chosen: self.set_explanation(replace(self.explanation, method=chosen)),
            )
        )

    def mark_box_corner(self, y: int | None = None, x: int | None = None) -> Effects:
        """The first call marks a corner (the cursor's unless given), the second the opposite
        one: the box is the target."""
        view = self.session.view
        if view is None or view.shape is None:
            return Effects()
        y, x = self.session.cursor if y is None or x is None else (y, x)
        if self.box_corner is None:
            self.box_corner = (y, x)
            effects = Effects().note(
                f"box corner ({y}, {x}): move and press b, or click, at the other", timeout=5
            )
            return effects.then(self.outline())
        corner, self.box_corner = self.box_corner, None
        return self.set_explanation(self.explanation.with_box(corner, (y, x)))


def refusal(message: str, loud: bool) -> Effects:
    """The explanation cannot be computed here: say why where its picture would be."""
    effects = Effects(paints=[Paint.REFUSAL], status=message, refusal=message)
    if loud:
        effects.note(message, "warning", 8)
    return effects
