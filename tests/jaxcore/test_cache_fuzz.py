"""jaxcore.store.results in hostile places: random entry bytes, read-only and shared folders, the
temporaries a writer killed with kill -9 leaves. The contract: a load is a hit or a miss,
never an exception; a place that cannot be written means "computed, not stored"."""

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnninterp.jaxcore.files.disk import STALE_SECONDS, write_atomically
from cnninterp.jaxcore.store import results as cache_module
from cnninterp.jaxcore.store.results import StatsCache, cached_jacobian_stats
from cnninterp.jaxcore.summaries.significance import JacobianStats

FUZZ = settings(max_examples=40)  # the rest from the suite's profile (tests/conftest.py)
KEY = hashlib.sha256(b"fuzz").hexdigest()


def complete_stats(size: int = 16, seed: int = 0) -> JacobianStats:
    """Exact stats of a size x size image filled with random rows (no model pass needed)."""
    rng = np.random.default_rng(seed)
    stats = JacobianStats.empty(size, size)
    stats.rows[:] = rng.standard_normal(stats.rows.shape).astype(np.float32)
    stats.sorted_abs[:] = np.sort(np.abs(stats.rows.reshape(size * size, -1)), axis=-1)
    stats.row_max_abs[:] = stats.sorted_abs[:, -1].reshape(size, size)
    stats.row_max_signed[:] = stats.row_max_abs
    stats.done[:] = True
    stats.complete = True
    return stats


class Recomputing:
    """Stands in for an Explainer: counts passes, returns fixed complete stats."""

    def __init__(self):
        self.calls = 0
        self.model_sha256 = "0" * 64
        self.config = None  # stats_key is replaced in the test that uses this

    def jacobian_stats(self, pixels, **kwargs):
        self.calls += 1
        return complete_stats()


def make_old(path: Path, seconds: float = STALE_SECONDS + 60) -> Path:
    past = time.time() - seconds
    os.utime(path, (past, past))
    return path


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_entry_bytes_are_a_miss_and_removed(tmp_path, data):
    cache = StatsCache(tmp_path / "c")
    path = cache.path_for(KEY)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    assert cache.load(KEY) is None
    assert not path.exists()


@FUZZ
@given(key=st.text(max_size=70))
def test_keys_that_are_not_sha256_hex_are_refused(tmp_path, key):
    cache = StatsCache(tmp_path / "c")
    if len(key) == 64 and all(c in "0123456789abcdef" for c in key):
        assert cache.path_for(key).parent == cache.folder
    else:
        with pytest.raises(ValueError, match="not a cache key"):
            cache.path_for(key)


def test_corrupt_entry_in_a_read_only_cache_is_computed_not_stored(tmp_path, monkeypatch):
    cache = StatsCache(tmp_path / "c")
    assert cache.store(KEY, complete_stats())
    path = cache.path_for(KEY)
    path.write_bytes(path.read_bytes()[:100])  # damaged

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(Path, "unlink", read_only)
    monkeypatch.setattr(cache_module, "write_atomically", read_only)
    monkeypatch.setattr(cache_module, "stats_key", lambda explainer, pixels: KEY)
    explainer = Recomputing()
    stats = cached_jacobian_stats(explainer, np.zeros((16, 16), np.float32), cache)
    assert explainer.calls == 1 and stats.complete
    assert path.stat().st_size == 100  # left as it was: neither deleted nor replaced


def test_really_read_only_folder_when_permissions_apply(tmp_path):
    cache = StatsCache(tmp_path / "c")
    assert cache.store(KEY, complete_stats())
    path = cache.path_for(KEY)
    path.write_bytes(b"damaged")
    cache.folder.chmod(0o500)
    try:
        if os.access(cache.folder, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes")
        assert cache.load(KEY) is None  # no exception although the entry cannot be deleted
        assert not cache.store(KEY, complete_stats())
    finally:
        cache.folder.chmod(0o700)


def test_stale_temporaries_are_swept_at_open_fresh_ones_kept(tmp_path):
    folder = tmp_path / "c" / "stats"
    folder.mkdir(parents=True)
    stale = folder / f".{KEY}.npz.a1b2c3.tmp"  # left by a writer killed with kill -9
    stale.write_bytes(b"x" * 10)
    make_old(stale)
    fresh = folder / f".{KEY}.npz.d4e5f6.tmp"  # a writer busy right now
    fresh.write_bytes(b"y")
    other = folder / "notes.txt"
    other.write_text("not a temporary")
    make_old(other)
    StatsCache(tmp_path / "c")
    assert not stale.exists() and fresh.exists() and other.exists()
    StatsCache(tmp_path / "c", enabled=False)  # a disabled cache touches nothing
    assert fresh.exists()


def test_write_atomically_sweeps_only_its_own_stale_temporaries(tmp_path):
    target = tmp_path / "model.safetensors"
    own = tmp_path / ".model.safetensors.k9x2.tmp"
    own.write_bytes(b"half")
    make_old(own)
    foreign = tmp_path / ".other.safetensors.k9x2.tmp"
    foreign.write_bytes(b"not ours")
    make_old(foreign)
    write_atomically(target, lambda tmp: tmp.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole"
    assert not own.exists() and foreign.exists()


def test_a_failed_write_raises_its_own_error_even_when_cleanup_fails(tmp_path, monkeypatch):
    def fail(tmp):
        raise OSError(28, "No space left on device")

    def cannot_unlink(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "unlink", cannot_unlink)
    with pytest.raises(OSError, match="No space"):  # the real failure, not the cleanup's
        write_atomically(tmp_path / "out.bin", fail)
    assert not (tmp_path / "out.bin").exists()
