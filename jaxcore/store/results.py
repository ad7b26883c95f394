"""Result cache on disk: complete JacobianStats, so reopening an image costs a file read.

An entry is keyed by everything its numbers depend on: the model (its file's sha256, or a
sha256 over its variables), the image (sha256 of pixel bytes, shape and dtype) and the
computation (cache format, model config including its precision, the full pass's method and
whether the weights are compile-time constants, the backend, the summary kind and its
constants). A changed model, image or algorithm therefore gives a new key and can never be
answered by an old entry.

Entries are uncompressed .npz files (no pickles: loading never runs code), written atomically.
Every load is checked — the zip CRCs, the stored key, every array's presence, shape, dtype and
finiteness — and an entry that fails any check is deleted and recomputed, never trusted. In
a cache that cannot be written (read-only, shared) such an entry is only ignored: the result
is computed, just not stored, and nothing raises. At open, temporaries older than an hour (a
writer killed with kill -9) are swept.
Exact summaries store the rows only: their sorted magnitudes are re-derived on load (sorting
|G| is exact, so bit for bit the same), which halves the entry (64 MiB at 64x64).

A pass left unfinished is kept too, as a partial entry under the same key in its own file
(`<key>.partial.npz`, partial_entries.py), and the next pass of that image resumes from it. A
complete load never reads that file, and a complete entry replaces it.

Location: the `root` argument, else $CNNINTERP_CACHE_DIR, else the platform's user cache
folder (platformdirs, e.g. ~/.cache/cnninterp). Stats live under `<root>/stats/`.
"""

import hashlib
import json
import logging
import os
import weakref
from functools import partial
from pathlib import Path

import jax
import numpy as np
import platformdirs

from cnninterp.jaxcore.files.disk import sweep_stale_temporaries, write_atomically
from cnninterp.jaxcore.files.npz_entry import entry_arrays, entry_meta, entry_shape
from cnninterp.jaxcore.store.partial_entries import PartialKeeper, read_partial, write_partial
from cnninterp.jaxcore.summaries import significance
from cnninterp.jaxcore.summaries.significance import (
    BINS_PER_DECADE,
    DECADES,
    EDGES,
    JacobianStats,
)

CACHE_FORMAT = 1
"""Bump when the stored layout or the meaning of JacobianStats' fields changes."""
ENV_VAR = "CNNINTERP_CACHE_DIR"
STALE_TEMPORARIES = ".*.npz.*.tmp"
"""write_atomically's temporaries of entries (complete and partial); swept at open once older
than an hour."""
PARTIAL_SUFFIX = ".partial.npz"
SORT_CHUNK_ROWS = 1024  # rows re-sorted at a time on load: bounds the |G| temporary

log = logging.getLogger(__name__)
_model_ids: "weakref.WeakKeyDictionary[object, str]" = weakref.WeakKeyDictionary()


def cache_root(root: Path | str | None = None) -> Path:
    """The cache folder: `root`, else $CNNINTERP_CACHE_DIR, else the user cache dir."""
    if root is not None:
        return Path(root)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(platformdirs.user_cache_dir("cnninterp"))


def variables_sha256(variables) -> str:
    """sha256 over every leaf's path, dtype, shape and bytes, in path order."""
    digest = hashlib.sha256()
    leaves = jax.tree_util.tree_flatten_with_path(variables)[0]
    for path, leaf in sorted(leaves, key=lambda item: jax.tree_util.keystr(item[0])):
        array = np.ascontiguousarray(np.asarray(leaf))
        digest.update(f"{jax.tree_util.keystr(path)}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def model_identity(explainer) -> str:
    """The model file's sha256, else a sha256 over the variables (computed once per explainer)."""
    if explainer.model_sha256:
        return explainer.model_sha256
    if explainer not in _model_ids:
        _model_ids[explainer] = "variables:" + variables_sha256(explainer.variables)
    return _model_ids[explainer]


def image_sha256(pixels) -> str:
    array = np.ascontiguousarray(pixels)
    digest = hashlib.sha256(f"{array.dtype.str}|{array.shape}|".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def summary_kind(height: int, width: int) -> str:
    """'exact' (sorted rows) or 'histogram', as JacobianStats.empty decides."""
    return "exact" if significance.is_exact(height, width) else "histogram"


def stats_key(explainer, pixels) -> str:
    """64 hex digits naming the JacobianStats of this model, image and computation."""
    shape = np.shape(pixels)  # [H, W], or [H, W, C] for a model of C channels
    kind = summary_kind(*shape[:2]) if len(shape) in (2, 3) else "invalid"
    identity = {
        "model": model_identity(explainer),
        "image": image_sha256(pixels),
        "computation": {
            "cache_format": CACHE_FORMAT,
            "precision": explainer.description.get("precision"),
            "config": explainer.description,
            "full_pass": explainer.full_pass,  # rows or columns: different float rounding
            "weights_as_constants": explainer.weights_as_constants,  # XLA folds differently
            "platform": explainer.device.platform,  # cpu, gpu, tpu: different kernels
            "summary": kind,
            "exact_max_pixels": significance.EXACT_MAX_PIXELS,
            "bins_per_decade": BINS_PER_DECADE,
            "decades": DECADES,
        },
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


class CacheEntryError(Exception):
    """A cache entry that must not be trusted (reason in the message)."""


def _expected(kind: str, height: int, width: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """name -> (shape, dtype) of every array an entry of this kind holds besides key/meta."""
    n = height * width
    arrays: dict[str, tuple[tuple[int, ...], str]] = {
        "done": ((height, width), "bool"),
        "row_max_abs": ((height, width), "float32"),
        "row_max_signed": ((height, width), "float32"),
    }
    if kind == "exact":
        arrays["rows"] = ((n, height, width), "float32")
    else:
        arrays["edges"] = ((n, EDGES), "float32")
        arrays["above_edges"] = ((n, EDGES + 1), "int32")
    return arrays


def _sorted_magnitudes(rows: np.ndarray) -> np.ndarray:
    """float32 [n, n]: each row's |G| ascending, as the full pass computes it."""
    flat = rows.reshape(len(rows), -1)  # (H*W, H*W)
    out = np.empty(flat.shape, np.float32)
    for start in range(0, len(flat), SORT_CHUNK_ROWS):
        part = np.abs(flat[start : start + SORT_CHUNK_ROWS])
        part.sort(axis=-1)
        out[start : start + SORT_CHUNK_ROWS] = part
    return out


def _check_values(arrays: dict, kind: str, height: int, width: int) -> None:
    if not arrays["done"].all():
        raise CacheEntryError("not every row is marked done")
    maxima = arrays["row_max_abs"]
    if not (np.isfinite(maxima).all() and (maxima >= 0).all()):
        raise CacheEntryError("row maxima are not finite and non-negative")
    if not np.isfinite(arrays["row_max_signed"]).all():
        raise CacheEntryError("signed row maxima are not finite")
    if kind == "exact":
        if not np.isfinite(arrays["rows"]).all():
            raise CacheEntryError("rows hold non-finite values")
    else:
        above = arrays["above_edges"]
        if not np.isfinite(arrays["edges"]).all() or above.min() < 0:
            raise CacheEntryError("histogram holds invalid values")
        if above.max() > height * width:
            raise CacheEntryError("histogram counts exceed the row length")


class StatsCache:
    """Complete JacobianStats on disk, one .npz per key under `<root>/stats/`, and the partial
    ones of unfinished passes beside them (`<key>.partial.npz`)."""

    def __init__(self, root: Path | str | None = None, enabled: bool = True):
        self.root = cache_root(root)
        """The cache folder (converted models may live beside `stats/`)."""
        self.enabled = enabled
        """False: load always misses and store writes nothing."""
        if enabled:  # temporaries of a writer killed mid-entry (up to 64 MiB each)
            sweep_stale_temporaries(self.folder, STALE_TEMPORARIES)

    @property
    def folder(self) -> Path:
        return self.root / "stats"

    def path_for(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.folder / f"{key}.npz"

    def partial_path_for(self, key: str) -> Path:
        return self.path_for(key).with_suffix(PARTIAL_SUFFIX)

    def load(self, key: str) -> JacobianStats | None:
        """The stored stats, or None on a miss; an untrustworthy entry is deleted first.

        Stats from the cache carry their file in extras["cache_path"]."""
        if not self.enabled:
            return None
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            return self._read(path, key)
        except Exception as exc:  # zip, numpy and JSON fail in many ways: all mean corrupt
            log.warning("cache entry %s discarded: %s", path.name, exc)
            try:
                path.unlink(missing_ok=True)
            except OSError as cleanup:  # a read-only cache: computed, just not stored
                log.warning("cannot delete cache entry %s: %s", path.name, cleanup)
            return None

    def _read(self, path: Path, key: str) -> JacobianStats:
        # Our own file object: np.load leaks the one it opens when the zip is unreadable.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            meta = entry_meta(npz, key, CacheEntryError)
            if meta.get("partial", False) is not False:
                raise CacheEntryError("a partial entry where a complete one belongs")
            if meta.get("cache_format") != CACHE_FORMAT:
                raise CacheEntryError(f"cache format {meta.get('cache_format')}")
            height, width, kind = entry_shape(meta, summary_kind, CacheEntryError)
            arrays = entry_arrays(npz, _expected(kind, height, width), CacheEntryError)
        _check_values(arrays, kind, height, width)
        rows = arrays.get("rows")
        sorted_abs = None if rows is None else _sorted_magnitudes(rows)
        if sorted_abs is not None and not np.array_equal(
            sorted_abs[:, -1].reshape(height, width), arrays["row_max_abs"]
        ):
            raise CacheEntryError("row maxima disagree with the rows")
        return JacobianStats(
            shape=(height, width),
            done=arrays["done"],
            row_max_abs=arrays["row_max_abs"],
            row_max_signed=arrays["row_max_signed"],
            sorted_abs=sorted_abs,
            rows=rows,
            edges=arrays.get("edges"),
            above_edges=arrays.get("above_edges"),
            complete=True,
            seconds=float(meta.get("seconds", 0.0)),
            extras={"cache_path": str(path)},
        )

    def store(self, key: str, stats: JacobianStats) -> bool:
        """Write complete stats atomically; partial stats are never stored. True if written.

        A cache that cannot be written (read-only, disk full) is logged, not raised: the
        caller already has its result."""
        if not self.enabled or not stats.complete:
            return False
        path = self.path_for(key)
        height, width = stats.shape
        kind = summary_kind(height, width)
        if kind != ("exact" if stats.exact else "histogram"):
            raise ValueError(f"stats of a {height}x{width} image with the wrong summary kind")
        meta = {
            "cache_format": CACHE_FORMAT,
            "shape": [height, width],
            "summary": kind,
            "seconds": stats.seconds,
        }
        arrays = {"key": np.array(key), "meta": np.array(json.dumps(meta))}
        for name, (shape, dtype) in _expected(kind, height, width).items():
            arrays[name] = np.ascontiguousarray(getattr(stats, name), dtype).reshape(shape)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
                np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, write)
        except OSError as exc:
            log.warning("cannot write cache entry %s: %s", path, exc)
            return False
        return True

    def load_partial(self, key: str) -> JacobianStats | None:
        """The partial stats of an unfinished pass (complete=False; its file in
        extras["resumed_from"]), or None; an untrustworthy entry is logged and deleted."""
        if not self.enabled:
            return None
        path = self.partial_path_for(key)
        if not path.is_file():
            return None
        try:
            return read_partial(path, key, CACHE_FORMAT, summary_kind)
        except Exception as exc:  # zip, numpy and JSON fail in many ways: all mean corrupt
            log.warning(
                "partial cache entry %s ignored, the pass starts afresh: %s", path.name, exc
            )
            self.discard_partial(key)
            return None

    def store_partial(self, key: str, stats: JacobianStats) -> bool:
        """Write the rows a pass has done so far atomically; True if written. Complete stats
        belong in `store`; a cache that cannot be written is logged, not raised."""
        if not self.enabled or stats.complete:
            return False
        if summary_kind(*stats.shape) != ("exact" if stats.exact else "histogram"):
            raise ValueError(f"stats of a {stats.shape} image with the wrong summary kind")
        path = self.partial_path_for(key)
        try:
            write_partial(path, key, stats, CACHE_FORMAT)
        except OSError as exc:
            log.warning("cannot write partial cache entry %s: %s", path, exc)
            return False
        return True

    def discard_partial(self, key: str) -> None:
        """Delete the partial entry of `key`, if any (the complete one replaces it)."""
        try:
            self.partial_path_for(key).unlink(missing_ok=True)
        except OSError as exc:  # a read-only cache: the stale entry is ignored on later loads
            log.warning("cannot delete partial cache entry of %s: %s", key[:12], exc)


def cached_jacobian_stats(explainer, pixels, cache: StatsCache | None, **kwargs) -> JacobianStats:
    """explainer.jacobian_stats(pixels, **kwargs), answered from `cache` when it holds them.

    A hit calls on_progress (if given) once with the complete stats, as the last chunk of a
    pass would. On a miss the pass resumes from the image's partial entry, unless the caller
    gives its own `resume` (the TUI's in-memory pass); on_progress is then called once with
    the resumed stats before the pass goes on. An unfinished pass (cancelled) is stored as a
    partial entry, and while the pass runs now and then (PartialKeeper), and when Ctrl+C
    interrupts it; a complete result is stored and replaces the partial entry."""
    if cache is None or not cache.enabled:
        return explainer.jacobian_stats(pixels, **kwargs)
    key = stats_key(explainer, pixels)
    on_progress = kwargs.get("on_progress")
    stats = cache.load(key)
    if stats is not None:
        if on_progress is not None:
            on_progress(stats)
        return stats
    if kwargs.get("resume") is None:
        kwargs["resume"] = cache.load_partial(key)
        if kwargs["resume"] is not None and on_progress is not None:
            on_progress(kwargs["resume"])
    latest = kwargs["resume"]  # the stats being filled, once the pass has reported
    stored_rows = 0 if latest is None else int(latest.done.sum())
    keeper = PartialKeeper(partial(cache.store_partial, key), stored_rows)

    def progress(stats: JacobianStats) -> None:
        nonlocal latest
        latest = stats
        keeper.maybe_keep(stats)
        if on_progress is not None:
            on_progress(stats)

    try:
        stats = explainer.jacobian_stats(pixels, **(kwargs | {"on_progress": progress}))
    except KeyboardInterrupt:  # Ctrl+C in cnninterp-export: the rows marked done are whole
        if latest is not None:
            keeper.keep(latest)
        raise
    if stats.complete:
        if cache.store(key, stats):
            cache.discard_partial(key)
    else:
        keeper.keep(stats)
    return stats
