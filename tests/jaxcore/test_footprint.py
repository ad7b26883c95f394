"""Footprint statistics against a direct implementation of docs/ORIGINAL.md §3 on random rows."""

import numpy as np
import pytest

from cnninterp.jaxcore.summaries.footprint import crop_to_footprint, footprint


def direct(row, threshold):
    above = [
        (y, x)
        for y in range(row.shape[0])
        for x in range(row.shape[1])
        if abs(row[y, x]) > threshold
    ]
    if not above:
        return 0, None, None, None, None, 0, 0.0
    ys = [p[0] for p in above]
    xs = [p[1] for p in above]
    area = (max(ys) - min(ys) + 1) * (max(xs) - min(xs) + 1)
    return len(above), min(ys), max(ys), min(xs), max(xs), area, len(above) / area


@pytest.mark.parametrize("seed", range(5))
def test_footprint_equals_spec_definitions(seed):
    rng = np.random.default_rng(seed)
    row = (rng.standard_normal((24, 20)) * rng.random((24, 20)) ** 4).astype(np.float32)
    threshold = float(np.quantile(np.abs(row), 0.9))
    fp = footprint(row, threshold, 10, 7)
    above, y_min, y_max, x_min, x_max, area, fulfillment = direct(row, threshold)
    assert (fp.above, fp.y_min, fp.y_max, fp.x_min, fp.x_max, fp.area) == (
        above,
        y_min,
        y_max,
        x_min,
        x_max,
        area,
    )
    assert fp.fulfillment == pytest.approx(fulfillment)
    mask = np.abs(row) > threshold
    assert fp.positive_mass == pytest.approx(row[mask & (row > 0)].sum(), rel=1e-5)
    assert fp.negative_mass == pytest.approx(row[mask & (row < 0)].sum(), rel=1e-5)
    ys, xs = np.nonzero(mask)
    weights = np.abs(row[mask])
    assert fp.centre_dy == pytest.approx((ys * weights).sum() / weights.sum() - 10, rel=1e-5)
    assert fp.centre_dx == pytest.approx((xs * weights).sum() / weights.sum() - 7, rel=1e-5)
    crop = crop_to_footprint(row, fp)
    assert crop.shape == (y_max - y_min + 1, x_max - x_min + 1)


def test_nothing_above_gives_an_empty_footprint():
    fp = footprint(np.zeros((8, 8), np.float32), 0.0, 1, 1)
    assert fp.above == 0 and fp.area == 0 and fp.y_min is None
    assert crop_to_footprint(np.zeros((8, 8)), fp).shape == (0, 0)
