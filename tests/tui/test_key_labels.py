"""The help table: every binding, with the labels a person reads, and the user's keys."""

import re

from cnninterp.tui.key_labels import HELP_GROUPS, help_rows, key_label, keys_label
from cnninterp.tui.keymap import DEFAULT_KEYS


def test_every_binding_is_in_exactly_one_help_group():
    grouped = [key_id for _text, ids in HELP_GROUPS for key_id in ids]
    assert sorted(grouped) == sorted(key_id for key_id, *_ in DEFAULT_KEYS)


def test_labels_are_the_keys_not_their_names():
    assert keys_label("right_square_bracket,plus") == "] +"
    assert keys_label("left_square_bracket,minus") == "[ -"
    assert keys_label("question_mark,f1") == "? F1"
    assert keys_label("shift+up,K") == "shift+↑ K"
    assert key_label("ctrl+q") == "ctrl+q" and key_label("escape") == "esc"
    assert key_label("ctrl++") == "ctrl++" and key_label("]") == "]"


def test_the_help_table_has_every_key_and_no_raw_names():
    rows = help_rows()
    shown = " ".join(keys for keys, _text in rows)
    for label in ["]", "+", "[", "-", "?", "F1", "shift+↑", "↓", "p", "n", "q", "E", "T"]:
        assert label in shown.split(), label
    assert not re.search(r"[a-z]+_[a-z]+|question_mark|\bf1\b", shown)
    assert ("] + / [ -", "raise / lower the threshold in even log steps") in rows
    assert len(rows) == len(HELP_GROUPS)


def test_the_help_shows_the_users_keys():
    rows = dict((text, keys) for keys, text in help_rows({"quit": "x,ctrl+q", "lower": "minus"}))
    assert rows["quit"] == "x ctrl+q"
    assert rows["raise / lower the threshold in even log steps"] == "] + / -"
