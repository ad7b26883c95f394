"""Checkpoints for the converter tests, each saved once per session with real torch.save."""

from pathlib import Path

import pytest
import torch

from cnninterp.convert.torch_model import random_model


@pytest.fixture(scope="session")
def checkpoint_of(tmp_path_factory):
    """checkpoint_of(width, classes=2) -> Path of torch.save(random_model(...).state_dict())."""
    saved: dict[tuple[int, int], Path] = {}

    def make(width: int, classes: int = 2) -> Path:
        if (width, classes) not in saved:
            folder = tmp_path_factory.mktemp(f"ckpt_w{width}_c{classes}")
            path = folder / f"custom_resnet_w{width}.pth"
            torch.save(random_model(width, classes, seed=width).state_dict(), path)
            saved[width, classes] = path
        return saved[width, classes]

    return make


@pytest.fixture
def small_checkpoint(checkpoint_of, tmp_path) -> Path:
    """A width-4 checkpoint copied into this test's own folder (outputs land beside it)."""
    path = tmp_path / "model.pth"
    path.write_bytes(checkpoint_of(4).read_bytes())
    return path
