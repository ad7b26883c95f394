"""The bodies of the thread workers: call jaxcore, post messages, never touch a widget.

Each takes `post` (the app's thread-safe post_message) so it can be read, and tested, as a
plain function of its inputs.
"""

import contextlib
import gc
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np
from textual.message import Message

from cnninterp.jaxcore.explain.attribution import Attributor
from cnninterp.jaxcore.explain.methods import MethodError
from cnninterp.jaxcore.explain.targets import TargetError
from cnninterp.jaxcore.images.header import MAX_PIXELS
from cnninterp.jaxcore.images.loading import ImageError, ImageSource, load_image
from cnninterp.jaxcore.opening import ModelOpenError, explainer_for
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.passes.order import Focus
from cnninterp.jaxcore.store.results import StatsCache, cached_jacobian_stats
from cnninterp.jaxcore.summaries.significance import (
    JacobianStats,
    ThresholdMode,
    legacy_normalise,
    significance_counts,
)
from cnninterp.tui import messages
from cnninterp.tui.eta import format_percent
from cnninterp.tui.model_source import OpenError, open_data
from cnninterp.tui.options import AppOptions
from cnninterp.tui.requests import (
    AttributionRequest,
    CountsRequest,
    ExactCountsRequest,
    RowRequest,
)

Post = Callable[[Message], object]
Drain = Callable[[], None]
"""A LatestOnly's loop, run in a worker thread."""
PROGRESS_INTERVAL = 0.3  # seconds between significance repaints while the pass runs


def open_everything(post: Post, options: AppOptions) -> None:
    post(messages.Status("loading the model and listing images"))
    try:
        explainer, images, notes = open_data(options)
    except OpenError as exc:
        post(messages.WorkFailed(str(exc), fatal=True))
        return
    settle_heap()
    post(messages.ModelReady(explainer, images, notes))


def open_class(post: Post, explainer: Explainer, explained_class: int, options: AppOptions) -> None:
    """The same model file opened again explaining another class (`C`): ClassReady."""
    assert explainer.source is not None
    name = explainer.model.class_names
    label = name[explained_class] if name else f"class {explained_class}"
    post(messages.Status(f"opening the model for {label}"))
    try:
        other = explainer_for(
            explainer.source,
            vessel_class=explained_class,
            chunk_size=options.chunk_size,
            devices=options.devices,
        )
    except ModelOpenError as exc:
        post(messages.WorkFailed(str(exc)))
        return
    post(messages.ClassReady(other))


def settle_heap() -> None:
    """Move what exists now (modules, the model, compiled programs: long-lived) out of the
    garbage collector's sight. Its full collections otherwise scanned all of it every few
    cursor moves: 160-240 ms pauses holding the GIL, measured at 256x256 (then 17-31 ms)."""
    gc.collect()
    gc.freeze()


def analyse_image(
    post: Post,
    explainer: Explainer,
    token: int,
    source: ImageSource,
    cancel: threading.Event,
    warmed: set[tuple[int, int]],
    cache: StatsCache | None = None,
    focus: Focus | None = None,
    resume: JacobianStats | None = None,
    lock: AbstractContextManager | None = None,
    *,
    max_pixels: int = MAX_PIXELS,
) -> None:
    """Load, p map, then the full significance pass (progressively, until cancelled), or its
    result from the disk cache when this model has seen this image before; a pass left
    unfinished is kept there and resumed, also after a restart (cache.py).

    focus: the cursor, read between chunks (the pass does the rows around it first). resume:
    this image's partial pass, continued (its rows are kept). lock: held while the pass runs,
    so a resumed pass waits for the cancelled one to stop filing rows into the same stats."""
    post(messages.Status(f"loading {source.name}"))
    try:
        loaded = load_image(
            source,
            max_pixels=max_pixels,
            multiple=explainer.model.size_multiple,
            channels=explainer.model.input_channels,
            label_class=(explainer.model.explained_class, explainer.model.classes),
        )
    except ImageError as exc:
        post(messages.ImageFailed(token, str(exc)))
        return
    shape = loaded.pixels.shape[:2]
    if shape not in warmed:
        post(messages.Status(f"compiling the model for {shape[0]}x{shape[1]} (once per size)"))
        explainer.warm_up(*shape, full_pass=False)
        warmed.add(shape)
        settle_heap()  # the compilation's programs live as long as the app
    probability = explainer.probability(loaded.pixels)
    post(messages.ImageReady(token, loaded, probability))
    if cancel.is_set():
        return
    total = shape[0] * shape[1]
    start = time.perf_counter()
    last = start - PROGRESS_INTERVAL  # the first report (a pass resumed from the cache) at once

    def progress(stats: JacobianStats, final: bool = False) -> None:
        # At most a few repaints a second: a flood of progress messages would queue the
        # user's keys behind them (measured: 2 s per cursor move with a small, fast model).
        nonlocal last
        now = time.perf_counter()
        if not final and now - last < PROGRESS_INTERVAL:
            return
        last = now
        done = int(stats.done.sum())
        post(messages.StatsProgress(token, stats, done, total, stats.fraction_done, now - start))

    with lock if lock is not None else contextlib.nullcontext():
        if cancel.is_set():
            return
        stats = cached_jacobian_stats(
            explainer,
            loaded.pixels,
            cache,
            on_progress=progress,
            cancel=cancel,
            focus=focus,
            resume=resume if resume is not None and not resume.complete else None,
        )
    progress(stats, final=True)


def gradient_row(post: Post, explainer: Explainer, request: RowRequest) -> None:
    """The row of the request's pixel, answered from the stats when the pass kept that row."""
    start = time.perf_counter()
    y, x, stats = request.y, request.x, request.stats
    row = stats.row(y, x) if stats is not None else None
    if row is None:
        row = explainer.gradient_row(request.pixels, y, x)
    post(messages.RowReady(request.token, y, x, row, time.perf_counter() - start))


def significance(post: Post, request: CountsRequest) -> None:
    key = request.key
    result = significance_counts(
        request.stats, key.mode, key.t_value, predicted_mask=request.predicted_mask
    )
    post(messages.SignificanceReady(request.token, key, result))


def exact_counts(
    post: Post, explainer: Explainer, request: ExactCountsRequest, cancel: threading.Event
) -> None:
    """A second pass counting exactly, for images whose first pass kept only histograms: over
    every row, or over the rows a partial pass has done (request.rows)."""
    start = last = time.perf_counter()
    wanted = request.thresholds.size if request.rows is None else int(request.rows.sum())

    def progress(counts: np.ndarray) -> None:
        nonlocal last
        if time.perf_counter() - last > 0.25:
            last = time.perf_counter()
            done = float(np.isfinite(counts).sum()) / max(wanted, 1)
            post(
                messages.Status(
                    f"exact counts {format_percent(done)} of {wanted:,} rows, {last - start:.1f} s"
                )
            )

    counts = explainer.exact_counts(
        request.pixels, request.thresholds, rows=request.rows, on_progress=progress, cancel=cancel
    )
    if counts is None:  # cancelled: the user left the image
        return
    if request.key.mode is ThresholdMode.LEGACY:
        counts = legacy_normalise(counts, request.predicted_mask)
    seconds = time.perf_counter() - start
    post(
        messages.ExactCountsReady(
            request.token, request.key, counts, seconds, request.rows, request.thresholds
        )
    )


def attribution(post: Post, attributor: Attributor, request: AttributionRequest) -> None:
    """One attribution map, reporting progress by chunks; nothing when cancelled. Bad input
    (a segment on background, a box outside the image, bad parameters) is refused in words."""
    start = last = time.perf_counter()
    token, key = request.token, request.key

    def progress(share: float) -> None:
        nonlocal last
        if time.perf_counter() - last > PROGRESS_INTERVAL:
            last = time.perf_counter()
            post(messages.AttributionProgress(token, key, share))

    try:
        result = attributor.attribute(
            request.pixels,
            request.method,
            request.target,
            on_progress=progress,
            cancel=request.cancel,
        )
    except (MethodError, TargetError) as exc:
        post(messages.AttributionRefused(token, key, str(exc)))
        return
    if result is not None:
        post(messages.AttributionReady(token, key, result, time.perf_counter() - start))
