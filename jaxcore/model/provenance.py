"""Versions that produced a result, recorded in model files and exports."""

import platform
from importlib import metadata

import flax
import jax
import numpy as np


def versions() -> dict[str, str]:
    """cnninterp, jax, flax, numpy and Python versions (the converter adds torch's)."""
    try:
        ours = metadata.version("cnninterp")
    except metadata.PackageNotFoundError:
        ours = "unknown"
    return {
        "cnninterp": ours,
        "jax": jax.__version__,
        "flax": flax.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def model_provenance(model) -> dict:
    """What a result explains: the class (after any --class override) and the model's shape,
    for a model through the seam (seam.SegmentationModel).

    Recorded in every output, because the same model file explains a different class when
    the user picks one."""
    out = {"explained_class": model.explained_class, "classes": model.classes}
    config = model.architecture
    if config is not None:  # the seed architecture
        return out | {"width": config.width, "precision": config.precision}
    return out | {"activation": model.activation, "input_channels": model.input_channels}
