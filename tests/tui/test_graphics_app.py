"""The app with kitty/sixel panels (textual-image's real widgets, the terminal writes caught)
and the exact recount of estimated significance counts, under Pilot on the tiny model."""

import numpy as np
import pytest

from cnninterp.jaxcore.files.disk import file_sha256
from cnninterp.jaxcore.summaries import significance
from cnninterp.tui.app import create_app
from cnninterp.tui.pictures.graphics_view import CursorMark, GraphicsView
from tests.tui.pilot_helpers import options, row_shown, stats_done, wait_for

PICTURES = ("image", "probability", "significance", "gradient", "detail")


@pytest.mark.parametrize("mode", ["kitty", "sixel"])
async def test_graphics_panels_encode_once_per_picture_not_per_cursor_move(
    data_dir, model_file, tmp_path, monkeypatch, mode
):
    from textual_image.renderable import tgp
    from textual_image.widget import sixel

    sent = []  # every picture that reached the "terminal"

    def send(payload=None, **fields):
        if payload and fields.get("m") == 0:  # the last chunk of a Kitty transmission
            sent.append(fields["i"])

    monkeypatch.setattr(tgp, "_send_tgp_message", send)
    encode = sixel._ImageSixelImpl._image_to_sixels
    monkeypatch.setattr(
        sixel._ImageSixelImpl,
        "_image_to_sixels",
        lambda self, *a, **k: sent.append(id(self)) or encode(self, *a, **k),
    )
    app = create_app(options(data_dir, model_file, tmp_path, graphics=mode, cell_size=(10, 20)))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: stats_done(app) and row_shown(app))
        await pilot.pause(0.2)
        assert app.session.explainer.model_sha256 == file_sha256(model_file)  # from_file
        views = {name: app.query_one(f"#{name}", GraphicsView) for name in PICTURES}
        image = views["image"]
        assert image.encodes == 1 and views["probability"].encodes == 1
        significance_encodes = views["significance"].encodes  # one per progress step
        shown = len(sent)
        assert 0 < shown <= sum(v.encodes for v in views.values())
        await pilot.press("question_mark", "escape")  # a full repaint must not resend
        await pilot.pause(0.2)
        assert len(sent) == shown
        await pilot.press("right", "down", "down", "l")
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.pause(0.2)
        assert image.encodes == 1 and views["probability"].encodes == 1
        assert views["significance"].encodes == significance_encodes
        row, col = image.geometry.cell_of(*app.session.cursor)
        assert image.render_line(row).text.rstrip().endswith("▶")  # the cursor's ticks
        assert image.render_line(image.geometry.rows).text.index("▲") == image.picture_left + col
        mark = image.query_one(CursorMark)  # laid over the picture: Kitty only (see there)
        assert mark.display == (mode == "kitty")
        before = views["gradient"].encodes
        await pilot.press("c")  # another colormap: the gradient row once more
        await pilot.pause(0.2)
        assert views["gradient"].encodes == before + 1 and image.encodes == 1
        shown = len(sent)
        await pilot.press("z", "z", "z", "z", "z", "z")  # zoomed: each new window sent
        await pilot.pause(0.2)
        assert image.window.scale == app.main.viewport.scale and image.encodes > 1
        assert len(sent) > shown
        fine, (y, x) = image.picture_window, app.session.cursor
        assert fine.scale.block == 1  # 4:1: one pixel is 4 x 2 whole cells
        row, col = image.geometry.cell_of(y - fine.y0, x - fine.x0)
        assert image.render_line(row).text.rstrip().endswith("▶")
        assert image.render_line(image.geometry.rows).text.index("▲") == image.picture_left + col


async def test_estimated_counts_say_so_and_E_counts_exactly(
    data_dir, model_file, tmp_path, monkeypatch
):
    # Histogram summaries are meant for images over 128x128; lower the bar so 32x32 uses them.
    monkeypatch.setattr(significance, "EXACT_MAX_PIXELS", 16)
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: stats_done(app) and row_shown(app), timeout=60)
        assert not app.session.view.stats.exact
        await pilot.press("down", "right")
        await wait_for(pilot, lambda: row_shown(app))
        assert "signific.: ≈ " in app.query_one("#stats").text()
        await pilot.press("E")
        await wait_for(
            pilot, lambda: app.session.view.exact_for(app.session.threshold) is not None, timeout=60
        )
        exact = app.session.view.exact_for(app.session.threshold)
        sig = app.session.view.significance
        assert np.all(np.abs(exact - sig.counts) <= sig.error)  # inside the shown bound
        y, x = app.session.cursor
        value = significance.threshold_value(
            app.session.view.stats, app.session.threshold.mode, 0.01
        )
        row = app.session.explainer.gradient_row(app.session.view.loaded.pixels, y, x)
        assert abs(exact[y, x] - np.sum(np.abs(row) > value)) <= 1  # summation order
        text = app.query_one("#stats").text()
        assert "≈" not in text and f"signific.: {exact[y, x]:g}" in text
