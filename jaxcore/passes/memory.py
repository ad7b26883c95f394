"""How much host memory a full-Jacobian pass needs, and a check front ends call before one.

The pass keeps per-row summaries (significance.py) and the image's forward results, and works
on one chunk of rows at a time; on the CPU the device's memory is the host's. The formula,
in bytes, for an H x W image (n = H * W pixels, C classes; the bytes per pixel come from the
model through the seam, model/seam.py, measured or derived for the seed in model/seed.py):

    summaries    exact (n <= 128 * 128): 8 n^2 (rows and sorted magnitudes), + 4 n^2 for the
                 Jacobian assembled by columns; histograms: n * (8 EDGES + 4) + 9 n
    forward      4 n C (probabilities) + n * forward_bytes_per_pixel (the seed: its boolean ReLU
                 masks and the forward pass's float activations while it runs)
    working      one chunk: min(budget, rows * row_bytes_per_pixel * pixels of one row's
                 backward pass: its 128x128 crop where the pass goes on crops, else n)

Beside a pass, an explainer keeps at most kept_rows.KEPT_ROWS_BYTES (128 MiB) of the rows a
focus-following pass computed, for the cursor.

benchmarks/bench_rows.py prints the measured peak RSS beside this estimate at 1024x1024.
"""

import os
from dataclasses import dataclass

from cnninterp.jaxcore.model import receptive_field
from cnninterp.jaxcore.model.seam import SegmentationModel
from cnninterp.jaxcore.summaries.significance import EDGES, is_exact


@dataclass(frozen=True)
class PassMemory:
    """Host bytes of a pass, by what holds them."""

    summaries: int
    forward: int
    working: int

    @property
    def total(self) -> int:
        return self.summaries + self.forward + self.working


def pass_memory(
    height: int,
    width: int,
    model: SegmentationModel,
    *,
    by_columns: bool = False,
    chunk_rows: int = 8,
    chunk_budget: float = 1.5 * 2**30,
    crop_pixels: int | None = None,
) -> PassMemory:
    """The formula above. crop_pixels: pixels of one row's backward pass; by default the crop's
    where the pass goes on crops (the seed's crops, at histogram sizes larger than a crop),
    else the image's."""
    n = height * width
    if crop_pixels is None and model.architecture is None:  # no crops for other models yet
        crop_pixels = n
    if crop_pixels is None:
        crop = receptive_field.crop_extent(height) * receptive_field.crop_extent(width)
        crop_pixels = n if is_exact(height, width) else crop
    if is_exact(height, width):
        summaries = 8 * n * n + (4 * n * n if by_columns else 0)
    else:
        summaries = n * (8 * EDGES + 4)
    summaries += 9 * n  # done, row max |G|, row max G
    forward = 4 * n * model.classes + int(n * model.forward_bytes_per_pixel)
    per_row = model.row_bytes_per_pixel * crop_pixels
    working = int(min(chunk_budget, chunk_rows * per_row))
    return PassMemory(summaries, forward, working)


def available_bytes() -> int | None:
    """Memory the system can give a new allocation now (Linux's MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def check_pass_memory(
    height: int, width: int, model: SegmentationModel, *, available: int | None = None, **kwargs
) -> PassMemory:
    """The pass's estimate (pass_memory's keywords), or ValueError naming the estimate and the
    limit when it exceeds `available` bytes (default: what the system has available now; no
    check when that is unknown). Front ends call it before starting a pass."""
    estimate = pass_memory(height, width, model, **kwargs)
    limit = available_bytes() if available is None else available
    if limit is not None and estimate.total > limit:
        raise ValueError(
            f"a significance pass over the {height}x{width} image needs about "
            f"{estimate.total / 2**30:.1f} GiB of host memory (summaries "
            f"{estimate.summaries / 2**30:.1f} GiB), more than the {limit / 2**30:.1f} GiB "
            "available: ask for gradient rows only, or use a machine with more memory"
        )
    return estimate
