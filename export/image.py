"""One image's export: the arrays in OUTDIR/<stem>.npz and the numbers and provenance in
OUTDIR/<stem>.json, each written atomically, the .json last (cnninterp-export's contract)."""

import hashlib
import io
import platform
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from cnninterp.export.attributions import explain_entries
from cnninterp.export.options import OUTPUTS
from cnninterp.jaxcore.explain.groundtruth import segmentation_scores
from cnninterp.jaxcore.explain.methods import Method
from cnninterp.jaxcore.files.disk import file_sha256, write_atomically
from cnninterp.jaxcore.files.json_record import json_text
from cnninterp.jaxcore.images.header import MAX_PIXELS
from cnninterp.jaxcore.images.loading import ImageSource, LoadedImage, load_image
from cnninterp.jaxcore.store.attributions import AttributionCache
from cnninterp.jaxcore.store.results import StatsCache, cached_jacobian_stats
from cnninterp.jaxcore.summaries.significance import (
    ThresholdMode,
    predicted_mask,
    significance_counts,
    threshold_value,
)

CHANNELS_RECORD = {
    "npz": "gradient_channels",
    "axes": ["entry", "channel", "y", "x"],
    "channel": "the model's input channels in order (R, G, B for an RGB file)",
    "sum": "gradients is the sum of gradient_channels over the channel axis",
}
"""The .json's word on the per-channel maps of an image with channels (attribution.channels)."""


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
    outputs: tuple[str, ...] = OUTPUTS
    """What to compute and write (export.options.OUTPUTS); without significance no pass."""
    method: Method = Method()
    target: str = "pixel"
    """--target: pixel | box:Y0,X0,Y1,X1 | segment | vessel | border (export.attributions)."""
    max_pixels: int = MAX_PIXELS
    """Largest image accepted (jaxcore.images.loading.load_image's max_pixels)."""
    explained_class: int | None = None
    """--class resolved (None: the model file's own choice); cluster workers open the model
    with it."""

    def request(self) -> dict:
        """The options that decide an image's outputs, as recorded in its .json (resume
        compares them)."""
        return {
            "mode": self.mode.value,
            "threshold": self.t_value,
            "pixels": self.pixels.tolist(),
            "outputs": list(self.outputs),
            "method": self.method.name,
            "parameters": self.method.parameters(),
            "target": self.target,
        } | ({} if self.explained_class is None else {"class": self.explained_class})


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
    loaded = load_image(
        source,
        max_pixels=job.max_pixels,
        multiple=explainer.model.size_multiple,
        channels=explainer.model.input_channels,
        label_class=(explainer.model.explained_class, explainer.model.classes),
    )
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
    mode, t_value = job.mode, job.t_value
    probability = explainer.probability(pixels)
    stats, answered = None, "not run"
    if "significance" in job.outputs:
        stats = cached_jacobian_stats(explainer, pixels, cache, on_progress=on_progress)
        answered = (
            "disabled" if not cache.enabled else "hit" if stats.extras.get("cache_path") else "miss"
        )
    arrays = {"pixels": job.pixels}
    if "probability" in job.outputs:
        arrays["probability"] = probability.astype(np.float32)
    records: list[dict] = []
    if "gradients" in job.outputs:
        attribution_cache = AttributionCache(cache.root, enabled=cache.enabled)
        entries = explain_entries(
            explainer, pixels, probability, loaded.label, job, stats, attribution_cache
        )
        arrays["gradients"], records = entries.values, entries.records
        if entries.channels is not None:
            arrays["gradient_channels"] = entries.channels
    global_value = None
    if stats is not None:
        significance = significance_counts(
            stats, mode, t_value, predicted_mask=predicted_mask(probability)
        )
        arrays["significance"] = significance.counts.astype(np.float32)
        if mode is not ThresholdMode.ROW:
            global_value = threshold_value(stats, mode, t_value)
    record = {
        "image": {
            "name": source.name,
            "path": str(source.image_path.resolve()),
            "original_shape": list(loaded.original_shape),
            "shape": list(pixels.shape[:2]),
            "channels": 1 if pixels.ndim == 2 else pixels.shape[2],
            "notes": list(loaded.notes),
            "sha256": image_sha256,
        },
        "request": job.request(),
        "outputs_computed": [name for name in OUTPUTS if name in job.outputs],
        "threshold": {
            "mode": mode.value,
            "value": None if mode is ThresholdMode.LEGACY else t_value,
            "description": mode.describe(t_value),
            "absolute": global_value,  # null in row mode (each pixel's is in its footprint)
            "max_abs_J": None if stats is None else stats.max_abs,  # null: no full pass
            "max_signed_J": None if stats is None else stats.max_signed,
        },
        "counts": {
            "exact": None if stats is None else significance.error is None,
            "max_error": (
                None
                if stats is None or significance.error is None
                else int(significance.error.max())
            ),
        },
        "attribution": {
            "method": job.method.name,
            "title": job.method.describe(),
            "parameters": job.method.parameters(),
            "target": job.target,
        }
        | ({} if pixels.ndim == 2 else {"channels": CHANNELS_RECORD}),
        "footprints": records,
        "segmentation": None if loaded.label is None else segmentation(loaded, probability),
        "provenance": job.provenance
        | {
            "device": explainer.device_name,
            "node": platform.node(),
            "utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - started, 3),
            "full_pass_seconds": None if stats is None else round(stats.seconds, 3),
            "result_cache": answered,
        },
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle
    npz = buffer.getvalue()
    record["outputs"] = {"npz_sha256": hashlib.sha256(npz).hexdigest()}
    return ImageExport(source.name, npz, record, answered)


def segmentation(loaded: LoadedImage, probability) -> dict:
    """IoU, false positives and negatives at p > 0.5 over the image as its file has it."""
    h, w = loaded.original_shape
    assert loaded.label is not None
    return asdict(segmentation_scores(probability[:h, :w], loaded.label[:h, :w]))


def write_export(output: Path, result: ImageExport) -> None:
    """Write <name>.npz then <name>.json into OUTDIR, each atomically."""
    text = json_text(result.record)  # NaN (e.g. a figure of an empty segment) as null
    # The .json last: a reader that finds it can trust the .npz beside it.
    write_atomically(output / f"{result.name}.npz", lambda tmp: tmp.write_bytes(result.npz))
    write_atomically(output / f"{result.name}.json", lambda tmp: tmp.write_text(text))
