"""Prove a generic conversion: our JAX interpreter against a PyTorch reference, in float64.

Both sides see the same images in [0, 1] (NHWC for JAX, NCHW for torch), apply the same
normalisation and the same head activation, and are compared on what the tool shows: the
logits, and gradient rows d score[y, x] / d image of a few pixels (the centre, a corner for
the padding paths, one at random). In float64 a faithful translation agrees to rounding
(~1e-14 relative); a wrong layout, padding or argument shows as O(1). So the verdict is a
relative error against RELATIVE_TOLERANCE, and float32 is reported beside it as what the
explainer will see (its forward max difference), not judged.

This module is torch's side only as far as autograd goes: the reference forward itself is
passed in (the user's module, or convert.torch_graph evaluating our graph with ATen ops).
"""

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np
import torch

RELATIVE_TOLERANCE = 1e-8
GRADIENT_PIXELS = 3
PARITY_IMAGES = 2

JaxLogits = Callable[[jax.Array], jax.Array]
"""images [B, H, W, C] -> logits [B, H, W, K], with whatever dtype it is given."""
TorchLogits = Callable[[torch.Tensor], torch.Tensor]
"""images [B, C, H, W] float64 -> logits [B, K, H, W]."""


@dataclass(frozen=True)
class GraphParityRow:
    """One test image's largest disagreements."""

    input: str
    height: int
    width: int
    logits_max_rel: float
    """max |jax - torch| / max |torch| over the logits, float64."""
    gradient_max_rel: float
    """The same over each gradient row, the worst row."""
    logits_max_abs: float
    gradient_max_abs: float
    float32_logits_max_abs: float
    """max |jax float32 - torch float64| of the logits: what the explainer's precision costs."""
    outputs_finite: bool = True


@dataclass(frozen=True)
class GraphParity:
    rows: tuple[GraphParityRow, ...]
    tolerance: float = RELATIVE_TOLERANCE

    @property
    def max_rel(self) -> float:
        return max(max(r.logits_max_rel, r.gradient_max_rel) for r in self.rows)

    @property
    def float32_max_abs(self) -> float:
        return max(r.float32_logits_max_abs for r in self.rows)

    @property
    def outputs_finite(self) -> bool:
        return all(r.outputs_finite for r in self.rows)

    @property
    def passed(self) -> bool:
        return bool(self.max_rel <= self.tolerance)  # NaN fails

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "precision": "float64",
            "relative_tolerance": self.tolerance,
            "max_relative": self.max_rel,
            "float32_logits_max_abs": self.float32_max_abs,
            "inputs": [asdict(r) for r in self.rows],
        }


def test_images(channels: int, size: int, count: int = PARITY_IMAGES, seed: int = 0):
    """(name, image [H, W, C] float64 in [0, 1]): noise, and smooth blobs with a little noise.

    Not quantised, and never flat: where two values tie exactly (a max pool over a flat
    patch), PyTorch and XLA may route the gradient to different, equally valid inputs."""
    rng = np.random.default_rng(seed)
    noise = rng.random((size, size, channels))
    cells = -(-size // 8)  # 8 px blocks covering the side (a partial block at the end)
    coarse = rng.random((cells, cells, channels))
    blocks = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:size, :size]
    blobs = np.clip(0.9 * blocks + 0.1 * rng.random((size, size, channels)), 0, 1)
    images = [("random noise", noise), ("random blobs", blobs)]
    return [(name, np.ascontiguousarray(image, np.float64)) for name, image in images[:count]]


def sample_pixels(height: int, width: int, seed: int = 0) -> np.ndarray:
    """GRADIENT_PIXELS (y, x): the centre, a corner, then random; int [N, 2]."""
    rng = np.random.default_rng(seed)
    pixels = [(height // 2, width // 2), (0, 0)]
    while len(pixels) < GRADIENT_PIXELS:
        pixels.append((int(rng.integers(height)), int(rng.integers(width))))
    return np.array(pixels[:GRADIENT_PIXELS])


def activate(logits, activation: str, axis: int, xp):
    """The head's activation along the class axis, in NumPy-like namespace xp (jnp or torch)."""
    if activation == "softmax":
        return xp.softmax(logits, axis) if xp is torch else jax.nn.softmax(logits, axis=axis)
    if activation == "sigmoid":
        return xp.sigmoid(logits) if xp is torch else jax.nn.sigmoid(logits)
    return logits


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def jax_outputs(logits_fn: JaxLogits, image, pixels, activation: str, cls: int, mean, std):
    """(logits [H, W, K], gradient rows [N, H, W, C]) of score = activation(logits)[y, x, cls]
    with respect to the image in [0, 1]."""

    def scores(img):  # (H, W, C) -> (H, W)
        logits = logits_fn(((img - mean) / std)[None])[0]
        return activate(logits, activation, -1, jnp)[..., cls], logits

    score_map, pullback, logits = jax.vjp(scores, image, has_aux=True)
    one_hot = jnp.zeros((len(pixels), *score_map.shape), image.dtype)  # (N, H, W)
    one_hot = one_hot.at[jnp.arange(len(pixels)), pixels[:, 0], pixels[:, 1]].set(1.0)
    (rows,) = jax.vmap(pullback)(one_hot)
    return logits, rows


def torch_outputs(logits_fn: TorchLogits, image, pixels, activation: str, cls: int, mean, std):
    """The same two things from the PyTorch reference, NHWC NumPy arrays."""
    x = torch.from_numpy(image.transpose(2, 0, 1).copy()).requires_grad_(True)  # (C, H, W)
    mean_t = torch.from_numpy(mean.reshape(-1, 1, 1))
    std_t = torch.from_numpy(std.reshape(-1, 1, 1))
    logits = logits_fn(((x - mean_t) / std_t)[None])[0]  # (K, H, W)
    score = activate(logits, activation, 0, torch)[cls]
    rows = [
        torch.autograd.grad(score[y, x_], x, retain_graph=True)[0].numpy().transpose(1, 2, 0)
        for y, x_ in pixels.tolist()
    ]
    return logits.detach().numpy().transpose(1, 2, 0), np.stack(rows)


def measure_graph_parity(
    jax_logits: JaxLogits,
    torch_logits: TorchLogits,
    *,
    channels: int,
    size: int,
    activation: str,
    explained_class: int,
    normalize: dict | None,
) -> GraphParity:
    """Compare the two on PARITY_IMAGES test images of size x size. `jax_logits` is called
    inside jax.enable_x64 with float64 arrays, and once more in float32."""
    mean = np.asarray(normalize["mean"] if normalize else [0.0] * channels, np.float64)
    std = np.asarray(normalize["std"] if normalize else [1.0] * channels, np.float64)
    rows = []
    for name, image in test_images(channels, size):
        pixels = sample_pixels(size, size)
        args = (pixels, activation, explained_class)
        with jax.enable_x64(True):
            j_logits, j_rows = jax_outputs(
                jax_logits,
                jnp.asarray(image),
                jnp.asarray(pixels),
                activation,
                explained_class,
                jnp.asarray(mean.reshape(1, 1, -1)),  # (1, 1, C)
                jnp.asarray(std.reshape(1, 1, -1)),
            )
        j_logits, j_rows = np.asarray(j_logits), np.asarray(j_rows)
        t_logits, t_rows = torch_outputs(torch_logits, image, *args, mean, std)
        normalized32 = ((image - mean) / std).astype(np.float32)
        f32 = np.asarray(jax_logits(jnp.asarray(normalized32)[None])[0], np.float64)
        rows.append(_row(name, image.shape, j_logits, j_rows, t_logits, t_rows, f32))
    return GraphParity(tuple(rows))


def _row(name, shape, j_logits, j_rows, t_logits, t_rows, f32) -> GraphParityRow:
    finite = all(np.isfinite(a).all() for a in (j_logits, t_logits, j_rows, t_rows))
    tiny = np.finfo(np.float64).tiny
    with np.errstate(invalid="ignore", over="ignore"):
        logit_diff = float(np.abs(j_logits - t_logits).max())
        row_diff = np.abs(j_rows - t_rows).reshape(len(j_rows), -1).max(axis=1)
        row_scale = np.maximum(np.abs(t_rows).reshape(len(t_rows), -1).max(axis=1), tiny)
        return GraphParityRow(
            input=name,
            height=int(shape[0]),
            width=int(shape[1]),
            logits_max_rel=logit_diff / max(float(np.abs(t_logits).max()), tiny),
            gradient_max_rel=float((row_diff / row_scale).max()),
            logits_max_abs=logit_diff,
            gradient_max_abs=float(row_diff.max()),
            float32_logits_max_abs=float(np.abs(f32 - t_logits).max()),
            outputs_finite=finite,
        )
