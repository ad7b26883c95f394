"""One image's export: the arrays in OUTDIR/<stem>.npz and the numbers and provenance in
OUTDIR/<stem>.json, each written atomically, the .json last (cnninterp-export's contract)."""

import hashlib
import io
import json
import platform
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from cnninterp.jaxcore.cache import StatsCache, cached_jacobian_stats
from cnninterp.jaxcore.footprint import footprint
from cnninterp.jaxcore.images import ImageSource, LoadedImage, load_image
from cnninterp.jaxcore.model_file import file_sha256, write_atomically
from cnninterp.jaxcore.significance import (
    ThresholdMode,
    predicted_mask,
    significance_counts,
    threshold_value,
)


@dataclass(frozen=True)
class Job:
    """What every image of one call is asked for."""

    output: Path
    """OUTDIR."""
    pixels: np.ndarray
    """int [N, 2]: (y, x) of the rows to export, in the order given."""
    mode: ThresholdMode
    t_value: float
    provenance: dict
    """Model and versions: the same for every image (each image adds its device and node)."""

    def request(self) -> dict:
        """The options that decide an image's outputs, as recorded in its .json (resume
        compares them)."""
        return {"mode": self.mode.value, "threshold": self.t_value, "pixels": self.pixels.tolist()}


@dataclass(frozen=True)
class ImageExport:
    """One image's outputs, computed but not yet written: what a cluster task sends back."""

    name: str
    """The stem: files are <name>.npz and <name>.json."""
    npz: bytes
    """The .npz file's bytes."""
    record: dict
    """The .json's content; its outputs.npz_sha256 names the .npz it belongs to."""
    answered: str
    """How the full pass was answered from the result cache: hit, miss or disabled."""


def export_image(explainer, source: ImageSource, job: Job, cache: StatsCache, on_progress) -> str:
    """Compute and write one image's .npz and .json; returns how the full pass was answered."""
    started = time.perf_counter()
    loaded = load_image(source)
    result = explain_image(
        explainer, loaded, file_sha256(source.image_path), job, cache, on_progress, started
    )
    write_export(job.output, result)
    return result.answered


def explain_image(
    explainer,
    loaded: LoadedImage,
    image_sha256: str,
    job: Job,
    cache: StatsCache,
    on_progress,
    started: float | None = None,
) -> ImageExport:
    """One image's outputs in memory; `started` (perf_counter) counts loading in the seconds."""
    started = time.perf_counter() if started is None else started
    source = loaded.source
    pixels = loaded.pixels
    mode, t_value, yx = job.mode, job.t_value, job.pixels
    probability = explainer.probability(pixels)
    stats = cached_jacobian_stats(explainer, pixels, cache, on_progress=on_progress)
    answered = (
        "disabled" if not cache.enabled else "hit" if stats.extras.get("cache_path") else "miss"
    )
    significance = significance_counts(
        stats, mode, t_value, predicted_mask=predicted_mask(probability)
    )
    gradients = explainer.gradient_rows(pixels, yx) if len(yx) else np.zeros((0, *pixels.shape))
    records = []
    for (y, x), row in zip(yx.tolist(), gradients, strict=True):
        fp = footprint(row, threshold_value(stats, mode, t_value, y, x), y, x)
        records.append({"y": y, "x": x, "probability": float(probability[y, x])} | asdict(fp))
    arrays = {
        "probability": probability.astype(np.float32),
        "pixels": yx,
        "gradients": gradients.astype(np.float32),
        "significance": significance.counts.astype(np.float32),
    }
    global_value = None if mode is ThresholdMode.ROW else threshold_value(stats, mode, t_value)
    record = {
        "image": {
            "name": source.name,
            "path": str(source.image_path.resolve()),
            "original_shape": list(loaded.original_shape),
            "shape": list(pixels.shape),
            "notes": list(loaded.notes),
            "sha256": image_sha256,
        },
        "request": job.request(),
        "threshold": {
            "mode": mode.value,
            "value": None if mode is ThresholdMode.LEGACY else t_value,
            "description": mode.describe(t_value),
            "absolute": global_value,  # null in row mode: each pixel's is in its footprint
            "max_abs_J": stats.max_abs,
            "max_signed_J": stats.max_signed,
        },
        "counts": {
            "exact": significance.error is None,
            "max_error": None if significance.error is None else int(significance.error.max()),
        },
        "footprints": records,
        "provenance": job.provenance
        | {
            "device": explainer.device_name,
            "node": platform.node(),
            "utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - started, 3),
            "full_pass_seconds": round(stats.seconds, 3),
            "result_cache": answered,
        },
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    npz = buffer.getvalue()
    record["outputs"] = {"npz_sha256": hashlib.sha256(npz).hexdigest()}
    return ImageExport(source.name, npz, record, answered)


def write_export(output: Path, result: ImageExport) -> None:
    """Write <name>.npz then <name>.json into OUTDIR, each atomically."""
    text = json.dumps(result.record, indent=1, allow_nan=False) + "\n"
    # The .json last: a reader that finds it can trust the .npz beside it.
    write_atomically(output / f"{result.name}.npz", lambda tmp: tmp.write_bytes(result.npz))
    write_atomically(output / f"{result.name}.json", lambda tmp: tmp.write_text(text))
