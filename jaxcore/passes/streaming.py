"""The streaming engine: a full pass's chunks through the devices, with interactive calls first.

A pass is a list of entries (colour offsets, pixels or input pixels) and a chunk function
(kernels.py). The engine slices the list into fixed-size chunks (a power of two that fits the
memory budget: few distinct compilations), keeps one chunk in flight while the host files the
one before it, halves the chunk for that image size alone when the device runs out of memory,
and spreads each chunk over every device as one program (devices.py). Between chunks it lets
interactive calls (rows, probabilities) go first, so a cursor move never queues behind the
whole pass.
"""

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

import jax
import jax.numpy as jnp
import numpy as np

from cnninterp.jaxcore.passes.devices import DeviceSpread, free_bytes
from cnninterp.jaxcore.passes.kernels import PassFunction

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

Consume = Callable[[np.ndarray, np.ndarray, dict], None]
"""consume(ys, xs, host results): files one chunk's results (ys, xs: its entries)."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether a JAX runtime error is the device running out of memory.

    JAX raises every runtime failure as jax.errors.JaxRuntimeError (jaxlib's XlaRuntimeError)
    and has no finer type; the XLA status code leads its message ("RESOURCE_EXHAUSTED: Out of
    memory while trying to allocate ..."), so the code, not free text, is what is matched."""
    return isinstance(exc, jax.errors.JaxRuntimeError) and str(exc).startswith("RESOURCE_EXHAUSTED")


class StreamingEngine:
    """Streams passes over `devices` (interactive calls use the first).

    `chunk_size` pins the entries per chunk on each device for every image size; otherwise
    each size gets what fits the memory budget at `row_bytes_per_pixel` (a row's backward
    pass's working bytes per image pixel), halved for that size alone when a device runs out
    of memory."""

    def __init__(
        self,
        devices: list[jax.Device],
        *,
        row_bytes_per_pixel: int,
        chunk_size: int | None = None,
    ):
        self.devices = devices
        self.device = devices[0]
        self.platform = "cpu" if self.device.platform == "cpu" else "gpu"
        """'cpu' or 'gpu' (any accelerator): which measured defaults apply."""
        name = "CPU" if self.device.platform == "cpu" else self.device.device_kind
        self.device_name = f"{len(devices)}x {name}" if len(devices) > 1 else name
        self.spread = DeviceSpread(devices)
        self.row_bytes_per_pixel = row_bytes_per_pixel
        self.chunk_size = chunk_size
        """Entries per chunk on each device for every image size, or None: chosen per size."""
        self._chunk_sizes: dict[tuple[int, int], int] = {}  # what fitted, by (H, W), after OOM
        self.interactive_grace = INTERACTIVE_GRACE[self.platform]
        """Seconds the pass waits after a row before its next chunk (INTERACTIVE_GRACE)."""
        self._interactive = threading.Condition()
        self._interactive_pending = 0
        self._interactive_ended = -float("inf")  # time.monotonic() when the last row ended

    @contextmanager
    def priority(self, *, hold: bool = False):
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

    def yield_to_interactive(self) -> None:
        """Wait until no interactive call runs and no row call ended in the last
        interactive_grace seconds: keys pressed back to back get the device to themselves."""
        with self._interactive:
            while True:
                self._interactive.wait_for(lambda: self._interactive_pending == 0)
                quiet = time.monotonic() - self._interactive_ended
                if quiet >= self.interactive_grace:
                    return
                self._interactive.wait(self.interactive_grace - quiet)

    def device_summary(self) -> str:
        """What each device is doing, for a status line: 'GPU 0 rows+pass, 1-3 pass'."""
        return self.spread.summary(interactive=self._interactive_pending > 0)

    def chunk_for(self, height: int, width: int) -> int:
        """Entries per chunk on each device: what fitted this size after running out of
        memory, else the override, else what fits the memory budget of the device with the
        least free memory (every device runs the same program on an equal share)."""
        if (height, width) in self._chunk_sizes:
            return self._chunk_sizes[(height, width)]
        if self.chunk_size:
            return self.chunk_size
        per_entry = height * width * self.row_bytes_per_pixel  # bytes, measured order
        if self.platform == "cpu":
            budget = CPU_CHUNK_BUDGET
        else:
            budget = GPU_CHUNK_FRACTION * min(free_bytes(device) for device in self.devices)
        chunk = int(np.clip(budget // per_entry, 1, MAX_CHUNK[self.platform]))
        return 1 << (chunk.bit_length() - 1)  # a power of two: few distinct compilations

    def placed(self, compute, forward) -> tuple[Callable, tuple, Callable]:
        """(program, its leading inputs, how to place a chunk's offsets) for a pass: on one
        device, compute itself and the image's forward results as they are; over several,
        compute's one program over all of them, with the forward results (and compute's
        extra inputs) on every device and the offsets split between them."""
        if len(self.devices) == 1 or not isinstance(compute, PassFunction):
            return compute, tuple(forward), jnp.asarray
        program, extras = compute.spread_program()
        return program, self.spread.replicate((*forward, *extras)), self.spread.offsets

    def run(
        self,
        forward: tuple,
        order,
        compute,
        consume: Consume,
        on_progress: Callable[[int], None] | None,
        cancel: threading.Event | None,
        per_device: int | None = None,
    ) -> bool:
        """Stream the (y, x) of `order` through compute(probs, masks, ys, xs) on the devices
        in chunks (of `per_device` entries on each device, else what fits) and consume(ys, xs,
        host_result), then on_progress(number consumed so far); True if all were done.
        forward: the image's (probabilities, ReLU masks). `order` may be anything sliced like
        an array (order.FocusOrder re-reads its focus for every chunk).

        One chunk stays in flight: the device computes chunk k + 1 while the host copies and
        files chunk k (on an H200 that host work was a quarter of the pass). Over several
        devices a chunk is every device's share laid end to end, computed by one program
        (devices.py), so a device's batch, and how long an interactive call waits for the
        chunk in flight, are those of a single device."""
        height, width = forward[0].shape[:2]
        program, inputs, place = self.placed(compute, forward)
        per_device = per_device or self.chunk_for(height, width)
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
                self.yield_to_interactive()
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
