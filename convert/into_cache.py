"""The converter in the form the core's model opening takes (`jaxcore.opening.Converter`):
convert a checkpoint to a given file, replacing it, and return the parity report as data.

Front ends import this only when the user opens a checkpoint: it brings in torch.
"""

from dataclasses import asdict
from pathlib import Path
from typing import Any

from cnninterp.convert.api import convert_checkpoint
from cnninterp.convert.errors import ConversionError
from cnninterp.convert.exported_model import convert_exported
from cnninterp.jaxcore.opening import ConversionFailed


def convert_into(checkpoint: Path, out: Path) -> dict[str, Any]:
    """Convert `checkpoint` (parity-checked) to `out`: a `.pt2` the generic way
    (exported_model), anything else as the seed's checkpoint (api); the report's fields,
    JSON-ready, with its parity verdict and worst difference."""
    try:
        if checkpoint.suffix.lower() == ".pt2":
            generic = convert_exported(checkpoint, out, overwrite=True)
            return asdict(generic) | {
                "parity_passed": generic.parity.passed,
                "max_relative": generic.parity.max_rel,
            }
        seed = convert_checkpoint(checkpoint, out, overwrite=True)
        return asdict(seed) | {
            "parity_passed": seed.parity.passed,
            "probability_max_abs": seed.parity.probability_max_abs,
        }
    except ConversionError as exc:
        raise ConversionFailed(str(exc)) from None
