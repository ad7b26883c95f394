"""Run in a subprocess by test_devices.py, with XLA_FLAGS asking XLA:CPU for 4 devices (which
must be set before JAX starts): every full pass on one device and on all four, compared here,
and what the tests check printed as one JSON object on the last line of stdout."""

import json
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import jax
import numpy as np

from cnninterp.jaxcore import opening
from cnninterp.jaxcore.model.model_file import save_model
from cnninterp.jaxcore.model.network import ModelConfig, random_variables
from cnninterp.jaxcore.model.seed import seed_model
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.store import results as cache
from cnninterp.jaxcore.summaries import significance

CONFIG = ModelConfig(width=4)
VARIABLES = random_variables(CONFIG, seed=3)
IMAGE = np.random.default_rng(7).random((32, 32), dtype=np.float32)
ARRAYS = ("done", "rows", "sorted_abs", "edges", "above_edges", "row_max_abs", "row_max_signed")
PER_DEVICE = 4  # colours per chunk on each device


def explainer(devices, full_pass: str, constants: bool = True) -> Explainer:
    return Explainer(
        CONFIG,
        VARIABLES,
        devices=devices,
        full_pass=full_pass,
        chunk_size=PER_DEVICE,
        weights_as_constants=constants,
    )


def differences(one, four) -> dict[str, float]:
    """Largest |difference| of every summary array relative to the array's largest magnitude
    (0.0: bitwise equal; NaN: shapes differ)."""
    out = {}
    for name in ARRAYS:
        a, b = getattr(one, name), getattr(four, name)
        if a is None:
            continue
        if a.shape != b.shape:
            out[name] = float("nan")
            continue
        a64 = a.astype(np.float64)
        scale = max(float(np.abs(a64[np.isfinite(a64)]).max(initial=0.0)), 1e-30)
        same = (a64 == b) | (np.isinf(a64) & (a64 == b))
        out[name] = float(np.abs(np.where(same, 0.0, a64 - b)).max() / scale)
    return out


def spread_pass(full_pass: str, constants: bool = True) -> dict:
    """A complete pass on 1 and 4 devices: equal results, the 4-device one's shares.
    `constants` False: the weights as a replicated argument, as on GPUs."""
    one, four = explainer(1, full_pass, constants), explainer(None, full_pass, constants)
    shares = []  # every device's work after each chunk
    four_stats = four.jacobian_stats(
        IMAGE, on_progress=lambda _: shares.append(dict(four.spread.work))
    )
    program, inputs, place = four.engine.placed(
        four.passes.kernels.exact_summaries, four.linearised(IMAGE)
    )
    offsets = place(np.arange(PER_DEVICE * 4))
    result = program(*inputs, offsets, offsets)
    return {
        "differences": differences(one.jacobian_stats(IMAGE), four_stats),
        "complete": four_stats.complete,
        "shares": shares,
        "devices": [d.id for d in four.devices],
        "device_name": four.device_name,
        "result_devices": sorted(s.device.id for s in result["row_max_abs"].addressable_shards),
        "result_shard_rows": [s.data.shape[0] for s in result["row_max_abs"].addressable_shards],
        "same_cache_key": cache.stats_key(one, IMAGE) == cache.stats_key(four, IMAGE),
        "summary_idle": four.device_summary(),
    }


def generic_pass() -> dict:
    """The seed's network as any other model (rows/generic.py: reverse mode over its apply),
    on 1 and 4 devices: the same summaries, bitwise."""
    model = replace(seed_model(CONFIG, VARIABLES), architecture=None)
    one, four = (Explainer(model, devices=devices, chunk_size=PER_DEVICE) for devices in (1, None))
    four_stats = four.jacobian_stats(IMAGE)
    return {
        "complete": four_stats.complete,
        "devices": len(four.devices),
        "differences": differences(one.jacobian_stats(IMAGE), four_stats),
    }


def histogram_pass() -> dict:
    """The large-image summaries (forced at 32x32) and the exact recount, 1 vs 4 devices."""
    significance.EXACT_MAX_PIXELS = 0
    one, four = explainer(1, "rows"), explainer(None, "rows")
    one_stats, four_stats = one.jacobian_stats(IMAGE), four.jacobian_stats(IMAGE)
    thresholds = significance.row_thresholds(one_stats, "global", 1.0)
    counts_one = one.exact_counts(IMAGE, thresholds)
    counts_four = four.exact_counts(IMAGE, thresholds)
    significance.EXACT_MAX_PIXELS = 128 * 128
    return {
        "exact": four_stats.exact,
        "differences": differences(one_stats, four_stats),
        "counts_equal": bool(np.array_equal(counts_one, counts_four)),
        "counts_finite": bool(np.isfinite(counts_four).all()),
    }


def partial_counts_on_crops() -> dict:
    """Exact counts of some rows only (`E` on a partial pass), pixel by pixel on crops at
    144x144, 1 vs 4 devices."""
    image = np.random.default_rng(8).random((144, 144), dtype=np.float32)
    rows = np.zeros(image.shape, bool)
    rows[np.arange(0, 144, 9), np.arange(0, 144, 9)[::-1]] = True  # 16 rows, all over
    thresholds = np.full(image.shape, 1e-4, np.float32)
    counts_one = explainer(1, "rows").exact_counts(image, thresholds, rows=rows)
    counts_four = explainer(None, "rows").exact_counts(image, thresholds, rows=rows)
    return {
        "counts_equal": bool(np.array_equal(counts_one, counts_four, equal_nan=True)),
        "counted_only_those": bool((np.isfinite(counts_four) == rows).all()),
    }


def out_of_memory_and_rows_meanwhile() -> dict:
    """The spread program runs out of memory once: the chunk halves on every device and the
    pass still equals one device's; a row asked for while the pass runs answers, and is the
    same row one device gives; the status line names what the devices do meanwhile."""
    one, four = explainer(1, "rows"), explainer(None, "rows")
    expected = one.jacobian_stats(IMAGE)
    placed, calls, summaries = four.engine.placed, [], []

    def flaky_placed(compute, forward):
        program, inputs, place = placed(compute, forward)

        def flaky(*args):
            calls.append(len(args[-1]))
            if len(calls) == 3:
                raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: out of memory (simulated)")
            return program(*args)

        return flaky, inputs, place

    four.engine.placed = flaky_placed
    rows = []

    def progress(_):
        summaries.append(four.device_summary())
        if len(rows) < 2:
            worker = threading.Thread(target=lambda: rows.append(four.gradient_row(IMAGE, 5, 9)))
            worker.start()
            worker.join()  # the pass waits for it between chunks: this must not deadlock

    stats = four.jacobian_stats(IMAGE, on_progress=progress)
    return {
        "complete": stats.complete,
        "calls": calls,
        "chunk_after": four.engine.chunk_for(32, 32),
        "differences": differences(expected, stats),
        "row_equal": bool(all(np.array_equal(r, one.gradient_row(IMAGE, 5, 9)) for r in rows)),
        "rows_answered": len(rows),
        "summaries": sorted(set(summaries)),
    }


def factory() -> dict:
    """explainer_for keys on the devices a choice resolves to."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        save_model(path, CONFIG, VARIABLES)
        every = opening.explainer_for(path)
        two = opening.explainer_for(path, devices="2")
        return {
            "all_again": opening.explainer_for(path, devices="all") is every,
            "four": opening.explainer_for(path, devices=4) is every,
            "two": two is every,
            "two_devices": len(two.devices),
        }


def main() -> None:
    report = {
        "device_count": jax.local_device_count(),
        "rows": spread_pass("rows"),
        "columns": spread_pass("columns"),
        "weights_as_arguments": spread_pass("rows", constants=False),
        "generic": generic_pass(),
        "histogram": histogram_pass(),
        "partial_counts": partial_counts_on_crops(),
        "out_of_memory": out_of_memory_and_rows_meanwhile(),
        "factory": factory(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
