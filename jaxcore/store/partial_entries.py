"""Partial passes on disk: the rows a pass has done so far, so a pass resumes after the user left
the image, quit the app, or a long export was killed.

A partial entry lives beside the complete one under the same stats_key but in its own file,
`<key>.partial.npz`: StatsCache.load reads only `<key>.npz`, so a partial entry can never be
answered as complete, and its meta says `"partial": true` besides (a complete load refuses
that too). It holds the `done` mask and only the done rows' data, in the mask's row-major
order: at 64x64 a preview of 64 rows is 1 MiB, not the 64 MiB of a complete exact entry.
Loading checks everything a complete load does (format, key, shapes, dtypes, finiteness, row
maxima against the rows); an entry failing a check is deleted with a log line and the pass
starts afresh. A complete entry replaces its partial one (cached_jacobian_stats deletes it).

When to write (PartialKeeper): when the pass ends unfinished (cancelled: the user left the
image or quit; Ctrl+C), and while it runs at most every KEEP_INTERVAL seconds, stretched so
that writing stays under 1/OVERHEAD_FACTOR of the pass's time, and only when rows were added.
(The TUI also writes the current image's pass itself on quitting: tui/app.py.) A pass by
columns (exact sizes on the CPU) keeps its preview rows: its columns are not rows until its end.
Measured (benchmarks/bench_partial_cache.py): 256x256 with 10 % of the rows done, 7 MiB written
in about 0.01 s; every row done, 65 MiB in about 0.6 s.
"""

import json
import logging
import time
from pathlib import Path

import numpy as np

from cnninterp.jaxcore.files.disk import write_atomically
from cnninterp.jaxcore.files.npz_entry import entry_arrays, entry_meta, entry_shape
from cnninterp.jaxcore.summaries.significance import EDGES, JacobianStats, is_exact

KEEP_INTERVAL = 30.0  # seconds between partial writes while a pass runs, at least
OVERHEAD_FACTOR = 50  # ...and at least this many times the last write's duration (<= 2 %)

log = logging.getLogger(__name__)


class PartialEntryError(Exception):
    """A partial entry that must not be trusted (reason in the message)."""


def _expected(kind: str, height: int, width: int, count: int) -> dict:
    """name -> (shape, dtype) of every array a partial entry with `count` done rows holds."""
    arrays = {
        "done": ((height, width), "bool"),
        "row_max_abs": ((count,), "float32"),
        "row_max_signed": ((count,), "float32"),
    }
    if kind == "exact":
        arrays["rows"] = ((count, height, width), "float32")
    else:
        arrays["edges"] = ((count, EDGES), "float32")
        arrays["above_edges"] = ((count, EDGES + 1), "int32")
    return arrays


def write_partial(path: Path, key: str, stats: JacobianStats, cache_format: int) -> int:
    """Write the done rows of partial `stats` atomically to `path`; how many rows were written.

    Reads one snapshot of `done` (mark_done swaps in a new array, never edits it in place),
    so rows a running pass files meanwhile are simply not in this entry."""
    done = stats.done
    flat = np.flatnonzero(done)
    height, width = stats.shape
    kind = "exact" if stats.exact else "histogram"
    meta = {
        "cache_format": cache_format,
        "partial": True,
        "shape": [height, width],
        "summary": kind,
        "rows_done": len(flat),
        "progress": float(stats.progress),
        "seconds": float(stats.seconds),
    }
    arrays = {"key": np.array(key), "meta": np.array(json.dumps(meta)), "done": done}
    arrays["row_max_abs"] = stats.row_max_abs.ravel()[flat]
    arrays["row_max_signed"] = stats.row_max_signed.ravel()[flat]
    for name in ("rows", "edges", "above_edges"):
        source = getattr(stats, name)
        if source is not None:
            arrays[name] = source[flat]

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, write)
    return len(flat)


def read_partial(path: Path, key: str, cache_format: int, summary_kind) -> JacobianStats:
    """The partial stats stored at `path`, every check passed, or PartialEntryError (or any
    zip / numpy / JSON error: all mean corrupt)."""
    with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
        meta = entry_meta(npz, key, PartialEntryError)
        if meta.get("cache_format") != cache_format or meta.get("partial") is not True:
            raise PartialEntryError(f"cache format {meta.get('cache_format')}, not partial")
        height, width, kind = entry_shape(meta, summary_kind, PartialEntryError)
        count = int(meta["rows_done"])
        expected = _expected(kind, height, width, count)
        arrays = entry_arrays(npz, expected, PartialEntryError)
    _check_values(arrays, kind, height, width, count)
    return _stats(arrays, meta, height, width, path)


def _check_values(arrays: dict, kind: str, height: int, width: int, count: int) -> None:
    if int(arrays["done"].sum()) != count:
        raise PartialEntryError(f"done marks {int(arrays['done'].sum())} rows, meta {count}")
    maxima = arrays["row_max_abs"]
    if not (np.isfinite(maxima).all() and (maxima >= 0).all()):
        raise PartialEntryError("row maxima are not finite and non-negative")
    if not np.isfinite(arrays["row_max_signed"]).all():
        raise PartialEntryError("signed row maxima are not finite")
    if kind == "exact":
        rows = arrays["rows"]
        if not np.isfinite(rows).all():
            raise PartialEntryError("rows hold non-finite values")
        if not np.array_equal(np.abs(rows).reshape(count, -1).max(axis=1, initial=0), maxima):
            raise PartialEntryError("row maxima disagree with the rows")
    else:
        above = arrays["above_edges"]
        if not np.isfinite(arrays["edges"]).all() or (count and above.min() < 0):
            raise PartialEntryError("histogram holds invalid values")
        if count and above.max() > height * width:
            raise PartialEntryError("histogram counts exceed the row length")


def _stats(arrays: dict, meta: dict, height: int, width: int, path: Path) -> JacobianStats:
    """Empty stats with the stored rows filed in, as the pass would have filed them."""
    stats = JacobianStats.empty(height, width)
    done = arrays["done"]
    flat = np.flatnonzero(done)
    stats.row_max_abs.ravel()[flat] = arrays["row_max_abs"]
    stats.row_max_signed.ravel()[flat] = arrays["row_max_signed"]
    if is_exact(height, width):
        assert stats.rows is not None and stats.sorted_abs is not None
        stats.rows[flat] = arrays["rows"]
        stats.sorted_abs[flat] = np.sort(np.abs(arrays["rows"].reshape(len(flat), -1)), axis=1)
    else:
        assert stats.edges is not None and stats.above_edges is not None
        stats.edges[flat] = arrays["edges"]
        stats.above_edges[flat] = arrays["above_edges"]
    stats.done = done.copy()
    stats.progress = float(np.clip(meta.get("progress", 0.0), 0.0, 1.0))
    stats.seconds = float(meta.get("seconds", 0.0))
    stats.extras = {"resumed_from": str(path)}
    return stats


class PartialKeeper:
    """Writes a running pass's partial entry now and then (the policy in the module's doc).

    `store(stats)` is the cache's partial store; `maybe_keep` is called between chunks, on the
    pass's thread, where no rows are being filed."""

    def __init__(self, store, rows_stored: int = 0):
        self._store = store
        self.rows_stored = rows_stored
        """Rows in the entry on disk (the resumed entry's, at first)."""
        self._last = time.perf_counter()
        self._interval = KEEP_INTERVAL

    def maybe_keep(self, stats: JacobianStats) -> None:
        if stats.complete or time.perf_counter() - self._last < self._interval:
            return
        self.keep(stats)

    def keep(self, stats: JacobianStats) -> None:
        """Write now, if rows were added since the last write."""
        rows = int(stats.done.sum())
        if stats.complete or rows <= self.rows_stored:
            return
        started = time.perf_counter()
        if self._store(stats):
            self.rows_stored = rows
        self._last = time.perf_counter()
        self._interval = max(KEEP_INTERVAL, OVERHEAD_FACTOR * (self._last - started))
