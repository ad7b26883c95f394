"""Rebuild the bundled demo: train a small CustomResNet on synthetic vessels, convert, evaluate.

    python -m cnninterp.demo.train --out demo/assets

is the command that made the shipped assets (defaults = the shipped run). It exercises the
same pipeline a user's checkpoint goes through: PyTorch training -> ordinary `state_dict`
.pth -> `cnninterp.convert.api.convert_checkpoint` -> model file -> JAX probability, so the
numbers in metrics.json are measured on the converted model, in JAX.

Seeds are split so nothing is evaluated on what it was trained on: training images use
generator seeds 0..pool-1, held-out images HELD_OUT_SEED + i, demo images DEMO_SEED + i.
"""

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cnninterp.convert.torch_model import CustomResNet
from cnninterp.demo import MODEL_FILE
from cnninterp.demo.synthetic import synthetic_batch

HELD_OUT_SEED = 1_000_000
DEMO_SEED = 2_000_000
VESSMAP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "vessmap"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m cnninterp.demo.train", description=__doc__.split("\n")[0]
    )
    p.add_argument("--out", type=Path, required=True, help="assets folder to (re)write")
    p.add_argument("--steps", type=int, default=800, help="optimiser steps (default 800)")
    p.add_argument("--width", type=int, default=8, help="CustomResNet base width (default 8)")
    p.add_argument("--size", type=int, default=64, help="training image side (default 64)")
    p.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    p.add_argument("--pool", type=int, default=512, help="distinct training images (default 512)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak Adam learning rate")
    p.add_argument("--seed", type=int, default=0, help="torch init and batch order (default 0)")
    p.add_argument("--held-out", type=int, default=64, help="held-out synthetic images to score")
    p.add_argument("--demo-images", type=int, default=6, help="64x64 demo images to write")
    p.add_argument("--vessmap", type=Path, default=VESSMAP, help="VessMAP folder to score on")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    return p.parse_args(argv)


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 rotations/flips of [B, 1, H, W]: vessels have no preferred direction."""
    x = torch.rot90(x, k % 4, dims=(2, 3))
    return torch.flip(x, dims=(3,)) if k >= 4 else x


def train(args: argparse.Namespace, log) -> tuple[CustomResNet, float]:
    """The trained model in eval mode and the final running loss."""
    torch.manual_seed(args.seed)
    images, labels = synthetic_batch(range(args.pool), args.size)
    x_all = torch.from_numpy(images)[:, None]  # (N, 1, H, W)
    y_all = torch.from_numpy(labels.astype(np.int64))[:, None]  # (N, 1, H, W)
    model = CustomResNet(num_classes=2, width=args.width)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(args.seed)
    model.train()
    running = float("nan")
    for step in range(args.steps):
        idx = torch.randint(0, args.pool, (args.batch,), generator=gen)
        k = int(torch.randint(0, 8, (1,), generator=gen))
        x, y = dihedral(x_all[idx], k), dihedral(y_all[idx], k)[:, 0]
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running = loss.item() if step == 0 else 0.98 * running + 0.02 * loss.item()
        if step % 100 == 0 or step == args.steps - 1:
            log(f"step {step:5d}/{args.steps}  loss {running:.4f}")
    return model.eval(), running


def iou_scores(probs: list[np.ndarray], labels: list[np.ndarray]) -> dict:
    """Pooled IoU (all pixels together) and mean per-image IoU of p > 0.5 against labels."""
    inter = np.array([np.sum((p > 0.5) & t) for p, t in zip(probs, labels, strict=True)])
    union = np.array([np.sum((p > 0.5) | t) for p, t in zip(probs, labels, strict=True)])
    per_image = inter / np.maximum(union, 1)
    return {
        "images": len(probs),
        "iou": round(float(inter.sum() / max(union.sum(), 1)), 4),
        "mean_image_iou": round(float(per_image.mean()), 4),
    }


def evaluate(model_path: Path, args: argparse.Namespace, log) -> dict:
    """IoU of the *converted* model, run in JAX, on held-out synthetic images and VessMAP."""
    import jax

    from cnninterp.jaxcore.images.loading import ImageError, find_images, load_image
    from cnninterp.jaxcore.model.model_file import load_model
    from cnninterp.jaxcore.model.network import vessel_probability

    config, variables, _ = load_model(model_path)
    prob = jax.jit(lambda image: vessel_probability(config, variables, image))
    metrics: dict[str, dict | None] = {}
    for size in sorted({64, args.size}):
        images, labels = synthetic_batch(range(HELD_OUT_SEED, HELD_OUT_SEED + args.held_out), size)
        probs = [np.asarray(prob(im)) for im in images]
        metrics[f"synthetic_held_out_{size}x{size}"] = iou_scores(probs, list(labels))
    try:
        sources = [s for s in find_images(args.vessmap) if s.label_path is not None]
    except ImageError:
        sources = []
    if sources:
        labelled = [
            (im.pixels, im.label) for im in map(load_image, sources) if im.label is not None
        ]
        probs = [np.asarray(prob(pixels)) for pixels, _ in labelled]
        metrics["vessmap"] = iou_scores(probs, [label for _, label in labelled])
    else:
        log(f"no labelled VessMAP images under {args.vessmap}: skipping that score")
        metrics["vessmap"] = None
    for name, m in metrics.items():
        log(f"{name}: {m}")
    return metrics


def write_demo_images(out: Path, count: int) -> list[str]:
    """64x64 held-out demo images and labels as 8-bit PNGs in out/images, out/labels."""
    images, labels = synthetic_batch(range(DEMO_SEED, DEMO_SEED + count), 64)
    for sub in ("images", "labels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for stale in (out / sub).glob("synthetic_*.png"):  # from a run with more images
            stale.unlink()
    names = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        name = f"synthetic_{i}"
        Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(out / "images" / f"{name}.png")
        Image.fromarray(label.astype(np.uint8) * 255).save(out / "labels" / f"{name}.png")
        names.append(name)
    return names


README = """\
# Demo assets (generated: do not edit by hand)

Everything in this folder was written by

    {command}

(torch {torch}, Python {python}, {threads} CPU threads, {seconds:.0f} s including evaluation).

- `demo_model.safetensors`: `CustomResNet` (the architecture of docs/ORIGINAL.md §1) at base width
  {width}, {params:,} parameters, trained from scratch with AdamW (one-cycle, peak lr {lr})
  for {steps} steps of {batch} random {size}x{size} synthetic images drawn from {pool}
  generated with `cnninterp.demo.synthetic` (seeds 0..{pool_last}) under random
  rotations/flips, saved as an ordinary `state_dict` .pth and converted with
  `cnninterp.convert.api.convert_checkpoint`. Final training loss {loss:.4f}.
  PyTorch and the converted model agree to {parity:.1e} in probability.
- `images/`, `labels/`: {n_demo} held-out 64x64 synthetic images (generator seeds {demo_seed}..)
  and their exact 0/255 vessel masks.
- `metrics.json`: IoU of p > 0.5 (p = the converted model's vessel probability, computed in
  JAX) against the labels: pooled over all pixels ("iou") and averaged per image.

| data | images | IoU | mean per-image IoU |
|---|---|---|---|
{rows}

The synthetic held-out images use generator seeds {held_out_seed}.. . VessMAP (the
100 real images of `../shared/data/vessmap`, not shipped) is out of distribution for a model
that has only seen synthetic vessels; the number says how far the synthetic data carries.
"""


def write_readme(out: Path, facts: dict, metrics: dict) -> None:
    rows = "\n".join(
        f"| {name} | {m['images']} | {m['iou']:.3f} | {m['mean_image_iou']:.3f} |"
        if m
        else f"| {name} | - | not available on the machine that built this | - |"
        for name, m in metrics.items()
    )
    (out / "README.md").write_text(README.format(rows=rows, **facts))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", flush=True)

    from cnninterp.convert.api import convert_checkpoint

    model, loss = train(args, log)
    names = write_demo_images(out, args.demo_images)
    log("training done; converting")
    with tempfile.TemporaryDirectory() as tmp:
        pth = Path(tmp) / "demo_model.pth"
        torch.save(model.state_dict(), pth)  # an ordinary state_dict, as users have
        check = out / "images" / f"{names[0]}.png" if names else None
        report = convert_checkpoint(pth, out / MODEL_FILE, overwrite=True, check_image=check)
    parity = report.parity.probability_max_abs
    log(f"converted to {report.out_path}: max |p_jax - p_torch| = {parity:.2e}")
    metrics = evaluate(out / MODEL_FILE, args, log)
    seconds = time.perf_counter() - t0
    command = "python -m cnninterp.demo.train " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    facts = dict(
        command=command, torch=torch.__version__, python=platform.python_version(),
        threads=args.threads, seconds=seconds, width=args.width, lr=args.lr,
        params=sum(p.numel() for p in model.parameters()), steps=args.steps, batch=args.batch,
        size=args.size, pool=args.pool, pool_last=args.pool - 1, loss=loss, n_demo=len(names),
        demo_seed=DEMO_SEED, held_out_seed=HELD_OUT_SEED, parity=parity,
    )  # fmt: skip
    record = {"command": command, "seconds": round(seconds, 1), "final_loss": round(loss, 4)}
    record["parity_probability_max_abs"] = float(parity)
    record |= {"threshold": 0.5, "metrics": metrics, "demo_images": names}
    (out / "metrics.json").write_text(json.dumps(record, indent=1) + "\n")
    write_readme(out, facts, metrics)
    log(f"done in {seconds:.0f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
