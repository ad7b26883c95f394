"""Keys as a person reads them: `]` not `right_square_bracket`, `shift+↑`, `F1`, for the help
screen and the footer.

The help lists every binding of tui/keymap.py, grouped where bindings are one idea (the four
moves, raise / lower), with the keys in force (a user keymap included) and descriptions that
name no keys, so a remapped key can never be contradicted by its own help line.
"""

from collections.abc import Mapping

from textual.keys import format_key

from cnninterp.tui.keymap import DEFAULT_KEYS

_NAMES = {f"f{n}": f"F{n}" for n in range(1, 25)} | {"enter": "enter", "backspace": "backspace"}
"""Where Textual's own display names (format_key) read worse in a help table."""

HELP_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("move the cursor one pixel", ("up", "down", "left", "right")),
    ("move eight pixels", ("up8", "down8", "left8", "right8")),
    ("raise / lower the threshold in even log steps", ("raise", "lower")),
    ("type an exact threshold value", ("type-threshold",)),
    ("cycle the threshold mode: global %, row %, absolute, legacy", ("mode",)),
    ("next / previous image (or click the list)", ("next", "previous")),
    ("jump to the pixel of largest significance", ("max",)),
    ("count exactly for this threshold (large images show ≈ estimates)", ("exact",)),
    ("go to a typed pixel: y x", ("goto",)),
    ("toggle the predicted-mask and label outlines", ("overlays",)),
    ("cycle diverging colormaps (RdBu, PuOr, RdYlGn)", ("colormap",)),
    ("linear or signed-log gradient scale", ("scale",)),
    ("save the view: figure + .npz + .json", ("save",)),
    ("zoom in / out (or the mouse wheel over a picture)", ("zoom-in", "zoom-out")),
    ("maximise the focused panel (tab focuses the next) / back", ("maximise",)),
    ("pick an image from the list, filtered as you type", ("images",)),
    (
        "short terminals: the next picture in the slot (image, p, significance, detail)",
        ("picture",),
    ),
    ("this help", ("help",)),
    ("quit", ("quit",)),
    ("quit from anywhere, a prompt included", ("quit-now",)),
    ("cycle the attribution method: gradient, gradient × input, SmoothGrad, IG", ("method",)),
    ("method parameters: steps, samples, sigma, baseline, seed", ("parameters",)),
    ("cycle what is explained: pixel, box, segment, vessel, border", ("target",)),
    ("mark a box corner, then the opposite one (key or click): the box is the target", ("box",)),
    ("RGB images: the attribution summed over channels, then R, G, B alone", ("channel",)),
    ("explain the model's next output class", ("class",)),
    (
        "next false positive / false negative pixel (with labels)",
        ("false-positive", "false-negative"),
    ),
)
"""(what it does, the binding ids that do it); every id of DEFAULT_KEYS is in one group."""


def key_label(key: str) -> str:
    """One Textual key -> its label: 'right_square_bracket' -> ']', 'question_mark' -> '?',
    'shift+up' -> 'shift+↑', 'f1' -> 'F1', 'ctrl+q' -> 'ctrl+q', 'K' -> 'K'."""
    key = key.strip()
    if len(key) <= 1:
        return key
    *modifiers, base = key.split("+")
    if not base:  # "ctrl++": the key is "+" itself
        modifiers, base = modifiers[:-1], "+"
    return "+".join([*modifiers, _NAMES.get(base) or format_key(base)])


def keys_label(keys: str) -> str:
    """A binding's key string -> its labels: 'right_square_bracket,plus' -> '] +'."""
    return " ".join(key_label(k) for k in keys.split(",") if k.strip())


def help_rows(keymap: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(keys, what they do) for every group of HELP_GROUPS, with the keys in force: the
    user's keymap ({binding id: keys}) over the defaults. Keys of a group's bindings are
    separated by ' / ' in the group's order (raise / lower: '] + / [ -')."""
    keys = {key_id: default for key_id, default, *_ in DEFAULT_KEYS} | dict(keymap or {})
    return [
        (" / ".join(keys_label(keys[i]) for i in ids if i in keys), text)
        for text, ids in HELP_GROUPS
    ]


def palette_entries(keymap: Mapping[str, str] | None = None) -> list[tuple[str, str, str, str]]:
    """(title, binding id, action, keys) of every binding for the command palette: titled by
    its help group, and the binding's own label where a group holds several ('... : up')."""
    keys = {key_id: default for key_id, default, *_ in DEFAULT_KEYS} | dict(keymap or {})
    group_of = {key_id: (text, ids) for text, ids in HELP_GROUPS for key_id in ids}
    entries = []
    for key_id, _default, action, label, _show in DEFAULT_KEYS:
        text, ids = group_of[key_id]
        title = f"{text}: {label}" if len(ids) > 1 else text
        entries.append((title[0].upper() + title[1:], key_id, action, keys_label(keys[key_id])))
    return entries
