"""The status line while a significance pass runs, in words a person reads (eta.py):
"significance: 12 % of image, 100 % of view, 1 h 12 min left".

A pass by columns (small images on a CPU) files most rows only at its end: until then the map
is its coarse preview, and the line says so instead of a row count that looks stuck.
"""

import numpy as np

from cnninterp.tui.eta import describe_progress, format_duration, format_percent
from cnninterp.tui.pictures.viewport import Window
from cnninterp.tui.state.image_results import ImageResults


def view_fraction(done: np.ndarray, window: Window | None) -> float | None:
    """Share of the rows inside `window` done; None without a window."""
    if window is None:
        return None
    region = done[window.y0 : window.y1, window.x0 : window.x1]
    return float(region.mean()) if region.size else None


def pass_status(
    view: ImageResults, fraction: float, seconds: float, window: Window | None = None
) -> str:
    """The line for a progress report: `fraction` of the pass's work done, `seconds` since it
    started; the time left from view.time_left's smoothed rate (fed here)."""
    stats = view.stats
    name = view.loaded.source.name if view.loaded is not None else "the image"
    if stats is None:
        return f"significance of {name}: starting"
    if stats.complete:
        return f"significance of {name} done in {format_duration(seconds)}"
    view.time_left.report(seconds, fraction)
    left = view.time_left.seconds_left()
    rows = stats.fraction_done
    if stats.exact and fraction > rows + 0.01:
        # By columns: the work advances while the rows wait for the last column.
        done, total = int(stats.done.sum()), stats.done.size
        text = (
            f"significance by columns {format_percent(fraction)}: map is a coarse preview "
            f"({done} of {total} rows) until it ends"
        )
        return text + (f", {format_duration(left)} left" if left is not None else "")
    in_view = view_fraction(stats.done, window)
    return "significance: " + describe_progress(rows, in_view, left)
