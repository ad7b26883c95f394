"""Exact counts of the rows a partial pass has done (`E` on a partial pass): only those rows are
counted (the rest NaN, never computed), and each count equals NumPy's over the full row from
gradient_row. By colours at 32x32 (histogram summaries forced) and on crops at 144x144."""

import threading

import numpy as np
import pytest

from cnninterp.jaxcore.model.network import ModelConfig, random_variables
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.summaries import significance
from cnninterp.jaxcore.summaries.significance import ThresholdMode, row_thresholds

CONFIG = ModelConfig(width=4)


@pytest.fixture(scope="module")
def explainer() -> Explainer:
    return Explainer(CONFIG, random_variables(CONFIG, seed=2), full_pass="rows", chunk_size=4)


def image(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((size, size)).astype(np.float32)


def partial_pass(explainer, pixels, chunks: int):
    cancel, seen = threading.Event(), []

    def on_progress(stats):
        seen.append(1)
        if len(seen) >= chunks:
            cancel.set()

    stats = explainer.jacobian_stats(pixels, on_progress=on_progress, cancel=cancel)
    assert not stats.complete and 0 < stats.done.sum() < stats.done.size
    return stats


def brute_force(explainer, pixels, thresholds, rows) -> np.ndarray:
    """NumPy's #(|G| > t) over each wanted pixel's full row; NaN elsewhere."""
    expected = np.full(pixels.shape, np.nan, np.float32)
    for y, x in zip(*np.nonzero(rows), strict=True):
        row = explainer.gradient_row(pixels, int(y), int(x))
        expected[y, x] = (np.abs(row) > thresholds[y, x]).sum()
    return expected


class RunPassSpy:
    def __init__(self, explainer, monkeypatch):
        self.sizes: list[int] = []
        real = explainer.engine.run

        def spy(forward, order, *args, **options):
            self.sizes.append(len(order))
            return real(forward, order, *args, **options)

        monkeypatch.setattr(explainer.engine, "run", spy)


@pytest.mark.parametrize("mode, t_value", [("global", 1.0), ("row", 5.0), ("absolute", 1e-4)])
def test_on_crops_only_the_rows_done_are_counted_exactly(explainer, monkeypatch, mode, t_value):
    pixels = image(144)
    stats = partial_pass(explainer, pixels, chunks=2)
    assert not stats.exact and explainer.passes.on_crops(144, 144)
    done = stats.done.copy()
    # Global mode: relative to the max over the rows done so far.
    thresholds = row_thresholds(stats, mode, t_value)
    if mode == "global":
        assert thresholds[0, 0] == pytest.approx(t_value / 100 * stats.row_max_abs[done].max())
    spy = RunPassSpy(explainer, monkeypatch)
    counts = explainer.exact_counts(pixels, thresholds, rows=done)
    assert spy.sizes == [done.sum()]  # pixel by pixel, the done ones only
    assert np.isnan(counts[~done]).all() and np.isfinite(counts[done]).all()
    np.testing.assert_array_equal(counts, brute_force(explainer, pixels, thresholds, done))
    assert counts[done].max() > 0  # a threshold that counts something: not a vacuous test


def test_by_colours_only_wanted_rows_are_filled(explainer, monkeypatch):
    """Below a crop the counts go by colours; a colour without a wanted row is skipped."""
    monkeypatch.setattr(significance, "EXACT_MAX_PIXELS", 0)  # histograms at 32x32
    pixels = image(32, seed=1)
    rows = np.zeros((32, 32), bool)
    rows[3, 5] = rows[20, 7] = rows[31, 31] = True
    thresholds = np.full((32, 32), 1e-4, np.float32)
    spy = RunPassSpy(explainer, monkeypatch)
    counts = explainer.exact_counts(pixels, thresholds, rows=rows)
    assert spy.sizes == [3]  # three colours hold the wanted rows, 1024 colours would not run
    np.testing.assert_array_equal(counts, brute_force(explainer, pixels, thresholds, rows))


def test_partial_counts_can_be_cancelled_and_refuse_a_wrong_mask(explainer):
    pixels = image(144, seed=3)
    rows = np.ones((144, 144), bool)
    cancel = threading.Event()
    thresholds = np.zeros((144, 144), np.float32)
    got = explainer.exact_counts(
        pixels, thresholds, rows=rows, on_progress=lambda _: cancel.set(), cancel=cancel
    )
    assert got is None
    with pytest.raises(ValueError, match="mask"):
        explainer.exact_counts(pixels, thresholds, rows=np.ones((16, 16), bool))


def test_legacy_threshold_is_from_the_rows_done(explainer):
    pixels = image(144, seed=5)
    stats = partial_pass(explainer, pixels, chunks=1)
    legacy = row_thresholds(stats, ThresholdMode.LEGACY, 0.0)
    assert legacy[0, 0] == pytest.approx(0.01 * stats.row_max_signed[stats.done].max())
