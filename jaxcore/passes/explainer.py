"""Explainer: one model, compiled once, answering probability maps, gradient rows and
full-Jacobian statistics for any number of images.

The jitted functions take the image's forward results and the pixel as traced arguments; the
model's variables are compile-time constants on the CPU (2x faster there) and arguments on
GPUs (same speed, faster compilation; benchmarks/RESULTS.md). The full pass streams fixed-size
chunks of rows through the device and keeps only summaries on the host (significance.py), so
it never holds J unless the image is small enough for exact summaries. On the CPU, at those
sizes, it streams columns instead (columns.py: a third less work there) and summarises the
rows once J is complete.
"""

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float
from numpy.typing import ArrayLike

from cnninterp.jaxcore.files.disk import file_sha256
from cnninterp.jaxcore.model.model_file import load_model
from cnninterp.jaxcore.model.network import SIZE_MULTIPLE, ModelConfig
from cnninterp.jaxcore.passes import kernels
from cnninterp.jaxcore.passes.devices import DeviceChoice, DeviceSpread, free_bytes, select_devices
from cnninterp.jaxcore.passes.kept_rows import KeptRows
from cnninterp.jaxcore.passes.kernels import PassFunction, left_to_do, members
from cnninterp.jaxcore.passes.order import Focus, FocusOrder
from cnninterp.jaxcore.rows import crops, gradients
from cnninterp.jaxcore.summaries.significance import (
    JacobianStats,
    is_exact,
)

ROW_COST = 1.5  # a row's time in columns' (XLA:CPU, full size, 64x64), for progress only
PREVIEW_STRIDE = 8  # a pass by columns first computes the rows of every 8th pixel
SUMMARY_BLOCK = 256  # rows summarised at a time once all columns are in

# Colours (or columns) per chunk. XLA:CPU gains nothing from larger batches (a row 24-28 ms
# from 8 to 64, a column 15-16 ms from 8 to 32), and small chunks let interactive rows overtake
# the pass sooner: a cursor move waits for the chunk in flight. GPUs want large ones.
MAX_CHUNK = {"cpu": 8, "gpu": 512}
CPU_CHUNK_BUDGET = 1.5 * 2**30  # bytes of working memory one chunk may take on the CPU
GPU_CHUNK_FRACTION = 0.4  # share of free device memory one chunk may take
# Seconds the pass waits after a row was computed before its next chunk. On the CPU the pass and
# the cursor share the cores: a key pressed right after a row was shown would otherwise find a
# fresh chunk of the pass running beside its row (256x256, rows asked back to back while the
# pass runs: 192 ms a row, 119 ms with this wait, 125 ms with no pass; bench_cursor_rows.py).
# The pass goes on once the user looks at a row for longer. A GPU's chunks are milliseconds.
INTERACTIVE_GRACE = {"cpu": 0.3, "gpu": 0.0}


def check_image(pixels) -> np.ndarray:
    """float32 [H, W] with finite values and sizes that are multiples of 16, or ValueError."""
    pixels = np.asarray(pixels, np.float32)
    if pixels.ndim != 2:
        raise ValueError(f"expected a grayscale image [H, W], got shape {pixels.shape}")
    if any(s % SIZE_MULTIPLE or s == 0 for s in pixels.shape):
        raise ValueError(
            f"image size {pixels.shape[0]}x{pixels.shape[1]} is not a multiple of "
            f"{SIZE_MULTIPLE}: pad or crop it (cnninterp.jaxcore.images.loading.load_image does)"
        )
    if not np.isfinite(pixels).all():
        raise ValueError("image has non-finite pixels (NaN or inf)")
    return pixels


def coarse_to_fine(height: int, width: int) -> np.ndarray:
    """All (y, x) of a grid, every 8th first, then every 4th, 2nd and the rest: int [H*W, 2]."""
    ys, xs = np.indices((height, width))
    level = np.full((height, width), 0)
    for rank, stride in enumerate((8, 4, 2), start=1):
        level[(ys % stride == 0) & (xs % stride == 0) & (level == 0)] = 4 - rank
    order = np.argsort(-level.ravel(), kind="stable")
    return np.stack([ys.ravel()[order], xs.ravel()[order]], axis=1)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether a JAX runtime error is the device running out of memory.

    JAX raises every runtime failure as jax.errors.JaxRuntimeError (jaxlib's XlaRuntimeError)
    and has no finer type; the XLA status code leads its message ("RESOURCE_EXHAUSTED: Out of
    memory while trying to allocate ..."), so the code, not free text, is what is matched."""
    return isinstance(exc, jax.errors.JaxRuntimeError) and str(exc).startswith("RESOURCE_EXHAUSTED")


class Explainer:
    """One model, compiled once, explaining any number of images of any size.

    Answers, for a grayscale image float32 [H, W] (H, W multiples of 16):
    `probability` (p of the explained class per pixel), `gradient_row` / `gradient_rows`
    (d p[y, x] / d image, exactly), `jacobian_stats` (summaries of every row of J, streamed
    coarse-to-fine with progress and cancelling) and `exact_counts` (a second pass for large
    images). It may be called from several threads at once: interactive calls (probability,
    rows) overtake a running full pass between its chunks.

    Construction places the weights on the first device; compiling happens per image size on
    first use (or in `warm_up`). `chunk_size` pins the number of colours (columns) per chunk;
    otherwise each image size gets what fits the memory budget, halved for that size alone
    when the device runs out of memory. `full_pass` and `weights_as_constants` default to
    what was measured fastest on the device's platform (benchmarks/RESULTS.md).
    """

    def __init__(
        self,
        config: ModelConfig,
        variables: dict,
        *,
        chunk_size: int | None = None,
        weights_as_constants: bool | None = None,
        full_pass: str | None = None,
        model_sha256: str | None = None,
        devices: DeviceChoice = None,
    ):
        self.config = config
        self.model_sha256 = model_sha256
        self.chunk_size = chunk_size
        """Colours per chunk for every image size, or None: chosen per size."""
        self._chunk_sizes: dict[tuple[int, int], int] = {}
        """Chunk sizes found to fit, by image size (H, W); set when the device ran out."""
        self.devices = select_devices(devices)
        """Every device the full pass spreads over; interactive calls use the first."""
        device = self.devices[0]
        self.device = device
        self.device_name = "CPU" if device.platform == "cpu" else device.device_kind
        if len(self.devices) > 1:
            self.device_name = f"{len(self.devices)}x {self.device_name}"
        self.spread = DeviceSpread(self.devices)
        variables = jax.device_put(variables, device)
        self.variables = variables
        if weights_as_constants is None:  # measured: 2x faster on XLA:CPU; see RESULTS.md
            weights_as_constants = device.platform == "cpu"
        self.weights_as_constants = weights_as_constants
        if full_pass is None:  # measured: columns 1.6x faster on XLA:CPU; see RESULTS.md
            full_pass = "columns" if device.platform == "cpu" else "rows"
        if full_pass not in ("rows", "columns"):
            raise ValueError(f"full_pass must be 'rows' or 'columns', not {full_pass!r}")
        self.full_pass = full_pass
        bind = (
            (lambda f: jax.jit(partial(f, config, variables)))
            if weights_as_constants
            else (lambda f: partial(jax.jit(f, static_argnums=0), config, variables))
        )
        self._forward = bind(gradients.forward)
        self._row = bind(gradients.gradient_row)
        self._rows_on_image = bind(crops.rows_on_image)
        self._rows_on_crops = bind(crops.rows_on_crops)  # compiled per crop size, not image
        self._crop_inputs = jax.jit(crops.crop_inputs, static_argnums=(4, 5))
        bind_pass = partial(self._bind_pass, bind)
        self._crop_summaries = bind_pass(crops.pass_summaries)
        self._crop_summaries_kept = bind_pass(partial(crops.pass_summaries, keep_rows=True))
        self.kept_rows = KeptRows()
        """Rows computed on crops (by a focus-following pass or asked for): a cursor move onto
        one is a paste."""
        self.pass_on_crops = True  # histogram passes larger than a crop go on crops (measured)
        self._exact_summaries = bind_pass(kernels.exact_summaries)
        self._histogram_summaries = bind_pass(kernels.histogram_summaries)
        self._recount = bind_pass(kernels.chunk_counts)
        self._crop_recount = bind_pass(crops.counts_on_crops)
        self._columns = bind_pass(kernels.column_chunk)
        self._linearised: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()  # guards _linearised; callers may use several threads
        # Interactive requests (rows, probabilities) overtake the streamed pass: it waits for
        # them between chunks, so a cursor move never queues behind the whole pass.
        self._interactive = threading.Condition()
        self._interactive_pending = 0
        self._interactive_ended = -float("inf")  # time.monotonic() when the last row ended
        self.interactive_grace = INTERACTIVE_GRACE["cpu" if device.platform == "cpu" else "gpu"]
        """Seconds the pass waits after a row before its next chunk (INTERACTIVE_GRACE)."""

    def _bind_pass(self, bind, f) -> PassFunction:
        """A full pass's chunk function: bound for the first device as `bind` does, and
        (over several devices) built on demand as one program over all of them."""
        spread = None
        if len(self.devices) > 1:
            constants = self.weights_as_constants
            spread = partial(self.spread.program, f, self.config, self.variables)
            spread = partial(spread, constants=constants)
        return PassFunction(bind(f), spread)

    def device_summary(self) -> str:
        """What each device is doing, for a status line: 'GPU 0 rows+pass, 1-3 pass'."""
        return self.spread.summary(interactive=self._interactive_pending > 0)

    @classmethod
    def from_file(cls, path: Path, *, vessel_class: int | None = None, **kwargs) -> "Explainer":
        """Load a model file; `vessel_class` picks the explained output channel."""
        config, variables, _ = load_model(path)
        if vessel_class is not None:
            if not 0 <= vessel_class < config.classes:
                raise ValueError(
                    f"class {vessel_class} does not exist: the model has {config.classes} classes"
                )
            config = replace(config, vessel_class=vessel_class)
        return cls(config, variables, model_sha256=file_sha256(path), **kwargs)

    def _linearise(self, pixels: np.ndarray, image: str | None = None):
        """The image's forward results (probabilities, ReLU masks), for the last few images;
        `image`: the pixels' _image_key when the caller has it already."""
        key = image or _image_key(pixels)
        with self._lock:
            if key not in self._linearised:
                self._linearised[key] = self._forward(jnp.asarray(pixels))
                while len(self._linearised) > 2:
                    self._linearised.popitem(last=False)
            self._linearised.move_to_end(key)
            return self._linearised[key]

    @contextmanager
    def _priority(self, *, hold: bool = False):
        """An interactive call: the pass waits for it between chunks. hold: and for
        interactive_grace seconds after it (rows: the cursor's next key comes soon)."""
        with self._interactive:
            self._interactive_pending += 1
        try:
            yield
        finally:
            with self._interactive:
                self._interactive_pending -= 1
                if hold:
                    self._interactive_ended = time.monotonic()
                self._interactive.notify_all()

    def _yield_to_interactive(self) -> None:
        """Wait until no interactive call runs and no row call ended in the last
        interactive_grace seconds: keys pressed back to back get the device to themselves."""
        with self._interactive:
            while True:
                self._interactive.wait_for(lambda: self._interactive_pending == 0)
                quiet = time.monotonic() - self._interactive_ended
                if quiet >= self.interactive_grace:
                    return
                self._interactive.wait(self.interactive_grace - quiet)

    def warm_up(self, height: int, width: int, *, full_pass: bool = True) -> None:
        """Compile for this image size: rows, and the full pass's chunks unless told not to
        (the TUI shows its first row sooner and lets the pass compile its own)."""
        pixels = np.zeros((height, width), np.float32)
        self.gradient_row(pixels, 0, 0)
        if not full_pass:
            return
        forward = self._linearise(pixels)
        offsets = np.zeros((self._chunk_for(height, width) * len(self.devices),), np.int32)
        summaries = self._exact_summaries if is_exact(height, width) else self._histogram_summaries
        if self._pass_on_crops(height, width):
            summaries = self._crop_summaries  # the pass goes on crops there (jacobian_stats)
        kernels = [summaries] + ([self._columns] if self._by_columns(height, width) else [])
        for kernel in kernels:
            program, inputs, place = self._placed(kernel, forward)
            jax.block_until_ready(program(*inputs, place(offsets), place(offsets)))

    def _pass_on_crops(self, height: int, width: int) -> bool:
        """Whether the pass goes pixel by pixel on crops: histogram sizes larger than a crop."""
        return (
            self.pass_on_crops and not is_exact(height, width) and crops.is_cropped(height, width)
        )

    def _by_columns(self, height: int, width: int) -> bool:
        """Whether the full pass goes by columns: only where J is kept anyway (exact sizes)."""
        return self.full_pass == "columns" and is_exact(height, width)

    def probability(self, pixels: Float[np.ndarray, "H W"]) -> Float[np.ndarray, "H W"]:
        """float32 [H, W]: p(vessel) of every pixel."""
        with self._priority():
            probs, _ = self._linearise(check_image(pixels))
            return np.asarray(probs[..., self.config.vessel_class])

    def gradient_row(
        self, pixels: Float[np.ndarray, "H W"], y: int, x: int
    ) -> Float[np.ndarray, "H W"]:
        """float32 [H, W]: d p[y, x] / d image, exactly (on the pixel's receptive field where
        that is smaller than the image: crops.py)."""
        pixels = check_image(pixels)
        _check_pixel(pixels.shape, y, x)
        if crops.is_cropped(*pixels.shape):
            return self.gradient_rows(pixels, [(y, x)])[0]
        with self._priority(hold=True):
            probs, masks = self._linearise(pixels)
            return np.asarray(self._row(probs, masks, jnp.int32(y), jnp.int32(x)))

    def gradient_rows(
        self, pixels: Float[np.ndarray, "H W"], pixels_yx: ArrayLike
    ) -> Float[np.ndarray, "N H W"]:
        """float32 [N, H, W]: the rows of the given (y, x) pairs, in order, computed in
        vmapped chunks (on crops where those are smaller than the image), or pasted from the
        rows a focus-following pass kept."""
        pixels = check_image(pixels)
        pixels_yx = np.asarray(pixels_yx, np.int64).reshape(-1, 2)
        for y, x in pixels_yx:
            _check_pixel(pixels.shape, y, x)
        height, width = pixels.shape
        rows = np.zeros((len(pixels_yx), height, width), np.float32)
        image = _image_key(pixels)
        wanted = [
            i
            for i, (y, x) in enumerate(pixels_yx)
            if not self.kept_rows.paste(image, int(y), int(x), rows[i])
        ]
        limit = crops.ROWS_PER_CALL["cpu" if self.device.platform == "cpu" else "gpu"]
        for first in range(0, len(wanted), limit):
            indices = wanted[first : first + limit]
            part = pixels_yx[indices]
            batch = 1 << (len(part) - 1).bit_length()  # a power of two: few compilations
            padded = np.concatenate([part, np.repeat(part[-1:], batch - len(part), 0)])
            with self._priority(hold=True):
                chunk = self._row_chunk(pixels, padded, image)
            rows[indices] = chunk[: len(part)]
        return rows

    def _row_chunk(self, pixels, pixels_yx, image: str) -> np.ndarray:
        """Rows [N, H, W] of one chunk of pixels, on crops (then kept: the cursor may come
        back) or on the whole image."""
        height, width = pixels.shape
        probs, masks = self._linearise(pixels, image)
        ys, xs = pixels_yx[:, 0], pixels_yx[:, 1]
        if not crops.is_cropped(height, width):
            return np.asarray(
                self._rows_on_image(
                    probs, masks, jnp.asarray(ys, jnp.int32), jnp.asarray(xs, jnp.int32)
                )
            )
        origins_y, origins_x = crops.crop_origins(ys, xs, height, width)
        crop_h, crop_w = crops.crop_shape(height, width)
        crop_probs, crop_masks = self._crop_inputs(
            probs, masks, origins_y, origins_x, crop_h, crop_w
        )
        local = (jnp.asarray(ys - origins_y, jnp.int32), jnp.asarray(xs - origins_x, jnp.int32))
        crop_rows = np.asarray(self._rows_on_crops(crop_probs, crop_masks, *local))
        self.kept_rows.put(image, ys, xs, crop_rows, origins_y, origins_x)
        out = np.empty((len(pixels_yx), height, width), np.float32)
        crops.paste_rows(crop_rows, origins_y, origins_x, out)
        return out

    def _chunk_for(self, height: int, width: int) -> int:
        """Colours per chunk on each device: what fitted this size after running out of
        memory, else the override, else what fits the memory budget of the device with the
        least free memory (every device runs the same program on an equal share)."""
        if (height, width) in self._chunk_sizes:
            return self._chunk_sizes[(height, width)]
        if self.chunk_size:
            return self.chunk_size
        per_colour = 4 * height * width * self.config.width * 24  # bytes, measured order
        if self.device.platform == "cpu":
            budget = CPU_CHUNK_BUDGET
        else:
            budget = GPU_CHUNK_FRACTION * min(free_bytes(device) for device in self.devices)
        limit = MAX_CHUNK["cpu" if self.device.platform == "cpu" else "gpu"]
        chunk = int(np.clip(budget // per_colour, 1, limit))
        return 1 << (chunk.bit_length() - 1)  # a power of two: few distinct compilations

    def _colour_order(self, height: int, width: int) -> np.ndarray:
        """Every colour's offset (y, x), coarse-to-fine."""
        return coarse_to_fine(
            min(height, gradients.COLOUR_SPACING), min(width, gradients.COLOUR_SPACING)
        )

    def _run_pass(
        self, pixels, order, compute, consume, on_progress, cancel, per_device=None
    ) -> bool:
        """Stream the (y, x) of `order` through compute(probs, masks, ys, xs) on the device in
        chunks (of `per_device` entries on each device, else what fits) and consume(ys, xs,
        host_result), then on_progress(number consumed so far); True if all were done.

        One chunk stays in flight: the device computes chunk k + 1 while the host copies and
        files chunk k (on an H200 that host work was a quarter of the pass). Over several
        devices a chunk is every device's share laid end to end, computed by one program
        (devices.py), so a device's batch, and how long an interactive call waits for the
        chunk in flight, are those of a single device."""
        height, width = pixels.shape
        program, inputs, place = self._placed(compute, self._linearise(pixels))
        per_device = per_device or self._chunk_for(height, width)
        chunk = per_device * len(self.devices)
        start = 0
        in_flight = None  # (start, part, device result): dispatched, not yet consumed

        def finish(flight) -> None:
            first, part, result = flight
            self.spread.record(result, len(part))
            host = jax.tree.map(np.asarray, result)
            consume(part[:, 0], part[:, 1], {k: v[: len(part)] for k, v in host.items()})
            if on_progress is not None:
                on_progress(first + len(part))

        self.spread.mark("pass")
        try:
            while start < len(order) or in_flight is not None:
                self._yield_to_interactive()
                if cancel is not None and cancel.is_set():
                    return False  # an in-flight chunk is dropped: what was reported stands
                try:
                    flight = None
                    if start < len(order):
                        part = order[start : start + chunk]
                        padding = np.repeat(part[-1:], chunk - len(part), 0)
                        padded = np.concatenate([part, padding])
                        offsets = place(padded[:, 0]), place(padded[:, 1])
                        flight = (start, part, program(*inputs, *offsets))  # asynchronous
                        start += len(part)
                    if in_flight is not None:
                        finish(in_flight)
                    in_flight = flight
                except jax.errors.JaxRuntimeError as exc:
                    if not is_out_of_memory(exc) or per_device == 1:
                        raise
                    # Out of device memory: redo what was not consumed, in smaller chunks, and
                    # remember them for this image size only (other sizes need their own).
                    start = in_flight[0] if in_flight is not None else start
                    in_flight = None
                    per_device //= 2
                    chunk = per_device * len(self.devices)
                    self._chunk_sizes[(height, width)] = per_device
            return True
        finally:
            self.spread.mark(None)

    def _placed(self, compute, forward):
        """(program, its leading inputs, how to place a chunk's offsets) for a pass: on one
        device, compute itself and the image's forward results as they are; over several,
        compute's one program over all of them, with the forward results (and compute's
        extra inputs) on every device and the offsets split between them."""
        if len(self.devices) == 1 or not isinstance(compute, PassFunction):
            return compute, tuple(forward), jnp.asarray
        program, extras = compute.spread_program()
        return program, self.spread.replicate((*forward, *extras)), self.spread.offsets

    def jacobian_stats(
        self,
        pixels,
        *,
        on_progress: Callable[[JacobianStats], None] | None = None,
        cancel: threading.Event | None = None,
        focus: Focus | None = None,
        resume: JacobianStats | None = None,
    ) -> JacobianStats:
        """Summaries of every row of J, streamed coarse-to-fine (partial if cancelled).

        focus: the pixel the user looks at, re-read between chunks: a pass pixel by pixel (on
        crops) does the rows around it first (pass_order.py); passes by colours cover the whole
        image in every chunk, so there it changes nothing. resume: a partial result of this
        image (same model) to continue; its rows are kept and skipped, and it is filled in
        place and returned."""
        pixels = check_image(pixels)
        height, width = pixels.shape
        stats = JacobianStats.empty(height, width) if resume is None else resume
        if stats.done.shape != (height, width):
            raise ValueError(f"resume: stats of {stats.done.shape}, image of {(height, width)}")
        started = time.perf_counter()

        # Histogram sizes larger than a crop go pixel by pixel on crops (a crop's rows cost no
        # more than a colour member's and sort 4x+ fewer values; RESULTS.md), else by colours.
        on_crops = self._pass_on_crops(height, width)

        image = _image_key(pixels)

        def consume(oy, ox, result):
            if on_crops:  # one member per "colour": the pixel itself
                ys, xs, valid = oy[:, None], ox[:, None], np.ones((len(oy), 1), bool)
            else:
                ys, xs, valid = members(oy, ox, height, width)
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

        summaries = self._exact_summaries if stats.exact else self._histogram_summaries
        order = self._colour_order(height, width)
        if on_crops:  # following a focus, the rows it computes are kept for the cursor
            summaries = self._crop_summaries if focus is None else self._crop_summaries_kept
            order = coarse_to_fine(height, width)
        by_columns = self._by_columns(height, width)
        if by_columns:  # rows for a coarse preview (the map shows within seconds), then columns
            order = order[(order % PREVIEW_STRIDE == 0).all(axis=1)]
        # Progress in units of one column's work; a row costs ROW_COST columns.
        row_units = ROW_COST if by_columns else 1.0
        work = len(order) * row_units + (height * width if by_columns else 0)
        order, skipped = left_to_do(order, stats.done, on_crops)
        # Sliced like the array by _run_pass, the focus re-read for each chunk.
        queue = FocusOrder(order, focus) if on_crops and focus is not None else order

        def progress(units: float) -> None:
            stats.progress = min(units / work, 1.0)
            if on_progress is not None:
                on_progress(stats)

        # Following a focus on the CPU, a chunk is one row: the focus is re-read at every row,
        # and an interactive row waits for less (XLA:CPU's batches gain nothing: RESULTS.md).
        one_row = on_crops and focus is not None and self.device.platform == "cpu"
        complete = self._run_pass(
            pixels,
            queue,
            summaries,
            consume,
            lambda n: progress((skipped + n) * row_units),
            cancel,
            per_device=1 if one_row else None,
        )
        if complete and by_columns:
            base = (skipped + len(order)) * row_units
            complete = self._column_pass(pixels, stats, lambda n: progress(base + n), cancel)
        stats.complete = complete
        stats.progress = 1.0 if complete else stats.progress
        stats.seconds = time.perf_counter() - started
        return stats

    def exact_counts(
        self, pixels, thresholds, *, rows=None, on_progress=None, cancel=None
    ) -> np.ndarray | None:
        """float32 [H, W]: exact #(|G| > thresholds[y, x]) of every row, by a second pass.

        For images whose statistics are histograms; None if cancelled. rows: bool [H, W], the
        rows to count (those a partial first pass has done); the others stay NaN and are not
        computed. Like the first pass, it goes pixel by pixel on crops where that one does,
        else by colours (a colour with no wanted member is skipped)."""
        pixels = check_image(pixels)
        height, width = pixels.shape
        wanted = np.ones(pixels.shape, bool) if rows is None else np.asarray(rows, bool)
        if wanted.shape != pixels.shape:
            raise ValueError(f"rows: a mask of {wanted.shape}, image of {pixels.shape}")
        thresholds = jnp.asarray(np.broadcast_to(np.asarray(thresholds, np.float32), pixels.shape))
        counts = np.full(pixels.shape, np.nan, np.float32)
        on_crops = self._pass_on_crops(height, width)

        def consume(oy, ox, result):
            if on_crops:  # one member per "colour": the pixel itself
                ys, xs, valid = oy[:, None], ox[:, None], np.ones((len(oy), 1), bool)
            else:
                ys, xs, valid = members(oy, ox, height, width)
            keep = valid & wanted[np.where(valid, ys, 0), np.where(valid, xs, 0)]
            counts[ys[keep], xs[keep]] = result["counts"][keep]

        kernel = self._crop_recount if on_crops else self._recount
        recount = kernel.with_extras(thresholds)
        progress = None if on_progress is None else (lambda _: on_progress(counts))
        if on_crops:
            order = coarse_to_fine(height, width)
        else:
            order = self._colour_order(height, width)
        order, _ = left_to_do(order, ~wanted, on_crops)  # "done": nothing to count there
        return counts if self._run_pass(pixels, order, recount, consume, progress, cancel) else None

    def _column_pass(self, pixels, stats: JacobianStats, on_progress, cancel) -> bool:
        """Every column of J by forward mode (columns.py), then every row's exact summary.

        on_progress(columns done); True unless cancelled. Rows already done are left as they
        are: other threads may be reading them."""
        height, width = pixels.shape
        n = height * width
        transposed = np.empty((n, n), np.float32)  # row q: column q of J, d p / d image[q]

        def consume(qy, qx, result):
            transposed[qy * width + qx] = result["columns"].reshape(len(qy), n)

        order = np.indices((height, width)).reshape(2, -1).T
        if not self._run_pass(pixels, order, self._columns, consume, on_progress, cancel):
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

    def linearised(self, pixels):
        """(class probabilities [H, W, C], ReLU masks) of an image, on the device and cached
        for the last few images: what attribution.py pulls region targets back through."""
        pixels = check_image(pixels)
        with self._priority():
            return self._linearise(pixels)


def _image_key(pixels: np.ndarray) -> str:
    """A short key for an image's pixels and shape."""
    return hashlib.blake2b(pixels.tobytes(), digest_size=16).hexdigest() + str(pixels.shape)


def _check_pixel(shape, y, x) -> None:
    if not (0 <= y < shape[0] and 0 <= x < shape[1]):
        raise ValueError(f"pixel ({y}, {x}) is outside the {shape[0]}x{shape[1]} image")
