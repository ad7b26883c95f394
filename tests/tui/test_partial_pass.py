"""Partial passes in the TUI: kept in the disk cache and resumed after a restart without
recomputing their rows, and `E` counting exactly the rows done so far.

256x256 images with the tiny model: on a CPU the pass (pixel by pixel on crops) takes minutes,
so it is reliably partial while the test looks."""

import threading

import numpy as np

from cnninterp.jaxcore.passes.streaming import StreamingEngine
from cnninterp.jaxcore.store import results as cache_module
from cnninterp.jaxcore.summaries.significance import JacobianStats, ThresholdMode
from cnninterp.tui import jobs
from cnninterp.tui.app import create_app
from cnninterp.tui.attribution_statistics import explained_rows
from cnninterp.tui.cursor_statistics import cursor_statistics, exact_counts_note
from cnninterp.tui.requests import ThresholdKey
from cnninterp.tui.state.image_results import ImageResults
from cnninterp.tui.state.threshold import Threshold
from cnninterp.tui.widgets.status_line import StatusLine
from tests.tui.pilot_helpers import options, wait_for


class Consumed:
    """Every pixel whose row any full pass of any Explainer files (the pass goes pixel by
    pixel on crops at 256x256: consume gets the pixels themselves)."""

    def __init__(self, monkeypatch):
        self.pixels: list[tuple[int, int]] = []
        self.orders: list[int] = []
        real = StreamingEngine.run

        def spy(engine, forward, order, compute, consume, *rest, **options):
            self.orders.append(len(order))

            def counted(oy, ox, result):
                self.pixels += list(
                    zip(np.asarray(oy).tolist(), np.asarray(ox).tolist(), strict=True)
                )
                consume(oy, ox, result)

            return real(engine, forward, order, compute, counted, *rest, **options)

        monkeypatch.setattr(StreamingEngine, "run", spy)


def watch_passes(monkeypatch) -> threading.Event:
    """Set when a pass worker has returned (after writing its partial entry)."""
    returned = threading.Event()
    real = jobs.analyse_image

    def watched(*args, **kwargs):
        try:
            real(*args, **kwargs)
        finally:
            returned.set()

    monkeypatch.setattr(jobs, "analyse_image", watched)
    return returned


async def test_a_partial_pass_is_resumed_after_a_restart(
    big_folder, model_file, tmp_path, monkeypatch
):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CNNINTERP_CACHE_DIR", str(cache))
    returned = watch_passes(monkeypatch)
    app = create_app(options(big_folder, model_file, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: app.session.view is not None and app.session.view.rows_done > 0, 120
        )
        await pilot.press("q")
    assert returned.wait(10.0)
    (entry,) = (cache / "stats").glob("*.partial.npz")  # kept on quitting
    with np.load(entry) as npz:
        before = npz["done"]
    assert 0 < before.sum() < before.size

    returned.clear()
    consumed = Consumed(monkeypatch)
    app = create_app(options(big_folder, model_file, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: app.session.view is not None and app.session.view.stats is not None, 120
        )
        stats = app.session.view.stats
        assert stats.extras.get("resumed_from") == str(entry)
        assert stats.done[before].all()
        entry_state = app.query_one("#images").entries[0]
        assert entry_state.state == "partial" and entry_state.size.endswith("%")
        await wait_for(pilot, lambda: len(consumed.pixels) >= 8, 120)
        await pilot.press("q")
    assert returned.wait(10.0)
    # Only the rows not done before were dispatched, and none done before was computed again.
    assert consumed.orders[0] == before.size - before.sum()
    ys, xs = np.array(consumed.pixels).T
    assert not before[ys, xs].any()
    with np.load(entry) as npz:
        assert npz["done"].sum() > before.sum()  # kept again, with the new rows


async def test_quitting_keeps_the_pass_even_when_its_worker_cannot(
    big_folder, model_file, tmp_path, monkeypatch
):
    """The worker writes after its chunk in flight, which may outlast the exit's grace: the
    app writes what is filed itself when quitting."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CNNINTERP_CACHE_DIR", str(cache))
    monkeypatch.setattr(cache_module.PartialKeeper, "keep", lambda self, stats: None)
    monkeypatch.setattr(cache_module.PartialKeeper, "maybe_keep", lambda self, stats: None)
    app = create_app(options(big_folder, model_file, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: app.session.view is not None and app.session.view.rows_done > 0, 120
        )
        shown = app.session.view.stats.done
        await pilot.press("q")
    (entry,) = (cache / "stats").glob("*.partial.npz")
    with np.load(entry) as npz:
        assert npz["done"][shown].all()


async def test_exact_counts_on_a_partial_pass_cover_the_rows_done(big_folder, model_file, tmp_path):
    app = create_app(options(big_folder, model_file, tmp_path, cache=False))
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply(
            app.session.set_threshold(Threshold(ThresholdMode.ROW, percent=5.0))
        )  # fixed for done rows
        await wait_for(
            pilot, lambda: app.session.view is not None and app.session.view.rows_done >= 16, 120
        )
        view = app.session.view
        await pilot.press("E")
        status = app.query_one(StatusLine)
        await wait_for(pilot, lambda: view.exact_counts is not None, 120)
        covered, counts = view.exact_rows, view.exact_counts
        total = covered.size
        assert 16 <= covered.sum() < total and view.stats.done[covered].all()
        assert np.isnan(counts[~covered]).all() and np.isfinite(counts[covered]).all()
        said = f"exact for {int(covered.sum()):,} of {total:,} rows (those done so far)"
        assert any(said in text for text in app.notified)
        # Each count is NumPy's over the full row, with the row threshold in force.
        for y, x in list(zip(*np.nonzero(covered), strict=True))[:4]:
            row = app.session.explainer.gradient_row(view.loaded.pixels, int(y), int(x))
            t = 0.05 * np.abs(row).max()
            assert counts[y, x] == (np.abs(row) > t).sum()
        y, x = (int(v) for v in np.argwhere(covered)[0])
        record = cursor_statistics(view, app.session.threshold, y, x)
        assert record["count_exact"] and record["significance"] == counts[y, x]
        line = ("exact", f"for {int(covered.sum()):,} of {total:,} rows")
        assert line in explained_rows(record, app.session.threshold)
        # The pass goes on: the counts stay, and the status says they cover fewer rows.
        await wait_for(pilot, lambda: "exact counts cover" in status.activity, 120)
        assert view.exact_for(app.session.threshold) is counts
        await pilot.press("q")


def partial_stats(done_rows: int, max_abs: float) -> JacobianStats:
    stats = JacobianStats.empty(256, 256)
    stats.done[0, :done_rows] = True
    stats.row_max_abs[0, :done_rows] = max_abs
    stats.row_max_signed[0, :done_rows] = max_abs
    return stats


def test_exact_counts_outdated_when_the_max_grows():
    """Global mode on a partial pass: a new row that raises the max moves the threshold, so
    exact counts made before are not shown (estimates are) and the status says why."""
    threshold = Threshold(ThresholdMode.GLOBAL, percent=1.0)
    stats = partial_stats(4, 2.0)
    view = ImageResults(1, 0, stats=stats, rows_total=stats.done.size)
    view.exact_counts = np.where(stats.done, 7.0, np.nan).astype(np.float32)
    view.exact_key = ThresholdKey(threshold.mode, threshold.t_value)
    view.exact_rows = stats.done.copy()
    view.exact_thresholds = np.full((256, 256), 0.02, np.float32)
    assert view.exact_for(threshold) is view.exact_counts
    assert exact_counts_note(view, threshold) is None
    stats.mark_done(np.array([0]), np.array([4]))  # a row done, same max: counts still valid
    stats.row_max_abs[0, 4] = 1.0
    assert view.exact_for(threshold) is view.exact_counts
    assert exact_counts_note(view, threshold) == (
        "exact counts cover 4 of the 5 rows done (E recounts)"
    )
    stats.row_max_abs[0, 4] = 3.0  # the max grew: the threshold in force is 0.03 now
    assert view.exact_for(threshold) is None and view.exact_outdated(threshold)
    assert "outdated" in exact_counts_note(view, threshold)
    # Another threshold: neither shown nor outdated.
    other = Threshold(ThresholdMode.GLOBAL, percent=2.0)
    assert view.exact_for(other) is None and not view.exact_outdated(other)
