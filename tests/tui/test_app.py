"""Pilot tests: the app on a tiny real model, checked against what jaxcore computes."""

import dataclasses
import gc
import io
import json

import numpy as np
import pytest
from rich.console import Console

from cnninterp.jaxcore.model.model_file import save_model
from cnninterp.jaxcore.model.network import ModelConfig, random_variables
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.summaries.significance import ThresholdMode, significance_counts
from cnninterp.tui import messages
from cnninterp.tui.app import create_app
from cnninterp.tui.eta import TimeLeft
from cnninterp.tui.number_text import format_value
from cnninterp.tui.options import AppOptions
from cnninterp.tui.pictures import panel_pictures
from cnninterp.tui.pictures.colours import CURSOR_RGB
from cnninterp.tui.pictures.half_blocks import UPPER_HALF
from cnninterp.tui.pictures.pixel_view import PixelView
from cnninterp.tui.requests import CountsKey
from cnninterp.tui.state.effects import Paint
from cnninterp.tui.widgets.help_screen import HelpScreen
from cnninterp.tui.widgets.status_line import StatusLine
from tests.tui.pilot_helpers import options, row_shown, stats_done, wait_for


async def test_cursor_moves_show_the_row_and_statistics_jaxcore_computes(
    data_dir, model_file, tmp_path
):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("right", "right", "down", "l", "J")
        assert app.session.cursor == (9, 3)
        await wait_for(pilot, lambda: row_shown(app))
        pixels = app.session.view.loaded.pixels
        expected = app.session.explainer.gradient_row(pixels, 9, 3)
        # the row may come from the batched significance pass: same maths, other summation order
        scale = float(np.abs(expected).max())
        np.testing.assert_allclose(app.session.view.row, expected, rtol=1e-4, atol=1e-5 * scale)
        text = app.query_one("#stats").text()
        p = app.session.explainer.probability(pixels)[9, 3]
        assert "y 9  x 3" in text
        assert f"p(y,x): {format_value(p)}" in text
        assert f"G(y,x): {format_value(app.session.view.row[9, 3])}" in text
        assert f"row max: {format_value(np.abs(app.session.view.row).max())}" in text
        assert app.query_one("#gradient-box").border_title == "gradient (9, 3)"


async def test_a_cursor_move_repaints_only_the_cursor_rows_of_the_image_panel(
    data_dir, model_file, tmp_path
):
    """Textual repaints a whole panel on every assignment of a border text (a 256x256 image:
    about six whole panels per key, on the cores the next row needs): the image panel, whose
    picture and zoom stay, gets only the cursor's rows."""
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        image = app.query_one("#image", PixelView)
        whole, regions = [], []
        original = image.refresh

        def counted(*args, **kwargs):
            (regions if args else whole).append(args)
            return original(*args, **kwargs)

        image.refresh = counted
        await pilot.press("right", "down")
        await wait_for(pilot, lambda: row_shown(app))
        assert app.session.cursor == (1, 1)
        assert regions and not whole


async def test_the_rows_detail_comes_after_it_unless_the_cursor_moved_on(
    data_dir, model_file, tmp_path
):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("right", "down")
        await wait_for(pilot, lambda: row_shown(app))
        assert app.session.cursor == (1, 1)
        view, detail = app.session.view, app.query_one("#detail", PixelView)
        scale = panel_pictures.row_scale(view.row, app.session.log_scale)
        expected = panel_pictures.detail_picture(
            view, app.session.threshold, app.session.cursor, view.row, scale, app.session.cmap
        )
        np.testing.assert_array_equal(detail.shown_rgb, expected.rgb)
        assert "G(y,x)" in app.query_one("#stats").text()
        # A row arrives, and the cursor moves on before the next refresh: neither its detail
        # nor the statistics are painted (the next row replaces them).
        painted = []
        app.paint_listeners.append(
            lambda what: what is Paint.STATISTICS and painted.append(app.session.cursor)
        )
        shown = detail.shown_rgb
        app.on_row_ready(messages.RowReady(view.token, 1, 1, view.row * 2, 0.0))
        app.session.cursor = (2, 2)
        await wait_for(pilot, lambda: app.session.details_pending is None)
        assert detail.shown_rgb is shown and not painted


async def test_the_long_lived_heap_is_frozen_while_the_app_runs(data_dir, model_file, tmp_path):
    """Python's full collections would otherwise scan the model and its compiled programs
    every few cursor moves (160-240 ms pauses at 256x256); after the app, all is collectable."""
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


async def test_threshold_keys_change_the_counts_as_jaxcore_says(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: stats_done(app), timeout=60)
        stats = app.session.view.stats
        before = app.session.threshold.percent
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert app.session.threshold.percent > before
        key = CountsKey(
            ThresholdMode.GLOBAL, app.session.threshold.percent, app.session.view.rows_done
        )
        await wait_for(pilot, lambda: app.session.view.significance_key == key)
        want = significance_counts(stats, ThresholdMode.GLOBAL, app.session.threshold.percent)
        np.testing.assert_array_equal(app.session.view.significance.counts, want.counts)
        await pilot.press("T")  # row mode
        assert app.session.threshold.mode is ThresholdMode.ROW
        await wait_for(pilot, lambda: app.session.view.significance_key.mode is ThresholdMode.ROW)
        want = significance_counts(stats, ThresholdMode.ROW, app.session.threshold.percent)
        np.testing.assert_array_equal(app.session.view.significance.counts, want.counts)
        await pilot.press("m")  # jump to the most significant pixel
        y, x = np.unravel_index(np.nanargmax(want.counts), want.counts.shape)
        assert app.session.cursor == (y, x)


async def test_switching_images_cancels_the_pass_and_shows_the_next(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(
            pilot, lambda: app.session.view is not None and app.session.view.loaded is not None
        )
        first_cancel = app.session.image_cancel
        await pilot.press("n")
        assert first_cancel.is_set()
        await wait_for(pilot, lambda: app.session.view.loaded is not None and row_shown(app))
        assert app.session.view.loaded.source.name == "image_1"
        assert app.query_one("#image").border_title.startswith("image_1 (2/3) · stretch p1-p99")
        await pilot.press("p", "p")
        await wait_for(pilot, lambda: app.session.view.loaded is not None)
        assert app.session.view.loaded.source.name == "image_2"


async def test_click_on_an_image_panel_moves_the_cursor(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        view = app.query_one("#probability", PixelView)
        window = view.window
        left = view.picture_left
        await pilot.click("#probability", offset=(1 + left + 10, 1 + 4))  # +1: the border
        assert app.session.cursor == window.pixel_at(4, 10)
        await wait_for(pilot, lambda: row_shown(app))


async def test_help_screen_opens_and_closes(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#help-keys").content)
        text = console.export_text()
        assert "threshold" in text and "↑ k" in text and "save the view" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_typed_threshold_and_goto(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("g", *"ctrl+a ctrl+k".split(), *"12 7", "enter")
        assert app.session.cursor == (12, 7)
        await pilot.press("t", "ctrl+a", "ctrl+k", *"0.5", "enter")
        assert app.session.threshold.percent == 0.5
        await pilot.press("t", "ctrl+a", "ctrl+k", *"abc", "enter")
        assert app.session.threshold.percent == 0.5  # refused with a notice, no traceback


async def test_save_writes_png_npz_and_json(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: row_shown(app) and app.session.view.significance is not None)
        await pilot.press("s")
        folder = tmp_path / "saves"
        await wait_for(pilot, lambda: len(list(folder.glob("*.json"))) == 1)
        await app.workers.wait_for_complete()
        stem = next(folder.glob("*.json")).stem
        assert {p.suffix for p in folder.glob(f"{stem}.*")} == {".png", ".npz", ".json"}
        record = json.loads((folder / f"{stem}.json").read_text())
        assert record["image"] == "image_0" and (record["y"], record["x"]) == app.session.cursor
        arrays = np.load(folder / f"{stem}.npz")
        np.testing.assert_array_equal(arrays["gradient_row"], app.session.view.row)
        assert not list(folder.glob(".*tmp"))


async def test_empty_folder_says_so(tmp_path, model_file):
    (tmp_path / "empty").mkdir()
    app = create_app(AppOptions(folder=tmp_path / "empty", model=model_file))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "image" in str(app.query_one("#stats").render()).lower())
        await pilot.press("right", "n", "s", "m")  # keys do nothing harmful
        assert app.session.view is None


async def test_missing_model_says_so(data_dir, tmp_path):
    app = create_app(AppOptions(folder=data_dir))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "--model" in str(app.query_one("#stats").render()))


async def test_unreadable_image_is_reported_and_skipped(data_dir, model_file, tmp_path):
    (data_dir / "image_3.png").write_bytes(b"not a png at all")
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("p")  # wraps to the last image, the broken one
        await wait_for(pilot, lambda: app.session.view.error is not None)
        assert "image_3" in app.session.view.error
        assert app.query_one("#images").entries[3].state == "error"
        await pilot.press("n")
        await wait_for(pilot, lambda: app.session.view.loaded is not None)


async def test_an_exception_in_a_worker_is_shown_and_the_app_keeps_running(
    data_dir, model_file, tmp_path, monkeypatch
):
    """Explainer.probability failing (an error no job expects) must not end the app."""
    calls = []
    probability = Explainer.probability

    def fails_once(self, pixels):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("simulated device failure")
        return probability(self, pixels)

    monkeypatch.setattr(Explainer, "probability", fails_once)
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        status = app.query_one(StatusLine)
        await wait_for(pilot, lambda: "simulated device failure" in status.activity)
        assert "RuntimeError" in status.activity
        assert any("simulated" in text for text in app.notified)
        await pilot.press("n")  # the app still answers keys, and the next image works
        await wait_for(pilot, lambda: app.session.view.loaded is not None and row_shown(app))
        assert app.session.view.loaded.source.name == "image_1" and app.is_running


async def test_too_small_terminal_shows_a_message_and_keeps_state(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("down", "down")
        await pilot.resize_terminal(50, 15)
        await pilot.pause()
        message = app.query_one("#too-small")
        assert message.display and "too small" in str(message.render())
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert app.query_one("#main").display and app.session.cursor == (2, 0)


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_half_block_panels_render_pixels_and_cursor(data_dir, model_file, tmp_path, size):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("down", "down", "down")
        view = app.query_one("#image", PixelView)
        window = view.window
        assert 0 < window.cols <= view.size.width and 0 < window.rows <= view.size.height
        r0, col, _r1, _c1 = window.display_box(3, 0)
        row, lower = divmod(r0, 2)
        strip = view.render_line(row)
        cells = [s for s in strip if s.text == UPPER_HALF]
        assert len(cells) == window.cols
        cursor = cells[col].style
        painted = cursor.bgcolor if lower else cursor.color
        assert painted.triplet == CURSOR_RGB
        other = view.render_line((row + 1) % window.rows)
        assert all(
            CURSOR_RGB not in (s.style.color.triplet, s.style.bgcolor.triplet)
            for s in other
            if s.text == UPPER_HALF and s.style.bgcolor
        )
        bar = app.query_one("#colorbar").render_line(1).text
        assert "0" in bar and format_value(np.abs(app.session.view.row).max(), 2) in bar


async def test_progress_says_how_much_work_is_done_and_how_long_is_left(
    data_dir, model_file, tmp_path
):
    # A pass by columns finishes most rows at its end: the status line follows the work done
    # and says the map is a preview; the time left comes from the smoothed rate (eta.py).
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: stats_done(app))
        done = np.zeros_like(app.session.view.stats.done)
        done[::8, ::8] = True
        partial = dataclasses.replace(app.session.view.stats, complete=False, done=done)
        app.session.view.time_left = TimeLeft()  # as for a new image
        status = app.query_one(StatusLine)
        preview = (
            "significance by columns {}: map is a coarse preview (16 of 1024 rows) until it ends"
        )
        for fraction, seconds in ((0.25, 13.0), (0.5, 15.0)):
            app.post_message(
                messages.StatsProgress(app.session.view.token, partial, 16, 1024, fraction, seconds)
            )
            percent = f"{fraction * 100:.0f} %"
            await wait_for(pilot, lambda percent=percent: percent in status.activity)
            assert status.activity == preview.format(percent)  # no rate yet: no time left
        app.post_message(
            messages.StatsProgress(app.session.view.token, partial, 16, 1024, 0.75, 17.0)
        )
        await wait_for(pilot, lambda: "75 %" in status.activity)
        assert status.activity == preview.format("75 %") + ", 2 s left"


async def test_c_explains_the_next_class_of_the_same_model(data_dir, tmp_path):
    """A three-class model: `C` opens it again explaining class 2, then 0; the probability
    panel's title and every number follow, and the cursor stays."""
    config = ModelConfig(width=4, classes=3)
    model = tmp_path / "three.safetensors"
    save_model(model, config, random_variables(config, seed=2))
    app = create_app(options(data_dir, model, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("right", "down")
        assert app.session.explainer.model.explained_class == 1
        await pilot.press("C")
        await wait_for(pilot, lambda: app.session.explainer.model.explained_class == 2)
        await wait_for(pilot, lambda: row_shown(app))
        assert app.session.cursor == (1, 1)
        assert app.query_one("#probability").border_title == "p(class 2)"
        pixels = app.session.view.loaded.pixels
        other = Explainer.from_file(model, vessel_class=2)
        np.testing.assert_allclose(app.session.view.probability, other.probability(pixels))
        np.testing.assert_allclose(
            app.session.view.row, other.gradient_row(pixels, 1, 1), atol=1e-6, rtol=1e-4
        )
        await pilot.press("C")
        await wait_for(pilot, lambda: app.session.explainer.model.explained_class == 0)
        assert app.query_one("#probability").border_title == "p(class 0)"
