"""The model seam: the one typed description of a segmentation model that the passes, methods,
targets and memory estimates take.

`SegmentationModel` is the one typed interface between a model and everything below it: its
apply function and parameters, its input channels, classes and output activation, its
receptive field (or the whole image) and the size multiple it needs, and the bytes per pixel
its passes take. It is a frozen record, not a base class: a model is described, not
subclassed.

Two models fill it in: the seed architecture's Flax port (seed.seed_model), whose record carries
its `architecture` (the ModelConfig) and with it the seed's exact fast paths (the masked
network's rows, windows, crops on its per-phase field, columns); and any exported PyTorch model
(generic.graph_model), whose `apply` is our interpreter of its graph. rows/kit.py reads the
record to choose the row functions that serve it (the seed's, or reverse mode over `apply`).

Where a model comes in: the Explainer (passes/explainer.py: images checked against
size_multiple and input_channels, the explained class, chunk sizes from row_bytes_per_pixel),
binding.bind_model and the row kit, kernels.PassKernels.bound, the Attributor
(explain/attribution.py) and the host memory estimate (passes/memory.py).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jax
from jaxtyping import Array, Float

Activation = Literal["softmax", "sigmoid", "logits"]
ACTIVATIONS: tuple[Activation, ...] = ("softmax", "sigmoid", "logits")


@dataclass(frozen=True, eq=False)  # compared by identity: params are arrays
class SegmentationModel:
    """A segmentation model, image in, one score per pixel and class out."""

    apply: Callable[..., Any]
    """apply(params, images [B, H, W, input_channels]) -> logits [B, H, W, classes]."""
    params: Any
    """The parameters `apply` takes (a pytree of arrays)."""
    input_channels: int
    """Channels of the input image (1: grayscale)."""
    classes: int
    """Output channels."""
    activation: Activation
    """What makes the explained score of the logits: softmax over the classes, a sigmoid per
    class, or none ('logits': the logits themselves are explained)."""
    explained_class: int
    """The output channel that rows, passes and targets explain."""
    receptive_radius: int | None
    """How far, in input pixels each way, an output pixel can see; None: the whole image."""
    size_multiple: int
    """Image sides must be multiples of this (the network's total stride)."""
    row_bytes_per_pixel: int
    """A row's backward pass's working memory, bytes per image pixel (measured): chunk sizes
    and memory estimates."""
    forward_bytes_per_pixel: float
    """The forward results kept for an image beyond its scores, and the forward pass's
    activations while it runs, bytes per image pixel: memory estimates."""
    architecture: Any = None
    """The seed architecture's ModelConfig when this is the seed model (seed.seed_model):
    it selects the seed's exact fast paths. None for any other model."""
    class_names: tuple[str, ...] | None = None
    """One name per class, where known: the words the front ends use for the explained one."""
    fingerprint: str = ""
    """What `apply` computes beyond its parameters (a digest of a generic model's graph and
    normalisation), for cache keys: the same weights in another network are another model."""
    crops_exact: bool = True
    """Whether a row computed on the crop of the image that holds its pixel's field equals
    the row on the whole image: false where an op depends on the image's size or on absolute
    positions (bilinear resizing with align_corners, adaptive pooling to a fixed grid)."""
    field_reason: str = ""
    """Why every output sees the whole image, where it does ('instance norm in layer ...: every
    output depends on every pixel'), for the front ends to say."""

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, not {self.activation!r}")
        if not 0 <= self.explained_class < self.classes:
            raise ValueError(
                f"class {self.explained_class} does not exist: the model has {self.classes} classes"
            )
        if self.class_names is not None and len(self.class_names) != self.classes:
            raise ValueError(f"{len(self.class_names)} class names for {self.classes} classes")

    @property
    def explained_name(self) -> str:
        """The explained class's name ('vessel'), or 'class K' where the model names none."""
        if self.class_names is not None:
            return self.class_names[self.explained_class]
        return f"class {self.explained_class}"

    @property
    def score_label(self) -> str:
        """What the explained score is, in a few characters: 'p(vessel)', 'logit(class 2)'."""
        kind = "logit" if self.activation == "logits" else "p"
        return f"{kind}({self.explained_name})"

    def scores(self, logits: Float[Array, "... C"]) -> Float[Array, "... C"]:
        """The activation applied to logits over their last axis (the classes)."""
        return activate(self.activation, logits)


def activate(activation: Activation, logits: Float[Array, "... C"]) -> Float[Array, "... C"]:
    """softmax over the last axis, a sigmoid per entry, or the logits as they are."""
    if activation == "softmax":
        return jax.nn.softmax(logits, axis=-1)
    if activation == "sigmoid":
        return jax.nn.sigmoid(logits)
    return logits
