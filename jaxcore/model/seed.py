"""The seed architecture (network.py) through the model seam (seam.py): its first model.

Everything the seam asks is derived here from the architecture itself (the receptive field:
receptive_field.py) or was measured on it (the bytes per pixel of its passes). The record
carries the ModelConfig as its `architecture`, which selects the seed's exact fast paths.
"""

from dataclasses import replace

from cnninterp.jaxcore.model import receptive_field
from cnninterp.jaxcore.model.network import DEPTH, SIZE_MULTIPLE, ModelConfig, VesselCNN
from cnninterp.jaxcore.model.seam import SegmentationModel

ROW_BYTES_PER_PIXEL = 4 * 24
"""A row's backward pass's working bytes per image pixel and channel of `width` (measured)."""
FORWARD_ACTIVATIONS = 6
"""Float canvases of the stem's size alive at once in the forward pass. Measured at 1024x1024,
full size: the pass's peak was 2.74 GiB above what was held before it, 1.19x this formula with
4; 6 bounds it (benchmarks/RESULTS.md)."""
SEED_CLASS_NAMES = ("background", "vessel")
"""The original app's two classes (docs/ORIGINAL.md)."""
MASK_LEVELS = 1 + 2 * sum(0.5**level for level in range(1, DEPTH + 1))
"""Boolean ReLU masks kept per image pixel and channel of `width`: the stem's at full
resolution and both of every block's, each block at half the resolution of the one before."""


def seed_model(config: ModelConfig, variables: dict) -> SegmentationModel:
    """The seed architecture of `config` with its variables, as the seam describes a model."""
    return SegmentationModel(
        apply=VesselCNN(config).apply,
        params=variables,
        input_channels=1,
        classes=config.classes,
        activation="softmax",
        explained_class=config.vessel_class,
        receptive_radius=receptive_field.radius(),
        size_multiple=SIZE_MULTIPLE,
        row_bytes_per_pixel=ROW_BYTES_PER_PIXEL * config.width,
        forward_bytes_per_pixel=config.width * (MASK_LEVELS + 4 * FORWARD_ACTIVATIONS),
        architecture=config,
        class_names=SEED_CLASS_NAMES if config.classes == 2 else None,
    )


def seed_architecture(model: SegmentationModel) -> ModelConfig:
    """The seed's ModelConfig behind a record, explaining the record's class: what selects
    the seed's fast paths. ValueError for a record they cannot serve (another model, or an
    activation other than the softmax they differentiate)."""
    config = model.architecture
    if config is None:
        raise ValueError("rows and passes exist for the seed architecture only, so far")
    if model.activation != "softmax":
        raise ValueError(f"the seed's rows differentiate a softmax, not {model.activation!r}")
    if config.vessel_class != model.explained_class:
        config = replace(config, vessel_class=model.explained_class)
    return config
