"""One gradient row's footprint at a threshold: docs/ORIGINAL.md §3's detail panel, and more.

Pure NumPy on one [H, W] row: it runs on every cursor move and threshold change, in well
under a millisecond, so there is nothing to gain from the device.
"""

from dataclasses import dataclass

import numpy as np
from jaxtyping import Float


@dataclass(frozen=True)
class Footprint:
    """Where |G| exceeds the threshold, with the original app's definitions."""

    threshold: float
    above: int
    """Pixels with |G| > threshold."""
    y_min: int | None
    y_max: int | None
    x_min: int | None
    x_max: int | None
    area: int
    """(y_max - y_min + 1) * (x_max - x_min + 1); 0 when nothing is above."""
    fulfillment: float
    """above / area; 0 when nothing is above."""
    positive_mass: float
    """Sum of the positive gradients above the threshold."""
    negative_mass: float
    """Sum of the negative gradients above the threshold (a negative number)."""
    centre_dy: float | None
    """Centre of mass of |G| above the threshold, relative to the explained pixel."""
    centre_dx: float | None


def footprint(row: Float[np.ndarray, "H W"], threshold: float, y: int, x: int) -> Footprint:
    row = np.asarray(row, np.float32)
    magnitude = np.abs(row)
    mask = magnitude > threshold
    above = int(mask.sum())
    if above == 0:
        return Footprint(float(threshold), 0, None, None, None, None, 0, 0.0, 0.0, 0.0, None, None)
    ys, xs = np.nonzero(mask)
    y_min, y_max, x_min, x_max = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
    area = (y_max - y_min + 1) * (x_max - x_min + 1)
    values = row[mask]
    weights = magnitude[mask].astype(np.float64)
    total = weights.sum()
    centre_dy = float((ys * weights).sum() / total - y) if total > 0 else None
    centre_dx = float((xs * weights).sum() / total - x) if total > 0 else None
    return Footprint(
        threshold=float(threshold),
        above=above,
        y_min=y_min,
        y_max=y_max,
        x_min=x_min,
        x_max=x_max,
        area=area,
        fulfillment=above / area,
        positive_mass=float(values[values > 0].sum()),
        negative_mass=float(values[values < 0].sum()),
        centre_dy=centre_dy,
        centre_dx=centre_dx,
    )


def crop_to_footprint(row: Float[np.ndarray, "H W"], fp: Footprint) -> np.ndarray:
    """The row cropped to the footprint's bounding box; an empty (0, 0) array when none."""
    if fp.y_min is None or fp.y_max is None or fp.x_min is None or fp.x_max is None:
        return np.zeros((0, 0), np.float32)  # nothing above the threshold
    return np.asarray(row)[fp.y_min : fp.y_max + 1, fp.x_min : fp.x_max + 1]
