"""Scale, part 2: a Ray export of N images on a local cluster against the in-process export.

Both sides run in this process, warm (compiled on a first run that is not timed), into fresh
output folders (a rerun into the same folder would be skipped by resume), without the result
cache (--no-cache), so both compute every image. Ray gets one worker slot by default, so the
two sides do the same work serially and the difference is Ray's overhead: object-store
transfers of the model and images, scheduling, returning the results, the driver's writes.

    python benchmarks/bench_scale.py                          # 8 images, 64x64, width 8
    python benchmarks/bench_scale.py --images 6 --size 32 --repeat 2   # a small CPU
    python benchmarks/bench_scale.py --images 16 --size 128 --workers 2
"""

import os

# Ray runs each 1-CPU task with OMP_NUM_THREADS=1 (its rule against oversubscription), and
# XLA:CPU's convolutions (oneDNN) follow it; so the in-process side gets the same single
# thread, set before JAX starts, or the comparison would time threads, not Ray.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from cnninterp.export.cli import EXIT_OK, main  # noqa: E402
from cnninterp.jaxcore.model import ModelConfig, random_variables  # noqa: E402
from cnninterp.jaxcore.model_file import save_model  # noqa: E402


def make_inputs(root: Path, count: int, size: int, width: int) -> tuple[Path, Path]:
    model = root / "model.safetensors"
    save_model(model, ModelConfig(width=width), random_variables(ModelConfig(width=width), seed=0))
    images = root / "images"
    images.mkdir()
    for i in range(count):
        pixels = np.random.default_rng(i).integers(0, 256, (size, size)).astype(np.uint8)
        Image.fromarray(pixels).save(images / f"image{i:03d}.png")
    return model, images


def timed_export(model: Path, images: Path, out: Path, *extra: str) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the list of files written
        code = main(["--model", str(model), "--no-cache", "-o", str(out), *extra, str(images)])
    seconds = time.perf_counter() - started
    if code != EXIT_OK:
        sys.exit(f"export failed with exit code {code}")
    return seconds


def task_seconds(out: Path) -> list[float]:
    """Each image's own compute time as its task measured it (the .json's provenance)."""
    return [json.loads(p.read_text())["provenance"]["seconds"] for p in sorted(out.glob("*.json"))]


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="Ray worker slots (num_cpus)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import ray

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        root = Path(scratch)
        model, images = make_inputs(root, args.images, args.size, args.width)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
            started = time.perf_counter()
            ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="WARNING")
            ray_start = time.perf_counter() - started
        runs = {"in-process": [], "ray": []}
        tasks_per_run = []  # each Ray run's task seconds, in image order
        for side, extra in (("in-process", ()), ("ray", ("--cluster", "local"))):
            timed_export(model, images, root / f"warm-{side}", *extra)  # compile, not timed
            for i in range(args.repeat):
                out = root / f"{side}-{i}"
                runs[side].append(timed_export(model, images, out, *extra))
                if side == "ray":
                    tasks_per_run.append(task_seconds(out))
        ray.shutdown()
    n = args.images
    local = statistics.median(runs["in-process"])
    clustered = statistics.median(runs["ray"])
    tasks = statistics.median(sum(run) for run in tasks_per_run)
    first = statistics.median(run[0] for run in tasks_per_run)
    steady = statistics.median(s for run in tasks_per_run for s in run[1:])
    print(f"{n} images {args.size}x{args.size}, width {args.width}, Ray workers {args.workers}")
    print(f"ray.init (local, not in the times below): {ray_start:.2f} s")
    print(f"in-process export: {local:.3f} s ({local / n * 1000:.1f} ms per image)")
    print(f"Ray export:        {clustered:.3f} s ({clustered / n * 1000:.1f} ms per image)")
    print(f"  inside the tasks: {tasks:.3f} s; first task {first * 1000:.0f} ms (a new worker")
    print(f"  process: imports and compiling), then {steady * 1000:.1f} ms per image (median)")
    if args.workers == 1:  # tasks run one after another: the rest of the wall time is Ray's
        outside = (clustered - tasks) / n
        print(
            f"Ray outside the tasks (scheduling, transfers, the driver's writes): "
            f"{outside * 1000:.1f} ms per image = {outside / steady:.1%} of a task's compute"
        )
        print(f"task compute / in-process per image: {steady / (local / n):.2f}x")
    else:
        print(f"speed-up over in-process with {args.workers} workers: {local / clustered:.2f}x")


if __name__ == "__main__":
    main_benchmark()
