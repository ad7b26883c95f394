"""Numbers as the panels print them: short values and whole counts, '-' when unknown."""

import numpy as np

NO_DATA = "no data"
"""What a colour bar says when its scale has no finite maximum."""


def format_value(value: float | None, digits: int = 3) -> str:
    """Short number: 0, 0.0123, 1.2e-5, 412 (compact exponents, `digits` significant)."""
    if value is None or not np.isfinite(value):
        return "-"
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def format_count(value: float | None) -> str:
    """A count of pixels, always the same way: a whole number ('1276'), '-' when unknown.
    Estimates are rounded, so 'above 1276' and 'signific. ≈ 1280' read alike."""
    if value is None or not np.isfinite(value):
        return "-"
    return f"{round(float(value)):d}"
