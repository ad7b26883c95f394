"""The numbers the statistics panel shows for the cursor pixel, from the image's results.

Pure: the statistics panel and the `s` save both read `cursor_statistics`, so what is saved is
what was on screen (attribution_statistics.py extends the record for an attribution).
"""

from typing import Any

import numpy as np

from cnninterp.jaxcore.summaries.footprint import Footprint, footprint
from cnninterp.jaxcore.summaries.significance import threshold_at
from cnninterp.tui.number_text import format_count, format_value
from cnninterp.tui.state.image_results import ImageResults
from cnninterp.tui.state.threshold import Threshold

StatsRecord = dict[str, Any]
"""The cursor's numbers by name, JSON-ready (None, bool, int, float, str): what the panel shows
and what `s` saves."""


def exact_counts_note(view: ImageResults, threshold: Threshold) -> str | None:
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


def current_threshold(view: ImageResults, threshold: Threshold, y: int, x: int) -> float | None:
    """The threshold in force at (y, x), or None while it depends on rows not computed yet."""
    return threshold_at(view.stats, threshold.mode, threshold.t_value, y, x, view.row_for(y, x))


def cursor_footprint(view: ImageResults, threshold: Threshold, y: int, x: int) -> Footprint | None:
    row, value = view.row_for(y, x), current_threshold(view, threshold, y, x)
    if row is None or value is None:
        return None
    return footprint(row, value, y, x)


def cursor_statistics(view: ImageResults, threshold: Threshold, y: int, x: int) -> StatsRecord:
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
