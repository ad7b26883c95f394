"""Converted models agree with PyTorch: probabilities and gradient rows, several widths and sizes.

The comparison here is written independently of cnninterp.convert.parity (jax.grad of one
pixel against torch autograd), so a bug there cannot hide a bug in the conversion.
"""

import functools

import jax
import numpy as np
import pytest
import torch

from cnninterp.convert.api import convert_checkpoint
from cnninterp.convert.key_map import check_state, infer_config
from cnninterp.convert.torch_model import CustomResNet, random_model, torch_vessel_probability
from cnninterp.convert.torch_state import read_checkpoint
from cnninterp.convert.variables import flax_variables
from cnninterp.jaxcore.model.model_file import load_model
from cnninterp.jaxcore.model.network import vessel_probability

PIXELS = [(0, 0), (5, 40), (33, 17)]


@functools.partial(jax.jit, static_argnums=0)
def jax_probability(config, variables, image):
    return vessel_probability(config, variables, image)


@functools.partial(jax.jit, static_argnums=0)
def jax_row(config, variables, image, y, x):
    return jax.grad(lambda img: vessel_probability(config, variables, img)[y, x])(image)


def converted(path):
    checkpoint = read_checkpoint(path)
    config = infer_config(checkpoint.state, path.name)
    check_state(checkpoint.state, config, path.name)
    return config, flax_variables(checkpoint.state, config)


def image_of(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (size, size)) / 255).astype(np.float32)


def assert_parity(torch_model, config, variables, image):
    x = torch.from_numpy(image).requires_grad_(True)
    p_torch = torch_vessel_probability(torch_model, x)
    p_jax = np.asarray(jax_probability(config, variables, image))
    np.testing.assert_allclose(p_jax, p_torch.detach().numpy(), rtol=0, atol=1e-5)
    for y, x_ in PIXELS:
        (row_torch,) = torch.autograd.grad(p_torch[y, x_], x, retain_graph=True)
        row_jax = np.asarray(jax_row(config, variables, image, y, x_))
        scale = np.abs(row_torch.numpy()).max()
        assert scale > 0
        assert np.abs(row_jax - row_torch.numpy()).max() <= 1e-4 * scale


@pytest.mark.parametrize("width, classes, size", [(4, 2, 64), (8, 2, 64), (4, 3, 256)])
def test_small_models_agree_with_pytorch(checkpoint_of, width, classes, size):
    path = checkpoint_of(width, classes)
    config, variables = converted(path)
    assert (config.width, config.classes) == (width, classes)
    assert_parity(
        random_model(width, classes, seed=width), config, variables, image_of(size, width)
    )


@pytest.mark.slow
def test_full_size_model_converts_and_agrees(checkpoint_of, tmp_path):
    """The one width-64 (31.35 M parameter) model: end to end through convert_checkpoint."""
    report = convert_checkpoint(checkpoint_of(64), tmp_path / "full.safetensors")
    assert report.config.width == 64 and report.parameters == 31_348_738
    assert report.parity.passed
    assert report.parity.probability_max_abs <= 1e-5
    assert max(r.gradient_max_rel for r in report.parity.rows) <= 1e-4

    config, variables, _ = load_model(report.out_path)  # the file, not the in-memory tree
    image = image_of(64, 1)
    with torch.device("meta"):
        reference = CustomResNet(2, 64)
    reference.load_state_dict(torch.load(checkpoint_of(64), weights_only=True), assign=True)
    reference.eval()
    with torch.no_grad():
        p_torch = torch_vessel_probability(reference, torch.from_numpy(image)).numpy()
    p_jax = np.asarray(jax_probability(config, variables, image))
    np.testing.assert_allclose(p_jax, p_torch, rtol=0, atol=1e-5)
