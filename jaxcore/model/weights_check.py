"""Weights that cannot give a meaningful model, named for what they are.

One NaN weight makes every probability NaN; a negative BatchNorm running variance makes
sqrt(var + eps) NaN wherever var < -eps. Either way the cause is the weights (a diverged
training run, a corrupted copy), not the conversion, so both the converter and the model-file
loader check here first and say so, instead of letting the symptom surface later as a failed
parity check, a crash in a colour bar or invalid JSON.
"""

from collections.abc import Callable, Mapping

import numpy as np

WEIGHTS_ADVICE = (
    "the weights themselves are broken (a diverged training run or a damaged copy): "
    "save them again from a healthy checkpoint"
)
MAX_LISTED = 8
"""Problems spelled out in one message; the rest are counted."""


def is_running_variance(name: str) -> bool:
    """True for a BatchNorm running variance, torch ('bn1.running_var') or Flax ('bn1/var')."""
    return name.endswith("running_var") or name.endswith("/var")


def value_problems(
    tensors: Mapping[str, np.ndarray], is_variance: Callable[[str], bool] = is_running_variance
) -> list[str]:
    """'name holds 3 NaN of 432 values', 'name has negative variances (min -0.5)', ...

    Only floating-point tensors are judged; integer counters cannot be non-finite."""
    problems = []
    for name, value in tensors.items():
        array = np.asarray(value)
        if array.dtype.kind not in "fc":
            continue
        nan = int(np.isnan(array).sum())
        inf = int(np.isinf(array).sum())
        if nan or inf:
            kinds = " and ".join(
                f"{n} {what}" for n, what in ((nan, "NaN"), (inf, "infinite")) if n
            )
            problems.append(f"{name} holds {kinds} of {array.size} values")
        elif is_variance(name) and array.size and float(array.min()) < 0:
            problems.append(
                f"{name} holds negative BatchNorm variances (min {float(array.min()):.3g})"
            )
    return problems


def summarise(problems: list[str]) -> str:
    """The problems as one line, at most MAX_LISTED spelled out."""
    shown = "; ".join(problems[:MAX_LISTED])
    more = len(problems) - MAX_LISTED
    return shown + (f"; and {more} more" if more > 0 else "")
