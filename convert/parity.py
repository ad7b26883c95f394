"""Prove a conversion: run the PyTorch reference and the Flax model on the same inputs.

Compared per input: the logits, the vessel probability p, and a few gradient rows
d p[y, x] / d image (torch autograd against jax.vjp of the very function the explainer
uses, jaxcore.model.vessel_probability). Probabilities decide pass or fail; the gradient
rows are reported because they are what the tool shows, and a layout bug that survives
the forward pass would show there first.
"""

import functools
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np
import torch

from cnninterp.convert.torch_model import CustomResNet
from cnninterp.jaxcore.model.network import ModelConfig, model_logits, vessel_probability

PROBABILITY_TOLERANCE = 1e-4
RANDOM_SIZE = 64
GRADIENT_ROWS = 3  # each costs about two forward passes per framework


@dataclass(frozen=True)
class ParityRow:
    """Largest disagreement on one input image."""

    input: str
    """What the image was ('random noise', a file name)."""
    height: int
    width: int
    logits_max_abs: float
    probability_max_abs: float
    gradient_max_abs: float
    """Over GRADIENT_ROWS sampled rows."""
    gradient_max_rel: float
    """max |difference| / max |torch row|, the worst of the sampled rows."""
    outputs_finite: bool = True
    """Both models' logits and probabilities are finite on this input."""


@dataclass(frozen=True)
class Parity:
    rows: tuple[ParityRow, ...]
    tolerance: float = PROBABILITY_TOLERANCE
    """Largest acceptable |difference| of probabilities."""

    @property
    def probability_max_abs(self) -> float:
        return max(r.probability_max_abs for r in self.rows)

    @property
    def outputs_finite(self) -> bool:
        return all(r.outputs_finite for r in self.rows)

    @property
    def non_finite_inputs(self) -> list[str]:
        return [r.input for r in self.rows if not r.outputs_finite]

    @property
    def passed(self) -> bool:
        return bool(self.probability_max_abs <= self.tolerance)  # NaN fails

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "probability_tolerance": self.tolerance,
            "inputs": [asdict(r) for r in self.rows],
        }


def random_images(size: int = RANDOM_SIZE, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Two uint8-quantised test images: pixel noise, and smooth blobs closer to real data."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (size, size)).astype(np.float32) / 255
    coarse = rng.random((size // 8, size // 8)).astype(np.float32)
    blobs = np.kron(coarse, np.ones((8, 8), np.float32))  # (size, size), blocky
    blobs = np.round(blobs * 255) / 255
    return [("random noise", noise), ("random blocks", blobs.astype(np.float32))]


def reference_model(state: dict[str, np.ndarray], config: ModelConfig) -> CustomResNet:
    """The PyTorch CustomResNet holding exactly the checkpoint's tensors, in eval mode."""
    with torch.device("meta"):
        model = CustomResNet(config.classes, config.width)
    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    for key, value in model.state_dict().items():  # optional training counters
        if key.endswith("num_batches_tracked") and key not in tensors:
            tensors[key] = torch.zeros((), dtype=value.dtype)
    model.load_state_dict(tensors, strict=True, assign=True)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eps = config.bn_eps
    # Only input gradients are compared; weight gradients would cost as much again.
    return model.eval().requires_grad_(False)


def sample_pixels(height: int, width: int, seed: int = 0) -> np.ndarray:
    """GRADIENT_ROWS (y, x): the centre, a corner (padding paths), then random; int32 [N, 2]."""
    rng = np.random.default_rng(seed)
    pixels = [(height // 2, width // 2), (0, 0)]
    while len(pixels) < GRADIENT_ROWS:
        pixels.append((int(rng.integers(height)), int(rng.integers(width))))
    return np.array(pixels[:GRADIENT_ROWS], np.int32)


@functools.partial(jax.jit, static_argnums=0)
def flax_outputs(config: ModelConfig, variables: dict, image: jax.Array, pixels: jax.Array):
    """(logits [H, W, C], p [H, W], gradient rows [N, H, W]) of the Flax model."""
    logits = model_logits(config, variables, image)
    p, pullback = jax.vjp(lambda img: vessel_probability(config, variables, img), image)
    n = pixels.shape[0]
    one_hot = jnp.zeros((n, *image.shape), image.dtype)  # (N, H, W)
    one_hot = one_hot.at[jnp.arange(n), pixels[:, 0], pixels[:, 1]].set(1.0)
    (rows,) = jax.vmap(pullback)(one_hot)
    return logits, p, rows


def torch_outputs(model: CustomResNet, image: np.ndarray, pixels: np.ndarray, vessel_class: int):
    """The same three things from the PyTorch reference, as NumPy arrays."""
    x = torch.from_numpy(image.copy()).requires_grad_(True)
    logits = model(x[None, None])[0]  # (C, H, W)
    p = torch.softmax(logits, dim=0)[vessel_class]
    rows = [
        torch.autograd.grad(p[y, x_], x, retain_graph=True)[0].numpy() for y, x_ in pixels.tolist()
    ]
    return logits.detach().numpy().transpose(1, 2, 0), p.detach().numpy(), np.stack(rows)


def compare_on(
    name: str, image: np.ndarray, model: CustomResNet, config: ModelConfig, variables: dict
) -> ParityRow:
    pixels = sample_pixels(*image.shape)
    j_logits, j_p, j_rows = (np.asarray(a) for a in flax_outputs(config, variables, image, pixels))
    t_logits, t_p, t_rows = torch_outputs(model, image, pixels, config.vessel_class)
    # Non-finite outputs are reported as such (outputs_finite), so inf - inf is no warning.
    with np.errstate(invalid="ignore", over="ignore"):
        row_diff = np.abs(j_rows - t_rows).max(axis=(1, 2))
        row_scale = np.maximum(np.abs(t_rows).max(axis=(1, 2)), np.finfo(np.float32).tiny)
        return ParityRow(
            input=name,
            height=int(image.shape[0]),
            width=int(image.shape[1]),
            logits_max_abs=float(np.abs(j_logits - t_logits).max()),
            probability_max_abs=float(np.abs(j_p - t_p).max()),
            gradient_max_abs=float(row_diff.max()),
            gradient_max_rel=float((row_diff / row_scale).max()),
            outputs_finite=all(np.isfinite(a).all() for a in (j_logits, j_p, t_logits, t_p)),
        )


def measure_parity(
    state: dict[str, np.ndarray],
    config: ModelConfig,
    variables: dict,
    images: list[tuple[str, np.ndarray]],
) -> Parity:
    """Compare the reference built from `state` with VesselCNN(config) on every image."""
    model = reference_model(state, config)
    return Parity(tuple(compare_on(n, img, model, config, variables) for n, img in images))
