"""Attribution methods and region targets, ours and Captum's, warm, in the same run.

    python benchmarks/bench_methods.py [--width 64] [--size 64] [--target-sizes 64 256]

- IG (32 steps, Gauss-Legendre, zeros) and SmoothGrad (16 samples) of the whole-vessel
  target at 64x64: our Attributor against Captum's IntegratedGradients / NoiseTunnel on the
  same model in PyTorch (all steps in one batch, Captum's default).
- A region target's gradient (one dense backward pass) against one pixel's gradient row,
  both from the same linearised image, at each of --target-sizes.

Prints every time and the ratios, and a JSON line at the end (for benchmarks/results/).
"""

import argparse
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import torch
from captum.attr import IntegratedGradients, NoiseTunnel, Saliency
from timing import timed

from cnninterp.convert.key_map import infer_config
from cnninterp.convert.torch_model import random_model
from cnninterp.convert.variables import flax_variables
from cnninterp.jaxcore.explain.attribution import Attributor
from cnninterp.jaxcore.explain.methods import Method, baseline_image
from cnninterp.jaxcore.explain.targets import Target, target_weights
from cnninterp.jaxcore.passes.explainer import Explainer

RESULTS: dict = {}
ROUNDS = 3  # interleaved rounds of the row and the region target


def report(name: str, seconds: float) -> None:
    RESULTS[name] = seconds
    print(f"  {name:<52} {seconds * 1e3:10.1f} ms", flush=True)


def ratio(slower: str, faster: str) -> None:
    value = RESULTS[slower] / RESULTS[faster]
    RESULTS[f"{slower} / {faster}"] = value
    print(f"  -> {slower} / {faster} = {value:.2f}x", flush=True)


def some_vessel_target(probability) -> Target:
    """The whole vessel when the random model predicts some, else a 16x16 box: either way a
    region of many pixels (a random model's p hovers near 0.5)."""
    if (probability > 0.5).sum() >= 16:
        return Target("vessel")
    return Target("box", box=(8, 8, 23, 23))


def torch_forward(model, weights):
    weights = torch.tensor(weights)

    def forward(batch):
        return (torch.softmax(model(batch), dim=1)[:, 1] * weights).sum(dim=(1, 2))

    return forward


def bench_methods(model, explainer, size: int, repeat: int) -> None:
    attributor = Attributor(explainer)
    image = np.random.default_rng(0).random((size, size), dtype=np.float32)
    target = some_vessel_target(explainer.probability(image))
    weights = target_weights(target, explainer.probability(image))
    forward = torch_forward(model, weights)
    batch = torch.tensor(image)[None, None].requires_grad_(True)
    print(f"methods at {size}x{size}, target {target.describe()}", flush=True)

    ig = Method("ig", steps=32)
    baseline = torch.tensor(baseline_image("zeros", image))[None, None]
    captum_ig = IntegratedGradients(forward)
    report("ours IG 32 steps", timed(lambda: attributor.attribute(image, ig, target), repeat))
    report(
        "Captum IntegratedGradients 32 steps",
        timed(lambda: captum_ig.attribute(batch, baselines=baseline, n_steps=32), repeat),
    )
    ratio("Captum IntegratedGradients 32 steps", "ours IG 32 steps")

    smooth = Method("smoothgrad", samples=16, sigma=0.15)
    tunnel = NoiseTunnel(Saliency(forward))
    stdev = 0.15 * float(image.max() - image.min())
    report("ours SmoothGrad 16", timed(lambda: attributor.attribute(image, smooth, target), repeat))
    report(
        "Captum NoiseTunnel(Saliency) 16",
        timed(
            lambda: tunnel.attribute(
                batch, nt_type="smoothgrad", nt_samples=16, stdevs=stdev, abs=False
            ),
            repeat,
        ),
    )
    ratio("Captum NoiseTunnel(Saliency) 16", "ours SmoothGrad 16")


def bench_target(explainer, size: int, repeat: int) -> None:
    """A region's dense backward pass against one pixel's windowed row, same linearisation."""
    attributor = Attributor(explainer)
    image = np.random.default_rng(1).random((size, size), dtype=np.float32)
    probability = explainer.probability(image)
    weights = jnp.asarray(target_weights(some_vessel_target(probability), probability))
    probs, masks = explainer.linearised(image)
    y, x = jnp.int32(size // 2), jnp.int32(size // 3)
    row = explainer.rows.row  # the jitted row gradient_row times, without its host copy
    row_name, region_name = f"one pixel's row {size}x{size}", f"region target {size}x{size}"
    # Interleaved rounds: on a shared machine the load drifts within seconds, and timing one
    # function after the other would put the drift into the ratio.
    rows, regions = [], []
    for _ in range(ROUNDS):
        rows.append(timed(lambda: row(probs, masks, y, x).block_until_ready(), repeat))
        regions.append(
            timed(lambda: attributor.pull_back(probs, masks, weights).block_until_ready(), repeat)
        )
    report(row_name, float(np.median(rows)))
    report(region_name, float(np.median(regions)))
    ratio(region_name, row_name)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64, help="64 is the full-size model")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--target-sizes", type=int, nargs="*", default=[64, 256])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--methods", action=argparse.BooleanOptionalAction, default=True, help="IG/SmoothGrad"
    )
    args = parser.parse_args(argv)
    model = random_model(args.width, seed=0).requires_grad_(False)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    config = infer_config(state, "bench")
    explainer = Explainer(config, flax_variables(state, config))
    print(
        f"device {explainer.device_name}, width {args.width}, torch threads "
        f"{torch.get_num_threads()}, jax {jax.__version__}",
        flush=True,
    )
    if args.methods:
        bench_methods(model, explainer, args.size, args.repeat)
    for size in args.target_sizes:
        bench_target(explainer, size, args.repeat)
    print(json.dumps({"argv": sys.argv[1:], "results": RESULTS}))


if __name__ == "__main__":
    main()
