"""Zoom and pan in the half-block panels: exact pixels at 1:1 or closer, block means (and
block maxima for outlines) zoomed out, the cursor on exactly its pixel, the shared viewport
following the cursor in the app."""

import numpy as np
import pytest
from textual.app import App, ComposeResult

from cnninterp.tui import number_text
from cnninterp.tui.app import create_app
from cnninterp.tui.pictures import colours
from cnninterp.tui.pictures.colours import CURSOR_RGB
from cnninterp.tui.pictures.half_blocks import UPPER_HALF
from cnninterp.tui.pictures.pixel_view import PixelView, display_picture
from cnninterp.tui.pictures.viewport import Viewport, Window
from cnninterp.tui.pictures.zoom import Scale
from tests.tui.pilot_helpers import options, row_shown, stats_done, wait_for


def shown_rgb(view: PixelView) -> np.ndarray:
    """The display pixels a PixelView draws, read back from its strips: [2 rows, cols, 3]."""
    window = view.window
    assert window is not None
    left = view.picture_left
    out = np.zeros((2 * window.rows, window.cols, 3), np.int64)
    for row in range(window.rows):
        cells = [s for s in view.render_line(row)][1 if left else 0 :]
        cells = [s for s in cells if s.text == UPPER_HALF][: window.cols]
        for col, segment in enumerate(cells):
            out[2 * row, col] = segment.style.color.triplet
            if segment.style.bgcolor is not None:
                out[2 * row + 1, col] = segment.style.bgcolor.triplet
    return out[: window.display_rows]


class OnePanel(App[None]):
    def __init__(self, size: tuple[int, int]):
        super().__init__()
        self.panel_size = size

    def compose(self) -> ComposeResult:
        view = PixelView(id="view")
        view.styles.width, view.styles.height = self.panel_size
        yield view


def test_one_to_one_is_every_pixel_exactly():
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    window = Window(4, 6, 14, 26, Scale())
    np.testing.assert_array_equal(display_picture(rgb, (), window), rgb[4:14, 6:26])
    doubled = display_picture(rgb, (), Window(0, 0, 5, 5, Scale(magnify=2)))
    np.testing.assert_array_equal(doubled[::2, ::2], rgb[:5, :5])
    np.testing.assert_array_equal(doubled[1::2, 1::2], rgb[:5, :5])


def test_zoomed_out_is_block_means_and_outlines_survive_as_maxima():
    rgb = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    line = np.zeros((16, 16), bool)
    line[:, 5] = True  # a one-pixel vessel outline: skipping pixels would lose it
    window = Window(0, 0, 16, 16, Scale(block=4))
    shown = display_picture(rgb, ((line, (1, 2, 3)),), window)
    means = rgb.reshape(4, 4, 4, 4, 3).mean(axis=(1, 3))
    np.testing.assert_array_equal(shown[:, [0, 2, 3]], np.rint(means[:, [0, 2, 3]]))
    assert (shown[:, 1] == (1, 2, 3)).all()  # column block 1 holds x = 5 in every row


async def test_a_panel_at_one_to_one_draws_the_exact_image_and_cursor_pixel():
    rgb = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    app = OnePanel((40, 21))
    async with app.run_test(size=(60, 30)) as pilot:
        view = app.query_one(PixelView)
        view.set_picture(rgb)
        view.set_viewport(Viewport(Scale(), centre=(20, 30)))
        await pilot.pause()
        window = view.window
        assert window.scale == Scale() and window.contains(20, 30)
        shown = shown_rgb(view)
        np.testing.assert_array_equal(shown, rgb[window.y0 : window.y1, window.x0 : window.x1])
        view.set_cursor(21, 33)  # an odd row: the lower half of its cell, exactly one pixel
        await pilot.pause()
        marked = shown_rgb(view)
        differs = np.argwhere((marked != shown).any(axis=2))
        assert differs.tolist() == [[21 - window.y0, 33 - window.x0]]
        assert tuple(marked[21 - window.y0, 33 - window.x0]) == CURSOR_RGB
        view.set_cursor(21, 32)  # the next column is another cell (not drawn the same)
        await pilot.pause()
        assert np.argwhere((shown_rgb(view) != shown).any(axis=2)).tolist() == [
            [21 - window.y0, 32 - window.x0]
        ]


async def test_a_panel_zoomed_out_averages_blocks():
    rgb = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    app = OnePanel((40, 21))  # 39 x 20 cells for the picture: 64 pixels need 2x2 blocks
    async with app.run_test(size=(60, 30)) as pilot:
        view = app.query_one(PixelView)
        view.set_picture(rgb)
        await pilot.pause()
        assert view.window.scale == Scale(block=2)
        means = rgb.astype(float).reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
        np.testing.assert_array_equal(shown_rgb(view), np.rint(means))


async def test_z_zooms_every_picture_panel_and_the_viewport_follows(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        # every panel has its picture (the significance map comes with the pass's counts)
        await wait_for(pilot, lambda: stats_done(app) and row_shown(app), timeout=60)
        before = app.query_one("#image", PixelView).window.scale
        await pilot.press("z", "z", "z")
        scales = {app.query_one(f"#{n}", PixelView).window.scale for n in ("image", "gradient")}
        assert len(scales) == 1 and scales.pop().factor > before.factor
        assert app.query_one("#image").border_subtitle == f"zoom {app.main.viewport.label}"
        for _ in range(31):
            await pilot.press("right")
        await pilot.press("shift+down", "shift+down", "shift+down")
        for name in ("image", "probability", "significance", "gradient"):
            assert app.query_one(f"#{name}", PixelView).window.contains(*app.session.cursor)
        detail = app.query_one("#detail", PixelView)
        assert detail.viewport == Viewport()  # the detail panel keeps its own framing
        await pilot.press("Z", "Z", "Z", "Z")
        assert app.main.viewport.scale is None  # back to fit


@pytest.mark.parametrize("vmax,log", [(8.6, True), (8.6, False), (0.37, True)])
def test_colorbar_labels_come_in_symmetric_pairs(vmax, log):
    for width in (20, 31, 44, 60):
        _ramp, labels = colours.colorbar_text(colours.SignedScale(vmax, log=log), "RdBu", width)
        words = labels.split()
        for word in words:
            if word != "0":
                other = word[1:] if word.startswith("-") else f"-{word}"
                assert other in words, (width, labels)


def test_counts_are_formatted_one_way():
    assert number_text.format_count(1276) == "1276" == number_text.format_count(1276.0)
    assert number_text.format_count(1280.4) == "1280" and number_text.format_count(None) == "-"
