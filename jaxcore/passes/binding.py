"""How the model's functions are compiled, and the forward results kept for the last images.

`bind_model` is the one jit binding policy of the Explainer and the Attributor, and where a
model comes through the seam (model/seam.py) to the row functions (rows/kit.py), which take its
static part and its parameters, the parameters as compile-time constants
(XLA:CPU runs the backward passes about 2x faster with them folded in) or as jit arguments
(GPUs: same speed, faster compilation; benchmarks/RESULTS.md). Both bind every function
through it, so they always compile alike.

`ForwardCache` keeps the forward results (class probabilities, ReLU masks) of the last few
images: every row, pass and attribution of an image starts from them.
"""

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cnninterp.jaxcore.model.seam import SegmentationModel
from cnninterp.jaxcore.rows.kit import row_kit

Binder = Callable[..., Callable[..., Any]]
"""bind(f, **jit_options): f(config, variables, *args) jitted, called as f(*args)."""

FORWARDS_KEPT = 2  # images whose forward results stay on the device


def bind_model(model: SegmentationModel, *, constants: bool) -> Binder:
    """The binder of one model's functions f(static, params, ...) (rows/kit.py): the
    parameters folded in as constants, or passed as arguments (the static part static either
    way)."""
    config, variables = row_kit(model).static, model.params
    if constants:
        return lambda f, **options: jax.jit(partial(f, config, variables), **options)
    return lambda f, **options: partial(jax.jit(f, static_argnums=0, **options), config, variables)


def image_key(pixels: np.ndarray) -> str:
    """A short key for an image's pixels and shape."""
    return hashlib.blake2b(pixels.tobytes(), digest_size=16).hexdigest() + str(pixels.shape)


class ForwardCache:
    """forward(image) of the last FORWARDS_KEPT images, on the device; thread-safe."""

    def __init__(self, forward: Callable[[jax.Array], tuple], kept: int = FORWARDS_KEPT):
        self.forward = forward
        """The compiled forward pass: image [H, W] -> (probabilities [H, W, C], ReLU masks)."""
        self.kept = kept
        self._results: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()  # callers may use several threads

    def get(self, pixels: np.ndarray, key: str | None = None) -> tuple:
        """(probabilities, ReLU masks) of a checked image; `key`: its image_key when the
        caller has it already."""
        key = key or image_key(pixels)
        with self._lock:
            if key not in self._results:
                self._results[key] = self.forward(jnp.asarray(pixels))
                while len(self._results) > self.kept:
                    self._results.popitem(last=False)
            self._results.move_to_end(key)
            return self._results[key]
