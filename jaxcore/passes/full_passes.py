"""The full passes over every row of J: summaries (first pass) and exact counts (second).

Each pass is an order of entries streamed through a chunk function (kernels.py) by the
engine (streaming.py), and a `consume` that files each chunk's host results. How a pass goes
depends on the image size and the device:

    rows on crops   histogram sizes larger than a crop: pixel by pixel on crops (a crop's
                    rows cost no more than a colour member's and sort 4x+ fewer values;
                    RESULTS.md), optionally following the user's focus (order.py)
    rows on image   otherwise, by colours: every chunk covers the whole image
    by columns      on the CPU at exact sizes: the rows of every 8th pixel for a preview, then
                    every column of J (columns.py: a third less work there), and the rows
                    summarised on the host once J is complete
"""

import threading
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from cnninterp.jaxcore.passes.binding import ForwardCache, image_key
from cnninterp.jaxcore.passes.kept_rows import KeptRows
from cnninterp.jaxcore.passes.kernels import PassKernels, left_to_do, members
from cnninterp.jaxcore.passes.order import Focus, FocusOrder
from cnninterp.jaxcore.passes.streaming import StreamingEngine
from cnninterp.jaxcore.rows import crops, gradients
from cnninterp.jaxcore.summaries.significance import JacobianStats, is_exact

ROW_COST = 1.5  # a row's time in columns' (XLA:CPU, full size, 64x64), for progress only
PREVIEW_STRIDE = 8  # a pass by columns first computes the rows of every 8th pixel
SUMMARY_BLOCK = 256  # rows summarised at a time once all columns are in


def coarse_to_fine(height: int, width: int) -> np.ndarray:
    """All (y, x) of a grid, every 8th first, then every 4th, 2nd and the rest: int [H*W, 2]."""
    ys, xs = np.indices((height, width))
    level = np.full((height, width), 0)
    for rank, stride in enumerate((8, 4, 2), start=1):
        level[(ys % stride == 0) & (xs % stride == 0) & (level == 0)] = 4 - rank
    order = np.argsort(-level.ravel(), kind="stable")
    return np.stack([ys.ravel()[order], xs.ravel()[order]], axis=1)


def colour_order(height: int, width: int, spacing: int = gradients.COLOUR_SPACING) -> np.ndarray:
    """Every colour's offset (y, x), coarse-to-fine: a pass by colours' entries."""
    return coarse_to_fine(min(height, spacing), min(width, spacing))


def pass_order(
    height: int, width: int, on_crops: bool, spacing: int = gradients.COLOUR_SPACING
) -> np.ndarray:
    """A pass's entries, coarse-to-fine: pixels on crops, else colour offsets."""
    return coarse_to_fine(height, width) if on_crops else colour_order(height, width, spacing)


def entry_pixels(oy, ox, height: int, width: int, on_crops: bool, spacing: int):
    """The pixels a chunk's entries cover: ys, xs, valid, each (N, G); on crops an entry is
    one pixel (G = 1), else a colour's members."""
    if on_crops:
        return oy[:, None], ox[:, None], np.ones((len(oy), 1), bool)
    return members(oy, ox, height, width, spacing)


class FullPasses:
    """The full passes of one model: its bound chunk functions streamed by `engine`.

    `forward` gives an image's forward results; rows computed on crops while a pass follows
    a focus go to `kept_rows`."""

    def __init__(
        self,
        engine: StreamingEngine,
        kernels: PassKernels,
        forward: ForwardCache,
        kept_rows: KeptRows,
        *,
        full_pass: str,
    ):
        self.engine = engine
        self.kernels = kernels
        self.forward = forward
        self.kept_rows = kept_rows
        self.full_pass = full_pass
        """'rows' or 'columns': how exact sizes go (see the module's docstring)."""
        self.pass_on_crops = True
        """Histogram passes larger than a crop go on crops (measured faster; benchmarks set
        it False to compare)."""

    def on_crops(self, height: int, width: int) -> bool:
        """Whether the pass goes pixel by pixel on crops: histogram sizes larger than a crop."""
        return (
            self.pass_on_crops
            and self.kernels.on_crops
            and not is_exact(height, width)
            and crops.is_cropped(height, width)
        )

    def by_columns(self, height: int, width: int) -> bool:
        """Whether the full pass goes by columns: only where J is kept anyway (exact sizes)."""
        return self.full_pass == "columns" and self.kernels.by_columns and is_exact(height, width)

    def warm_up(self, blank: np.ndarray) -> None:
        """Compile the first pass's chunk functions for this image's size (and channels)."""
        height, width = blank.shape[:2]
        forward = self.forward.get(blank)
        offsets = np.zeros((self.engine.chunk_for(height, width) * len(self.engine.devices),))
        offsets = offsets.astype(np.int32)
        k = self.kernels
        summaries = k.exact_summaries if is_exact(height, width) else k.histogram_summaries
        if self.on_crops(height, width):
            summaries = k.crop_summaries  # the pass goes on crops there (jacobian_stats)
        compiled = [summaries] + ([k.columns] if self.by_columns(height, width) else [])
        for kernel in compiled:
            program, inputs, place = self.engine.placed(kernel, forward)
            jax.block_until_ready(program(*inputs, place(offsets), place(offsets)))

    def jacobian_stats(
        self,
        pixels: np.ndarray,
        *,
        on_progress: Callable[[JacobianStats], None] | None = None,
        cancel: threading.Event | None = None,
        focus: Focus | None = None,
        resume: JacobianStats | None = None,
    ) -> JacobianStats:
        """Explainer.jacobian_stats of a checked image."""
        height, width = pixels.shape[:2]
        stats = JacobianStats.empty(height, width) if resume is None else resume
        if stats.done.shape != (height, width):
            raise ValueError(f"resume: stats of {stats.done.shape}, image of {(height, width)}")
        started = time.perf_counter()
        on_crops = self.on_crops(height, width)
        spacing = self.kernels.colour_spacing
        image = image_key(pixels)

        def consume(oy, ox, result):
            ys, xs, valid = entry_pixels(oy, ox, height, width, on_crops, spacing)
            ys, xs = ys[valid], xs[valid]
            if "crop_rows" in result:
                origins = result["crop_origins"][valid]
                crop_rows = result["crop_rows"][valid]
                self.kept_rows.put(image, ys, xs, crop_rows, origins[:, 0], origins[:, 1])
            flat = ys * width + xs
            for name in ("rows", "sorted_abs", "edges", "above_edges"):
                target = getattr(stats, name)
                if target is not None:
                    data = result[name][valid]
                    target[flat] = data.reshape(len(flat), *target.shape[1:])
            stats.row_max_abs[ys, xs] = result["row_max_abs"][valid]
            stats.row_max_signed[ys, xs] = result["row_max_signed"][valid]
            stats.mark_done(ys, xs)

        k = self.kernels
        summaries = k.exact_summaries if stats.exact else k.histogram_summaries
        if on_crops:  # following a focus, the rows it computes are kept for the cursor
            summaries = k.crop_summaries if focus is None else k.crop_summaries_kept
        order = pass_order(height, width, on_crops, spacing)
        by_columns = self.by_columns(height, width)
        if by_columns:  # rows for a coarse preview (the map shows within seconds), then columns
            order = order[(order % PREVIEW_STRIDE == 0).all(axis=1)]
        # Progress in units of one column's work; a row costs ROW_COST columns.
        row_units = ROW_COST if by_columns else 1.0
        work = len(order) * row_units + (height * width if by_columns else 0)
        order, skipped = left_to_do(order, stats.done, on_crops, spacing)
        # Sliced like the array by the engine, the focus re-read for each chunk.
        queue = FocusOrder(order, focus) if on_crops and focus is not None else order

        def progress(units: float) -> None:
            stats.progress = min(units / work, 1.0)
            if on_progress is not None:
                on_progress(stats)

        # Following a focus on the CPU, a chunk is one row: the focus is re-read at every row,
        # and an interactive row waits for less (XLA:CPU's batches gain nothing: RESULTS.md).
        one_row = on_crops and focus is not None and self.engine.platform == "cpu"
        forward = self.forward.get(pixels, image)
        complete = self.engine.run(
            forward,
            queue,
            summaries,
            consume,
            lambda n: progress((skipped + n) * row_units),
            cancel,
            per_device=1 if one_row else None,
        )
        if complete and by_columns:
            base = (skipped + len(order)) * row_units
            complete = self.column_pass(pixels, stats, lambda n: progress(base + n), cancel)
        stats.complete = complete
        stats.progress = 1.0 if complete else stats.progress
        stats.seconds = time.perf_counter() - started
        return stats

    def exact_counts(
        self, pixels: np.ndarray, thresholds, wanted: np.ndarray, *, on_progress, cancel
    ) -> np.ndarray | None:
        """Explainer.exact_counts of a checked image; `wanted`: bool [H, W], the rows to count."""
        height, width = pixels.shape[:2]
        thresholds = np.broadcast_to(np.asarray(thresholds, np.float32), (height, width))
        counts = np.full((height, width), np.nan, np.float32)
        on_crops = self.on_crops(height, width)
        spacing = self.kernels.colour_spacing

        def consume(oy, ox, result):
            ys, xs, valid = entry_pixels(oy, ox, height, width, on_crops, spacing)
            keep = valid & wanted[np.where(valid, ys, 0), np.where(valid, xs, 0)]
            counts[ys[keep], xs[keep]] = result["counts"][keep]

        kernel = self.kernels.crop_counts if on_crops else self.kernels.counts
        recount = kernel.with_extras(jnp.asarray(thresholds))
        progress = None if on_progress is None else (lambda _: on_progress(counts))
        order = pass_order(height, width, on_crops, spacing)
        order, _ = left_to_do(order, ~wanted, on_crops, spacing)  # "done": nothing to count there
        forward = self.forward.get(pixels)
        complete = self.engine.run(forward, order, recount, consume, progress, cancel)
        return counts if complete else None

    def column_pass(self, pixels, stats: JacobianStats, on_progress, cancel) -> bool:
        """Every column of J by forward mode (columns.py), then every row's exact summary.

        on_progress(columns done); True unless cancelled. Rows already done are left as they
        are: other threads may be reading them."""
        height, width = pixels.shape[:2]
        n = height * width
        transposed = np.empty((n, n), np.float32)  # row q: column q of J, d p / d image[q]

        def consume(qy, qx, result):
            transposed[qy * width + qx] = result["columns"].reshape(len(qy), n)

        order = np.indices((height, width)).reshape(2, -1).T
        forward = self.forward.get(pixels)
        if not self.engine.run(forward, order, self.kernels.columns, consume, on_progress, cancel):
            return False
        assert stats.rows is not None and stats.sorted_abs is not None  # exact sizes only
        for first in range(0, n, SUMMARY_BLOCK):
            if cancel is not None and cancel.is_set():
                return False
            flat = np.arange(first, min(first + SUMMARY_BLOCK, n))
            flat = flat[~stats.done.ravel()[flat]]
            rows = np.ascontiguousarray(transposed[:, flat].T)
            ascending = np.sort(np.abs(rows), axis=1)  # NumPy's SIMD sort: 12x XLA:CPU's
            ys, xs = np.divmod(flat, width)
            stats.rows[flat] = rows.reshape(len(flat), height, width)
            stats.sorted_abs[flat] = ascending
            stats.row_max_abs[ys, xs] = ascending[:, -1]
            stats.row_max_signed[ys, xs] = rows.max(axis=1)
            stats.mark_done(ys, xs)
        return True
