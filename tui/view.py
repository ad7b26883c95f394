"""What the app knows about the current image, and the numbers it shows for the cursor pixel.

Pure: the statistics panel and the `s` save both read `cursor_statistics`, so what is saved is
what was on screen.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnninterp.jaxcore.images.loading import LoadedImage
from cnninterp.jaxcore.summaries.footprint import Footprint, footprint
from cnninterp.jaxcore.summaries.significance import (
    JacobianStats,
    Significance,
    predicted_mask,
    row_thresholds,
    threshold_at,
)
from cnninterp.tui.eta import TimeLeft
from cnninterp.tui.render import format_count, format_value
from cnninterp.tui.requests import CountsKey, ThresholdKey
from cnninterp.tui.threshold import Threshold

StatsRecord = dict[str, Any]
"""The cursor's numbers by name, JSON-ready (None, bool, int, float, str): what the panel shows
and what `s` saves."""


@dataclass
class ImageView:
    """Results for one image, filled in as workers report. `token` identifies the image."""

    token: int
    index: int
    loaded: LoadedImage | None = None
    probability: np.ndarray | None = None
    """float32 [H, W]."""
    stats: JacobianStats | None = None
    rows_done: int = 0
    rows_total: int = 0
    stats_seconds: float = 0.0
    pass_fraction: float = 0.0
    """Share of the pass's work done (a pass by columns files most rows at its end)."""
    significance: Significance | None = None
    significance_key: CountsKey | None = None
    row: np.ndarray | None = None
    row_yx: tuple[int, int] | None = None
    row_seconds: float = 0.0
    exact_counts: np.ndarray | None = None
    """Exact counts from a second pass (`E`), for large images whose counts are estimates."""
    exact_key: ThresholdKey | None = None
    """The threshold the exact counts were computed for."""
    exact_rows: np.ndarray | None = None
    """bool [H, W]: the rows the exact counts cover (on a partial pass, those done at `E`);
    None: every row."""
    exact_thresholds: np.ndarray | None = None
    """float32 [H, W]: the absolute thresholds they were counted with."""
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    time_left: TimeLeft = field(default_factory=TimeLeft)
    """The pass's smoothed rate, for the status line's time left (pass_status.py)."""

    @property
    def shape(self) -> tuple[int, int] | None:
        if self.loaded is None:
            return None
        height, width = self.loaded.pixels.shape
        return height, width

    @property
    def predicted_mask(self) -> np.ndarray | None:
        return None if self.probability is None else predicted_mask(self.probability)

    def row_for(self, y: int, x: int) -> np.ndarray | None:
        return self.row if self.row_yx == (y, x) else None

    def exact_for(self, threshold: Threshold) -> np.ndarray | None:
        """Exact counts when they were computed for this threshold, else None. On a partial
        pass a threshold relative to a max (global, legacy) moves when a new row raises the
        max: counts made before then are outdated (exact_outdated), not shown."""
        if self.exact_key != ThresholdKey(threshold.mode, threshold.t_value):
            return None
        return None if self.exact_outdated(threshold) else self.exact_counts

    def exact_outdated(self, threshold: Threshold) -> bool:
        """Whether exact counts of this threshold exist but the threshold in force on the rows
        they cover has changed since they were counted."""
        if self.exact_key != ThresholdKey(threshold.mode, threshold.t_value):
            return False
        if self.exact_thresholds is None or self.stats is None:
            return False
        covered = np.ones(self.stats.shape, bool) if self.exact_rows is None else self.exact_rows
        now = row_thresholds(self.stats, threshold.mode, threshold.t_value)
        return not np.array_equal(now[covered], self.exact_thresholds[covered])

    def exact_covers(self, y: int, x: int) -> bool:
        return self.exact_rows is None or bool(self.exact_rows[y, x])


def exact_counts_note(view: ImageView, threshold: Threshold) -> str | None:
    """For the status line on a partial pass: how far the exact counts (`E`) lag behind."""
    stats = view.stats
    if stats is None or view.exact_counts is None:
        return None
    if view.exact_outdated(threshold):
        return "exact counts outdated: the max |J| grew (E recounts)"
    if view.exact_for(threshold) is None or view.exact_rows is None:
        return None
    covered, done = int(view.exact_rows.sum()), int(stats.done.sum())
    if covered >= done:
        return None
    return f"exact counts cover {covered:,} of the {done:,} rows done (E recounts)"


def current_threshold(view: ImageView, threshold: Threshold, y: int, x: int) -> float | None:
    """The threshold in force at (y, x), or None while it depends on rows not computed yet."""
    return threshold_at(view.stats, threshold.mode, threshold.t_value, y, x, view.row_for(y, x))


def cursor_footprint(view: ImageView, threshold: Threshold, y: int, x: int) -> Footprint | None:
    row, value = view.row_for(y, x), current_threshold(view, threshold, y, x)
    if row is None or value is None:
        return None
    return footprint(row, value, y, x)


def cursor_statistics(view: ImageView, threshold: Threshold, y: int, x: int) -> StatsRecord:
    """Every number the statistics panel shows, as plain Python values (JSON-ready)."""
    out: StatsRecord = {"image": None, "y": y, "x": x, "mode": threshold.mode.value}
    out["t_value"] = threshold.t_value
    if view.loaded is None:
        return out
    out["image"] = view.loaded.source.name
    out["threshold"] = current_threshold(view, threshold, y, x)
    if view.probability is not None:
        out["p"] = float(view.probability[y, x])
    if view.loaded.label is not None:
        out["label"] = bool(view.loaded.label[y, x])
    row = view.row_for(y, x)
    if row is not None:
        out["gradient_at_cursor"] = float(row[y, x])
        out["row_max_abs"] = float(np.max(np.abs(row)))
    fp = cursor_footprint(view, threshold, y, x)
    if fp is not None:
        names: tuple[str, ...] = ("above", "y_min", "y_max", "x_min", "x_max", "area")
        names += ("fulfillment",)
        names += ("positive_mass", "negative_mass", "centre_dy", "centre_dx")
        for name in names:
            value = getattr(fp, name)
            out[name] = None if value is None else value.item() if hasattr(value, "item") else value
    sig, exact = view.significance, view.exact_for(threshold)
    if exact is not None and view.exact_rows is not None:
        out["exact_rows"] = int(view.exact_rows.sum())
    if exact is not None and view.exact_covers(y, x):
        out["significance"], out["count_exact"] = float(exact[y, x]), True
    elif sig is not None:
        count = float(sig.counts[y, x])
        out["significance"] = None if np.isnan(count) else count
        out["count_exact"] = sig.error is None
        if sig.error is not None:
            out["count_error"] = int(sig.error[y, x])
    if view.stats is not None:
        out["stats_exact"] = bool(view.stats.exact)
        out["stats_complete"] = bool(view.stats.complete)
        out["max_abs_J"] = float(view.stats.max_abs)
    out["rows_done"], out["rows_total"] = view.rows_done, view.rows_total
    return out


def _range(lo: int | None, hi: int | None) -> str:
    return "-" if lo is None else f"{lo}..{hi}"


def statistics_rows(s: StatsRecord, threshold: Threshold) -> list[tuple[str, str]]:
    """The panel's (label, text) lines for cursor_statistics output."""
    rows = [("pixel", f"y {s['y']}  x {s['x']}")]
    if s.get("image") is None:
        return rows
    thr = s.get("threshold")
    partial = "" if s.get("stats_complete", False) else " (so far)"
    rows.append(("p(y,x)", format_value(s.get("p"))))
    if "label" in s:
        rows.append(("label", "vessel" if s["label"] else "background"))
    rows += [
        ("G(y,x)", format_value(s.get("gradient_at_cursor"))),
        ("row max", format_value(s.get("row_max_abs"))),
        ("threshold", f"{format_value(thr)}{partial if thr is not None else ' (pending)'}"),
        ("mode", threshold.describe()),
        ("above", format_count(s.get("above"))),
        ("y min..max", _range(s.get("y_min"), s.get("y_max"))),
        ("x min..max", _range(s.get("x_min"), s.get("x_max"))),
        ("area", format_count(s.get("area"))),
        ("fulfilment", format_value(s.get("fulfillment"))),
        (
            "mass +/-",
            f"{format_value(s.get('positive_mass'))} / {format_value(s.get('negative_mass'))}",
        ),
    ]
    if s.get("centre_dy") is not None:
        rows.append(("centre", f"dy {s['centre_dy']:+.1f}  dx {s['centre_dx']:+.1f}"))
    sig = s.get("significance")
    if sig is not None and s.get("count_exact", True):
        rows.append(("signific.", format_count(sig)))
    elif sig is not None:  # a histogram estimate (large images): say so, and how far off
        error = format_count(s.get("count_error", 0))
        rows.append(("signific.", f"≈ {format_count(sig)} ± {error} (E: exact)"))
    exact_rows, total = s.get("exact_rows"), s.get("rows_total", 0)
    if exact_rows is not None and exact_rows < total:  # E on a partial pass
        rows.append(("exact", f"for {exact_rows:,} of {total:,} rows"))
    return rows
