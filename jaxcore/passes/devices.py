"""Which local devices an Explainer uses, and the one program that spreads a pass over them.

The full pass is embarrassingly parallel over its chunk's pixel offsets (colours, crop pixels or
columns): every offset's result depends on the image's forward results and the weights alone.
So a chunk is laid out on a 1-D mesh, the offsets split along its axis and everything else
replicated, and `shard_map` runs the very function a single device runs on each device's
slice: one compiled program, no per-device Python loop, and every device computes the same
per-device batch a single device would (so results are bitwise those of one device).

`--devices` on the command lines and `Explainer(devices=...)` take what `select_devices`
reads: None or "all" (every local device of the default backend), a count ("2": the first
two) or indices ("0,2"), counted among the devices JAX sees, i.e. after CUDA_VISIBLE_DEVICES.
The command lines' argparse type around `parse_devices` is cnninterp.frontend's.
"""

import threading
from collections.abc import Callable, Sequence
from functools import partial

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "offsets"  # the mesh's one axis: the chunk's pixel offsets are split along it

DeviceChoice = None | int | str | Sequence[int] | Sequence[jax.Device]


class DeviceChoiceError(ValueError):
    """A --devices value or `devices=` argument that names no usable devices."""


def parse_devices(text: str) -> DeviceChoice:
    """A command line's --devices: 'all', a count 'N' or indices '0,2'; DeviceChoiceError."""
    text = text.strip()
    if text == "all":
        return None
    try:
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        return int(text)
    except ValueError:
        raise DeviceChoiceError(
            f"--devices {text!r}: expected 'all', a count such as 2, or indices such as 0,2"
        ) from None


def select_devices(choice: DeviceChoice) -> list[jax.Device]:
    """The devices a choice means, in order (see the module's docstring); DeviceChoiceError."""
    available = jax.local_devices()
    if choice is None or choice == "all":
        return list(available)
    if isinstance(choice, str):
        choice = parse_devices(choice)
        return select_devices(choice)
    if isinstance(choice, int):
        if not 1 <= choice <= len(available):
            raise DeviceChoiceError(
                f"{choice} devices asked for, but {_count(available)} available"
            )
        return list(available[:choice])
    chosen = list(choice)
    if not chosen:
        raise DeviceChoiceError("an empty list of devices")
    if all(isinstance(item, jax.Device) for item in chosen):
        devices = chosen
    else:
        bad = [i for i in chosen if not (isinstance(i, int) and 0 <= i < len(available))]
        if bad:
            raise DeviceChoiceError(
                f"device {bad[0]} does not exist: {_count(available)} available "
                f"(indices 0-{len(available) - 1})"
            )
        devices = [available[i] for i in chosen]
    if len(set(devices)) != len(devices):
        raise DeviceChoiceError("a device is named twice")
    return devices


def _count(devices: Sequence[jax.Device]) -> str:
    platform = devices[0].platform.upper() if devices else "no"
    return f"{len(devices)} {platform} device{'s' * (len(devices) != 1)}"


def free_bytes(device: jax.Device, default_limit: int = 16 * 2**30) -> int:
    """A GPU's free memory by its allocator's statistics (the limit less what is in use)."""
    stats = device.memory_stats() or {}
    return int(stats.get("bytes_limit", default_limit) - stats.get("bytes_in_use", 0))


class DeviceSpread:
    """A 1-D mesh over the chosen devices, and what the pass needs to run on it.

    `program(f, extras)` turns a chunk function f(config, variables, probs, masks, oy, ox,
    *extras) into one jitted SPMD program over the mesh; `replicate` places the image's forward
    results (and extras) on every device; `offsets` splits a chunk's offsets. `record` counts
    the real (not padding) offsets each device computed, read from the result's own shards,
    and `activity` says what each device is doing, for status lines."""

    def __init__(self, devices: Sequence[jax.Device]):
        self.devices = list(devices)
        self.mesh = Mesh(np.array(self.devices), (AXIS,))
        self._replicated = NamedSharding(self.mesh, PartitionSpec())
        self._split = NamedSharding(self.mesh, PartitionSpec(AXIS))
        self.work = {device.id: 0 for device in self.devices}
        """Real offsets (colours, crop pixels or columns) computed so far, by device id."""
        self.busy: dict[int, str] = {}
        """device id -> what it is doing now ('pass'); absent: idle."""
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.devices)

    def program(self, f: Callable, config, variables, *, constants: bool, extras: int = 0):
        """jit(shard_map(f)) over the mesh: offsets split, all else replicated; outputs split
        along their first axis (the chunk's). `constants`: the weights as compile-time
        constants (host copies, so no device owns them) or as a replicated argument."""
        spec, whole = PartitionSpec(AXIS), PartitionSpec()
        if constants:
            host = jax.tree.map(np.asarray, variables)
            body = partial(f, config, host)
            mapped = jax.shard_map(
                body,
                mesh=self.mesh,
                in_specs=(whole, whole, spec, spec) + (whole,) * extras,
                out_specs=spec,
                check_vma=False,  # linear_transpose in the backward pass is not vma-aware
            )
            return jax.jit(mapped)
        placed = jax.device_put(variables, self._replicated)
        mapped = jax.shard_map(
            partial(f, config),
            mesh=self.mesh,
            in_specs=(whole, whole, whole, spec, spec) + (whole,) * extras,
            out_specs=spec,
            check_vma=False,
        )
        return partial(jax.jit(mapped), placed)

    def replicate(self, tree):
        return jax.device_put(tree, self._replicated)

    def offsets(self, values: np.ndarray) -> jax.Array:
        return jax.device_put(np.asarray(values, np.int32), self._split)

    def record(self, result, real: int) -> None:
        """Count, from the shards of one leaf of a chunk's result, the first `real` entries
        (the rest is padding) that each device computed."""
        leaf = jax.tree.leaves(result)[0]
        with self._lock:
            for shard in leaf.addressable_shards:
                rows = shard.index[0]
                start, stop = rows.start or 0, rows.stop if rows.stop is not None else real
                self.work[shard.device.id] += max(0, min(stop, real) - start)

    def mark(self, activity: str | None) -> None:
        with self._lock:
            self.busy = {} if activity is None else {d.id: activity for d in self.devices}

    def summary(self, interactive: bool = False) -> str:
        """What each device does, in a few words: 'GPU 0-3 pass' / 'CPU 0-3 idle'; with
        `interactive`, device 0 is answering rows (between the pass's chunks)."""
        platform = "CPU" if self.devices[0].platform == "cpu" else "GPU"
        with self._lock:
            doing = [self.busy.get(d.id, "idle") for d in self.devices]
        if interactive:
            doing[0] = "rows" if doing[0] == "idle" else f"rows+{doing[0]}"
        groups: list[tuple[str, list[int]]] = []
        for index, what in enumerate(doing):
            if groups and groups[-1][0] == what:
                groups[-1][1].append(index)
            else:
                groups.append((what, [index]))
        parts = [f"{_span(indices)} {what}" for what, indices in groups]
        return f"{platform} " + ", ".join(parts)


def _span(indices: list[int]) -> str:
    return str(indices[0]) if len(indices) == 1 else f"{indices[0]}-{indices[-1]}"
