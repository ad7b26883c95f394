"""Rows a focus-following pass kept: exact, bounded, and what a cursor move gets."""

import threading

import numpy as np
import pytest

from cnninterp.jaxcore.passes.binding import image_key
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.passes.kept_rows import KeptRows


def test_a_kept_row_is_pasted_on_zeros_at_its_origin():
    kept = KeptRows()
    crop = np.arange(6, dtype=np.float32).reshape(2, 3) + 1
    kept.put("img", [4], [5], crop[None], [3], [2])
    out = np.full((8, 8), 7.0, np.float32)
    assert kept.paste("img", 4, 5, out)
    expected = np.zeros((8, 8), np.float32)
    expected[3:5, 2:5] = crop
    np.testing.assert_array_equal(out, expected)
    untouched = np.full((8, 8), 7.0, np.float32)
    assert not kept.paste("img", 5, 5, untouched) and not kept.paste("other", 4, 5, untouched)
    assert (untouched == 7.0).all()


def test_the_least_recently_used_rows_go_first_beyond_the_budget():
    row = np.ones((1, 4, 4), np.float32)  # 64 bytes each
    kept = KeptRows(budget_bytes=3 * 64)
    for x in range(3):
        kept.put("img", [0], [x], row, [0], [0])
    out = np.empty((4, 4), np.float32)
    assert kept.paste("img", 0, 0, out)  # (0, 0) is now the most recent
    kept.put("img", [0], [3], row, [0], [0])
    assert len(kept) == 3
    assert not kept.paste("img", 0, 1, out)  # the oldest untouched one went
    assert all(kept.paste("img", 0, x, out) for x in (0, 2, 3))


@pytest.fixture(scope="module")
def explainer256(small_pair):
    return Explainer(small_pair.config, small_pair.variables, full_pass="rows")


def _pass_around(explainer, image, focus, chunks: int, cancel=None):
    cancel = cancel or threading.Event()
    reports = []

    def progress(stats):
        reports.append(1)
        if len(reports) == chunks:
            cancel.set()

    return explainer.jacobian_stats(image, on_progress=progress, cancel=cancel, focus=focus)


def test_a_focus_pass_keeps_its_rows_and_the_cursor_gets_them_without_a_backward_pass(
    explainer256, monkeypatch
):
    image = np.random.default_rng(5).random((256, 256), dtype=np.float32)
    stats = _pass_around(explainer256, image, lambda: (200, 40), chunks=2)
    done = np.argwhere(stats.done)
    assert len(done) > 0
    fresh = Explainer(explainer256.config, explainer256.variables, full_pass="rows")
    expected = fresh.gradient_rows(image, done)  # computed, nothing kept there

    def no_backward(*args):
        raise AssertionError("a kept row was computed again")

    monkeypatch.setattr(explainer256, "_row_chunk", no_backward)
    rows = explainer256.gradient_rows(image, done)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(rows, expected, rtol=1e-5, atol=1e-6 * scale)
    (y, x) = done[0]
    np.testing.assert_array_equal(explainer256.gradient_row(image, int(y), int(x)), rows[0])


def test_a_pass_without_focus_keeps_nothing_and_other_images_do_not_share_rows(explainer256):
    image = np.random.default_rng(6).random((256, 256), dtype=np.float32)
    before = len(explainer256.kept_rows)
    stats = _pass_around(explainer256, image, None, chunks=1)
    assert stats.done.any() and len(explainer256.kept_rows) == before
    _pass_around(explainer256, image, lambda: (10, 10), chunks=1)
    other = image.copy()
    other[0, 0] += 0.5
    out = np.empty(image.shape, np.float32)
    assert explainer256.kept_rows.paste(image_key(image), 10, 10, out)
    assert not explainer256.kept_rows.paste(image_key(other), 10, 10, out)


def test_a_row_asked_again_is_not_computed_again(explainer256, monkeypatch):
    image = np.random.default_rng(8).random((256, 256), dtype=np.float32)
    first = explainer256.gradient_row(image, 130, 7)
    monkeypatch.setattr(explainer256, "_row_chunk", None)  # any computation would fail
    np.testing.assert_array_equal(explainer256.gradient_row(image, 130, 7), first)
