"""Attribution maps A [H, W] of a target (targets.py) by a method (methods.py).

    gradient    A = dT/dx
    gradxinput  A = x * dT/dx                                        (Captum InputXGradient)
    smoothgrad  A = mean_i dT/dx at x + noise_i                       (Captum NoiseTunnel)
    ig          A = (x - b) * sum_k s_k dT/dx at b + a_k (x - b)      (Captum IntegratedGradients)

Every noisy or interpolated input has its own ReLU masks; target_gradients.py batches their
forward and backward passes with vmap. The host only loops over chunks of inputs (sized to
memory, a power of two so that few shapes compile), which is where progress is reported and a
cancel request is honoured. The last chunk is padded with copies of weight 0.

IG's completeness error |sum(A) - (T(x) - T(b))| comes with every IG result: a large one says
that m is too small for this image.

An image of several channels (RGB [H, W, C], for a model of C input channels) gets every
method per channel: x, the noise and IG's path are [H, W, C], and so is dT/dx. Its maps are
kept in `Attribution.channels` [C, H, W]; `values`, what every consumer shows and summarises,
is their sum over C (the attribution of the pixel's brightness; IG's completeness holds on it).
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

import jax.numpy as jnp
import numpy as np

from cnninterp.jaxcore.explain.methods import (
    Method,
    MethodError,
    baseline_image,
    smoothgrad_noise,
    step_sizes_and_alphas,
)
from cnninterp.jaxcore.explain.targets import Target, target_weights
from cnninterp.jaxcore.passes.binding import bind_model
from cnninterp.jaxcore.passes.explainer import Explainer

CPU_CHUNK_BUDGET = 1.5 * 2**30  # bytes of working memory one chunk of inputs may take
GPU_CHUNK_FRACTION = 0.4  # share of free device memory one chunk may take
# Inputs per chunk at most. XLA:CPU runs IG with 32 steps (full size, 64x64) 1.75x faster in
# chunks of 8 than in one chunk of 32 (benchmarks/RESULTS.md); GPUs want large batches.
MAX_CHUNK = {"cpu": 8, "gpu": 256}


@dataclass(frozen=True)
class Attribution:
    """One attribution map and what it explains."""

    values: np.ndarray
    """float32 [H, W]: A (for an image of several channels, the sum of `channels` over C)."""
    method: Method
    target: Target
    target_value: float
    """T(x): the explained quantity at the image."""
    baseline_value: float | None = None
    """ig: T(b)."""
    completeness_error: float | None = None
    """ig: |sum(A) - (T(x) - T(b))|."""
    channels: np.ndarray | None = None
    """float32 [C, H, W]: A per input channel of an image of C > 1 channels (`values` is their
    sum over C); None for a gray image."""

    def title(self) -> str:
        """'IG(32, blur) of segment at (30, 24)'."""
        return f"{self.method.describe()} of {self.target.describe()}"

    def summary(self) -> dict:
        """For the export's .json."""
        return {
            "method": self.method.name,
            "parameters": self.method.parameters(),
            "target": self.target.key(),
            "target_value": self.target_value,
            "baseline_value": self.baseline_value,
            "completeness_error": self.completeness_error,
        }


def per_channel(
    method: Method, target: Target, value: float, maps: np.ndarray, **ig
) -> "Attribution":
    """The Attribution of image-shaped maps, [H, W] or [H, W, C]: for C channels `channels`
    [C, H, W] holds them and `values` their sum (so the two agree to the bit)."""
    maps = np.asarray(maps, np.float32)
    if maps.ndim == 2:
        return Attribution(maps, method, target, value, **ig)
    channels = np.ascontiguousarray(np.moveaxis(maps, -1, 0))  # (H, W, C) -> (C, H, W)
    return Attribution(channels.sum(axis=0), method, target, value, channels=channels, **ig)


class Attributor:
    """Attribution maps on an Explainer's model, compiled once per image size and method."""

    def __init__(self, explainer: Explainer):
        self.explainer = explainer
        # As the Explainer binds (2x faster on XLA:CPU with the weights as constants).
        bind = bind_model(explainer.model, constants=explainer.weights_as_constants)
        kit = explainer.kit
        self._gradient_sum = bind(kit.weighted_gradient_sum, static_argnames="dense")
        self.pull_back = bind(kit.pull_back_weights)
        """(probs, masks, weights [H, W]) -> dT/d image (its shape: [H, W], or [H, W, C] per
        channel) at the image of those forward results (Explainer.linearised): one dense
        backward pass, on the device."""
        self._value = bind(kit.target_value)

    def attribute(
        self,
        pixels,
        method: Method,
        target: Target,
        *,
        noise: np.ndarray | None = None,
        on_progress: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Attribution | None:
        """The attribution of `target` by `method`; None if cancelled.

        noise: float32 [N, *image shape] added to the image as it is (smoothgrad; replaces the noise
        drawn from method.seed and sigma, so tests can hand Captum the same copies).
        on_progress(share done) after every chunk of inputs."""
        pixels = self.explainer.check_image(pixels)
        probability = self.explainer.probability(pixels)
        weights = target_weights(target, probability)
        value = float((weights * probability).sum(dtype=np.float64))
        if method.name in ("gradient", "gradxinput"):
            grad = self.target_gradient(pixels, target, weights)
            maps = grad * pixels if method.name == "gradxinput" else grad
            return per_channel(method, target, value, maps)
        if method.name == "smoothgrad":
            if noise is None:
                noise = smoothgrad_noise(method, pixels)
            noise = np.asarray(noise, np.float32)
            if noise.shape[1:] != pixels.shape or len(noise) == 0:
                shape = ", ".join(str(n) for n in pixels.shape)
                raise MethodError(f"noise must be [N, {shape}]")
            inputs = pixels[None] + noise
            coefficients = np.full(len(noise), 1.0 / len(noise))
            total = self._sum_over(inputs, coefficients, weights, target, on_progress, cancel)
            if total is None:
                return None
            return per_channel(method, target, value, total)
        baseline = baseline_image(method.baseline, pixels)
        step_sizes, alphas = step_sizes_and_alphas(method.integration, method.steps)
        path = pixels - baseline
        # float32 as in Captum: baseline + alpha * (input - baseline)
        alphas = alphas.astype(np.float32).reshape(-1, *(1,) * pixels.ndim)  # (m, 1, 1[, 1])
        inputs = baseline[None] + alphas * path[None]
        total = self._sum_over(inputs, step_sizes, weights, target, on_progress, cancel)
        if total is None:
            return None
        baseline_value = float(self._value(jnp.asarray(baseline), jnp.asarray(weights)))
        attribution = per_channel(method, target, value, total * path)
        error = abs(float(attribution.values.sum(dtype=np.float64)) - (value - baseline_value))
        return replace(attribution, baseline_value=baseline_value, completeness_error=error)

    def target_gradient(self, pixels, target: Target, weights: np.ndarray | None = None):
        """float32 dT/d image at the image itself, the image's shape ([H, W], or [H, W, C]
        per channel). A single pixel of a gray image is gradient_row itself (so the two are
        equal to the bit); other targets, and every target of an image of several channels,
        one dense backward pass."""
        pixels = self.explainer.check_image(pixels)
        if target.is_single_pixel and pixels.ndim == 2:
            assert target.y is not None and target.x is not None
            return self.explainer.gradient_row(pixels, target.y, target.x)
        if weights is None:
            weights = target_weights(target, self.explainer.probability(pixels))
        probs, masks = self.explainer.linearised(pixels)
        return np.asarray(self.pull_back(probs, masks, jnp.asarray(weights)))

    def _sum_over(self, inputs, coefficients, weights, target, on_progress, cancel):
        """sum_k coefficients[k] * dT/dx at inputs[k], in chunks: float32 of an input's shape
        ([H, W] or [H, W, C]), or None."""
        count, height, width = inputs.shape[:3]
        chunk = self._chunk_for(height, width, count)
        pixel = jnp.asarray([target.y or 0, target.x or 0], jnp.int32)
        dense = not target.is_single_pixel
        weights = jnp.asarray(weights)
        total = jnp.zeros(inputs.shape[1:], jnp.float32)
        for start in range(0, count, chunk):
            if cancel is not None and cancel.is_set():
                return None
            part = inputs[start : start + chunk]
            part_coefficients = np.zeros(chunk, np.float32)
            part_coefficients[: len(part)] = coefficients[start : start + chunk]
            padding = np.repeat(part[-1:], chunk - len(part), axis=0)  # weighs 0
            part = np.concatenate([part, padding]) if len(padding) else part
            summed, _ = self._gradient_sum(
                jnp.asarray(part), jnp.asarray(part_coefficients), weights, pixel, dense=dense
            )
            total = total + summed
            if on_progress is not None:
                on_progress(min(start + chunk, count) / count)
        return np.asarray(total)

    def _chunk_for(self, height: int, width: int, count: int) -> int:
        """Inputs per chunk: a power of two that fits the memory budget, at most `count`
        rounded up (so a small batch compiles at its own size)."""
        per_input = height * width * self.explainer.model.row_bytes_per_pixel  # bytes
        device = self.explainer.device
        if device.platform == "cpu":
            budget = CPU_CHUNK_BUDGET
        else:
            stats = device.memory_stats() or {}
            free = stats.get("bytes_limit", 16 * 2**30) - stats.get("bytes_in_use", 0)
            budget = GPU_CHUNK_FRACTION * free
        largest = MAX_CHUNK["cpu" if device.platform == "cpu" else "gpu"]
        limit = min(largest, 1 << max(count - 1, 0).bit_length())
        chunk = int(np.clip(budget // per_input, 1, limit))
        return 1 << (chunk.bit_length() - 1)
