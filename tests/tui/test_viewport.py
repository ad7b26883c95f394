"""Zoom and pan: exact pixels at 1:1 and closer, block means and maxima zoomed out, following."""

import numpy as np
import pytest

from cnninterp.tui.pictures.viewport import Viewport, Window
from cnninterp.tui.pictures.zoom import (
    FIT,
    ZOOM_LADDER,
    Scale,
    downscale_max,
    downscale_mean,
    fit_scale,
    scale_from_label,
    zoom_levels,
)

KNOWN = np.arange(64 * 64, dtype=np.float64).reshape(64, 64)  # every pixel a different value


def test_one_to_one_shows_every_pixel_exactly_once():
    window = Viewport(Scale(), centre=(32, 32)).visible((64, 64), box_cols=20, box_rows=10)
    assert (window.cols, window.rows) == (20, 10)
    shown = window.crop_mean(KNOWN)
    np.testing.assert_array_equal(shown, KNOWN[window.y0 : window.y1, window.x0 : window.x1])
    assert len(np.unique(shown)) == shown.size  # no pixel drawn twice, none skipped


def test_enlarged_pixels_are_whole_squares_and_the_cursor_marks_exactly_its_own():
    window = Viewport(Scale(3), centre=(10, 10)).visible((64, 64), box_cols=30, box_rows=15)
    shown = window.crop_mean(KNOWN)
    for y, x in [(10, 10), (window.y0, window.x0), (window.y1 - 1, window.x1 - 1)]:
        r0, c0, r1, c1 = window.display_box(y, x)
        assert (r1 - r0, c1 - c0) == (3, 3)
        assert np.all(shown[r0:r1, c0:c1] == KNOWN[y, x])
        assert np.sum(shown == KNOWN[y, x]) == 9  # and nowhere else
        for lower in (False, True):  # a click anywhere on it finds it again
            for row in range(r0 // 2, (r1 + 1) // 2):
                for col in range(c0, c1):
                    if r0 <= 2 * row + lower < r1:
                        assert window.pixel_at(row, col, lower) == (y, x)


def test_neighbouring_columns_never_share_a_cell_at_one_to_one():
    # The bug this replaces: with nearest resampling x=2 and x=3 drew the same cell.
    window = Viewport(Scale()).visible((64, 64), box_cols=40, box_rows=20)
    cells = {x: window.cells_of(5, x) for x in range(window.x0, window.x1)}
    assert len(set(cells.values())) == len(cells)
    assert window.cells_of(4, 2)[:2] == window.cells_of(5, 2)[:2] == (2, 2)  # one cell, 2 rows
    assert window.display_box(4, 2) == (4, 2, 5, 3) and window.display_box(5, 2) == (5, 2, 6, 3)
    assert window.pixel_at(2, 2) == (4, 2) and window.pixel_at(2, 2, lower=True) == (5, 2)


def test_zoomed_out_averages_whole_blocks_and_ragged_edges_over_real_pixels():
    values = np.arange(5 * 7, dtype=np.float64).reshape(5, 7)
    mean = downscale_mean(values, 3)
    assert mean.shape == (2, 3)
    assert mean[0, 0] == values[:3, :3].mean()
    assert mean[1, 2] == values[3:, 6:].mean()  # a 2x1 block: its two real pixels only
    assert mean[0, 2] == values[:3, 6:].mean()
    with_gaps = values.copy()
    with_gaps[:3, :3] = np.nan
    with_gaps[3, 0] = np.nan
    mean = downscale_mean(with_gaps, 3)
    assert np.isnan(mean[0, 0])  # nothing computed in that block yet
    assert mean[1, 0] == np.nanmean(with_gaps[3:, :3])


def test_max_keeps_a_one_pixel_line_that_averaging_or_skipping_would_lose():
    mask = np.zeros((64, 64), bool)
    mask[:, 37] = True  # a vessel one pixel wide, on a column a stride of 4 skips
    assert downscale_max(mask, 4)[:, 37 // 4].all()
    assert not downscale_max(mask, 4)[:, 37 // 4 + 1].any()
    assert not mask[:, ::4].any()
    counts = np.full((6, 6), np.nan)
    counts[5, 5] = 3.0
    maxima = downscale_max(counts, 4)
    assert maxima[1, 1] == 3.0 and np.isnan(maxima[0, 0])
    ints = np.arange(-10, 26).reshape(6, 6)
    expected = [[ints[:4, :4].max(), ints[:4, 4:].max()], [ints[4:, :4].max(), ints[4:, 4:].max()]]
    np.testing.assert_array_equal(downscale_max(ints, 4), expected)


def test_fit_shows_the_whole_image_with_an_integer_block_or_enlargement():
    assert fit_scale((256, 256), box_cols=70, box_rows=20) == Scale(block=7)  # 256/40 -> 7
    assert fit_scale((32, 32), box_cols=70, box_rows=40) == Scale(magnify=2)
    assert fit_scale((64, 64), box_cols=64, box_rows=32) == Scale()
    window = Viewport().visible((256, 200), box_cols=70, box_rows=20)
    assert (window.y0, window.x0, window.y1, window.x1) == (0, 0, 256, 200)
    assert window.display_rows <= 40 and window.cols <= 70
    shown = window.crop_mean(np.ones((256, 200)))
    assert shown.shape == (window.display_rows, window.display_cols) and np.all(shown == 1.0)


def test_blocks_are_aligned_to_the_image_grid_so_panning_does_not_shimmer():
    values = np.random.default_rng(0).random((256, 256))
    whole = downscale_mean(values, 2)
    for centre in [(100, 100), (101, 57), (255, 3)]:
        window = Viewport(Scale(block=2), centre=centre).visible((256, 256), 30, 10)
        assert window.y0 % 2 == 0 and window.x0 % 2 == 0
        np.testing.assert_array_equal(
            window.crop_mean(values),
            whole[window.y0 // 2 : window.y1 // 2, window.x0 // 2 :][:, :30],
        )


def test_zoom_steps_from_fit_to_four_to_one_and_back_keeping_the_anchor():
    shape, box = (256, 256), (60, 20)
    levels = zoom_levels(shape, *box)
    assert levels[0] == Scale(block=7) and levels[1:] == list(ZOOM_LADDER)
    view = Viewport()
    labels = []
    for _ in range(len(levels) + 1):  # past the finest level it stays there
        view = view.zoomed(1, shape, *box, anchor=(200, 40))
        labels.append(view.label)
        window = view.visible(shape, *box)
        assert window.contains(200, 40)
    assert labels == ["1:4", "1:2", "1:1", "2:1", "3:1", "4:1", "4:1", "4:1"]
    assert view.zoomed(-100, shape, *box).label == FIT
    # levels no finer than fit are skipped: a small image zooms in from its enlargement
    assert zoom_levels((32, 32), 70, 40) == [Scale(2), Scale(3), Scale(4)]
    assert Viewport().zoomed(1, (32, 32), 70, 40).scale == Scale(3)


def test_follow_pans_only_when_the_cursor_nears_an_edge():
    shape, box = (256, 256), (40, 20)  # 1:1 -> 40 x 40 pixels
    view = Viewport(Scale(), centre=(128, 128))
    window = view.visible(shape, *box)
    assert (window.y0, window.x0, window.y1, window.x1) == (108, 108, 148, 148)
    assert view.follow((130, 140), shape, *box) == view  # inside, margin to spare
    moved = view.follow((145, 128), shape, *box).visible(shape, *box)
    assert moved.y1 == 145 + 4 + 1 and moved.x0 == 108  # just enough, and only along y
    moved = view.follow((100, 128), shape, *box).visible(shape, *box)
    assert moved.y0 == 100 - 4
    corner = view.follow((0, 255), shape, *box).visible(shape, *box)
    assert (corner.y0, corner.x1) == (0, 256)  # the image's edges stop it
    zoomed_out = Viewport(Scale(block=4), centre=(0, 0))
    far = zoomed_out.follow((255, 255), shape, 20, 10).visible(shape, 20, 10)
    assert far.contains(255, 255) and far.y0 % 4 == 0


def test_pan_stops_at_the_edges_so_panning_back_acts_at_once():
    shape, box = (100, 100), (20, 10)
    view = Viewport(Scale(), centre=(50, 50))
    window = view.panned(0, 500, shape, *box).visible(shape, *box)
    assert window.x1 == 100
    back = view.panned(0, 500, shape, *box).panned(0, -10, shape, *box).visible(shape, *box)
    assert back.x1 == 90
    assert Viewport().panned(7, 7, shape, *box).visible(shape, *box) == Viewport().visible(
        shape, *box
    )  # fit shows everything already


def test_outside_the_window_there_is_no_cell_and_no_pixel():
    window = Window(10, 10, 20, 20, Scale(2))
    assert window.display_box(9, 15) is None and window.cells_of(15, 20) is None
    assert window.pixel_at(10, 0) is None and window.pixel_at(0, 20) is None
    assert window.pixel_at(0, 0) == (10, 10)


def test_zoom_labels_round_trip():
    assert scale_from_label(FIT) is None
    for scale in ZOOM_LADDER:
        assert scale_from_label(scale.label) == scale
    with pytest.raises(ValueError, match="zoom"):
        scale_from_label("7:1")
