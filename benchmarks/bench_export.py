"""cnninterp-export of a few rows without the significance pass (issue 12), warm, against
PyTorch's forward + backward rows in the same run.

The whole command as a script runs it (`cli.main`: argument checks, image loading, model
opening, the rows, both files written atomically, summary.csv), after one untimed call that
compiles. Goal: 3 rows of a 256x256 image, full-size model, <= 3 s warm on the CPU.

    python benchmarks/bench_export.py                 # full size (width 64), 256x256
    python benchmarks/bench_export.py --width 8 --size 64 --repeat 2   # quick
"""

import argparse
import io
import json
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import torch
from bench_core import torch_row_fn
from PIL import Image
from timing import timed

from cnninterp.convert.key_map import infer_config
from cnninterp.convert.torch_model import random_model
from cnninterp.convert.variables import flax_variables
from cnninterp.export.cli import main
from cnninterp.frontend import ExitCode
from cnninterp.jaxcore.model.model_file import save_model


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()
    model = random_model(args.width, seed=0).requires_grad_(False)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    config = infer_config(state, "benchmark")
    size = args.size
    pixels = [(10, size - 56), (size // 2, size // 2), (size - 6, 3)]
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (size, size)).astype(np.uint8)
    results: dict = {"width": args.width, "size": size, "rows": len(pixels)}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        save_model(root / "model.safetensors", config, flax_variables(state, config))
        Image.fromarray(image).save(root / "image.png")
        runs = iter(range(10**6))

        def export() -> None:
            out = root / f"out{next(runs)}"
            argv = ["--model", str(root / "model.safetensors"), "--no-cache"]
            argv += ["--outputs", "probability,gradients", "--mode", "row"]
            argv += [arg for y, x in pixels for arg in ("--pixel", f"{y},{x}")]
            with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
                assert main([*argv, "-o", str(out), str(root / "image.png")]) == ExitCode.OK

        started = time.perf_counter()
        export()
        results["first_call_s"] = time.perf_counter() - started  # compiling included
        results["export_warm_s"] = timed(export, args.repeat, warm_up=1)
    row = torch_row_fn(model, (image / 255.0).astype(np.float32), torch.device("cpu"))

    def torch_rows() -> None:
        for y, x in pixels:
            row(y, x)

    results["torch_rows_s"] = timed(torch_rows, args.repeat, warm_up=1)
    results["torch_over_export"] = results["torch_rows_s"] / results["export_warm_s"]
    for name, value in results.items():
        print(f"  {name:<22} {value:.3f}" if isinstance(value, float) else f"  {name:<22} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    main_bench()
