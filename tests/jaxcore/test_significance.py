"""Significance counts against a brute-force count over PyTorch's Jacobian (docs/ORIGINAL.md §3)."""

import threading

import numpy as np
import pytest
import torch

from cnninterp.jaxcore.summaries import significance
from cnninterp.jaxcore.summaries.significance import (
    ThresholdMode,
    fill_coarse,
    predicted_mask,
    row_thresholds,
    significance_counts,
    threshold_at,
    threshold_value,
)

CASES = [
    (ThresholdMode.GLOBAL, 0.01),
    (ThresholdMode.GLOBAL, 1.0),
    (ThresholdMode.GLOBAL, 10.0),
    (ThresholdMode.ROW, 0.5),
    (ThresholdMode.ROW, 20.0),
    (ThresholdMode.ABSOLUTE, 1e-6),
    (ThresholdMode.ABSOLUTE, 1e-3),
]


def brute_force_counts(jacobian: np.ndarray, mode: ThresholdMode, t_value: float) -> np.ndarray:
    magnitude = np.abs(jacobian)  # [H*W outputs, H*W inputs]
    if mode is ThresholdMode.GLOBAL:
        thresholds = np.full(len(jacobian), t_value / 100 * magnitude.max())
    elif mode is ThresholdMode.ROW:
        thresholds = t_value / 100 * magnitude.max(axis=1)
    else:
        thresholds = np.full(len(jacobian), t_value)
    return (magnitude > thresholds[:, None].astype(np.float32)).sum(axis=1)


def original_legacy_map(jacobian: np.ndarray, predicted_mask: np.ndarray) -> np.ndarray:
    """The original app's precomputed map, written as docs/ORIGINAL.md §3 describes it."""
    threshold = jacobian.max() * 0.01
    counts = (np.abs(jacobian) > threshold).sum(axis=1).astype(np.float64)
    normalised = (counts - counts.min()) / (counts.max() - counts.min())
    return normalised.reshape(predicted_mask.shape) * predicted_mask


@pytest.mark.parametrize("mode, t_value", CASES)
def test_counts_equal_brute_force(stats32, jacobian32, mode, t_value):
    # Thresholds derive from our maxima; they equal PyTorch's to float32 rounding, so the
    # brute force uses ours too and the test isolates the counting.
    got = significance_counts(stats32, mode, t_value)
    assert got.error is None
    thresholds = row_thresholds(stats32, mode, t_value).ravel()
    expected = (np.abs(jacobian32) > thresholds[:, None]).sum(axis=1).reshape(32, 32)
    np.testing.assert_array_equal(got.counts, expected)
    # ...and with thresholds taken from PyTorch's own Jacobian, only pixels at the edge move.
    reference = brute_force_counts(jacobian32, mode, t_value).reshape(32, 32)
    assert np.abs(got.counts - reference).max() <= 2


def test_maxima_match_torch(stats32, jacobian32):
    assert stats32.max_abs == pytest.approx(np.abs(jacobian32).max(), rel=1e-5)
    assert stats32.max_signed == pytest.approx(jacobian32.max(), rel=1e-5)
    np.testing.assert_allclose(
        stats32.row_max_abs.ravel(), np.abs(jacobian32).max(axis=1), rtol=1e-4, atol=1e-9
    )


def test_legacy_mode_is_the_original_formula(small_pair, image32, stats32, jacobian32):
    logits = small_pair.torch_model(torch.tensor(image32)[None, None])[0]
    predicted = (logits.argmax(0) == 1).numpy()
    got = significance_counts(stats32, ThresholdMode.LEGACY, 123.0, predicted_mask=predicted)
    expected = original_legacy_map(jacobian32, predicted)
    np.testing.assert_allclose(got.counts, expected, atol=1e-6)


def test_rows_kept_by_the_pass_equal_torch(stats32, jacobian32):
    for y, x in [(0, 0), (13, 29), (31, 31)]:
        expected = jacobian32[y * 32 + x].reshape(32, 32)
        np.testing.assert_allclose(stats32.row(y, x), expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("t_value", [-1.0, float("nan"), float("inf")])
def test_bad_thresholds_are_refused(stats32, t_value):
    with pytest.raises(ValueError, match="non-negative"):
        significance_counts(stats32, ThresholdMode.GLOBAL, t_value)


def test_threshold_at_waits_for_what_it_depends_on(stats32):
    """One home for the threshold in force: None until its rows are in, then threshold_value."""
    y, x = 5, 7
    partial = significance.JacobianStats.empty(*stats32.shape)
    for mode in (ThresholdMode.GLOBAL, ThresholdMode.ROW, ThresholdMode.LEGACY):
        assert threshold_at(None, mode, 1.0, y, x) is None
        assert threshold_at(partial, mode, 1.0, y, x) is None
    assert threshold_at(None, ThresholdMode.ABSOLUTE, 1e-3, y, x) == 1e-3
    partial.mark_done(np.array([0]), np.array([0]))  # another row: row mode still waits
    partial.row_max_abs[0, 0] = 1.0
    assert threshold_at(partial, ThresholdMode.ROW, 1.0, y, x) is None
    row = stats32.row(y, x)
    from_row = threshold_at(None, ThresholdMode.ROW, 20.0, y, x, row)
    assert from_row == pytest.approx(threshold_value(stats32, ThresholdMode.ROW, 20.0, y, x))
    for mode in ThresholdMode:
        assert threshold_at(stats32, mode, 2.0, y, x) == threshold_value(stats32, mode, 2.0, y, x)


def test_predicted_mask_is_p_above_one_half():
    p = np.array([[0.2, 0.5], [0.51, 0.9]], np.float32)
    np.testing.assert_array_equal(predicted_mask(p), [[False, False], [True, True]])


def test_row_mode_threshold_is_relative_to_the_row(stats32):
    assert threshold_value(stats32, "row", 50.0, 3, 4) == pytest.approx(
        0.5 * stats32.row_max_abs[3, 4]
    )


@pytest.fixture(scope="module")
def histogram_stats(small_pair, image32):
    """The large-image summary, forced on a 32x32 image so it can be checked exactly."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(significance, "EXACT_MAX_PIXELS", 0)
        stats = small_pair.explainer.jacobian_stats(image32)
    assert not stats.exact
    return stats


@pytest.mark.parametrize("mode, t_value", CASES)
def test_histogram_counts_are_within_their_error_bound(histogram_stats, jacobian32, mode, t_value):
    got = significance_counts(histogram_stats, mode, t_value)
    thresholds = row_thresholds(histogram_stats, mode, t_value).ravel()
    exact = (np.abs(jacobian32) > thresholds[:, None]).sum(axis=1).reshape(32, 32)
    assert (np.abs(got.counts - exact) <= got.error + 1e-3).all()
    assert got.error.mean() < 0.2 * max(exact.mean(), 1)  # a useful bound, not a vacuous one


def test_exact_recount_equals_brute_force(small_pair, image32, histogram_stats, jacobian32):
    thresholds = row_thresholds(histogram_stats, ThresholdMode.GLOBAL, 1.0)
    counts = small_pair.explainer.exact_counts(image32, thresholds)
    exact = (np.abs(jacobian32) > thresholds.ravel()[:, None]).sum(axis=1).reshape(32, 32)
    np.testing.assert_array_equal(counts, exact)


def test_cancelled_pass_returns_usable_partial_results(small_pair):
    image = np.random.default_rng(11).random((32, 32), dtype=np.float32)
    explainer = type(small_pair.explainer)(
        small_pair.config, small_pair.variables, chunk_size=16, full_pass="rows"
    )
    cancel = threading.Event()
    seen = []

    def on_progress(stats):
        seen.append(stats.fraction_done)
        if len(seen) == 2:
            cancel.set()

    stats = explainer.jacobian_stats(image, on_progress=on_progress, cancel=cancel)
    assert not stats.complete
    assert stats.done.sum() == 32  # two chunks of 16
    assert stats.done[::8, ::8].all()  # coarse grid first
    counts = significance_counts(stats, ThresholdMode.GLOBAL, 1.0).counts
    assert np.isnan(counts[~stats.done]).all() and np.isfinite(counts[stats.done]).all()
    preview = fill_coarse(counts, stats.done)
    assert np.isfinite(preview).all()
    assert preview[1, 1] == counts[0, 0]  # its stride-2 representative


def test_significance_for_a_new_threshold_is_fast_enough_to_follow_keys(stats32):
    # Not a timing test: the binary search must touch O(log n) columns, never whole rows.
    touched = []

    class Spy(np.ndarray):
        def __getitem__(self, index):
            if isinstance(index, tuple) and len(index) == 2:
                touched.append(np.size(index[1]))
            return super().__getitem__(index)

    spied = np.asarray(stats32.sorted_abs).view(Spy)
    significance.count_above_sorted(spied, np.full(len(spied), 1e-4, np.float32))
    assert len(touched) <= int(np.log2(spied.shape[1])) + 2


@pytest.mark.parametrize("full_pass", ["rows", "columns"])
def test_counts_can_be_read_while_the_pass_adds_rows(small_pair, full_pass):
    # The TUI recounts from another thread while the pass runs: every read must see a
    # consistent set of rows (a mask changing under numpy's indexing corrupted the heap).
    image = np.random.default_rng(12).random((32, 32), dtype=np.float32)
    explainer = type(small_pair.explainer)(
        small_pair.config, small_pair.variables, chunk_size=8, full_pass=full_pass
    )
    live = []
    worker = threading.Thread(
        target=lambda: explainer.jacobian_stats(image, on_progress=live.append)
    )
    worker.start()
    seen = []
    while worker.is_alive():
        if live:
            stats = live[-1]
            counts = significance_counts(stats, ThresholdMode.GLOBAL, 1.0).counts
            seen.append(int(np.isfinite(counts).sum()))
    worker.join()
    assert seen == sorted(seen)  # rows only ever get added
    final = significance_counts(live[-1], ThresholdMode.GLOBAL, 1.0).counts
    assert np.isfinite(final).all()
