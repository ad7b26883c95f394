"""Scale: the full pass over 1, 2, 4 devices (part 1), and a Ray export (part 2).

Part 1 (`--devices-pass`): one image's full pass on 1, 2 and 4 devices, each count in its own
subprocess (XLA_FLAGS=--xla_force_host_platform_device_count=N on the CPU, which must be set
before JAX starts; on a GPU machine the first N GPUs), warm (a first pass compiles, untimed),
reporting each device's share of the work (offsets it computed, read from the result shards)
and the speed-up over one device. Simulated CPU devices share the machine's cores, so on the
CPU this shows the work is split, not what N GPUs gain.

    python benchmarks/bench_scale.py --devices-pass --size 64 --width 4
    python benchmarks/bench_scale.py --devices-pass --size 256 --width 64   # on a GPU server

Part 2: a Ray export of N images on a local cluster against the in-process export.

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

from cnninterp.export.cli import main  # noqa: E402
from cnninterp.frontend import ExitCode  # noqa: E402
from cnninterp.jaxcore.model.model_file import save_model  # noqa: E402
from cnninterp.jaxcore.model.network import ModelConfig, random_variables  # noqa: E402


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
    if code != ExitCode.OK:
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


# --- part 1: the full pass over several devices ---------------------------------------------


def one_device_count(count: int, size: int, width: int, repeat: int) -> dict:
    """In a subprocess whose JAX sees `count` devices: warm, then timed full passes."""
    from cnninterp.jaxcore.passes.explainer import Explainer

    config = ModelConfig(width=width)
    explainer = Explainer(config, random_variables(config, seed=0), devices=count)
    pixels = np.random.default_rng(0).random((size, size), dtype=np.float32)
    explainer.jacobian_stats(pixels)  # compiles; not timed
    before = dict(explainer.spread.work)
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        explainer.jacobian_stats(pixels)
        seconds.append(time.perf_counter() - started)
    work = {k: (v - before[k]) // repeat for k, v in explainer.spread.work.items()}
    return {
        "devices": explainer.device_name,
        "full_pass": explainer.full_pass,
        "seconds": statistics.median(seconds),
        "work": work,
        "row_idle": statistics.median(row_latencies(explainer, pixels, during_pass=False)),
        "row_during_pass": statistics.median(row_latencies(explainer, pixels, during_pass=True)),
    }


def row_latencies(explainer, pixels, *, during_pass: bool, rows: int = 6) -> list[float]:
    """Seconds from asking for a gradient row to having it, alone or while a pass runs."""
    import threading

    cancel = threading.Event()
    worker = threading.Thread(target=lambda: explainer.jacobian_stats(pixels, cancel=cancel))
    if during_pass:
        worker.start()
        time.sleep(0.5)  # the pass is under way
    latencies = []
    for k in range(rows):
        started = time.perf_counter()
        explainer.gradient_row(pixels, 3 * k, 5 * k)
        latencies.append(time.perf_counter() - started)
        time.sleep(0.1)
    cancel.set()
    if during_pass:
        worker.join()
    return latencies


def devices_benchmark(args) -> None:
    import subprocess

    results = {}
    for count in (1, 2, 4):
        env = os.environ | {
            "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} "
            f"--xla_force_host_platform_device_count={count}".strip()
        }
        child = [sys.executable, __file__, "--devices-child", str(count)]
        child += ["--size", str(args.size), "--width", str(args.width)]
        child += ["--repeat", str(args.repeat)]
        run = subprocess.run(child, env=env, capture_output=True, text=True)
        if run.returncode:
            sys.exit(f"{count} devices: failed\n{run.stderr[-2000:]}")
        results[count] = json.loads(run.stdout.strip().splitlines()[-1])
    base = results[1]["seconds"]
    print(f"full pass {args.size}x{args.size}, width {args.width}, {results[1]['full_pass']}")
    for count, result in results.items():
        total = sum(result["work"].values())
        shares = " ".join(f"{100 * w / total:.0f}%" for w in result["work"].values())
        print(
            f"{count} device(s) [{result['devices']}]: {result['seconds']:.2f} s, "
            f"speed-up {base / result['seconds']:.2f}x (ideal {count}x), shares {shares}; "
            f"a row {result['row_idle'] * 1000:.0f} ms alone, "
            f"{result['row_during_pass'] * 1000:.0f} ms during the pass"
        )


def main_entry() -> None:
    if "--devices-pass" in sys.argv or "--devices-child" in sys.argv:
        parser = argparse.ArgumentParser(description="the full pass over 1, 2, 4 devices")
        parser.add_argument("--devices-pass", action="store_true")
        parser.add_argument("--devices-child", type=int)
        parser.add_argument("--size", type=int, default=64)
        parser.add_argument("--width", type=int, default=4)
        parser.add_argument("--repeat", type=int, default=2)
        args = parser.parse_args()
        if args.devices_child:
            print(
                json.dumps(one_device_count(args.devices_child, args.size, args.width, args.repeat))
            )
        else:
            devices_benchmark(args)
        return
    main_benchmark()


if __name__ == "__main__":
    main_entry()
