"""The user's threshold: a mode and a value, stepped evenly on a log scale.

GLOBAL and ROW take a percentage, ABSOLUTE a gradient value, LEGACY ignores it (1 % of the
signed maximum, like the original). Each mode keeps its own value so cycling modes and coming
back restores what the user had.
"""

import math
from dataclasses import dataclass, replace

from cnninterp.jaxcore.summaries.significance import DEFAULT_THRESHOLD_PERCENT, ThresholdMode

STEPS_PER_DECADE = 4
MODES = (ThresholdMode.GLOBAL, ThresholdMode.ROW, ThresholdMode.ABSOLUTE, ThresholdMode.LEGACY)
PERCENT_RANGE = (1e-6, 100.0)


def log_step(value: float, steps: int) -> float:
    """value moved `steps` notches on a grid of STEPS_PER_DECADE per decade (snapped to it)."""
    k = round(math.log10(value) * STEPS_PER_DECADE) + steps
    return float(f"{10.0 ** (k / STEPS_PER_DECADE):.3g}")


@dataclass(frozen=True)
class Threshold:
    mode: ThresholdMode = ThresholdMode.GLOBAL
    percent: float = DEFAULT_THRESHOLD_PERCENT
    """t for GLOBAL and ROW: percent of max |J| (of the image or of the row)."""
    absolute: float | None = None
    """t for ABSOLUTE; None until the user first enters that mode."""

    @property
    def t_value(self) -> float:
        if self.mode is ThresholdMode.ABSOLUTE:
            return self.absolute or 0.0
        return self.percent

    def describe(self) -> str:
        return self.mode.describe(self.t_value)

    def stepped(self, steps: int) -> "Threshold":
        if self.mode is ThresholdMode.ABSOLUTE and self.absolute:
            return replace(self, absolute=log_step(self.absolute, steps))
        if self.mode in (ThresholdMode.GLOBAL, ThresholdMode.ROW):
            lo, hi = PERCENT_RANGE
            return replace(self, percent=min(hi, max(lo, log_step(self.percent, steps))))
        return self

    def with_value(self, value: float) -> "Threshold":
        if self.mode is ThresholdMode.ABSOLUTE:
            return replace(self, absolute=value)
        return replace(self, percent=value)

    def next_mode(self, current_value: float | None) -> "Threshold":
        """The next mode; ABSOLUTE starts at the threshold in force (current_value)."""
        mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        out = replace(self, mode=mode)
        if mode is ThresholdMode.ABSOLUTE and out.absolute is None and current_value:
            out = replace(out, absolute=float(f"{current_value:.3g}"))
        return out
