"""The session (state/session.py) driven without an App: each key or answer returns the
requests the app is to submit and the panels to repaint, and nothing runs or draws here."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cnninterp.jaxcore.images.loading import ImageSource, LoadedImage
from cnninterp.jaxcore.summaries.significance import JacobianStats, ThresholdMode
from cnninterp.tui.requests import (
    AttributionRequest,
    CountsKey,
    CountsRequest,
    ImageRequest,
    RowRequest,
)
from cnninterp.tui.state import cursor_jumps, exact_counts, threshold_keys
from cnninterp.tui.state.effects import Paint
from cnninterp.tui.state.session import Session
from cnninterp.tui.state.threshold import Threshold

SIDE = 8
EXPLAINER = SimpleNamespace(device_name="cpu")
"""Only passed along: the session never computes (the requests go to the app's workers)."""


def sources(count: int = 2) -> list[ImageSource]:
    return [ImageSource(f"image_{i}", Path(f"image_{i}.png"), None) for i in range(count)]


def loaded(source: ImageSource) -> LoadedImage:
    pixels = np.linspace(0, 1, SIDE * SIDE, dtype=np.float32).reshape(SIDE, SIDE)
    return LoadedImage(source, pixels, None, (SIDE, SIDE), ())


def probability() -> np.ndarray:
    p = np.zeros((SIDE, SIDE), np.float32)
    p[:, 3:5] = 0.9  # a vertical "vessel"
    return p


@pytest.fixture
def session() -> Session:
    """A session whose first image is loaded, its cursor at (0, 0)."""
    session = Session()
    opened = session.model_ready(EXPLAINER, sources(), notes=["a note"])
    (request,) = opened.requests
    assert isinstance(request, ImageRequest) and (request.index, request.token) == (0, 1)
    assert opened.paints == [Paint.IMAGE_LIST, Paint.IMAGE_LOADING]
    assert opened.device == "cpu" and [n.text for n in opened.notes] == ["a note"]
    session.image_ready(request.token, loaded(request.source), probability())
    return session


def test_an_image_loaded_asks_for_the_cursors_row_and_paints_the_image(session):
    assert session.view is not None and session.view.shape == (SIDE, SIDE)
    again = Session()
    request = again.model_ready(EXPLAINER, sources(), []).requests[0]
    effects = again.image_ready(request.token, loaded(request.source), probability())
    (row,) = effects.requests
    assert isinstance(row, RowRequest) and (row.token, row.y, row.x) == (1, 0, 0)
    assert effects.paints[:2] == [Paint.IMAGE, Paint.PROBABILITY]
    assert Paint.CURSOR in effects.paints and effects.paints[-1] is Paint.STATISTICS
    assert effects.status == "image_0: significance pass starting"


def test_a_cursor_key_asks_for_the_row_first_then_repaints_the_cursor_panels(session):
    effects = session.move(1, 2)
    assert session.cursor == (1, 2)
    (row,) = effects.requests
    assert isinstance(row, RowRequest) and (row.y, row.x) == (1, 2) and row.stats is None
    np.testing.assert_array_equal(row.pixels, session.view.loaded.pixels)
    assert effects.unique_paints() == [Paint.CURSOR, Paint.GRADIENT_TITLE, Paint.STATISTICS]
    # at the edge the cursor stays inside the image
    session.move(-8, 100)
    assert session.cursor == (0, SIDE - 1)


def test_a_row_is_painted_at_once_and_its_details_after_the_next_refresh(session):
    token = session.view.token
    session.move(0, 1)
    row = np.ones((SIDE, SIDE), np.float32)
    assert session.row_ready(token, 0, 0, row, 0.1).paints == []  # not the cursor's: dropped
    effects = session.row_ready(token, 0, 1, row, 0.1)
    assert effects.paints == [Paint.ROW_PICTURE, Paint.DETAILS_LATER]
    assert session.details_pending == (token, (0, 1))
    assert session.details_due(token, (0, 1)).paints == [Paint.DETAIL, Paint.STATISTICS]
    assert session.details_pending is None
    # the cursor moved on before the refresh: the next row replaces the details
    session.row_ready(token, 0, 1, row, 0.1)
    session.move(1, 0)
    assert session.details_due(token, (0, 1)).paints == []


def test_a_threshold_key_asks_for_counts_and_repaints_what_depends_on_it(session):
    token = session.view.token
    before = session.threshold.percent
    assert threshold_keys.threshold_step(session, 1).requests == []  # no pass yet: no counts
    stats = JacobianStats.empty(SIDE, SIDE)
    progress = session.stats_progress(token, stats, (0, SIDE * SIDE), 0.0, 1.0)
    assert progress.paints[:2] == [Paint.LIST_PROGRESS, Paint.PASS_STATUS]
    assert session.passes[0] is stats  # kept: the pass resumes when the user is back
    effects = threshold_keys.threshold_step(session, 1)
    assert session.threshold.percent > before
    (counts,) = effects.requests
    assert isinstance(counts, CountsRequest) and counts.stats is stats
    assert counts.key == CountsKey(ThresholdMode.GLOBAL, session.threshold.percent, 0)
    assert effects.paints == [Paint.DETAIL, Paint.STATISTICS]  # the row itself is unchanged
    assert effects.remember["percent"] == session.threshold.percent


def test_legacy_thresholds_refuse_the_step_keys_in_words(session):
    session.set_threshold(Threshold(ThresholdMode.LEGACY))
    effects = threshold_keys.threshold_step(session, 1)
    assert effects.requests == [] and effects.paints == []
    assert "legacy mode's threshold is fixed" in effects.notes[0].text
    assert threshold_keys.type_threshold(session).prompt is None  # a note, not a prompt


def test_switching_images_cancels_the_last_and_drops_its_late_answers(session):
    first_token, first_cancel = session.view.token, session.image_cancel
    effects = session.switch_image(1)
    assert first_cancel.is_set() and not session.image_cancel.is_set()
    (request,) = effects.requests
    assert isinstance(request, ImageRequest) and request.index == 1
    assert request.token == first_token + 1 and request.cancel is session.image_cancel
    assert effects.paints == [Paint.IMAGE_LOADING]
    row = np.ones((SIDE, SIDE), np.float32)
    assert session.row_ready(first_token, 0, 0, row, 0.1).paints == []
    assert session.image_ready(first_token, loaded(sources()[0]), probability()).paints == []
    # and back round the end of the list
    assert session.switch_image(1).requests[0].index == 0


def test_a_goto_prompt_moves_the_cursor_when_answered(session):
    prompt = cursor_jumps.goto(session).prompt
    assert prompt is not None and prompt.default == "0 0"
    effects = prompt.then(prompt.parse("3 4"))
    assert session.cursor == (3, 4) and isinstance(effects.requests[0], RowRequest)


def test_a_box_corner_then_a_click_makes_the_box_the_target_and_asks_for_it(session):
    session.move_to(1, 1)
    marked = session.attribution.mark_box_corner()
    assert session.attribution.box_corner == (1, 1) and Paint.OUTLINE in marked.paints
    effects = session.click("probability", 5, 6)
    assert session.explanation.box == (1, 1, 5, 6) and session.cursor == (5, 6)
    asked = [r for r in effects.requests if isinstance(r, AttributionRequest)]
    assert asked and asked[0].target.box == (1, 1, 5, 6)
    assert session.attribution.asked is asked[-1]
    # a click elsewhere than on a cursor panel does nothing
    assert session.click("detail", 0, 0).requests == []


def test_the_state_package_imports_no_textual():
    """The session is plain Python: importing it loads neither Textual nor a widget."""
    import subprocess
    import sys

    code = (
        "import sys, cnninterp.tui.state.session, cnninterp.tui.state.exact_counts, "
        "cnninterp.tui.state.threshold_keys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_method_key_asks_for_the_attribution_and_its_answer_repaints_the_row(session):
    effects = session.attribution.cycle_method()
    assert session.explanation.method.name == "gradxinput"
    (asked,) = [r for r in effects.requests if isinstance(r, AttributionRequest)]
    assert asked is session.attribution.asked and asked.method.name == "gradxinput"
    assert effects.paints[0] is Paint.SIGNIFICANCE_TITLE
    assert effects.gradient_subtitle == "computing…" and effects.notes[0].text.startswith("method")
    # an answer for a key the panels no longer show is kept, not painted
    stale = session.attribution.ready(asked.token, "another key", object(), 1.0)
    assert stale.paints == [] and session.shown_attribution() is None
    attribution = SimpleNamespace(title=lambda: "gradient × input of pixel at (0, 0)")
    shown = session.attribution.ready(asked.token, asked.key, attribution, 1.5)
    assert shown.paints == [Paint.ROW, Paint.STATISTICS]
    assert shown.status == "gradient × input of pixel at (0, 0) in 1.5 s"
    assert session.shown_attribution() is attribution
    # moving away and back: the pixel's map is in memory, nothing is asked again
    session.move(0, 1)
    assert not [r for r in session.move(0, -1).requests if isinstance(r, AttributionRequest)]


def test_a_refused_attribution_says_why_where_its_picture_would_be(session):
    asked = session.attribution.cycle_method().requests[-1]
    effects = session.attribution.refused(asked.token, asked.key, "no vessel here")
    assert effects.paints == [Paint.REFUSAL] and effects.refusal == "no vessel here"
    assert effects.status == "no vessel here" and effects.notes[0].severity == "warning"


def test_exact_counts_say_why_there_is_nothing_to_count(session):
    assert (
        "no significance computed yet" in exact_counts.request_exact_counts(session).notes[0].text
    )
    stats = JacobianStats.empty(SIDE, SIDE)  # 8x8: exact summaries already
    session.stats_progress(session.view.token, stats, (0, SIDE * SIDE), 0.0, 1.0)
    effects = exact_counts.request_exact_counts(session)
    assert effects.requests == [] and "exact already" in effects.notes[0].text
