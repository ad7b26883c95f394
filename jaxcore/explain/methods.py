"""Which attribution method, with which parameters: a validated, hashable description.

The quadrature of Integrated Gradients follows Captum (captum/attr/_utils/
approximation_methods.py) to the letter, so our numbers can equal Captum's: riemann_trapezoid
samples alpha = linspace(0, 1, m) with step sizes 1/m, halved at both ends (m >= 2);
gausslegendre takes NumPy's Gauss-Legendre nodes and weights on [-1, 1] mapped to [0, 1].
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

METHODS = ("gradient", "gradxinput", "smoothgrad", "ig")
BASELINES = ("zeros", "blur", "mean")
INTEGRATIONS = ("gausslegendre", "riemann_trapezoid")
MAX_STEPS = 1024  # IG steps and SmoothGrad samples: 1 .. MAX_STEPS
MAX_SIGMA = 10.0  # noise sd as a share of the image's range; beyond this nothing of it is left
BLUR_SIGMA = 5.0  # pixels: the blurred baseline keeps vessels' surroundings, loses the vessels


class MethodError(ValueError):
    """Parameters that are not allowed; the message is fit for the user."""


@dataclass(frozen=True)
class Method:
    """An attribution method and its parameters (those of other methods are ignored)."""

    name: str = "gradient"
    """gradient | gradxinput | smoothgrad | ig."""
    steps: int = 32
    """ig: number of points on the path (1 .. 1024; riemann_trapezoid needs 2 or more)."""
    integration: str = "gausslegendre"
    """ig: gausslegendre (Captum's default) or riemann_trapezoid."""
    baseline: str = "zeros"
    """ig: zeros, blur (Gaussian, BLUR_SIGMA px) or mean (the image's mean everywhere)."""
    samples: int = 16
    """smoothgrad: number of noisy copies (1 .. 1024)."""
    sigma: float = 0.15
    """smoothgrad: noise sd as a share of the image's range, max - min (0 .. 10)."""
    seed: int = 0
    """smoothgrad: seed of the noise, so a result can be reproduced and exported."""

    def __post_init__(self):
        if self.name not in METHODS:
            raise MethodError(f"unknown method {self.name!r}: choose one of {', '.join(METHODS)}")
        if self.name == "ig":
            lowest = 2 if self.integration == "riemann_trapezoid" else 1
            if self.integration not in INTEGRATIONS:
                raise MethodError(
                    f"unknown integration {self.integration!r}: "
                    f"choose one of {', '.join(INTEGRATIONS)}"
                )
            if not _is_int(self.steps) or not lowest <= self.steps <= MAX_STEPS:
                raise MethodError(
                    f"steps must be an integer from {lowest} to {MAX_STEPS} "
                    f"for {self.integration}, not {self.steps}"
                )
            if self.baseline not in BASELINES:
                raise MethodError(
                    f"unknown baseline {self.baseline!r}: choose one of {', '.join(BASELINES)}"
                )
        if self.name == "smoothgrad":
            if not _is_int(self.samples) or not 1 <= self.samples <= MAX_STEPS:
                raise MethodError(
                    f"samples must be an integer from 1 to {MAX_STEPS}, not {self.samples}"
                )
            if not 0 <= self.sigma <= MAX_SIGMA:  # also refuses NaN
                raise MethodError(
                    f"sigma must be from 0 to {MAX_SIGMA:g} (a share of the image's range), "
                    f"not {self.sigma}"
                )
            if not _is_int(self.seed):
                raise MethodError(f"seed must be an integer, not {self.seed!r}")

    def key(self) -> str:
        """Stable text for cache keys, naming only the parameters that matter."""
        if self.name == "ig":
            return f"ig(m={self.steps},{self.integration},baseline={self.baseline})"
        if self.name == "smoothgrad":
            return f"smoothgrad(n={self.samples},sigma={self.sigma!r},seed={self.seed})"
        return self.name

    def describe(self) -> str:
        """For panel titles: 'IG(32, blur)', 'SmoothGrad(16, 15 %)'."""
        if self.name == "ig":
            rule = "" if self.integration == "gausslegendre" else ", trapezoid"
            return f"IG({self.steps}, {self.baseline}{rule})"
        if self.name == "smoothgrad":
            return f"SmoothGrad({self.samples}, {100 * self.sigma:g} %)"
        return {"gradient": "gradient", "gradxinput": "gradient × input"}[self.name]

    def parameters(self) -> dict:
        """The parameters that matter, for the export's .json."""
        if self.name == "ig":
            return {"steps": self.steps, "integration": self.integration, "baseline": self.baseline}
        if self.name == "smoothgrad":
            return {"samples": self.samples, "sigma": self.sigma, "seed": self.seed}
        return {}


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def step_sizes_and_alphas(integration: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 [m] each: Captum's quadrature weights and path positions in [0, 1]."""
    if integration == "riemann_trapezoid":
        sizes = np.full(steps, 1.0 / steps)
        sizes[0] /= 2
        sizes[-1] /= 2
        # Captum takes torch.linspace(0, 1, m) in float32; these are the same float32 numbers.
        return sizes, np.linspace(0, 1, steps, dtype=np.float32).astype(np.float64)
    nodes, node_weights = np.polynomial.legendre.leggauss(steps)
    return 0.5 * node_weights, 0.5 * (1 + nodes)


def baseline_image(kind: str, pixels: np.ndarray) -> np.ndarray:
    """float32, the image's shape ([H, W] or [H, W, C]): IG's starting point for this image.
    An image with channels is blurred within each channel, and its mean is its mean colour."""
    pixels = np.asarray(pixels, np.float32)
    if kind == "zeros":
        return np.zeros_like(pixels)
    if kind == "mean":
        mean = pixels.mean(axis=(0, 1), dtype=np.float64)  # () or (C,)
        return np.broadcast_to(mean, pixels.shape).astype(np.float32)
    if kind == "blur":
        sigma = (BLUR_SIGMA, BLUR_SIGMA, 0.0)[: pixels.ndim]  # never across channels
        return ndimage.gaussian_filter(pixels, sigma, mode="reflect").astype(np.float32)
    raise MethodError(f"unknown baseline {kind!r}: choose one of {', '.join(BASELINES)}")


def smoothgrad_noise(method: Method, pixels: np.ndarray) -> np.ndarray:
    """float32 [N, *image shape]: the noise SmoothGrad adds, N(0, (sigma * range)^2), from
    the seed."""
    pixels = np.asarray(pixels, np.float32)
    scale = method.sigma * float(pixels.max() - pixels.min())
    rng = np.random.default_rng(method.seed)
    return (rng.standard_normal((method.samples, *pixels.shape)) * scale).astype(np.float32)
