"""Zoom and pan with terminal graphics (Kitty, Sixel): the picture handed to textual-image
shows exactly the window a half-block panel of the same size shows, exact pixels at 1:1 or
closer, block means zoomed out with outlines as block maxima, and it moves when the shared
viewport pans. Checked on the arrays and PIL images handed over, since no terminal shows
graphics under Pilot."""

import numpy as np
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.geometry import Region
from textual.widget import Widget

from cnninterp.tui.app import create_app
from cnninterp.tui.panels import CURSOR_VIEWS
from cnninterp.tui.pictures import panel_pictures
from cnninterp.tui.pictures.colours import CURSOR_RGB
from cnninterp.tui.pictures.graphics_view import CursorMark, GraphicsView
from cnninterp.tui.pictures.pixel_view import PixelView, display_picture
from cnninterp.tui.pictures.terminal_picture import CellGeometry, cursor_patch
from cnninterp.tui.pictures.viewport import Viewport, Window
from cnninterp.tui.pictures.zoom import Scale
from tests.tui.pilot_helpers import options, row_shown, wait_for


class PictureStandIn(Widget):
    """Takes the PIL image the way textual-image's widgets do (`.image`), draws nothing."""

    image = None


def handed_over(view: GraphicsView) -> np.ndarray:
    """The RGB pixels of the PIL image handed to the terminal widget: [h, w, 3]."""
    picture = view.query_one(PictureStandIn).image
    assert picture is not None
    return np.asarray(picture.convert("RGB"))


def upscaled(pixels: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


class SideBySide(App[None]):
    """A half-block panel and a graphics panel of the same size, for comparing windows."""

    def __init__(self, size: tuple[int, int], cell: tuple[int, int]):
        super().__init__()
        self.panel_size, self.cell = size, cell

    def compose(self) -> ComposeResult:
        with Horizontal():
            text = PixelView(id="text")
            graphics = GraphicsView(PictureStandIn, self.cell, id="graphics")
            for view in (text, graphics):
                view.styles.width, view.styles.height = self.panel_size
                yield view

    clicked: list[tuple[int, int]] = []

    def on_pixel_view_clicked(self, message: PixelView.Clicked) -> None:
        self.clicked.append((message.y, message.x))

    def show(self, rgb: np.ndarray, viewport: Viewport, layers=()) -> None:
        for view in (self.query_one(PixelView), self.query_one(GraphicsView)):
            view.set_picture(rgb, layers=layers)
            view.set_viewport(viewport)


async def test_graphics_at_one_to_one_hand_over_the_exact_window_with_the_cursor_on_its_pixel():
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    app = SideBySide((40, 21), cell=(10, 20))
    async with app.run_test(size=(90, 30)) as pilot:
        app.show(rgb, Viewport(Scale(), centre=(20, 30)))
        await pilot.pause()
        text, view = app.query_one(PixelView), app.query_one(GraphicsView)
        window = view.window
        assert window == text.window and window.scale == Scale() and window.contains(20, 30)
        region = rgb[window.y0 : window.y1, window.x0 : window.x1]
        np.testing.assert_array_equal(view.display_pixels, region)
        # one image pixel = one cell column and half a cell row = 10 x 10 screen pixels
        assert view.geometry.scale == 10
        shown = handed_over(view)[: 10 * region.shape[0], : 10 * region.shape[1]]
        np.testing.assert_array_equal(shown, upscaled(region, 10))
        view.set_cursor(21, 33)
        await pilot.pause()
        row = (21 - window.y0) // 2  # two image rows per cell row at 1:1
        assert view.render_line(row).text.rstrip().endswith("▶")
        bottom = view.render_line(view.geometry.rows).text
        assert bottom.index("▲") == view.picture_left + 33 - window.x0  # its own column
        # the mark over the picture: exactly the pixel's half of its cell, the other half as
        # the picture shows it, drawn on top so the terminal shows it instead of the picture
        mark = view.query_one(CursorMark)
        top = 21 - window.y0 - 1
        assert mark.halves.tolist() == [[rgb[window.y0 + top, 33].tolist()], [list(CURSOR_RGB)]]
        content = view.content_region
        at = (content.x + view.picture_left + 33 - window.x0, content.y + top // 2)
        assert mark.region == Region(*at, 1, 1)
        assert app.screen.get_widget_at(*at)[0] is mark
        view.set_cursor(21, 32)
        await pilot.pause()
        await pilot.click(GraphicsView, offset=(view.picture_left + 5, 3))
        assert app.clicked == [(window.y0 + 7, window.x0 + 5)]  # cell row 3: rows 6 and 7
        assert view.render_line(view.geometry.rows).text.index("▲") == view.picture_left + 32 - (
            window.x0
        )


async def test_graphics_zoomed_out_hand_over_block_means_and_outlines_as_block_maxima():
    rgb = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    line = np.zeros((64, 64), bool)
    line[:, 9] = True  # a one-pixel outline: skipping pixels would lose it
    layers = ((line, (1, 2, 3)),)
    # Cells of 1 x 2 screen pixels are exactly the half blocks' display pixels: the graphics
    # picture must then be the half-block panel's picture, 2 x 2 block means.
    app = SideBySide((40, 21), cell=(1, 2))
    async with app.run_test(size=(90, 30)) as pilot:
        app.show(rgb, Viewport(), layers)
        await pilot.pause()
        text, view = app.query_one(PixelView), app.query_one(GraphicsView)
        assert view.window == text.window and view.picture_window.scale == Scale(block=2)
        means = np.rint(rgb.astype(float).reshape(32, 2, 32, 2, 3).mean(axis=(1, 3)))
        expected = means.copy()
        expected[:, 4] = (1, 2, 3)  # block column 4 holds x = 9 in every row
        np.testing.assert_array_equal(view.display_pixels, expected)
        np.testing.assert_array_equal(
            view.display_pixels, display_picture(rgb, layers, text.window)
        )
        np.testing.assert_array_equal(handed_over(view)[:32, :32], expected)


async def test_graphics_use_the_terminals_finer_pixels_but_only_whole_aligned_blocks():
    rgb = np.random.default_rng(2).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    app = SideBySide((40, 21), cell=(2, 4))  # half blocks need 4 x 4 blocks; 2 x 2 fit here
    async with app.run_test(size=(90, 30)) as pilot:
        app.show(rgb, Viewport())
        await pilot.pause()
        view = app.query_one(GraphicsView)
        assert view.window.scale == Scale(block=4)
        assert view.picture_window == Window(0, 0, 128, 128, Scale(block=2))
        means = np.rint(rgb.astype(float).reshape(64, 2, 64, 2, 3).mean(axis=(1, 3)))
        np.testing.assert_array_equal(view.display_pixels, means)
        np.testing.assert_array_equal(handed_over(view)[:64, :64], means)
        assert handed_over(view).shape[:2] == (view.geometry.rows * 4, view.geometry.cols * 2)


def test_the_finer_block_divides_the_windows_own_unless_the_whole_image_shows():
    whole = Window(0, 0, 256, 256, Scale(block=11))  # fit: nothing to pan
    assert whole.at_resolution(240, 240, (256, 256)).scale == Scale(block=2)
    part = Window(0, 12, 200, 256, Scale(block=6))  # panned: blocks stay on the 6-grid
    assert part.at_resolution(130, 130, (256, 256)).scale == Scale(block=2)
    assert part.at_resolution(60, 60, (256, 256)).scale == Scale(block=6)  # 5 would fit
    magnified = Window(10, 10, 20, 20, Scale(magnify=4))
    assert magnified.at_resolution(400, 400, (256, 256)).scale == Scale()  # exact pixels


def test_the_cursor_patch_marks_the_cell_half_over_a_small_pixel():
    picture = np.random.default_rng(4).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    geometry = CellGeometry.into(40, 30, 3, 2, (10, 20))  # one screen pixel per pixel
    assert geometry.scale == 1
    row, col, halves = cursor_patch(picture, geometry, (13, 25), CURSOR_RGB, (0, 0, 0))
    assert (row, col) == (0, 2)  # screen pixel (13, 25): cell row 0, column 2, lower half
    assert halves.tolist() == [[picture[5, 25].tolist()], [list(CURSOR_RGB)]]


async def test_zoom_and_pan_move_the_graphics_pictures_of_every_cursor_panel(
    data_dir, model_file, tmp_path
):
    kw = {"graphics": "kitty", "image_widget": PictureStandIn, "cell_size": (10, 20)}
    app = create_app(options(data_dir, model_file, tmp_path, **kw))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        views = {name: app.query_one(f"#{name}", GraphicsView) for name in CURSOR_VIEWS}
        image = views["image"]
        fit = image.window
        assert (fit.y0, fit.x0, fit.y1, fit.x1) == (0, 0, 32, 32)
        await pilot.press("z", "z", "z", "z", "z", "z")
        assert app.main.viewport.scale == Scale(4)
        # one shared zoom and centre (the gradient panel, shorter, shows fewer rows)
        assert {view.window.scale for view in views.values()} == {Scale(4)}
        starts = {name: view.window.x0 for name, view in views.items()}
        window = image.window
        assert window.scale == Scale(4) and window.contains(*app.session.cursor)
        assert (window.y1 - window.y0, window.x1 - window.x0) != (32, 32)  # zoomed in
        pixels = panel_pictures.image_picture(app.session.view.loaded)
        region = pixels[window.y0 : window.y1, window.x0 : window.x1]
        np.testing.assert_array_equal(image.display_pixels, region)
        factor = int(image.geometry.scale)
        assert factor >= 20  # 4 cells wide per pixel: each pixel a square of whole pixels
        shown = handed_over(image)[: factor * region.shape[0], : factor * region.shape[1]]
        np.testing.assert_array_equal(shown, upscaled(region, factor))
        encodes = image.encodes
        for _ in range(31):
            await pilot.press("right")
        panned = image.window
        assert panned.x0 > window.x0 and panned.contains(*app.session.cursor)
        assert image.encodes > encodes  # the new window was handed over
        region = pixels[panned.y0 : panned.y1, panned.x0 : panned.x1]
        np.testing.assert_array_equal(image.display_pixels, region)
        np.testing.assert_array_equal(
            handed_over(image)[: factor * region.shape[0], : factor * region.shape[1]],
            upscaled(region, factor),
        )
        for name, view in views.items():
            assert view.window.contains(*app.session.cursor) and view.window.x0 > starts[name]
        (y, x), g = app.session.cursor, image.geometry  # the ticks point inside the cursor's cells
        ticked = [r for r in range(g.rows) if image.render_line(r).text.rstrip().endswith("▶")]
        assert ticked and all(r * 20 // factor == y - panned.y0 for r in ticked)
        col = image.render_line(g.rows).text.index("▲") - image.picture_left
        assert col * 10 // factor == x - panned.x0
        mark = image.query_one(CursorMark)  # 4:1: the pixel is 4 x 2 whole cells
        assert mark.halves.shape == (4, 4, 3) and (mark.halves == CURSOR_RGB).all()
        assert mark.region.x == image.content_region.x + image.picture_left + 4 * (x - panned.x0)
        detail = app.query_one("#detail", GraphicsView)
        assert detail.viewport == Viewport()  # the detail panel keeps its own framing
        await pilot.press(*"ZZZZZZ")
        assert app.main.viewport.scale is None and image.window == fit
