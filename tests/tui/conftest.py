"""A few small PNGs in tmp_path for the suite's tiny real model (`model_file`, from
tests/conftest.py): the TUI tests use the real jaxcore on them, never a fake compute core."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIZE = 32


def write_images(folder: Path, count: int = 3, size: int = SIZE, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    yy, xx = np.indices((size, size))
    for i in range(count):
        # a bright diagonal "vessel" on noise, so p varies over the image
        vessel = np.exp(-(((yy - xx - 4 * i) / 3.0) ** 2))
        pixels = np.clip(0.2 + 0.6 * vessel + 0.1 * rng.standard_normal((size, size)), 0, 1)
        path = folder / f"image_{i}.png"
        Image.fromarray((pixels * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory, model_file):
    """Two 256x256 images (a pass of minutes with the tiny model on a CPU) and the model."""
    folder = tmp_path_factory.mktemp("big")
    write_images(folder, count=2, size=256)
    return folder


@pytest.fixture
def make_images():
    """write_images, for tests that need their own folder."""
    return write_images


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """Three 32x32 PNGs; the model comes from --model (the shared file keeps one compile)."""
    folder = tmp_path / "data"
    write_images(folder)
    return folder


@pytest.fixture(autouse=True)
def private_config(tmp_path, monkeypatch) -> Path:
    """Each test's own config folder: the app remembers settings (settings.json) and reads
    keys.toml there, never in the user's, and no test sees another's choices."""
    folder = tmp_path / "config"
    monkeypatch.setenv("CNNINTERP_CONFIG_DIR", str(folder))
    return folder
