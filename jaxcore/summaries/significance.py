"""Significance maps: per output pixel, how many input pixels have |J[y, x]| above a threshold.

The full-Jacobian pass (explainer.py) condenses each gradient row into a summary, kept here:

- exact summary (images up to EXACT_MAX_PIXELS): the row's |G| sorted ascending. Any threshold's
  count is then a binary search, so every mode and threshold is exact and answers in about a
  millisecond for 64x64.
- histogram summary (larger images, where sorted rows would need 16 GiB at 256x256): per row,
  the number of |G| above BINS_PER_DECADE log-spaced edges below the row's max, over DECADES
  decades. A threshold between two edges gets a log-interpolated count and an error bound (the
  number of values between the two edges); `Explainer.exact_counts` recounts exactly.
"""

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from jaxtyping import Bool, Float

DEFAULT_THRESHOLD_PERCENT = 0.01  # the original detail panel's default, in percent of max |J|
LEGACY_FRACTION = 0.01  # the original map: 1 % of the signed max of J
EXACT_MAX_PIXELS = 128 * 128
BINS_PER_DECADE = 16
DECADES = 8
EDGES = BINS_PER_DECADE * DECADES + 1  # edges e_k = row_max * 10**(-k / BINS_PER_DECADE)
PREDICTED_P = 0.5  # a pixel the model calls vessel: p > PREDICTED_P


class ThresholdMode(StrEnum):
    GLOBAL = "global"  # percent of max |J| over the whole Jacobian (the original detail panel)
    ROW = "row"  # percent of the row's own max |G|
    ABSOLUTE = "absolute"  # the value itself
    LEGACY = "legacy"  # the original map: 1 % of signed max J, min-max normalised, times mask

    def describe(self, t_value: float) -> str:
        """The mode and value in words: the one description every front end shows."""
        return {
            "global": f"{t_value:g} % of max |J|",
            "row": f"{t_value:g} % of row max",
            "absolute": f"|G| > {t_value:g}",
            "legacy": "legacy: 1 % of signed max J",
        }[self.value]


def predicted_mask(probability: Float[np.ndarray, "H W"]) -> Bool[np.ndarray, "H W"]:
    """bool [H, W]: the pixels the model calls vessel (the legacy map's mask, the outline).

    argmax == vessel for two classes; for more classes p > 0.5 is a sufficient stand-in."""
    return np.asarray(probability) > PREDICTED_P


def is_exact(height: int, width: int) -> bool:
    """Whether an image this size gets exact summaries (else histograms)."""
    return height * width <= EXACT_MAX_PIXELS


@dataclass
class JacobianStats:
    """Summaries of the rows of J computed so far (all of them once `complete`)."""

    shape: tuple[int, int]
    done: np.ndarray  # bool [H, W]: rows computed
    row_max_abs: np.ndarray  # float32 [H, W]: max |G| of each row (0 where not done)
    row_max_signed: np.ndarray  # float32 [H, W]: max G of each row (-inf where not done)
    sorted_abs: np.ndarray | None = None  # float32 [H*W, H*W]: exact summary
    rows: np.ndarray | None = None  # float32 [H*W, H, W]: the rows themselves (exact mode)
    edges: np.ndarray | None = None  # float32 [H*W, EDGES]: histogram edges
    above_edges: np.ndarray | None = None  # int32 [H*W, EDGES + 1]: #|G| > edge; last: #|G| > 0
    complete: bool = False
    progress: float = 0.0  # share of the pass's work done (rows by columns finish all at once)
    seconds: float = 0.0
    extras: dict = field(default_factory=dict)

    @classmethod
    def empty(cls, height: int, width: int) -> "JacobianStats":
        n = height * width
        exact = is_exact(height, width)
        return cls(
            shape=(height, width),
            done=np.zeros((height, width), bool),
            row_max_abs=np.zeros((height, width), np.float32),
            row_max_signed=np.full((height, width), -np.inf, np.float32),
            sorted_abs=np.zeros((n, n), np.float32) if exact else None,
            rows=np.zeros((n, height, width), np.float32) if exact else None,
            edges=None if exact else np.zeros((n, EDGES), np.float32),
            above_edges=None if exact else np.zeros((n, EDGES + 1), np.int32),
        )

    @property
    def exact(self) -> bool:
        return self.sorted_abs is not None

    @property
    def fraction_done(self) -> float:
        return 1.0 if self.complete else self.progress

    @property
    def max_abs(self) -> float:
        """Global max |J| over the rows done so far."""
        return float(self.row_max_abs.max())

    @property
    def max_signed(self) -> float:
        return float(self.row_max_signed.max()) if self.done.any() else 0.0

    def mark_done(self, ys: np.ndarray, xs: np.ndarray) -> None:
        """Mark rows done once their data is filed: as a new array, since readers on other
        threads trust rows marked done, and a boolean mask that changed under numpy's
        indexing would overrun its buffers."""
        done = self.done.copy()
        done[ys, xs] = True
        self.done = done

    def row(self, y: int, x: int) -> np.ndarray | None:
        """A row the pass already produced (exact mode), else None."""
        if self.rows is None or not self.done[y, x]:
            return None
        return self.rows[y * self.shape[1] + x]


def threshold_value(
    stats: JacobianStats,
    mode: ThresholdMode | str,
    t_value: float,
    y: int | None = None,
    x: int | None = None,
) -> float:
    """The absolute |G| threshold that a mode and user value mean (for row mode: row (y, x))."""
    check_threshold(t_value)
    mode = ThresholdMode(mode)
    if mode is ThresholdMode.GLOBAL:
        return t_value / 100 * stats.max_abs
    if mode is ThresholdMode.ROW:
        if y is None or x is None:
            raise ValueError("row mode needs the pixel whose row max is meant")
        return t_value / 100 * float(stats.row_max_abs[y, x])
    if mode is ThresholdMode.ABSOLUTE:
        return float(t_value)
    return LEGACY_FRACTION * stats.max_signed


def threshold_at(
    stats: JacobianStats | None,
    mode: ThresholdMode | str,
    t_value: float,
    y: int,
    x: int,
    row: Float[np.ndarray, "H W"] | None = None,
) -> float | None:
    """The threshold in force at (y, x) from what is known so far, or None while it depends on
    rows not computed yet. Row mode takes the row's max from `row` (float32 [H, W], the row of
    (y, x), when the caller has it) or from the stats once the pass has done that row."""
    mode = ThresholdMode(mode)
    if mode is ThresholdMode.ABSOLUTE:
        check_threshold(t_value)
        return float(t_value)
    if mode is ThresholdMode.ROW and row is not None:
        check_threshold(t_value)
        return t_value / 100 * float(np.max(np.abs(row)))
    if stats is None or not stats.done.any():
        return None
    if mode is ThresholdMode.ROW and not stats.done[y, x]:
        return None
    return threshold_value(stats, mode, t_value, y, x)


def attribution_threshold(
    mode: ThresholdMode | str, t_value: float, values: Float[np.ndarray, "H W"]
) -> float:
    """The |A| threshold of an attribution that is not a row of the Jacobian (another method,
    a region's target): absolute applies as it is; global and row take the percentage of the
    attribution's own max |A| (max |J| over the image bounds only one pixel's rows); legacy
    takes the original's 1 % of it. The one rule for the TUI and the export alike."""
    mode = ThresholdMode(mode)
    check_threshold(t_value)
    if mode is ThresholdMode.ABSOLUTE:
        return float(t_value)
    percent = LEGACY_FRACTION * 100 if mode is ThresholdMode.LEGACY else t_value
    return percent / 100 * float(np.max(np.abs(values)))


def check_threshold(t_value: float) -> None:
    if not np.isfinite(t_value) or t_value < 0:
        raise ValueError(f"threshold must be a non-negative number, not {t_value!r}")


def row_thresholds(stats: JacobianStats, mode: ThresholdMode | str, t_value: float) -> np.ndarray:
    """float32 [H, W]: the absolute threshold applied to each row."""
    mode = ThresholdMode(mode)
    if mode is ThresholdMode.ROW:
        check_threshold(t_value)
        return (t_value / 100 * stats.row_max_abs).astype(np.float32)
    return np.full(stats.shape, threshold_value(stats, mode, t_value), np.float32)


@dataclass(frozen=True)
class Significance:
    counts: np.ndarray  # float32 [H, W]; NaN where the row is not computed yet
    error: np.ndarray | None  # int32 [H, W]: bound on |count - exact count|; None when exact
    mode: ThresholdMode
    t_value: float


def significance_counts(
    stats: JacobianStats,
    mode: ThresholdMode | str,
    t_value: float,
    predicted_mask: np.ndarray | None = None,
) -> Significance:
    """Counts of |G| > threshold for every computed row; legacy mode as the original drew it."""
    mode = ThresholdMode(mode)
    thresholds = row_thresholds(stats, mode, t_value).ravel()
    flat_done = stats.done.ravel().copy()  # one consistent view while a pass adds rows
    counts = np.full(flat_done.shape, np.nan, np.float32)
    error = None
    if stats.sorted_abs is not None:  # exact summaries
        counts[flat_done] = count_above_sorted(stats.sorted_abs[flat_done], thresholds[flat_done])
    else:
        assert stats.edges is not None and stats.above_edges is not None
        estimate, bound = count_above_histogram(
            stats.edges[flat_done], stats.above_edges[flat_done], thresholds[flat_done]
        )
        counts[flat_done] = estimate
        bounds = np.zeros(flat_done.shape, np.int32)
        bounds[flat_done] = bound
        error = bounds.reshape(stats.shape)
    counts = counts.reshape(stats.shape)
    if mode is ThresholdMode.LEGACY:
        counts = legacy_normalise(counts, predicted_mask)
    return Significance(counts, error, mode, float(t_value))


def count_above_sorted(sorted_rows: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """#(row > t) for each ascending row, by a vectorised binary search. [R, n], [R] -> [R]."""
    rows, n = sorted_rows.shape
    lo = np.zeros(rows, np.int64)
    hi = np.full(rows, n, np.int64)
    index = np.arange(rows)
    while (active := lo < hi).any():
        mid = (lo + hi) // 2
        go_right = active & (sorted_rows[index, np.minimum(mid, n - 1)] <= thresholds)
        lo = np.where(go_right, mid + 1, lo)
        hi = np.where(active & ~go_right, mid, hi)
    return (n - lo).astype(np.float32)


def count_above_histogram(
    edges: np.ndarray, above_edges: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log-interpolated #(|G| > t) and its error bound. [R, E], [R, E + 1], [R] -> [R], [R]."""
    rows = np.arange(len(thresholds))
    # Edges descend: e[k_hi - 1] > t >= e[k_hi]; k_hi == E when t is below every edge.
    k_hi = (edges > thresholds[:, None]).sum(axis=1)
    k_lo = np.maximum(k_hi - 1, 0)
    nothing = k_hi == 0  # t at or above the row max
    upper = np.where(nothing, 0, above_edges[rows, k_hi])  # #(> e[k_hi]) >= true count
    lower = np.where(nothing, 0, above_edges[rows, k_lo])  # #(> e[k_hi - 1]) <= true count
    # Interpolate in log space between the two edges around t.
    e_lo = edges[rows, k_lo]
    e_hi = edges[rows, np.minimum(k_hi, edges.shape[1] - 1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.log(e_lo / np.maximum(thresholds, 1e-38)) / np.log(e_lo / e_hi)
    frac = np.where(np.isfinite(frac), np.clip(frac, 0, 1), 1.0)
    estimate = lower + frac * (upper - lower)
    return estimate.astype(np.float32), (upper - lower).astype(np.int32)


def legacy_normalise(counts: np.ndarray, predicted_mask: np.ndarray | None) -> np.ndarray:
    """The original map: min-max normalised counts, times the predicted vessel mask."""
    finite = np.isfinite(counts)
    out = np.full(counts.shape, np.nan, np.float32)
    if finite.any():
        low, high = counts[finite].min(), counts[finite].max()
        out[finite] = (counts[finite] - low) / (high - low) if high > low else 0.0
    if predicted_mask is not None:
        out = out * predicted_mask.astype(np.float32)
    return out


def fill_coarse(values: np.ndarray, done: np.ndarray) -> np.ndarray:
    """For display while the pass runs: undone pixels take the value of the nearest done pixel
    on the coarse-to-fine grids (stride 2, 4, 8, ...); NaN where none is done yet."""
    out = np.where(done, values, np.nan).astype(np.float32)
    grid = np.indices(values.shape)  # (2, H, W)
    ys, xs = grid[0], grid[1]
    stride = 2
    while stride <= max(values.shape):
        todo = ~done & np.isnan(out)
        if not todo.any():
            break
        ry, rx = ys // stride * stride, xs // stride * stride
        take = todo & done[ry, rx]
        out[take] = values[ry[take], rx[take]]
        stride *= 2
    return out
