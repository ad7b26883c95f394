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


def model_provenance(config) -> dict:
    """What a result explains: the class (after any --class override) and the model's shape.

    Recorded in every output, because the same model file explains a different class when
    the user picks one."""
    return {
        "explained_class": config.vessel_class,
        "classes": config.classes,
        "width": config.width,
        "precision": config.precision,
    }
