"""Remembered settings and the user keymap: round trips, and bad files that only cost a note."""

import json
from dataclasses import fields

import pytest

from cnninterp.jaxcore.summaries.significance import ThresholdMode
from cnninterp.tui.keymap import DEFAULT_KEYS
from cnninterp.tui.settings import (
    _CHECKS,
    ENV_VAR,
    KEYS_FILE,
    SETTINGS_FILE,
    Settings,
    config_dir,
    load_keymap,
    load_settings,
    save_settings,
    valid_key,
)
from cnninterp.tui.state.threshold import Threshold


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """The config folder, through the environment like a user's."""
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "config"))
    return tmp_path / "config"


def test_settings_round_trip_through_the_config_folder(folder):
    assert config_dir() == folder
    assert load_settings() == (Settings(), [])  # first run: defaults, nothing to say
    chosen = Settings(colormap="PuOr", log_scale=False, zoom="2:1", theme="textual-light")
    chosen = chosen.with_threshold(Threshold(mode=ThresholdMode.ABSOLUTE, absolute=2.5e-5))
    assert save_settings(chosen) is None
    assert load_settings() == (chosen, [])
    assert chosen.threshold.t_value == 2.5e-5 and chosen.threshold.percent == Settings().percent
    assert json.loads((folder / SETTINGS_FILE).read_text())["mode"] == "absolute"
    assert [p.name for p in folder.iterdir()] == [SETTINGS_FILE]  # no temporary left behind


def test_every_setting_is_checked_when_read():
    assert set(_CHECKS) == {f.name for f in fields(Settings)}


def test_a_corrupt_settings_file_gives_defaults_and_a_note(folder):
    folder.mkdir()
    for text in ['{"colormap": "PuOr",', "[1, 2]", "\xff\xfe"]:
        (folder / SETTINGS_FILE).write_text(text, encoding="latin-1")
        settings, notes = load_settings()
        assert settings == Settings() and len(notes) == 1 and "default" in notes[0]


def test_unknown_or_bad_fields_are_named_and_the_rest_applied(folder):
    folder.mkdir()
    record = {"colormap": "PuOr", "percent": 150, "mode": "sideways", "zoom": "7:1"}
    record |= {"log_scale": "yes", "colour": "red", "wobble": 1}
    (folder / SETTINGS_FILE).write_text(json.dumps(record))
    settings, notes = load_settings()
    assert settings == Settings(colormap="PuOr")
    text = "\n".join(notes)
    assert "colour, wobble" in text
    for name in ("percent = 150", 'mode = "sideways"', 'zoom = "7:1"', 'log_scale = "yes"'):
        assert name in text
    assert all("\n" not in note for note in notes)


def test_an_unwritable_folder_is_a_note_not_a_crash(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    note = save_settings(Settings(), folder=blocker / "config")
    assert note is not None and "not saved" in note


def test_keymap_applies_valid_bindings_in_set_keymap_form(folder):
    folder.mkdir()
    (folder / KEYS_FILE).write_text(
        'quit = "q, ctrl+x"\n'  # (ctrl+q quits already: quit-now)
        'raise = ["]", "+", "u"]\n'
        'help = "f1"\n'
        'zoom-sideways = "z"\n'  # no such binding
        'next = ""\n'  # no keys
        'max = "rigth, m"\n'  # a typo
        "goto = 3\n"  # not keys at all
    )
    keymap, notes = load_keymap()
    assert keymap == {"quit": "q,ctrl+x", "raise": "],+,u", "help": "f1"}
    text = "\n".join(notes)
    assert "zoom-sideways" in text and "next needs one or more keys" in text
    assert "rigth" in text and "goto needs" in text and len(notes) == 4


def test_keys_taken_from_another_binding_are_named(folder):
    folder.mkdir()
    (folder / KEYS_FILE).write_text('quit = "n"\nraise = "plus, minus"\n')
    keymap, notes = load_keymap()
    assert keymap == {"quit": "n", "raise": "plus,minus"}
    assert any("n is bound to both next and quit" in note for note in notes)
    assert any("- is bound to both raise and lower" in note for note in notes)


def test_a_keymap_that_is_not_toml_is_a_note(folder):
    folder.mkdir()
    (folder / KEYS_FILE).write_text("quit = q\n")
    keymap, notes = load_keymap()
    assert keymap == {} and len(notes) == 1 and "line 1" in notes[0]


def test_the_default_keys_are_all_valid_and_typos_are_not():
    for _id, keys, *_ in DEFAULT_KEYS:
        assert all(valid_key(k) for k in keys.split(",")), keys
    for bad in ["rigth", "ctrl+", "hyperdrive+q", "", " ", "page up"]:
        assert not valid_key(bad)
    for good in ["?", "+", "ctrl+shift+up", "question_mark", "pageup", "slash", "Z"]:
        assert valid_key(good)


async def test_a_loaded_keymap_rebinds_a_real_textual_app(folder):
    from textual.app import App

    from cnninterp.tui.keymap import default_bindings

    pressed = []

    class Keys(App):
        BINDINGS = default_bindings()

        def action_quit(self) -> None:
            pressed.append("quit")

        def action_help(self) -> None:
            pressed.append("help")

    folder.mkdir()
    (folder / KEYS_FILE).write_text('quit = "y"\nhelp = "?, f2"\n')
    keymap, notes = load_keymap()
    assert notes == []
    app = Keys()
    async with app.run_test() as pilot:
        app.set_keymap(keymap)
        await pilot.press("q", "y", "f2", "question_mark")
    assert pressed == ["quit", "help", "help"]
