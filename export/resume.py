"""Resume: a rerun into the same OUTDIR skips the images whose outputs are already there.

An image counts as done only when its .json was made from the same model file, the same
image content and the same request (mode, threshold, pixels), all three recorded in the
.json by the export, and the .npz beside it is the very file the .json names (its sha256).
The .json is written last and both files atomically, so an interrupted run leaves either
nothing or a complete pair; anything else (edited, truncated, made with other options) is
simply computed again.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cnninterp.export.image import Job
from cnninterp.jaxcore.files.disk import file_sha256
from cnninterp.jaxcore.images.loading import ImageSource


@dataclass(frozen=True)
class ResumePlan:
    """Which images of a call still need computing."""

    todo: list[ImageSource]
    """To compute, in the order given."""
    done: list[ImageSource]
    """Complete outputs from the same model, image and request: skipped."""
    image_sha256: dict[str, str]
    """sha256 of each image file's content, by name (images that cannot be read are absent)."""


def output_is_complete(
    output: Path, name: str, model_sha256: str, image_sha256: str, job: Job
) -> bool:
    """Whether OUTDIR/<name>.json and .npz hold this exact export."""
    try:
        record = json.loads((output / f"{name}.json").read_text())
        made_from = (
            record["provenance"]["model"]["sha256"],
            record["image"]["sha256"],
            record["request"],
        )
        npz_sha256 = record["outputs"]["npz_sha256"]
        npz = (output / f"{name}.npz").read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if made_from != (model_sha256, image_sha256, job.request()):
        return False
    return hashlib.sha256(npz).hexdigest() == npz_sha256


def plan_resume(sources: list[ImageSource], job: Job, model_sha256: str) -> ResumePlan:
    todo: list[ImageSource] = []
    done: list[ImageSource] = []
    shas: dict[str, str] = {}
    for source in sources:
        try:
            shas[source.name] = file_sha256(source.image_path)
        except OSError:
            todo.append(source)  # fails again, and is reported, when its turn comes
            continue
        complete = output_is_complete(job.output, source.name, model_sha256, shas[source.name], job)
        (done if complete else todo).append(source)
    return ResumePlan(todo, done, shas)
