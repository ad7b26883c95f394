"""Time a full-size conversion end to end, parity check included, against the 10 s target.

    .venv/bin/python benchmarks/bench_convert.py

Builds a random width-64 CustomResNet (31.35 M parameters, as users have), saves it with
torch.save into a temporary folder and times convert_checkpoint on it in a fresh process
state: reading, checking, JAX compilation, parity on two 64x64 inputs, hashing and writing.
Compilation is part of what a user waits for, so it is counted, not warmed away.
"""

import os
import tempfile
import time
from pathlib import Path

import torch

from cnninterp.convert.api import convert_checkpoint
from cnninterp.convert.torch_model import random_model

TARGET_SECONDS = 10.0


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "vess_map_custom_cnn.pth"
        torch.save(random_model(width=64, seed=0).state_dict(), source)
        size_mb = source.stat().st_size / 1e6
        start, cpu_start = time.perf_counter(), time.process_time()
        report = convert_checkpoint(source)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in report.stage_seconds.items())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"full-size conversion ({report.parameters / 1e6:.2f} M parameters, {size_mb:.0f} MB)")
    print(
        f"  end to end: {seconds:.2f} s (target {TARGET_SECONDS:.0f} s): "
        f"{'OK' if seconds <= TARGET_SECONDS else 'OVER TARGET'}"
    )
    print(f"  stages: {stages}")
    print(f"  CPU time of this process: {cpu:.2f} s (over all its threads)")
    print(f"  parity: probabilities max |diff| {report.parity.probability_max_abs:.2e}")
    print(f"  machine: {os.cpu_count()} CPUs, load average {load:.2f} at the end")


if __name__ == "__main__":
    main()
