"""Shared by the export front-end tests: the suite's tiny real model (width 4) as `model`,
four 32x32 images in the VessMAP layout (three with labels), and one local Ray for the whole
session."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIZE = 32
NAMES = ("a", "b", "c", "unlabelled")


@pytest.fixture(scope="session")
def model(model_file) -> Path:
    """The suite's tiny model file (tests/conftest.py), under the name these tests use."""
    return model_file


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """images/ + labels/; the last image has no label."""
    root = tmp_path_factory.mktemp("dataset")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    for seed, name in enumerate(NAMES):
        rng = np.random.default_rng(seed)
        pixels = rng.integers(0, 256, (SIZE, SIZE)).astype(np.uint8)
        Image.fromarray(pixels).save(root / "images" / f"{name}.png")
        if name != "unlabelled":
            label = (rng.random((SIZE, SIZE)) > 0.7).astype(np.uint8) * 255
            Image.fromarray(label).save(root / "labels" / f"{name}.png")
    return root


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray with two worker slots, dashboard off; export's --cluster local joins it."""
    ray = pytest.importorskip("ray")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)  # see export.cluster
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
