"""Each layout rule against the torch op it stands for, and the key table against both models."""

import flax.linen as nn
import jax
import numpy as np
import pytest
import torch

from cnninterp.convert.key_map import KEY_TABLE, expected_torch_shapes, is_dropped
from cnninterp.convert.layout import channel_vector, conv_kernel, conv_transpose_kernel
from cnninterp.convert.variables import flax_variable_shapes
from cnninterp.jaxcore.model.network import PAD_1, PAD_TRANSPOSED, ModelConfig

RNG = np.random.default_rng(0)
TOL = dict(rtol=1e-5, atol=1e-5)


def nchw_to_nhwc(x: torch.Tensor) -> np.ndarray:
    return x.detach().numpy().transpose(0, 2, 3, 1)  # (N, H, W, C)


def random_input(channels: int, size: int) -> torch.Tensor:
    return torch.from_numpy(RNG.standard_normal((2, channels, size, size), dtype=np.float32))


@pytest.mark.parametrize("stride, size", [(1, 12), (2, 16), (2, 15)])
def test_conv_kernel_matches_conv2d(stride, size):
    conv = torch.nn.Conv2d(3, 5, 3, stride=stride, padding=1, bias=True).eval()
    x = random_input(3, size)
    flax_conv = nn.Conv(5, (3, 3), strides=(stride, stride), padding=PAD_1, precision="highest")
    variables = {
        "params": {
            "kernel": conv_kernel(conv.weight.detach().numpy()),
            "bias": channel_vector(conv.bias.detach().numpy()),
        }
    }
    got = flax_conv.apply(variables, nchw_to_nhwc(x))
    np.testing.assert_allclose(got, nchw_to_nhwc(conv(x)), **TOL)


def test_same_padding_would_be_wrong_for_stride_2_on_even_sizes():
    """Why PAD_1 is spelled out: Flax 'SAME' pads (0, 1) here, torch pads (1, 1)."""
    conv = torch.nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False).eval()
    x = random_input(1, 16)
    kernel = {"params": {"kernel": conv_kernel(conv.weight.detach().numpy())}}
    same = nn.Conv(2, (3, 3), strides=(2, 2), padding="SAME", use_bias=False, precision="highest")
    assert np.abs(same.apply(kernel, nchw_to_nhwc(x)) - nchw_to_nhwc(conv(x))).max() > 1e-2


def test_conv_transpose_kernel_matches_conv_transpose2d():
    up = torch.nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1).eval()
    x = random_input(6, 8)
    flax_up = nn.ConvTranspose(
        4,
        (3, 3),
        strides=(2, 2),
        padding=PAD_TRANSPOSED,
        transpose_kernel=True,
        precision="highest",
    )
    variables = {
        "params": {
            "kernel": conv_transpose_kernel(up.weight.detach().numpy()),
            "bias": channel_vector(up.bias.detach().numpy()),
        }
    }
    expected = nchw_to_nhwc(up(x))
    assert expected.shape == (2, 16, 16, 4)
    np.testing.assert_allclose(flax_up.apply(variables, nchw_to_nhwc(x)), expected, **TOL)


def test_batchnorm_eval_matches_batchnorm2d():
    bn = torch.nn.BatchNorm2d(7, eps=1e-5)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(RNG.uniform(0.5, 1.5, 7).astype(np.float32)))
        bn.bias.copy_(torch.from_numpy(RNG.standard_normal(7).astype(np.float32)))
        bn.running_mean.copy_(torch.from_numpy(RNG.standard_normal(7).astype(np.float32)))
        bn.running_var.copy_(torch.from_numpy(RNG.uniform(0.2, 2.0, 7).astype(np.float32)))
    bn.eval()
    x = random_input(7, 5)
    flax_bn = nn.BatchNorm(use_running_average=True, epsilon=1e-5)
    variables = {
        "params": {
            "scale": channel_vector(bn.weight.detach().numpy()),
            "bias": bn.bias.detach().numpy(),
        },
        "batch_stats": {
            "mean": channel_vector(bn.running_mean.numpy()),
            "var": channel_vector(bn.running_var.numpy()),
        },
    }
    np.testing.assert_allclose(
        flax_bn.apply(variables, nchw_to_nhwc(x)), nchw_to_nhwc(bn(x)), **TOL
    )


@pytest.mark.parametrize("width, classes", [(4, 2), (64, 3)])
def test_key_table_covers_reference_and_flax_model_exactly(width, classes):
    config = ModelConfig(width=width, classes=classes)
    torch_keys = {k for k in expected_torch_shapes(config) if not is_dropped(k)}
    assert set(KEY_TABLE) == torch_keys
    flax_paths = [path for path, _ in KEY_TABLE.values()]
    assert len(set(flax_paths)) == len(flax_paths)
    assert set(flax_paths) == set(flax_variable_shapes(config))


def test_rank_promotion_is_strict_in_these_tests():
    with pytest.raises(ValueError):
        jax.numpy.zeros((2, 3)) + jax.numpy.zeros((3,))
