"""Result records as strict JSON: a NaN or an infinity becomes null, never invalid JSON.

Python's json writes NaN as the bare token `NaN`, which no strict reader (jq, JavaScript,
most JSON libraries) accepts, and with allow_nan=False it raises instead, losing the result.
A number that is not finite means "no value" here (a broken model, an empty threshold), and
JSON's word for that is null; readers of cnninterp's .json files must expect null wherever a
number could be missing.
"""

import json
import math

import numpy as np


def finite_or_null(value):
    """The record with every non-finite float (also NumPy scalars) replaced by None."""
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_null(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_text(record: dict) -> str:
    """Strict JSON (indent 1, trailing newline) of a record that may hold NaN or infinity."""
    return json.dumps(finite_or_null(record), indent=1, allow_nan=False) + "\n"
