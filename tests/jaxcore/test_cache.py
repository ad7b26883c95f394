"""jaxcore.store.results: hits without recomputation, misses on any change, no trust in bad entries.

A tiny real model (width 4) on 32x32 images: one full pass is a fraction of a second.
"""

import copy
import dataclasses
import hashlib
import threading

import jax
import numpy as np
import pytest

from cnninterp.jaxcore.model.network import ModelConfig, random_variables
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.store import results as cache_module
from cnninterp.jaxcore.store.results import StatsCache, cached_jacobian_stats, stats_key
from cnninterp.jaxcore.summaries.significance import EDGES, JacobianStats

SIZE = 32
CONFIG = ModelConfig(width=4)
ARRAYS = ("done", "row_max_abs", "row_max_signed", "sorted_abs", "rows", "edges", "above_edges")


def random_image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((SIZE, SIZE)).astype(np.float32)


_PASSES: dict[tuple, JacobianStats] = {}
"""Full passes already run by this module, by (explainer, image): each runs once for real."""


class Counting:
    """A real Explainer whose jacobian_stats calls are counted (and, for speed, each plain
    pass is run once per module and handed out as a fresh copy afterwards)."""

    def __init__(self, explainer: Explainer):
        self.explainer, self.calls = explainer, 0
        self.config, self.model_sha256 = explainer.config, explainer.model_sha256
        self.description = explainer.description
        self.variables = explainer.variables
        self.full_pass, self.device = explainer.full_pass, explainer.device
        self.weights_as_constants = explainer.weights_as_constants

    def jacobian_stats(self, pixels, **kwargs):
        self.calls += 1
        if kwargs:
            return self.explainer.jacobian_stats(pixels, **kwargs)
        memo = (id(self.explainer), pixels.tobytes())
        if memo not in _PASSES:
            _PASSES[memo] = self.explainer.jacobian_stats(pixels)
        return copy.deepcopy(_PASSES[memo])


@pytest.fixture(scope="module")
def variables() -> dict:
    return random_variables(CONFIG, seed=1)


@pytest.fixture(scope="module")
def base_explainer(variables) -> Explainer:
    return Explainer(CONFIG, variables)


@pytest.fixture
def explainer(base_explainer) -> Counting:
    return Counting(base_explainer)


@pytest.fixture
def cache(tmp_path) -> StatsCache:
    return StatsCache(tmp_path / "cache")


def assert_same_stats(a: JacobianStats, b: JacobianStats) -> None:
    assert a.shape == b.shape and a.complete and b.complete and a.exact == b.exact
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype, name
            np.testing.assert_array_equal(x, y, err_msg=name)


def entry_files(cache: StatsCache) -> list[str]:
    return sorted(p.name for p in cache.folder.iterdir()) if cache.folder.exists() else []


# --- hits and misses -----------------------------------------------------------------------


def test_hit_returns_equal_stats_without_recomputing(explainer, cache):
    pixels = random_image(0)
    first = cached_jacobian_stats(explainer, pixels, cache)
    assert explainer.calls == 1 and first.complete
    assert entry_files(cache) == [f"{stats_key(explainer, pixels)}.npz"]
    seen = []
    again = cached_jacobian_stats(explainer, pixels, cache, on_progress=seen.append)
    assert explainer.calls == 1
    assert_same_stats(first, again)
    assert seen == [again]  # a hit reports once, complete
    assert again.seconds == pytest.approx(first.seconds)
    assert np.array_equal(again.row(5, 7), first.row(5, 7))


def test_changed_image_misses(explainer, cache):
    pixels = random_image(0)
    cached_jacobian_stats(explainer, pixels, cache)
    changed = pixels.copy()
    changed[31, 31] = np.nextafter(changed[31, 31], np.float32(2))  # one ulp of one pixel
    stats = cached_jacobian_stats(explainer, changed, cache)
    assert explainer.calls == 2
    assert_same_stats(stats, explainer.explainer.jacobian_stats(changed))
    assert len(entry_files(cache)) == 2
    # same bytes, other shape or dtype: other keys
    keys = {
        stats_key(explainer, p) for p in (pixels, pixels.reshape(16, 64), pixels.view(np.int32))
    }
    assert len(keys) == 3


def test_changed_model_misses(explainer, variables, cache):
    pixels = random_image(0)
    cached_jacobian_stats(explainer, pixels, cache)
    other_variables = jax.tree.map(lambda a: a, variables)
    kernel = other_variables["params"]["final"]["kernel"]
    other_variables["params"]["final"]["kernel"] = kernel * np.float32(1.5)
    other = Counting(Explainer(CONFIG, other_variables))
    assert stats_key(other, pixels) != stats_key(explainer, pixels)
    stats = cached_jacobian_stats(other, pixels, cache)
    assert other.calls == 1 and stats.complete
    assert not np.array_equal(
        stats.row_max_abs, cached_jacobian_stats(explainer, pixels, cache).row_max_abs
    )
    assert explainer.calls == 1  # and the first model's entry is still there


def test_key_follows_model_file_hash_config_and_computation(base_explainer, variables):
    pixels = random_image(0)
    key = stats_key(base_explainer, pixels)
    assert key == stats_key(Explainer(CONFIG, variables), pixels)  # same variables, same key
    assert len(key) == 64
    by_file = Explainer(CONFIG, variables, model_sha256="a" * 64)
    assert stats_key(by_file, pixels) != key
    assert stats_key(Explainer(CONFIG, variables, model_sha256="b" * 64), pixels) != stats_key(
        by_file, pixels
    )
    for change in ({"vessel_class": 0}, {"precision": "default"}):
        assert stats_key(Explainer(dataclasses.replace(CONFIG, **change), variables), pixels) != key


def test_key_follows_the_pass_method_and_how_weights_are_compiled(base_explainer, variables):
    """Rows and columns, constant and argument weights round differently: never shared."""
    pixels = random_image(0)
    key = stats_key(base_explainer, pixels)
    other = "rows" if base_explainer.full_pass == "columns" else "columns"
    assert stats_key(Explainer(CONFIG, variables, full_pass=other), pixels) != key
    flipped = not base_explainer.weights_as_constants
    assert stats_key(Explainer(CONFIG, variables, weights_as_constants=flipped), pixels) != key
    same = base_explainer.full_pass
    assert stats_key(Explainer(CONFIG, variables, full_pass=same), pixels) == key


def test_summary_constants_are_part_of_the_key(base_explainer, monkeypatch):
    pixels = random_image(0)
    key = stats_key(base_explainer, pixels)
    monkeypatch.setattr(cache_module, "BINS_PER_DECADE", cache_module.BINS_PER_DECADE * 2)
    assert stats_key(base_explainer, pixels) != key
    monkeypatch.setattr(cache_module, "CACHE_FORMAT", cache_module.CACHE_FORMAT + 1)
    assert stats_key(base_explainer, pixels) != key


# --- entries that must not be trusted ------------------------------------------------------


def stored_entry(explainer, cache, seed=0):
    pixels = random_image(seed)
    stats = cached_jacobian_stats(explainer, pixels, cache)
    key = stats_key(explainer, pixels)
    return pixels, stats, key, cache.path_for(key)


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage", "empty"])
def test_damaged_entry_is_deleted_and_recomputed(explainer, cache, damage):
    pixels, stats, key, path = stored_entry(explainer, cache)
    data = path.read_bytes()
    damaged = {
        "truncate": data[: len(data) // 2],
        "flip_byte": data[: len(data) // 2]
        + bytes([data[len(data) // 2] ^ 0x40])
        + data[len(data) // 2 + 1 :],
        "garbage": b"not a zip file at all",
        "empty": b"",
    }[damage]
    path.write_bytes(damaged)
    assert cache.load(key) is None
    assert not path.exists()
    again = cached_jacobian_stats(explainer, pixels, cache)
    assert explainer.calls == 2
    assert_same_stats(again, stats)
    assert cache.load(key) is not None  # rewritten whole


def test_entry_of_another_key_is_stale(explainer, cache):
    _, _, key_a, path_a = stored_entry(explainer, cache, seed=0)
    pixels_b = random_image(1)
    key_b = stats_key(explainer, pixels_b)
    cache.path_for(key_b).write_bytes(path_a.read_bytes())  # e.g. a copy gone wrong
    assert cache.load(key_b) is None and not cache.path_for(key_b).exists()
    assert cache.load(key_a) is not None


def rewrite_entry(path, change) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    change(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.pop("rows"),
        lambda a: a.update(extra=np.zeros(3)),
        lambda a: a.update(rows=a["rows"][:-1]),
        lambda a: a.update(rows=a["rows"].astype(np.float64)),
        lambda a: a["rows"].__setitem__((3, 4, 5), np.nan),
        lambda a: a["row_max_abs"].__setitem__((0, 0), a["row_max_abs"][0, 0] * 2),
        lambda a: a["done"].__setitem__((1, 1), False),
        lambda a: a.update(meta=np.array('{"cache_format": 1, "shape": [32, 32]}')),
        lambda a: a.update(meta=np.array("{not json")),
        lambda a: a.update(meta=np.array([{"pickled": True}], dtype=object)),
    ],
    ids=[
        "missing",
        "extra",
        "shape",
        "dtype",
        "nan",
        "inconsistent",
        "not_done",
        "meta",
        "json",
        "pickle",
    ],
)
def test_inconsistent_entry_is_deleted(explainer, cache, change):
    _, _, key, path = stored_entry(explainer, cache)
    rewrite_entry(path, change)
    assert cache.load(key) is None
    assert not path.exists()


def test_histogram_entry_round_trips(cache):
    """Images above 128x128 keep histograms: stored and validated likewise (no pass needed)."""
    rng = np.random.default_rng(0)
    stats = JacobianStats.empty(144, 144)
    assert not stats.exact
    n = 144 * 144
    stats.done[:] = True
    stats.row_max_abs[:] = rng.random((144, 144), np.float32)
    stats.row_max_signed[:] = stats.row_max_abs / 2
    stats.edges[:] = stats.row_max_abs.reshape(n, 1) * 10.0 ** -(np.arange(EDGES) / 16)
    stats.above_edges[:] = np.sort(rng.integers(0, n + 1, (n, EDGES + 1)), axis=1)
    stats.complete = True
    key = hashlib.sha256(b"histogram").hexdigest()
    assert cache.store(key, stats)
    assert_same_stats(cache.load(key), stats)
    rewrite_entry(cache.path_for(key), lambda a: a["above_edges"].__setitem__((0, 0), n + 1))
    assert cache.load(key) is None


# --- what is written -----------------------------------------------------------------------


def test_partial_stats_are_stored_only_as_partial(explainer, cache):
    """A cancelled pass is kept beside, never as, the complete entry (test_partial_cache.py)."""
    pixels = random_image(0)
    key = stats_key(explainer, pixels)
    cancel = threading.Event()
    partial = cached_jacobian_stats(
        explainer, pixels, cache, on_progress=lambda _: cancel.set(), cancel=cancel
    )
    assert not partial.complete and partial.done.any()
    assert entry_files(cache) == [cache.partial_path_for(key).name]
    assert not cache.store(key, partial) and cache.load(key) is None
    complete = cached_jacobian_stats(explainer, pixels, cache)
    assert explainer.calls == 2 and complete.complete
    assert entry_files(cache) == [cache.path_for(key).name]


def test_writes_are_atomic(explainer, cache, monkeypatch):
    pixels, stats, key, path = stored_entry(explainer, cache)
    assert entry_files(cache) == [path.name]  # no temporary left beside the entry

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", fail)
    other = stats_key(explainer, random_image(1))
    assert not cache.store(other, stats)  # logged, not raised: the caller has its result
    assert entry_files(cache) == [path.name]


def test_disabled_cache_neither_reads_nor_writes(explainer, tmp_path):
    off = StatsCache(tmp_path / "off", enabled=False)
    pixels = random_image(0)
    cached_jacobian_stats(explainer, pixels, off)
    cached_jacobian_stats(explainer, pixels, off)
    cached_jacobian_stats(explainer, pixels, None)
    assert explainer.calls == 3
    assert not (tmp_path / "off").exists()


def test_location_argument_then_environment_then_platform(tmp_path, monkeypatch):
    monkeypatch.delenv(cache_module.ENV_VAR, raising=False)
    assert StatsCache().root.name.lower() == "cnninterp"
    monkeypatch.setenv(cache_module.ENV_VAR, str(tmp_path / "env"))
    assert StatsCache().root == tmp_path / "env"
    assert StatsCache(tmp_path / "arg").root == tmp_path / "arg"
    assert StatsCache(tmp_path / "arg").folder == tmp_path / "arg" / "stats"


def test_keys_cannot_escape_the_cache_folder(cache):
    with pytest.raises(ValueError):
        cache.path_for("../" + "a" * 61)
