"""The segmentation CNN of docs/ORIGINAL.md §1 (`CustomResNet`) in Flax Linen, eval mode only.

Module names mirror the PyTorch state dict (`resblock1.conv1` -> `resblock1/conv1`), so the
converter's key table reads like a dictionary. Everything is NHWC; BatchNorm always uses its
running statistics and there is no dropout, because we only ever explain a trained model.

In eval mode the network is piecewise linear: its only nonlinearities are the ReLUs. Given
the ReLU masks of one image (collection `relu_masks`, sown on a normal call), passing them
back as `relu_masks=` replaces every ReLU by a multiplication with its mask. The backward
pass of that masked network is the exact pullback of the real one at that image, yet it
needs no activations: the weights can stay compile-time constants (see passes/binding.py).
"""

from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

# PyTorch's padding=1 on a 3x3 conv. Flax's 'SAME' pads (0, 1) for stride 2 on even sizes,
# which shifts the sampling grid, so the padding is always spelled out.
PAD_1 = ((1, 1), (1, 1))
# ConvTranspose2d(k=3, s=2, p=1, output_padding=1) as a dilated conv: pad (k-1-p, k-1-p+op).
PAD_TRANSPOSED = ((1, 2), (1, 2))
DEPTH = 4  # encoder blocks; each halves H and W, hence sizes must be multiples of 2**DEPTH.
SIZE_MULTIPLE = 2**DEPTH


@dataclass(frozen=True)
class ModelConfig:
    """The shape of one member of the architecture family."""

    width: int = 64
    """Channels after the stem; block N has width * 2**N."""
    classes: int = 2
    """Output channels of the final conv."""
    vessel_class: int = 1
    """Which output channel is explained (softmax over classes, then this one)."""
    bn_eps: float = 1e-5
    """BatchNorm epsilon of the source model."""
    precision: str = "highest"
    """jax.lax precision of every conv; 'highest' keeps float32 on GPUs that default to TF32."""


def _relu(module: nn.Module, h: Array, masks: dict | None, site: str) -> Array:
    """ReLU that records its mask, or multiplication by a given mask."""
    if masks is None:
        module.sow("relu_masks", site, h > 0, reduce_fn=lambda _, new: new, init_fn=lambda: None)
        return nn.relu(h)
    return h * masks[site].astype(h.dtype)


def _bn(eps: float, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=True, epsilon=eps, momentum=0.9, name=name)


class ResBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + skip_bn(skip_conv(x))), halving H and W."""

    features: int
    eps: float
    precision: str

    @nn.compact
    def __call__(self, x: Array, masks: dict | None = None) -> Array:
        conv: dict[str, Any] = dict(
            kernel_size=(3, 3), padding=PAD_1, use_bias=False, precision=self.precision
        )
        h = nn.Conv(self.features, strides=(2, 2), name="conv1", **conv)(x)
        h = _relu(self, _bn(self.eps, "bn1")(h), masks, "relu1")
        h = _bn(self.eps, "bn2")(nn.Conv(self.features, name="conv2", **conv)(h))
        skip = nn.Conv(self.features, strides=(2, 2), name="skip_conv", **conv)(x)
        return _relu(self, h + _bn(self.eps, "skip_bn")(skip), masks, "relu2")


class VesselCNN(nn.Module):
    """Image [B, H, W, 1] in [0, 1] -> logits [B, H, W, classes]."""

    config: ModelConfig

    @nn.compact
    def __call__(
        self, x: Float[Array, "B H W 1"], relu_masks: dict | None = None
    ) -> Float[Array, "B H W C"]:
        cfg = self.config
        prec = cfg.precision
        stem = nn.Conv(
            cfg.width, (3, 3), padding=PAD_1, use_bias=False, precision=prec, name="conv1"
        )
        x = stem(x)
        skips = [_relu(self, _bn(cfg.bn_eps, "bn1")(x), relu_masks, "relu")]
        for n in range(1, DEPTH + 1):
            name = f"resblock{n}"
            block = ResBlock(cfg.width * 2**n, cfg.bn_eps, prec, name=name)
            skips.append(block(skips[-1], None if relu_masks is None else relu_masks[name]))
        y = skips.pop()
        for k in range(1, DEPTH + 1):
            up = nn.ConvTranspose(
                cfg.width * 2 ** (DEPTH - k),
                (3, 3),
                strides=(2, 2),
                padding=PAD_TRANSPOSED,
                transpose_kernel=True,
                precision=prec,
                name=f"upconv{k}",
            )
            y = up(y) + skips.pop()
        return nn.Conv(cfg.classes, (3, 3), padding=PAD_1, precision=prec, name="final")(y)


def init_variables(config: ModelConfig, seed: int = 0, size: int = 32) -> dict:
    """Random variables of the right structure (tests, shape templates for the converter)."""
    x = jnp.zeros((1, size, size, 1), jnp.float32)
    variables = VesselCNN(config).init(jax.random.PRNGKey(seed), x)
    return {k: v for k, v in variables.items() if k in ("params", "batch_stats")}


def random_variables(config: ModelConfig, seed: int = 0) -> dict:
    """Random variables of the right structure, filled by NumPy: He-scaled kernels, identity
    BatchNorm. Much faster than init_variables, which compiles one initialiser per shape."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda: init_variables(config, seed))

    def fill(path, leaf):
        name = path[-1].key
        if name == "kernel":
            scale = np.sqrt(2.0 / np.prod(leaf.shape[:-1]))
            return (rng.standard_normal(leaf.shape) * scale).astype(np.float32)
        return np.full(leaf.shape, 1.0 if name in ("scale", "var") else 0.0, np.float32)

    return jax.tree_util.tree_map_with_path(fill, shapes)


def model_logits(
    config: ModelConfig, variables: dict, image: Float[Array, "H W"]
) -> Float[Array, "H W C"]:
    """Logits of one grayscale image in [0, 1]."""
    return VesselCNN(config).apply(variables, image[None, :, :, None])[0]


def vessel_probability(
    config: ModelConfig, variables: dict, image: Float[Array, "H W"]
) -> Float[Array, "H W"]:
    """p = softmax(logits over classes)[vessel] of one image."""
    return jax.nn.softmax(model_logits(config, variables, image), axis=-1)[..., config.vessel_class]
