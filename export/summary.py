"""summary.csv: one line per exported image, for a whole study at a glance.

Every line is read back from the files in OUTDIR (the .json and .npz the export wrote), not
from the run that made them, so images skipped on resume have their line too, and in-process
and cluster runs write the same file for the same inputs (apart from where and how long each
image took). Statistics cover the image as the file has it: the padding added to reach a
multiple of 16 is cut off first.
"""

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from cnninterp.jaxcore.files.disk import write_atomically
from cnninterp.jaxcore.images.loading import ImageError, ImageSource, load_image

SUMMARY_NAME = "summary.csv"
REGIONS = ("predicted_vessel", "predicted_background", "labelled_vessel", "labelled_background")
COLUMNS = (
    "name",
    "height",
    "width",
    "device",
    "node",
    "seconds",
    "model_sha256",
    "threshold_mode",
    "threshold",
    *(f"{stat}_significance_{region}" for region in REGIONS for stat in ("mean", "median")),
    "outputs",
)
"""outputs: what the export computed (--outputs), e.g. probability+gradients; the significance
columns are empty without significance, the predicted ones also without probability."""
VESSEL_PROBABILITY = 0.5  # the predicted mask, as everywhere else (p > 0.5)


def _number(value: float | None) -> str:
    # repr-exact: two runs with equal arrays write equal text.
    return "" if value is None else repr(float(value))


def _region_stats(significance: np.ndarray | None, mask: np.ndarray | None) -> list[str]:
    if significance is None or mask is None or not mask.any():
        return ["", ""]
    values = significance[mask].astype(np.float64)
    return [_number(values.mean()), _number(np.median(values))]


def summary_row(output: Path, source: ImageSource) -> dict[str, str]:
    """The summary line of one image from its outputs; raises OSError/ValueError/KeyError."""
    record = json.loads((output / f"{source.name}.json").read_text())
    h, w = record["image"]["original_shape"]
    with np.load(output / f"{source.name}.npz") as arrays:  # (h, w) of each, where present
        probability = arrays["probability"][:h, :w] if "probability" in arrays else None
        significance = arrays["significance"][:h, :w] if "significance" in arrays else None
    predicted = None if probability is None else probability > VESSEL_PROBABILITY
    try:
        label = load_image(source).label
    except ImageError:
        label = None  # the image moved or changed since: its label columns stay empty
    label = None if label is None else label[:h, :w]
    threshold = record["threshold"]
    provenance = record["provenance"]
    values = [
        source.name,
        str(h),
        str(w),
        provenance.get("device", ""),
        provenance.get("node", ""),
        _number(provenance.get("seconds")),
        provenance["model"]["sha256"],
        threshold["mode"],
        _number(threshold["value"]),
        *_region_stats(significance, predicted),
        *_region_stats(significance, None if predicted is None else ~predicted),
        *_region_stats(significance, label),
        *_region_stats(significance, None if label is None else ~label),
        "+".join(record.get("outputs_computed", ["probability", "gradients", "significance"])),
    ]
    return dict(zip(COLUMNS, values, strict=True))


def write_summary(output: Path, sources: list[ImageSource]) -> int:
    """Write OUTDIR/summary.csv (atomically, and only when its text changes), one line per
    image of `sources` (those with complete outputs for this call: ResumePlan.done); returns
    the number of lines."""
    rows = []
    for source in sources:
        try:
            rows.append(summary_row(output, source))
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
            continue
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = output / SUMMARY_NAME
    try:
        unchanged = path.read_text() == text.getvalue()
    except OSError:
        unchanged = False
    if not rows and not path.exists():
        return 0  # every image failed: no summary of nothing (and OUTDIR may stay empty)
    if not unchanged:  # a rerun that skipped everything writes nothing at all
        write_atomically(path, lambda tmp: tmp.write_text(text.getvalue()))
    return len(rows)
