"""Gradient rows of exported PyTorch models (issue 21's generic path) against PyTorch, in the
same run.

Per test model (tests/torch_models.py: 1 input channel where the model allows it, LRASPP 3;
2 classes; seeded random weights): export and convert once (timed, reported apart), then per
image size, warm, alternating ours and PyTorch's over --repeats rounds (medians):

    one row    ours: Explainer.gradient_row;   PyTorch: one forward + one backward
    16 rows    ours: Explainer.gradient_rows;  PyTorch: ONE forward, 16 backward passes
               (torch.autograd.grad(p[k, y, x], x, retain_graph=True))

PyTorch is float32 autograd on the same weights in eval mode, softmax over classes, the gray
image repeated over the model's input channels (as our Explainer does), default threads. Every
timed call takes a new image, so neither side reuses a forward pass: our Explainer's own
forward (its probability cache) counts, as PyTorch's does. Our rows must equal PyTorch's (max
|difference| / max |row| below 1e-4) or the script fails: a fast wrong answer cannot pass. Where
they differ, PyTorch in float64 decides: PyTorch's float32 rows on this CPU are now and then off
by up to a few percent of float64 (the same again on a rerun), so such a round passes, reported,
if our rows are within 1e-4 of the float64 ones, or no further than 2x PyTorch float32's own
distance (a pixel whose row float32 cannot resolve better: a saturated softmax).
Usage:

    python benchmarks/bench_generic.py                                   # all, 64 and 256
    python benchmarks/bench_generic.py --models monai_basic_unet --sizes 64 --repeats 3
"""

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.torch_models
from cnninterp.convert.exported_model import convert_exported  # noqa: E402
from cnninterp.jaxcore.passes.explainer import Explainer  # noqa: E402
from tests import torch_models  # noqa: E402  (makes torchvision importable first)

CHANNELS = {"torchvision_lraspp": 3}
"""Input channels of each model where 1 is not allowed."""
ROWS = 16
TOLERANCE = 1e-4
"""Max |ours - PyTorch| / max |PyTorch row| allowed."""


def torch_rows_fn(model: torch.nn.Module, channels: int, explained: int):
    """(image, pixels) -> rows [N, H, W]: one forward, one backward per pixel."""

    def rows(image: np.ndarray, pixels) -> np.ndarray:
        gray = torch.from_numpy(image).requires_grad_(True)
        height, width = image.shape
        x = gray[None, None].expand(1, channels, height, width)
        p = torch.softmax(model(x), dim=1)[0, explained]
        out = []
        for i, (y, x_) in enumerate(pixels):
            last = i == len(pixels) - 1
            (grad,) = torch.autograd.grad(p[y, x_], gray, retain_graph=not last)
            out.append(grad.numpy())
        return np.stack(out)

    return rows


def float64_rows(model: torch.nn.Module, channels: int, explained: int, image, pixels):
    """PyTorch's rows in float64: the referee where float32 rows disagree."""
    model64 = copy.deepcopy(model).double()
    return torch_rows_fn(model64, channels, explained)(image.astype(np.float64), pixels)


def field_text(radius: int | None) -> str:
    return "whole image" if radius is None else f"local radius {radius}"


def row_errors(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Per row: max |ours - theirs| / max |theirs row|."""
    diff = np.abs(ours - theirs).reshape(len(ours), -1).max(1)
    scale = np.abs(theirs).reshape(len(theirs), -1).max(1)
    return diff / np.maximum(scale, 1e-30)


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Worst over rows of max |ours - theirs| / max |theirs row|."""
    return float(row_errors(ours, theirs).max())


def convert_model(name: str, folder: Path):
    """(torch model, Explainer, channels, export seconds, conversion report)."""
    channels = CHANNELS.get(name, 1)
    model = torch_models.build(name, channels, 2, seed=0).requires_grad_(False)
    pt2 = folder / f"{name}.pt2"
    start = time.perf_counter()
    torch_models.save_pt2(model, channels, pt2)
    export_s = time.perf_counter() - start
    report = convert_exported(pt2, folder / f"{name}.safetensors")
    explainer = Explainer.from_file(folder / f"{name}.safetensors")
    if report.config.normalize is not None:
        raise SystemExit(f"{name}: a normalised model; the PyTorch baseline does not normalise")
    return model, explainer, channels, export_s, report


def bench_size(name, model, explainer, channels, size, repeats) -> dict:
    """Medians of one row and ROWS rows, ours and PyTorch's, alternated; the worst error."""
    rng = np.random.default_rng(size)
    flat = rng.choice(size * size, ROWS, replace=False)  # distinct pixels
    pixels = [(int(i // size), int(i % size)) for i in flat]
    theirs = torch_rows_fn(model, channels, explainer.model.explained_class)

    def image() -> np.ndarray:
        return rng.random((size, size), np.float32)

    calls = {
        "ours 1": lambda im: explainer.gradient_row(im, *pixels[0])[None],
        "torch 1": lambda im: theirs(im, pixels[:1]),
        f"ours {ROWS}": lambda im: explainer.gradient_rows(im, pixels),
        f"torch {ROWS}": lambda im: theirs(im, pixels),
    }
    for call in calls.values():  # warm-up: compilation and PyTorch's first calls
        call(image())
    times: dict[str, list[float]] = {key: [] for key in calls}
    error = 0.0
    torch_misses: list[str] = []
    for _ in range(repeats):
        for count in ("1", str(ROWS)):
            im = image()
            got = {}
            for side in ("ours", "torch"):
                key = f"{side} {count}"
                start = time.perf_counter()
                got[side] = calls[key](im)
                times[key].append(time.perf_counter() - start)
            found = relative_error(got["ours"], got["torch"])
            if found > TOLERANCE:  # who is wrong? PyTorch in float64 decides
                explained = explainer.model.explained_class
                shown = pixels[: len(got["ours"])]
                exact = float64_rows(model, channels, explained, im, shown)
                ours_off = row_errors(got["ours"], exact)
                torch_off = row_errors(got["torch"], exact)
                found, off = float(ours_off.max()), float(torch_off.max())
                again = relative_error(calls[f"torch {count}"](im), exact)
                torch_misses.append(
                    f"{count} rows: PyTorch float32 off by {off:.1e} (a rerun {again:.1e}), "
                    f"ours {found:.1e}, of float64"
                )
                # a row float32 cannot resolve better (PyTorch as far off) is float32's limit
                found = float(np.where(ours_off <= 2 * torch_off, 0.0, ours_off).max())
            error = max(error, found)
    medians = {key: statistics.median(values) for key, values in times.items()}
    return {"times": times, "medians": medians, "error": error, "torch_misses": torch_misses}


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(torch_models.MODELS)[1:])
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--repeats", type=int, default=5, help="rounds at 64x64")
    parser.add_argument(
        "--repeats-large", type=int, default=3, help="rounds above 128x128 (PyTorch is slow)"
    )
    parser.add_argument("--json", help="write every time here")
    args = parser.parse_args()
    print(
        f"commit {commit()}; torch threads {torch.get_num_threads()}; cpus {os.cpu_count()}; "
        f"load {os.getloadavg()}",
        flush=True,
    )
    table, raw = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model, explainer, channels, export_s, report = convert_model(name, Path(tmp))
            radius = explainer.model.receptive_radius
            worst = max(max(r.logits_max_rel, r.gradient_max_rel) for r in report.parity.rows)
            stages = ", ".join(f"{k} {v:.1f} s" for k, v in report.stage_seconds.items())
            print(
                f"\n[{name}] {channels} channel(s), {report.parameters / 1e6:.2f} M parameters, "
                f"{field_text(radius)}; torch.export {export_s:.1f} s; conversion "
                f"{report.seconds:.1f} s ({stages}); parity: worst relative {worst:.1e}",
                flush=True,
            )
            raw[name] = {"export_s": export_s, "convert_s": report.seconds, "sizes": {}}
            for size in args.sizes:
                repeats = args.repeats if size <= 128 else args.repeats_large
                found = bench_size(name, model, explainer, channels, size, repeats)
                raw[name]["sizes"][size] = found
                for count in ("1", str(ROWS)):
                    ours, torch_s = (
                        found["medians"][f"ours {count}"],
                        found["medians"][f"torch {count}"],
                    )
                    row = (name, f"{size}x{size}", field_text(radius), count, ours, torch_s)
                    table.append(row)
                    print(
                        f"  {size}x{size} {count:>2} rows: ours {ours:8.3f} s  PyTorch "
                        f"{torch_s:8.3f} s  ratio {torch_s / ours:5.2f}x  (all ours "
                        + " ".join(f"{t:.3f}" for t in found["times"][f"ours {count}"])
                        + "; PyTorch "
                        + " ".join(f"{t:.3f}" for t in found["times"][f"torch {count}"])
                        + ")",
                        flush=True,
                    )
                for miss in found["torch_misses"]:
                    print(f"  {size}x{size} {miss}")
                print(f"  {size}x{size} max relative error vs PyTorch {found['error']:.2e}")
                if found["error"] > TOLERANCE:
                    raise SystemExit(f"{name} {size}: rows differ from PyTorch's")
            del explainer
    print("\n| model | size | field | rows | ours s | PyTorch s | PyTorch / ours |")
    print("|---|---|---|---|---|---|---|")
    for name, size, field, count, ours, theirs in table:
        cells = f"{name} | {size} | {field} | {count} | {ours:.3f} | {theirs:.3f}"
        print(f"| {cells} | {theirs / ours:.2f}x |")
    print(f"\nload at the end: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
