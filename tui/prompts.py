"""The one-line prompts' answers (`t`: a threshold, `g`: a pixel), parsed or refused.

Pure, so the app only asks and applies: a refusal carries the warning the user sees.
"""

from cnninterp.jaxcore.summaries.significance import ThresholdMode
from cnninterp.tui.state.threshold import PERCENT_RANGE, Threshold


class Refused(ValueError):
    """An answer that cannot be used; the message is the warning shown."""


def threshold_question(threshold: Threshold) -> str:
    unit = "absolute value" if threshold.mode is ThresholdMode.ABSOLUTE else "percent"
    return f"Threshold ({unit}), now {threshold.t_value:g}:"


def parse_threshold(text: str, mode: ThresholdMode | None = None) -> float:
    """A positive number; for the percent modes (global, row) one in PERCENT_RANGE, the range
    `]` / `[` step in, so typing and stepping agree."""
    try:
        value = float(text)
    except ValueError:
        raise Refused(f"not a positive number: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise Refused(f"not a positive number: {text!r}")
    lo, hi = PERCENT_RANGE
    if mode in (ThresholdMode.GLOBAL, ThresholdMode.ROW) and not lo <= value <= hi:
        raise Refused(f"a percentage is {lo:g}..{hi:g}: {text!r}")
    return value


def step_refusal(threshold: Threshold, steps: int) -> str | None:
    """Why `]` / `[` cannot move this threshold (None when they can)."""
    if threshold.mode is ThresholdMode.LEGACY:
        return "legacy mode's threshold is fixed (1 % of the signed max); T changes the mode"
    if threshold.mode is ThresholdMode.ABSOLUTE and not threshold.absolute:
        return "no absolute threshold yet: type one with t"
    if threshold.stepped(steps) == threshold:
        lo, hi = PERCENT_RANGE
        end = "highest" if steps > 0 else "lowest"
        return f"the threshold is at its {end}: a percentage is {lo:g}..{hi:g}"
    return None


def parse_pixel(text: str, shape: tuple[int, int] | None) -> tuple[int, int]:
    """Two numbers "y x" (or "y,x") inside an image of `shape`."""
    parts = text.replace(",", " ").split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or shape is None:
        raise Refused(f"type two numbers, y x: {text!r}")
    y, x = int(parts[0]), int(parts[1])
    if not (y < shape[0] and x < shape[1]):
        raise Refused(f"({y}, {x}) is outside the {shape[0]}x{shape[1]} image")
    return y, x
