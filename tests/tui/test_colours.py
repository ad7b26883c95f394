"""pictures/colours.py and half_blocks.py without an App: colormaps, scales, outlines, fitting
and half-block cells."""

import numpy as np
import pytest

from cnninterp.tui import number_text
from cnninterp.tui.pictures import colours, half_blocks


def test_colormaps_are_256_rgb_and_diverging_maps_have_a_light_centre():
    for name in (*colours.DIVERGING, colours.SEQUENTIAL, "gray"):
        lut = colours.colormap_lut(name)
        assert lut.shape == (256, 3) and lut.dtype == np.uint8
    for name in colours.DIVERGING:
        centre = colours.colormap_lut(name)[128].astype(int)
        ends = colours.colormap_lut(name)[[0, 255]].astype(int)
        assert centre.sum() > ends.sum(axis=1).max()


def test_default_diverging_map_is_not_red_green():
    assert colours.DIVERGING[0] != "RdYlGn" and "RdYlGn" in colours.DIVERGING


def test_nan_is_drawn_as_missing():
    rgb = colours.sequential_rgb(np.array([np.nan, 0.0, 1.0]), 0.0, 1.0, "viridis")
    assert tuple(rgb[0]) == colours.MISSING_RGB
    assert tuple(rgb[2]) == tuple(colours.colormap_lut("viridis")[255])


@pytest.mark.parametrize("log", [False, True])
def test_signed_scale_is_symmetric_monotone_and_invertible(log):
    scale = colours.SignedScale(2e-3, log=log)
    v = np.linspace(-2e-3, 2e-3, 101)
    u = scale.forward(v)
    assert u[0] == pytest.approx(-1) and u[-1] == pytest.approx(1) and u[50] == 0
    assert np.all(np.diff(u) > 0)
    np.testing.assert_allclose(scale.forward(-v), -u)
    np.testing.assert_allclose(scale.inverse(u), v, atol=1e-12)


def test_log_scale_shows_small_gradients_that_linear_hides():
    lin, log = colours.SignedScale(1.0), colours.SignedScale(1.0, log=True, decades=4)
    assert lin.forward(np.array(1e-3)) < 0.01
    assert log.forward(np.array(1e-3)) > 0.2


def test_zero_scale_draws_the_centre_colour():
    rgb = colours.signed_rgb(np.zeros((2, 2)), colours.SignedScale(0.0), "RdBu")
    assert (rgb == colours.colormap_lut("RdBu")[128]).all()


def test_outline_is_the_border_of_a_mask():
    mask = np.zeros((6, 6), bool)
    mask[1:5, 1:5] = True
    edge = colours.outline(mask)
    assert edge.sum() == 12 and not edge[2:4, 2:4].any() and not edge[0].any()


@pytest.mark.parametrize(
    "shape,box,expected",
    [
        ((64, 64), (200, 60), (64, 32)),
        ((16, 16), (70, 40), (64, 32)),
        ((256, 256), (50, 20), (40, 20)),
    ],
)
def test_fit_keeps_aspect_and_enlarges_by_whole_factors(shape, box, expected):
    fit = half_blocks.Fit.into(*shape, *box)
    assert (fit.cols, fit.rows) == expected
    assert fit.cols <= box[0] and fit.rows <= box[1]


def test_cells_and_pixels_round_trip_at_one_to_one_and_enlarged():
    for shape, box in (((64, 64), (64, 32)), ((16, 32), (64, 16))):
        fit = half_blocks.Fit.into(*shape, *box)
        for y, x in ((0, 0), (shape[0] - 1, shape[1] - 1), (5, 9)):
            row, col, lower = fit.cell_of(y, x)
            # the picture pixel drawn in that half of that cell is (y, x)
            ys, xs = fit.source_rows(), fit.source_columns().astype(int)
            assert (ys[2 * row + lower], xs[col]) == (y, x)


def test_half_blocks_put_upper_pixel_in_fg_and_lower_in_bg():
    picture = np.zeros((4, 3, 3), np.uint8)
    picture[0, 1] = (255, 0, 0)
    picture[1, 1] = (0, 0, 255)
    lines = half_blocks.half_block_runs(picture)
    assert len(lines) == 2 and [len(line) for line in lines] == [3, 1]
    segment = lines[0][1]
    assert segment.text == half_blocks.UPPER_HALF
    assert segment.style.color.triplet == (255, 0, 0)
    assert segment.style.bgcolor.triplet == (0, 0, 255)


def test_half_block_runs_merge_equal_cells_and_keep_every_colour():
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 3, (5, 12, 3)).astype(np.uint8) * 100
    picture[:, 4:9] = (7, 8, 9)  # a run of equal cells on every row
    runs = half_blocks.half_block_runs(picture)
    assert len(runs) == 3
    for row, run_row in enumerate(runs):
        tops = [tuple(v) for v in picture[2 * row].tolist()]
        bottoms = [tuple(v) for v in picture[2 * row + 1].tolist()] if row < 2 else [None] * 12
        expected = [half_blocks.half_block_style(t, b) for t, b in zip(tops, bottoms, strict=True)]
        assert len(run_row) < 12
        assert [s.style for s in run_row for _ in s.text] == expected
        assert "".join(s.text for s in run_row) == half_blocks.UPPER_HALF * 12
    # the odd last picture row leaves its lower halves to the background
    assert all(s.style.bgcolor is None for s in runs[-1])


def test_colorbar_labels_the_ends_and_zero():
    ramp, labels = colours.colorbar_text(colours.SignedScale(3e-3), "RdBu", 40)
    assert len(ramp) == 40 and len(labels) == 40
    assert labels.startswith("-0.003") and labels.rstrip().endswith("0.003")
    assert " 0 " in labels
    _, log_labels = colours.colorbar_text(colours.SignedScale(3e-3, log=True), "RdBu", 40)
    assert "e-5" in log_labels  # decades below the max get labels on the log scale


def test_format_value():
    assert [number_text.format_value(v) for v in (0, 1e-5, 0.0123, 412.0, None, np.nan)] == [
        "0",
        "1e-5",
        "0.0123",
        "412",
        "-",
        "-",
    ]
