"""The row functions of one model: where the seam (model/seam.py) meets the rows.

Every row, pass and attribution function has the form f(static, params, ...): the static part
of the model (the seed's ModelConfig, or generic.GenericNet) and its parameters, which
binding.bind_model folds in or passes. A `RowKit` names which functions serve a model:

    the seed     its masked network's exact fast paths (gradients.py, windows, crops on its
                 per-phase field, forward-mode columns, target_gradients.py)
    any other    reverse mode over its apply function (generic.py), colours where its field
                 is local, interactive rows on crops where those are exact; no pass on crops
                 and no columns yet

Chunk functions of the full pass (passes/kernels.py) and the Explainer take these by name, so
neither branches on the kind of model.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

from cnninterp.jaxcore.model import receptive_field
from cnninterp.jaxcore.model.seam import SegmentationModel
from cnninterp.jaxcore.model.seed import seed_architecture
from cnninterp.jaxcore.rows import crops, generic, gradients, target_gradients


@dataclass(frozen=True)
class RowKit:
    """The functions f(static, params, ...) that compute one model's rows."""

    static: Any
    """The static first argument of every function (hashable: a jit static argument)."""
    forward: Callable
    """(image [H, W]) -> (class scores [H, W, C], what rows start from)."""
    gradient_row: Callable
    """(probs, state, y, x) -> the row [H, W]."""
    rows_on_image: Callable
    """(probs, state, ys, xs) -> rows [N, H, W] on the whole image."""
    colour_rows: Callable
    """(probs, state, offset_y, offset_x) -> (rows [G, H, W], valid [G]) of one colour."""
    pull_back_weights: Callable
    """(probs, state, weights [H, W]) -> d (sum weights * score) / d image."""
    weighted_gradient_sum: Callable
    """(inputs [K, H, W], coefficients [K], weights, pixel, *, dense) -> (sum, values [K])."""
    target_value: Callable
    """(image, weights) -> T."""
    rows_on_crops: Callable
    """(crop probs, crop state, ys, xs in crop coordinates) -> crop rows [N, h, w]."""
    crop_inputs: Callable
    """(probs, state, origins_y, origins_x, crop_h, crop_w) -> the N crops' forward results."""
    crop_extent: Callable[[int], int]
    """The side of a row's crop along an axis of this length (the length: no crops)."""
    crop_origins: Callable
    """(ys, xs, height, width) -> where the pixels' crops start (NumPy int32)."""
    colour_spacing: int
    """Members of a colour lie this far apart."""
    crops: bool
    """The full pass may go on crops (crops.py's chunk functions: the seed's)."""
    columns: bool
    """The full pass may go by forward-mode columns (columns.py: the seed's)."""
    crop_share: float = 1.0
    """Rows go on crops where a crop holds at most this share of the image's pixels. The seed's
    crops reuse the image's forward results (1: any smaller crop pays); a generic crop row runs
    its own forward pass on its crop, where rows on the whole image share one, so a crop pays
    only when it is much smaller (GENERIC_CROP_SHARE)."""

    def crop_shape(self, height: int, width: int) -> tuple[int, int]:
        return self.crop_extent(height), self.crop_extent(width)

    def is_cropped(self, height: int, width: int) -> bool:
        """Whether rows of this image size go on crops (a crop smaller than the image)."""
        crop_h, crop_w = self.crop_shape(height, width)
        return crop_h * crop_w < height * width * self.crop_share


GENERIC_CROP_SHARE = 0.25
"""N rows on crops cost N (forward + backward) passes on the crop, on the whole image one forward
and N backward passes: with forward and backward alike, crops pay below about half the image;
a quarter leaves room for the crops' extra compilations and the paste."""


@lru_cache(maxsize=4)  # one static part per model: the functions bound to it share it
def row_kit(model: SegmentationModel) -> RowKit:
    """The row functions that serve `model`."""
    if model.architecture is not None:
        return RowKit(
            static=seed_architecture(model),
            forward=gradients.forward,
            gradient_row=gradients.gradient_row,
            rows_on_image=crops.rows_on_image,
            colour_rows=gradients.colour_rows,
            pull_back_weights=target_gradients.pull_back_weights,
            weighted_gradient_sum=target_gradients.weighted_gradient_sum,
            target_value=target_gradients.target_value,
            rows_on_crops=crops.rows_on_crops,
            crop_inputs=crops.crop_inputs,
            crop_extent=receptive_field.crop_extent,
            crop_origins=crops.crop_origins,
            colour_spacing=gradients.COLOUR_SPACING,
            crops=True,
            columns=True,
        )
    net = generic.generic_net(model)
    return RowKit(
        static=net,
        forward=generic.forward,
        gradient_row=generic.gradient_row,
        rows_on_image=generic.rows_on_image,
        colour_rows=generic.colour_rows,
        pull_back_weights=generic.pull_back_weights,
        weighted_gradient_sum=generic.weighted_gradient_sum,
        target_value=generic.target_value,
        rows_on_crops=generic.rows_on_crops,
        crop_inputs=generic.crop_inputs,
        crop_extent=partial(generic.crop_extent, net),
        crop_origins=partial(generic.crop_origins, net),
        colour_spacing=net.colour_spacing,
        crops=False,
        columns=False,
        crop_share=GENERIC_CROP_SHARE,
    )
