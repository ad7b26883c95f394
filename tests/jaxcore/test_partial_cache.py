"""Partial passes in the disk cache: kept, resumed without recomputing their rows, never taken
for complete, replaced by the complete entry, and ignored (logged) when damaged.

A tiny real model (width 4): 32x32 images for the exact summaries (by colours, so a cancelled
pass keeps rows), 144x144 for a pass pixel by pixel on crops (histogram summaries).
"""

import logging
import threading

import numpy as np
import pytest

from cnninterp.jaxcore.model.network import ModelConfig, random_variables
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.passes.full_passes import colour_order
from cnninterp.jaxcore.rows import gradients
from cnninterp.jaxcore.store import partial_entries
from cnninterp.jaxcore.store.partial_entries import PartialKeeper
from cnninterp.jaxcore.store.results import StatsCache, cached_jacobian_stats, stats_key
from cnninterp.jaxcore.summaries.significance import JacobianStats

CONFIG = ModelConfig(width=4)
SPACING = gradients.COLOUR_SPACING


@pytest.fixture(scope="module")
def explainer() -> Explainer:
    return Explainer(CONFIG, random_variables(CONFIG, seed=1), full_pass="rows", chunk_size=4)


@pytest.fixture
def cache(tmp_path) -> StatsCache:
    return StatsCache(tmp_path / "cache")


def image(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((size, size)).astype(np.float32)


def cancelled_after(chunks: int, explainer, pixels, cache, **kwargs):
    """A pass through the cache, cancelled once `chunks` chunks were reported."""
    cancel, seen = threading.Event(), []

    def on_progress(stats):
        seen.append(stats)
        if len(seen) >= chunks:
            cancel.set()

    return cached_jacobian_stats(
        explainer, pixels, cache, on_progress=on_progress, cancel=cancel, **kwargs
    )


class RunPassSpy:
    """Records the entries (colour offsets or pixels) each pass of `explainer` is given."""

    def __init__(self, explainer, monkeypatch):
        self.orders: list[np.ndarray] = []
        real = explainer.engine.run

        def spy(forward, order, *args, **options):
            self.orders.append(np.asarray(order).copy())
            return real(forward, order, *args, **options)

        monkeypatch.setattr(explainer.engine, "run", spy)


def test_a_cancelled_pass_is_kept_and_resumed_without_recomputing(explainer, cache, monkeypatch):
    pixels = image(32)
    key = stats_key(explainer, pixels)
    first = cancelled_after(2, explainer, pixels, cache)
    assert not first.complete and 0 < first.done.sum() < first.done.size
    assert not cache.path_for(key).exists() and cache.partial_path_for(key).exists()
    kept = cache.load_partial(key)
    assert kept is not None and not kept.complete
    np.testing.assert_array_equal(kept.done, first.done)
    np.testing.assert_array_equal(kept.rows[kept.done.ravel()], first.rows[first.done.ravel()])
    np.testing.assert_array_equal(kept.sorted_abs, first.sorted_abs)
    assert kept.progress == pytest.approx(first.progress)

    spy, seen = RunPassSpy(explainer, monkeypatch), []
    resumed = cached_jacobian_stats(
        explainer, pixels, cache, on_progress=lambda s: seen.append(int(s.done.sum()))
    )
    assert resumed.complete
    assert seen[0] == first.done.sum()  # the resumed state is reported at once
    all_colours = colour_order(32, 32)
    (order,) = spy.orders
    # Colours whose rows were all done are not recomputed: only the others are dispatched.
    colour_done = np.array([first.done[y::SPACING, x::SPACING].all() for y, x in all_colours])
    assert colour_done.any()
    assert len(order) == len(all_colours) - colour_done.sum()
    assert not {tuple(c) for c in order} & {tuple(c) for c in all_colours[colour_done]}
    # The resumed result is the full pass's, and the complete entry replaced the partial one.
    np.testing.assert_allclose(
        resumed.row_max_abs, explainer.jacobian_stats(pixels).row_max_abs, rtol=1e-6
    )
    assert cache.path_for(key).exists() and not cache.partial_path_for(key).exists()
    assert cache.load(key) is not None


def test_a_partial_entry_is_never_loaded_as_complete(explainer, cache):
    pixels = image(32, seed=1)
    key = stats_key(explainer, pixels)
    cancelled_after(1, explainer, pixels, cache)
    assert cache.load(key) is None  # only the partial file exists
    # Even moved to where a complete entry belongs, it is refused (and deleted).
    cache.partial_path_for(key).rename(cache.path_for(key))
    assert cache.load(key) is None and not cache.path_for(key).exists()
    # A partial with every row done, but not marked complete, is still stored as partial.
    everything = explainer.jacobian_stats(pixels)
    everything.complete = False
    assert cache.store_partial(key, everything) and not cache.store(key, everything)
    assert cache.load(key) is None and cache.load_partial(key) is not None


DAMAGE = {  # name -> what it does to the file's bytes, or to its arrays (then rewritten)
    "garbage": lambda data: b"not a zip",
    "truncated": lambda data: data[:-100],
    "done-count": lambda a: a["done"].__setitem__((0, 0), not a["done"][0, 0]),
    "other-key": lambda a: a.update(key=np.array("0" * 64)),
    "nan": lambda a: a["rows"].__setitem__((0, 1, 1), np.nan),
    "maxima": lambda a: a["row_max_abs"].__setitem__(0, 5.0),
    "missing": lambda a: a.pop("row_max_signed"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_partial_entry_is_ignored_with_a_log_line(explainer, cache, caplog, damage):
    pixels = image(32, seed=2)
    key = stats_key(explainer, pixels)
    cancelled_after(1, explainer, pixels, cache)
    path = cache.partial_path_for(key)
    if damage in ("garbage", "truncated"):
        path.write_bytes(DAMAGE[damage](path.read_bytes()))
    else:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        DAMAGE[damage](arrays)
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    with caplog.at_level(logging.WARNING):
        stats = cached_jacobian_stats(explainer, pixels, cache)  # no traceback: a fresh pass
    assert stats.complete and "resumed_from" not in stats.extras
    assert any("partial cache entry" in r.getMessage() for r in caplog.records)
    assert not path.exists()


def test_partial_entries_of_a_disabled_or_read_only_cache(explainer, tmp_path):
    pixels = image(32, seed=3)
    off = StatsCache(tmp_path / "off", enabled=False)
    assert not cancelled_after(1, explainer, pixels, off).complete
    assert not (tmp_path / "off").exists()
    blocked = StatsCache(tmp_path / "blocked")
    (tmp_path / "blocked").write_text("a file where the folder should be")
    assert not cancelled_after(1, explainer, pixels, blocked).complete  # logged, not raised


def test_on_crops_a_partial_pass_resumes_pixel_by_pixel(explainer, cache, monkeypatch):
    """144x144: histogram summaries, the pass pixel by pixel on crops; no done pixel again."""
    pixels = image(144, seed=4)
    key = stats_key(explainer, pixels)
    first = cancelled_after(3, explainer, pixels, cache)
    done = first.done.copy()
    assert not first.exact and 0 < done.sum() < done.size
    kept = cache.load_partial(key)
    np.testing.assert_array_equal(kept.done, done)
    np.testing.assert_array_equal(kept.edges[done.ravel()], first.edges[done.ravel()])
    np.testing.assert_array_equal(kept.above_edges, first.above_edges)
    spy = RunPassSpy(explainer, monkeypatch)
    again = cancelled_after(2, explainer, pixels, cache)
    (order,) = spy.orders
    assert len(order) == done.size - done.sum()
    assert not done[order[:, 0], order[:, 1]].any()
    assert again.done[done].all() and again.done.sum() > done.sum()
    assert cache.load_partial(key).done.sum() == again.done.sum()  # kept again on cancel


def test_while_a_pass_runs_it_is_kept_at_most_every_interval(monkeypatch):
    """The first write after KEEP_INTERVAL s; a write of 2 s then stretches the interval to
    OVERHEAD_FACTOR x 2 s, so writing stays within 2 % of the pass. Nothing new: no write."""
    clock = [0.0]
    monkeypatch.setattr(partial_entries.time, "perf_counter", lambda: clock[0])
    writes = []

    def store(stats):
        writes.append(int(stats.done.sum()))
        clock[0] += 2.0  # a slow disk
        return True

    keeper, stats = PartialKeeper(store), JacobianStats.empty(32, 32)
    for step in range(1, 400):  # one second and one row a step
        clock[0] += 1.0
        stats.mark_done(np.array([step // 32]), np.array([step % 32]))
        keeper.maybe_keep(stats)
    assert partial_entries.KEEP_INTERVAL == 30 and partial_entries.OVERHEAD_FACTOR == 50
    assert writes == [30, 130, 230, 330]
    keeper.keep(stats)  # the end of the pass (cancelled): written now
    keeper.keep(stats)  # nothing new since: nothing written
    assert writes == [30, 130, 230, 330, 399]
    stats.complete = True
    keeper.keep(stats)  # complete stats go to the complete entry, never a partial one
    assert len(writes) == 5
