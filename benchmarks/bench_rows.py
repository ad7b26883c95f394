"""Gradient rows on the receptive field (jaxcore/rows/crops.py) against PyTorch, in the same run.

Per image size: one warm row by our Explainer (on a crop once the image is larger than the
crop), our whole-image row for comparison, and PyTorch's forward + backward row; the ratios;
rows without a pass (probability + 3 rows of a new image); the pass's per-row cost by
receptive-field colouring against crops (the crossover); and host memory of a 1024x1024 pass,
measured (peak RSS of a child process) against jaxcore/passes/memory.py's formula. Usage:

    python benchmarks/bench_rows.py                            # 64 128 256 576x592
    python benchmarks/bench_rows.py --sizes 64 256 --memory 0 --width 8   # quick
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from functools import partial

import jax
import numpy as np
import torch
from bench_core import sync, torch_row_fn
from timing import timed

from cnninterp.convert.key_map import infer_config
from cnninterp.convert.torch_model import random_model
from cnninterp.convert.variables import flax_variables
from cnninterp.jaxcore.passes import memory
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.rows import crops

RESULTS: dict = {}


def report(section: str, name: str, value: float, unit: str = "ms", note: str = "") -> None:
    RESULTS.setdefault(section, {})[name] = value
    shown = f"{value * 1e3:10.2f}" if unit == "ms" else f"{value:10.3g}"
    print(f"  {name:<52} {shown} {unit}  {note}", flush=True)


def parse_size(text: str) -> tuple[int, int]:
    height, _, width = text.partition("x")
    return int(height), int(width or height)


def models(width: int):
    model = random_model(width, seed=0).requires_grad_(False)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    config = infer_config(state, "benchmark")
    return model, config, flax_variables(state, config)


def bench_rows(shape, explainer, model, repeat, torch_max):
    height, width = shape
    section = f"{height}x{width}"
    print(f"\n[{section}] crop {crops.crop_shape(height, width)}", flush=True)
    image = np.random.default_rng(height + width).random(shape, np.float32)
    picks = [tuple(p) for p in np.random.default_rng(1).integers(0, min(shape), (20, 2))]
    explainer.probability(image)
    it = iter(picks * 1000)
    ours = timed(lambda: explainer.gradient_row(image, *next(it)), repeat)
    report(section, "ours: one row", ours)
    if crops.is_cropped(height, width):
        probs, masks = explainer.linearised(image)
        whole = explainer.rows.rows_on_image
        ys = np.asarray([[picks[0][0]]], np.int32)[0]
        report(
            section,
            "ours: one row on the whole image (before crops)",
            timed(lambda: np.asarray(whole(probs, masks, ys, ys)), max(3, repeat // 4)),
        )
    if height * width > torch_max**2:
        print(f"  (PyTorch not timed above {torch_max}x{torch_max}: --torch-max)")
        return
    row = torch_row_fn(model, image, "cpu")
    it2 = iter(picks * 1000)
    theirs = timed(lambda: (row(*next(it2)), sync()), max(2, repeat // 4), warm_up=1)
    report(section, "torch: one row, forward + backward", theirs)
    report(section, "torch / ours", theirs / ours, "x")
    errors = []
    for y, x in picks[:2]:
        expected = row(y, x).numpy()
        got = explainer.gradient_row(image, y, x)
        errors.append(float(np.abs(got - expected).max() / np.abs(expected).max()))
    report(section, "max relative error vs torch", max(errors), "")


def bench_rows_without_pass(explainer, size=256, repeat=3):
    """probability + 3 rows of a new image (its forward pass included), warm."""
    section = f"3 rows of a {size}x{size} image, no pass"
    print(f"\n[{section}]", flush=True)
    rng = np.random.default_rng(5)
    pixels = [(10, 200), (128, 128), (250, 3)]
    explainer.gradient_rows(rng.random((size, size), np.float32), pixels)  # compile

    def ask():
        image = rng.random((size, size), np.float32)  # new image: its forward pass counts
        explainer.probability(image)
        explainer.gradient_rows(image, pixels)

    report(section, "ours: probability + 3 rows", timed(ask, repeat, warm_up=1), "s")


def bench_pass_crossover(explainer, size=256, chunk=8):
    """Per row: the pass's colour chunk (rows by colouring + histogram summaries) against
    the same summaries of rows on crops (crops.histogram_summaries_on_crops)."""
    section = f"pass per row {size}x{size}"
    print(f"\n[{section}]", flush=True)
    image = np.random.default_rng(7).random((size, size), np.float32)
    probs, masks = explainer.linearised(image)
    offsets = np.arange(chunk, dtype=np.int32)
    members = (-(-size // 128)) ** 2
    summaries = explainer.passes.kernels.histogram_summaries

    def coloured():
        result = summaries(probs, masks, offsets, offsets)
        return {k: np.asarray(v) for k, v in result.items()}

    t = timed(coloured, 3, warm_up=1) / (chunk * members)
    report(section, f"colour chunk + histograms ({members} rows/pass)", t)
    ys, xs = offsets * 31 % size, offsets * 17 % size
    origins = crops.crop_origins(ys, xs, size, size)
    on_crops = jax.jit(
        partial(crops.histogram_summaries_on_crops, explainer.config, explainer.variables)
    )

    def cropped():
        result = on_crops(probs, masks, ys, xs, *origins)
        return {k: np.asarray(v) for k, v in result.items()}

    t_crop = timed(cropped, 3, warm_up=1) / chunk
    report(section, "rows on crops + histograms", t_crop)
    report(section, "cropped / coloured", t_crop / t, "x")


def _status_bytes(field: str) -> int:
    """A memory figure of this process from /proc/self/status (Linux), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_memory(size: int, width: int) -> None:
    """(Child process) forward pass and two chunks of a histogram pass at size x size, the
    summaries touched as a full pass would; prints the peak RSS during them (the peak reset
    after loading the model) and the formula as JSON."""
    model, config, variables = models(width)
    del model
    explainer = Explainer(config, variables, full_pass="rows")
    image = np.random.default_rng(0).random((size, size), np.float32)
    with open("/proc/self/clear_refs", "w") as refs:  # reset the peak (VmHWM) to what is held
        refs.write("5")
    base = _status_bytes("VmRSS")
    cancel = threading.Event()
    calls = []

    def progress(stats):
        if not calls:  # commit the summaries' pages, as a complete pass writes them all
            stats.edges.fill(0.0)
            stats.above_edges.fill(0)
        calls.append(1)
        if len(calls) >= 2:
            cancel.set()

    started = time.perf_counter()
    explainer.jacobian_stats(image, on_progress=progress, cancel=cancel)
    peak = _status_bytes("VmHWM")
    chunk = explainer.engine.chunk_for(size, size)
    estimate = memory.pass_memory(size, size, explainer.model, chunk_rows=chunk)
    print(
        json.dumps(
            {
                "peak_rss": peak,
                "rss_before": base,
                "estimate": estimate.total,
                "summaries": estimate.summaries,
                "forward": estimate.forward,
                "working": estimate.working,
                "seconds": time.perf_counter() - started,
            }
        )
    )


def bench_memory(size: int, width: int) -> None:
    section = f"host memory {size}x{size}"
    print(f"\n[{section}] (child process: forward + 2 chunks of the pass)", flush=True)
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, os.path.join(here, "bench_rows.py"), "--measure-memory", str(size)]
        + ["--width", str(width)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    for name in ("peak_rss", "rss_before", "estimate", "summaries", "forward", "working"):
        report(section, name, found[name] / 2**30, "GiB")
    added = found["peak_rss"] - found["rss_before"]
    report(section, "measured (peak - before) / formula", added / found["estimate"], "x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["64", "128", "256", "576x592"])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=12)
    parser.add_argument(
        "--torch-max", type=int, default=10**6, help="largest side PyTorch is timed at"
    )
    parser.add_argument("--memory", type=int, default=1024, help="0: skip the memory check")
    parser.add_argument("--measure-memory", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()
    if args.measure_memory:
        return measure_memory(args.measure_memory, args.width)

    model, config, variables = models(args.width)
    explainer = Explainer(config, variables)
    print(
        f"device {explainer.device_name}; width {args.width}; torch threads "
        f"{torch.get_num_threads()}; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    for text in args.sizes:
        bench_rows(parse_size(text), explainer, model, args.repeat, args.torch_max)
    one = {k: v.get("ours: one row") for k, v in RESULTS.items()}
    for a, b in (("256x256", "128x128"), ("576x592", "256x256"), ("1024x1024", "256x256")):
        if one.get(a) and one.get(b):
            report("ratios", f"row {a} / row {b}", one[a] / one[b], "x")
    bench_rows_without_pass(explainer)
    bench_pass_crossover(explainer)
    if args.memory:
        bench_memory(args.memory, args.width)
    print(f"\nload at the end: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
