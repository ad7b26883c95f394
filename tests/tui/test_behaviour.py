"""An app that behaves: quitting, failures, small terminals, help, prompts, the palette, and
what is remembered between sessions."""

import io
import json
import os
import threading
import time

import pytest
from rich.console import Console
from textual.command import CommandPalette
from textual.widgets import Footer, Input, Static

from cnninterp.tui import cli, jobs, prompts
from cnninterp.tui.app import create_app
from cnninterp.tui.attribution_statistics import explained_rows
from cnninterp.tui.key_labels import palette_entries
from cnninterp.tui.keymap import DEFAULT_KEYS
from cnninterp.tui.state.threshold import Threshold
from cnninterp.tui.widgets.help_screen import HelpScreen
from cnninterp.tui.widgets.image_picker import ImagePicker, matching
from cnninterp.tui.widgets.prompt_screen import PromptScreen
from cnninterp.tui.widgets.stats_panel import StatsPanel, lay_out
from tests.tui.pilot_helpers import options, row_shown, wait_for


def notified(app, text: str) -> bool:
    return any(text in said for said in app.notified)


async def test_quit_during_a_pass_stops_it_promptly(big_folder, model_file, tmp_path, monkeypatch):
    returned = threading.Event()
    real = jobs.analyse_image

    def watched(*args, **kwargs):
        try:
            real(*args, **kwargs)
        finally:
            returned.set()

    monkeypatch.setattr(jobs, "analyse_image", watched)
    app = create_app(options(big_folder, model_file, tmp_path, cache=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: app.session.view is not None and app.session.view.rows_done > 0, 120
        )
        assert not app.session.view.stats.complete
        start = time.monotonic()
        await pilot.press("q")
    assert returned.wait(5.0), "the pass kept running after quitting"
    assert time.monotonic() - start < 2.0


async def test_a_failing_worker_is_a_notification_and_keys_still_work(
    data_dir, model_file, tmp_path, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(jobs, "significance", broken)
    monkeypatch.setattr(jobs, "gradient_row", broken)
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: notified(app, "injected failure"))
        await pilot.press("right", "down")
        assert app.session.cursor == (1, 1)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)


async def test_80x24_shows_help_and_quit_in_the_footer(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))

        def on_screen() -> set[str]:
            keys = app.query_one(Footer).query("FooterKey")
            return {k.action for k in keys if k.region.width and k.region.right <= 80}

        await wait_for(pilot, lambda: {"quit", "help"} <= on_screen())
        await pilot.press("f")
        assert app.screen.maximized is app.query_one("#image")
        await pilot.press("f")
        assert app.screen.maximized is None


async def test_help_scrolls_and_shows_real_key_labels(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        scroll = app.screen.query_one("#help-scroll")
        assert scroll.max_scroll_y > 0  # taller than 24 rows: it must scroll
        await pilot.press("end")
        await pilot.pause()
        assert scroll.scroll_y == scroll.max_scroll_y
        console = Console(width=88, record=True, file=io.StringIO())
        console.print(app.screen.help_renderable)
        text = console.export_text()
        for label in ("] +", "[ -", "?", "F1", "z", "Z", "ctrl+q"):
            assert label in text
        assert "right_square_bracket" not in text and "question_mark" not in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_threshold_keys_explain_their_limits(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        app.apply(app.session.set_threshold(Threshold(percent=100.0)))
        await pilot.press("right_square_bracket")
        assert notified(app, "highest") and notified(app, "100")
        await pilot.press("t", "ctrl+a", "ctrl+k", *"150", "enter")
        assert isinstance(app.screen, PromptScreen)  # refused, the prompt stays open
        assert "1e-06..100" in str(app.screen.query_one("#prompt-error", Static).render())
        await pilot.press("ctrl+a", "ctrl+k", *"50", "enter")
        assert not isinstance(app.screen, PromptScreen) and app.session.threshold.percent == 50
        await pilot.press("g", "ctrl+a", "ctrl+k", *"99 99", "enter")
        assert isinstance(app.screen, PromptScreen)  # outside the image: correct it here
        await pilot.press("ctrl+a", "ctrl+k", *"3 4", "enter")
        assert app.session.cursor == (3, 4)
        for _ in range(3):
            await pilot.press("T")
        assert app.session.threshold.mode.value == "legacy"
        await pilot.press("right_square_bracket")
        assert notified(app, "legacy mode's threshold is fixed")
        await pilot.press("t")
        assert not isinstance(app.screen, PromptScreen)  # nothing to type: it says why


async def test_after_n_nothing_of_the_previous_image_shows(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: row_shown(app) and app.session.view.significance is not None)
        await pilot.press("n")
        assert "image_1" in app.query_one("#image").border_title
        assert "image_0" not in str(app.query_one(StatsPanel).render())


async def test_statistics_relayout_at_once_after_a_resize(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        # the numbers stay still once the pass is done: only the layout changes below
        await wait_for(
            pilot, lambda: app.session.view.stats is not None and app.session.view.stats.complete
        )
        await pilot.pause(0.2)

        def laid_out() -> list:  # paired short lines only where the panel is too short
            full = explained_rows(
                app.session.cursor_statistics(app.session.view), app.session.threshold
            )
            region = app.query_one(StatsPanel).content_region
            return lay_out(full, region.width, region.height).rows

        assert app.query_one(StatsPanel).rows == laid_out()
        for size in ((120, 30), (160, 48), (80, 24)):  # no key pressed in between
            await pilot.resize_terminal(*size)
            await pilot.pause(0.2)
            assert app.query_one(StatsPanel).rows == laid_out()
        await pilot.resize_terminal(160, 48)
        await pilot.pause(0.2)
        full = explained_rows(
            app.session.cursor_statistics(app.session.view), app.session.threshold
        )
        assert app.query_one(StatsPanel).rows == full  # tall enough for every line


async def test_the_command_palette_lists_every_action(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {title for title, *_ in palette_entries()} <= titles
        assert len(palette_entries()) == len(DEFAULT_KEYS)
        await pilot.press("ctrl+p")
        assert CommandPalette.is_open(app)


async def test_choices_and_keys_are_remembered(data_dir, model_file, tmp_path, private_config):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("c", "v", "right_square_bracket", "z")
        app.theme = "textual-light"
        await pilot.pause()
        chosen = (
            app.session.cmap,
            app.session.log_scale,
            app.session.threshold,
            app.main.viewport.label,
        )
    saved = json.loads((private_config / "settings.json").read_text())
    assert saved["theme"] == "textual-light" and saved["zoom"] == chosen[3]
    (private_config / "keys.toml").write_text('zoom-in = "x"\n')
    again = create_app(options(data_dir, model_file, tmp_path))
    async with again.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(again))
        session = again.session
        assert (session.cmap, session.log_scale, session.threshold) == chosen[:3]
        assert again.main.viewport.label == chosen[3]
        assert again.theme == "textual-light"
        await pilot.press("x")
        assert again.main.viewport.label != chosen[3]


async def test_the_image_picker_filters_and_opens(data_dir, model_file, tmp_path):
    assert matching(["a_1", "b_2", "A_3"], "a") == [0, 2]
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("i")
        assert isinstance(app.screen, ImagePicker)
        await pilot.press(*"_2", "enter")
        await wait_for(pilot, lambda: app.session.view.loaded is not None)
        assert app.session.view.loaded.source.name == "image_2"


def test_no_model_in_the_folder_exits_2(data_dir, capsys):
    assert cli.main([str(data_dir)]) == 2
    assert "no model" in capsys.readouterr().err


def test_xla_warnings_are_kept_off_the_screen_unless_the_user_wants_them(tmp_path, monkeypatch):
    missing = str(tmp_path / "nothing-here")
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert cli.main([missing]) == 2
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"  # set before JAX loads
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert cli.main([missing]) == 2
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_prompt_parsing_agrees_with_the_step_range():
    assert prompts.parse_threshold("100", Threshold().mode) == 100
    with pytest.raises(prompts.Refused, match="1e-06..100"):
        prompts.parse_threshold("150", Threshold().mode)
    assert prompts.step_refusal(Threshold(percent=100.0), 1) is not None
    assert prompts.step_refusal(Threshold(percent=100.0), -1) is None


async def test_a_typed_entry_field_keeps_q(data_dir, model_file, tmp_path):
    """q types into a prompt (only Ctrl+Q / Ctrl+C quit from there)."""
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("g", "q")
        assert isinstance(app.screen, PromptScreen)
        assert app.screen.query_one(Input).value.endswith("q")
        await pilot.press("ctrl+q")
    assert app.return_code == 0


async def test_a_partial_pass_is_kept_and_resumed(big_folder, model_file, tmp_path):
    """Leave an image mid-pass and come back: its rows are still there, the list shows it
    partial, and the pass goes on from them (not from 0 %)."""
    app = create_app(options(big_folder, model_file, tmp_path, cache=False))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot, lambda: app.session.view is not None and app.session.view.rows_done > 0, 120
        )
        await pilot.press("n")
        kept = app.session.passes[0]
        before = kept.done.copy()
        assert before.any() and not kept.complete
        assert app.query_one("#images").entries[0].state == "partial"
        await pilot.press("p")
        await wait_for(
            pilot,
            lambda: app.session.view.stats is kept and app.session.view.rows_done > before.sum(),
        )
        assert kept.done[before].all()  # nothing done before was thrown away
