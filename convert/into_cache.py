"""The converter in the form the core's model opening takes (`jaxcore.opening.Converter`):
convert a checkpoint to a given file, replacing it, and return the parity report as data.

Front ends import this only when the user opens a checkpoint: it brings in torch.
"""

from dataclasses import asdict
from pathlib import Path
from typing import Any

from cnninterp.convert.api import convert_checkpoint
from cnninterp.convert.errors import ConversionError
from cnninterp.jaxcore.opening import ConversionFailed


def convert_into(checkpoint: Path, out: Path) -> dict[str, Any]:
    """Convert `checkpoint` (parity-checked) to `out`; the report's fields, JSON-ready."""
    try:
        report = convert_checkpoint(checkpoint, out, overwrite=True)
    except ConversionError as exc:
        raise ConversionFailed(str(exc)) from None
    record = asdict(report)
    record["parity_passed"] = report.parity.passed
    record["probability_max_abs"] = report.parity.probability_max_abs
    return record
