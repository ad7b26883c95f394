"""Rows on the receptive field on a GPU, and what brings the pass to issue 12's GPU goals
(64x64 <= 0.25 s, 256x256 <= 12 s, rows within 1e-5 relative of PyTorch float32), in ONE
unattended run (< 5 min on an H200):

    python benchmarks/bench_gpu_rf.py                  # full size, 64 and 256
    python benchmarks/bench_gpu_rf.py --tiny           # width 4, 32 and 144: a CPU smoke test
                                                       # (passes at 32 only)

Prints the device; one row at each size on a crop, on the whole image, and by PyTorch; the full
pass by rows (best of 2, warm) by receptive-field colouring and on crops; chunk sizes and conv
precisions ("high": TF32/bf16x3 where XLA offers them), each with its max relative error
against PyTorch float32 rows. Writes $OUT/bench_gpu_rf.json when OUT is set.
"""

import argparse
import json
import os
import sys
import time
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import torch
from timing import timed

from cnninterp.convert.key_map import infer_config
from cnninterp.convert.torch_model import random_model
from cnninterp.convert.variables import flax_variables
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.rows import crops

RESULTS: dict = {}
STARTED = time.perf_counter()


def say(section: str, name: str, value, unit: str = "s") -> None:
    RESULTS.setdefault(section, {})[name] = value
    shown = f"{value * 1e3:10.2f} ms" if unit == "ms" else f"{value:10.4g} {unit}"
    print(f"  {name:<58} {shown}", flush=True)


def out_of_time(budget: float) -> bool:
    late = time.perf_counter() - STARTED > budget
    if late:
        print("  (skipped: the run's time budget is spent)", flush=True)
    return late


class TorchRows:
    """PyTorch float32 rows (forward + backward), on the GPU when torch sees one."""

    def __init__(self, model, image):
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = model.to(self.device)
        self.x0 = torch.tensor(image, device=self.device)

    def __call__(self, y, x) -> np.ndarray:
        pixels = self.x0.clone().requires_grad_(True)
        p = torch.softmax(self.model(pixels[None, None]), dim=1)[0, 1]
        (grad,) = torch.autograd.grad(p[y, x], pixels)
        if self.device == "cuda":
            torch.cuda.synchronize()
        return grad.cpu().numpy()


def max_error(rows: np.ndarray, reference: list[np.ndarray]) -> float:
    return max(
        float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
        for a, b in zip(rows, reference, strict=True)
    )


def bench_rows(explainer, model, size, picks) -> list[np.ndarray]:
    section = f"row {size}x{size}"
    print(f"\n[{section}] crop {crops.crop_shape(size, size)}", flush=True)
    image = np.random.default_rng(size).random((size, size), np.float32)
    probs, masks = explainer.linearised(image)
    it = iter(picks * 1000)
    say(
        section,
        "ours, cropped where smaller",
        timed(lambda: explainer.gradient_row(image, *next(it)), 20),
        "ms",
    )
    ys = jnp.asarray([picks[0][0]], jnp.int32)
    whole = explainer.rows.rows_on_image
    say(
        section,
        "ours, whole image",
        timed(lambda: np.asarray(whole(probs, masks, ys, ys)), 20),
        "ms",
    )
    rows = TorchRows(model, image)
    it2 = iter(picks * 1000)
    say(
        section,
        f"torch forward + backward ({rows.device})",
        timed(lambda: rows(*next(it2)), 10),
        "ms",
    )
    reference = [rows(y, x) for y, x in picks]
    say(
        section,
        "max relative error vs torch",
        max_error(explainer.gradient_rows(image, picks), reference),
        "",
    )
    return reference


def best_pass(explainer, image) -> float:
    explainer.warm_up(*image.shape)
    return min(explainer.jacobian_stats(image).seconds for _ in range(2))


def bench_passes(config, variables, size, args):
    section = f"pass {size}x{size}"
    print(f"\n[{section}] by rows, best of 2, warm", flush=True)
    image = np.random.default_rng(size).random((size, size), np.float32)
    variants = [(None, False)] + ([(None, True)] if crops.is_cropped(size, size) else [])
    variants += [(chunk, crops.is_cropped(size, size)) for chunk in args.chunks[size]]
    for chunk, on_crops in variants:
        explainer = Explainer(config, variables, full_pass="rows", chunk_size=chunk)
        explainer.passes.pass_on_crops = on_crops
        chunk = explainer.engine.chunk_for(size, size)
        name = f"{'crops' if on_crops else 'colouring'}, chunks of {chunk}"
        try:
            say(section, name, best_pass(explainer, image))
        except Exception as exc:  # unattended: an out-of-memory variant must not end the run
            print(f"  {name}: failed: {str(exc).splitlines()[0][:200]}", flush=True)
        if out_of_time(args.budget):
            return


def bench_precision(config, variables, model, size, picks, reference, args):
    section = f"precision {size}x{size}"
    print(f"\n[{section}] (a variant counts only within 1e-5 of torch float32)", flush=True)
    image = np.random.default_rng(size).random((size, size), np.float32)
    for precision in ("high", "default"):
        variant = Explainer(replace(config, precision=precision), variables, full_pass="rows")
        error = max_error(variant.gradient_rows(image, picks), reference)
        say(section, f"{precision}: max relative error vs torch", error, "")
        say(section, f"{precision}: pass", best_pass(variant, image))
        if out_of_time(args.budget):
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="width 4, sizes 32 and 144 (CPU)")
    parser.add_argument("--budget", type=float, default=270.0, help="seconds before skipping")
    args = parser.parse_args()
    width, sizes = (4, (32, 144)) if args.tiny else (64, (64, 256))
    # Larger chunks than the memory rule picks: 64x64 colours are single rows (about 25 MB each
    # at full size), 256x256 rows on crops four times that.
    args.chunks = {32: (64,), 144: (64,)} if args.tiny else {64: (2048,), 256: (512,)}
    torch.backends.cudnn.allow_tf32 = False  # PyTorch in true float32
    torch.backends.cuda.matmul.allow_tf32 = False
    model = random_model(width, seed=0).requires_grad_(False)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    config = infer_config(state, "bench_gpu_rf")
    variables = flax_variables(state, config)
    device = jax.devices()[0]
    RESULTS["device"] = device.device_kind
    print(
        f"device: {device.device_kind} ({device.platform}); jax {jax.__version__}; "
        f"torch {torch.__version__} cuda={torch.cuda.is_available()}; width {width}",
        flush=True,
    )
    explainer = Explainer(config, variables, full_pass="rows")
    picks = [(0, 0), (sizes[0] // 2, 5), (sizes[0] - 1, sizes[0] - 3)]
    references = {}
    for size in sizes:
        pix = [(min(y, size - 1), min(x, size - 1)) for y, x in picks + [(size - 1, size // 2)]]
        references[size] = (pix, bench_rows(explainer, model, size, pix))
    for size in sizes[:1] if args.tiny else sizes:  # a CPU's pass at 144x144 takes minutes
        if not out_of_time(args.budget):
            bench_passes(config, variables, size, args)
    pix, reference = references[sizes[0]]
    if not out_of_time(args.budget):
        bench_precision(config, variables, model, sizes[0], pix, reference, args)
    RESULTS["seconds"] = time.perf_counter() - STARTED
    print(f"\ntotal {RESULTS['seconds']:.0f} s", flush=True)
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "bench_gpu_rf.json"), "w") as f:
            json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
