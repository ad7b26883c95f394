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
