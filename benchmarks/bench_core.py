"""Time cnninterp's compute core against the PyTorch baseline in the same run.

Everything is warm (each function runs twice before timing). Prints one table per section
with our time, PyTorch's, and the ratio. Usage:

    python benchmarks/bench_core.py                   # CPU defaults: 64x64, torch subsets
    python benchmarks/bench_core.py --complete        # time every row on both sides
    python benchmarks/bench_core.py --sizes 64 128 256 --complete   # GPU
"""

import argparse
import json
import resource
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch
from timing import timed

from cnninterp.convert.key_map import infer_config
from cnninterp.convert.torch_model import random_model
from cnninterp.convert.variables import flax_variables
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.rows import gradients
from cnninterp.jaxcore.summaries.significance import (
    EDGES,
    JacobianStats,
    ThresholdMode,
    is_exact,
    significance_counts,
)

RESULTS: dict = {}


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def report(section: str, name: str, seconds: float, note: str = "") -> None:
    RESULTS.setdefault(section, {})[name] = seconds
    print(f"  {name:<58} {seconds * 1e3:10.2f} ms  {note}", flush=True)


def ratio(section: str, ours: str, theirs: str) -> None:
    r = RESULTS[section][theirs] / RESULTS[section][ours]
    RESULTS[section][f"{theirs} / {ours}"] = r
    print(f"  -> {theirs} / {ours} = {r:.2f}x", flush=True)


def matmul_rate() -> float:
    n = 4096 if jax.devices()[0].platform != "cpu" else 2048
    a = jnp.asarray(np.random.default_rng(0).random((n, n), np.float32))
    mm = jax.jit(lambda a: jnp.matmul(a, a, precision="highest"))
    seconds = timed(lambda: mm(a).block_until_ready())
    return 2 * n**3 / seconds


def torch_row_fn(model, image, device):
    x0 = torch.tensor(image, device=device)

    def row(y, x):
        pixels = x0.clone().requires_grad_(True)
        p = torch.softmax(model(pixels[None, None]), dim=1)[0, 1]
        (grad,) = torch.autograd.grad(p[y, x], pixels)
        return grad

    return row


def torch_original_rows(model, image, device, pixels):
    """The original's method: one autograd.grad per output pixel on one retained graph."""
    x = torch.tensor(image, device=device).requires_grad_(True)
    p = torch.softmax(model(x[None, None]), dim=1)[0, 1]
    for y, xx in pixels:
        torch.autograd.grad(p[y, xx], x, retain_graph=True)
    sync()


def torch_func_rows(model, image, device, pixels, chunk=64):
    """torch.func.vmap over a vjp pullback, chunks of `chunk` one-hot cotangents."""
    from torch.func import vjp, vmap

    x = torch.tensor(image, device=device)
    height, width = image.shape

    def prob(pixels):
        return torch.softmax(model(pixels[None, None]), dim=1)[0, 1]

    _, pullback = vjp(prob, x)
    pixels = torch.tensor(np.asarray(pixels), device=device)
    for start in range(0, len(pixels), chunk):
        part = pixels[start : start + chunk]
        cotangents = torch.zeros(len(part), height, width, device=device)
        cotangents[torch.arange(len(part)), part[:, 0], part[:, 1]] = 1.0
        vmap(pullback)(cotangents)
    sync()


def torch_subset(n_rows: int, complete: bool, torch_rows: int) -> tuple[int, float, str]:
    """How many rows PyTorch is timed on, the factor to all rows, and the note saying so."""
    subset = n_rows if complete else min(n_rows, torch_rows)
    note = "" if subset == n_rows else f"(extrapolated from {subset} rows)"
    return subset, n_rows / subset, note


def bench_size(size, explainer, model, device, args, rate, flop_per_row):
    image = np.random.default_rng(size).random((size, size), np.float32)
    n_rows = size * size
    section = f"{size}x{size}"
    print(f"\n[{section}] ({explainer.device_name})", flush=True)
    rng = np.random.default_rng(1)
    picks = [tuple(p) for p in rng.integers(0, size, (20, 2))]
    explainer.probability(image)
    it = iter(picks * 1000)
    report(
        section,
        "ours: one gradient row",
        timed(lambda: explainer.gradient_row(image, *next(it)), 20),
    )
    trow = torch_row_fn(model, image, device)
    it2 = iter(picks * 1000)
    report(
        section, "torch: one row, forward + backward", timed(lambda: (trow(*next(it2)), sync()), 20)
    )
    ratio(section, "ours: one gradient row", "torch: one row, forward + backward")
    errors = [
        float(np.abs(explainer.gradient_row(image, y, x) - trow(y, x).cpu().numpy()).max())
        / float(np.abs(trow(y, x).cpu().numpy()).max())
        for y, x in picks[:5]
    ]
    RESULTS[section]["max relative row error vs torch"] = max(errors)
    print(f"  max relative error of our rows vs torch autograd: {max(errors):.2e}")

    if size > args.full_max:
        return
    start = time.perf_counter()
    ru_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    explainer.warm_up(size, size)  # compiles the chunk function
    first = time.perf_counter() - start
    stats = explainer.jacobian_stats(image)
    kind = "columns" if explainer.passes.by_columns(size, size) else "rows"
    ours_pass = f"ours: all {n_rows} rows + significance summaries"
    report(section, ours_pass, stats.seconds, f"(by {kind}; compile first: {first:.1f} s)")
    if args.compare_passes and is_exact(size, size):
        other_kind = "rows" if kind == "columns" else "columns"
        other = Explainer(explainer.config, explainer.variables, full_pass=other_kind)
        other.warm_up(size, size)
        report(section, f"ours by {other_kind} instead", other.jacobian_stats(image).seconds)
        ratio(section, ours_pass, f"ours by {other_kind} instead")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    RESULTS[section]["peak host RSS GiB"] = peak
    print(f"  peak host RSS so far: {peak:.2f} GiB (before this size: {ru_before / 2**20:.2f})")
    if flop_per_row:
        floor = n_rows * flop_per_row * size**2 / 64**2 / rate
        RESULTS[section]["compute floor s"] = floor
        print(
            f"  compute floor (rows x FLOP/row / matmul rate): {floor:.2f} s -> "
            f"ours / floor = {stats.seconds / floor:.2f}"
        )
    pixels = np.stack(np.unravel_index(np.arange(n_rows), (size, size)), 1)

    def baseline(name: str, all_rows, complete: bool) -> None:
        """Time a PyTorch full pass (on a subset of rows unless `complete`) against ours."""
        subset, scale, note = torch_subset(n_rows, complete, args.torch_rows)
        t = timed(lambda: all_rows(model, image, device, pixels[:subset]), 1) * scale
        report(section, name, t, note)
        ratio(section, ours_pass, name)

    baseline(
        "torch.func: vmap over vjp, chunks of 64", torch_func_rows, args.complete and size <= 128
    )
    if size <= 128:
        baseline(
            "torch: original one-autograd.grad-per-pixel loop",
            torch_original_rows,
            args.complete and size <= 64,
        )
    if stats.rows is not None:
        y, x = picks[0]
        report(section, "ours: a row the pass already produced", timed(lambda: stats.row(y, x), 50))
    report(
        section,
        "ours: significance map for a new threshold",
        timed(lambda: significance_counts(stats, ThresholdMode.GLOBAL, 0.37), 20),
    )


def bench_histogram_query(size=256):
    """Significance latency at 256x256 on summaries of the right shape (values synthetic)."""
    stats = JacobianStats.empty(size, size)
    rng = np.random.default_rng(0)
    n = size * size
    stats.done[:] = True
    stats.row_max_abs[:] = rng.random((size, size), np.float32)
    stats.edges[:] = stats.row_max_abs.reshape(-1, 1) * 10.0 ** (-np.arange(EDGES) / 16)
    stats.above_edges[:] = np.sort(rng.integers(0, n, (n, EDGES + 1)), axis=1).astype(np.int32)
    t = timed(lambda: significance_counts(stats, ThresholdMode.GLOBAL, 0.37), 10)
    report("queries", f"ours: significance map for a new threshold, {size}x{size} (histogram)", t)


def bench_colouring(explainer, size=256, chunk=16):
    """Rows per second of plain vmapped rows vs receptive-field colouring at one size."""
    image = np.random.default_rng(3).random((size, size), np.float32)
    probs, masks = explainer.linearised(image)
    cfg, variables = explainer.config, explainer.variables
    plain = jax.jit(
        jax.vmap(lambda y, x: gradients.gradient_row(cfg, variables, probs, masks, y, x))
    )
    coloured = jax.jit(
        jax.vmap(lambda y, x: gradients.colour_rows(cfg, variables, probs, masks, y, x)[0])
    )
    ys = jnp.arange(chunk, dtype=jnp.int32)
    t_plain = timed(lambda: plain(ys, ys).block_until_ready(), 3) / chunk
    members = (-(-size // gradients.COLOUR_SPACING)) ** 2
    t_col = timed(lambda: coloured(ys, ys).block_until_ready(), 3) / (chunk * members)
    section = f"colouring {size}x{size}"
    report(section, "plain vmapped rows, per row", t_plain)
    report(section, f"coloured rows ({members} per pass), per row", t_col)
    ratio(section, f"coloured rows ({members} per pass), per row", "plain vmapped rows, per row")


def backward_flop_per_row(width: int, size: int) -> float:
    """FLOP of one input-gradient backward pass, counted from docs/ORIGINAL.md §1's layers."""
    flop, side = 2 * size * size * 1 * width * 9, size  # stem conv
    channels = width
    for _ in range(4):  # blocks: conv1 and skip (stride 2), conv2, all at the output size
        side //= 2
        flop += 2 * side * side * 9 * (2 * channels * 2 * channels + 2 * channels * channels * 2)
        channels *= 2
    for _ in range(4):  # ConvTranspose: 9 MACs per input pixel and channel pair
        flop += 2 * side * side * 9 * channels * channels // 2
        side, channels = side * 2, channels // 2
    return flop + 2 * size * size * 9 * width * 2  # final conv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--complete", action="store_true", help="time every torch row too")
    parser.add_argument("--torch-rows", type=int, default=256, help="torch rows timed otherwise")
    parser.add_argument("--full-max", type=int, default=256, help="largest size for full passes")
    parser.add_argument("--colouring", action="store_true")
    parser.add_argument(
        "--full-pass", choices=["rows", "columns"], help="default: the Explainer's for the device"
    )
    parser.add_argument(
        "--compare-passes", action="store_true", help="also time the other kind of full pass"
    )
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    # Both sides in true float32: no TF32 in cuDNN convolutions or matmuls.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_num_threads(torch.get_num_threads())
    model = random_model(args.width, seed=0).requires_grad_(False).to(device)
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    config = infer_config(state, "benchmark")
    explainer = Explainer(config, flax_variables(state, config), full_pass=args.full_pass)
    print(
        f"device: {explainer.device_name}; torch {torch.__version__} on {device}; "
        f"jax {jax.__version__}; precision {config.precision}; width {args.width}"
    )
    rate = matmul_rate()
    RESULTS["matmul GFLOP/s"] = rate / 1e9
    print(f"fp32 matmul (precision highest): {rate / 1e9:.0f} GFLOP/s")
    start = time.perf_counter()
    explainer.warm_up(64, 64)
    print(f"compile (warm_up 64x64): {time.perf_counter() - start:.1f} s")
    image = np.zeros((64, 64), np.float32)
    probs, masks = explainer.linearised(image)
    lowered = jax.jit(lambda p, m: gradients.gradient_row(config, explainer.variables, p, m, 0, 0))
    cost = lowered.lower(probs, masks).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    xla_flop = float(cost.get("flops", 0.0)) if cost else 0.0
    flop_per_row = backward_flop_per_row(args.width, 64)
    print(
        f"one 64x64 row: {flop_per_row / 1e9:.2f} GFLOP by the architecture, "
        f"{xla_flop / 1e9:.2f} by XLA's cost analysis"
    )
    for size in args.sizes:
        bench_size(size, explainer, model, device, args, rate, flop_per_row)
    bench_histogram_query()
    if args.colouring:
        bench_colouring(explainer)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
