"""What the session knows about the image on screen: its workers' results, filled in as
they arrive (cursor_statistics.py turns them into the cursor's numbers)."""

from dataclasses import dataclass, field

import numpy as np

from cnninterp.jaxcore.images.loading import LoadedImage
from cnninterp.jaxcore.summaries.significance import (
    JacobianStats,
    Significance,
    predicted_mask,
    row_thresholds,
)
from cnninterp.tui.eta import TimeLeft
from cnninterp.tui.requests import CountsKey, ThresholdKey
from cnninterp.tui.state.threshold import Threshold


@dataclass
class ImageResults:
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
        height, width = self.loaded.pixels.shape[:2]  # [H, W] or RGB [H, W, 3]
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
