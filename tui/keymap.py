"""The default keys. Each binding has an id, so a user keymap ({id: "keys"}) can remap it
through Textual's App.set_keymap without touching the code; the help screen reads this table.
"""

from textual.binding import Binding, BindingType

# (id, keys, action, footer label, shown in footer)
DEFAULT_KEYS: list[tuple[str, str, str, str, bool]] = [
    ("up", "up,k", "move(-1, 0)", "up", False),
    ("down", "down,j", "move(1, 0)", "down", False),
    ("left", "left,h", "move(0, -1)", "left", False),
    ("right", "right,l", "move(0, 1)", "right", False),
    ("up8", "shift+up,K", "move(-8, 0)", "up 8", False),
    ("down8", "shift+down,J", "move(8, 0)", "down 8", False),
    ("left8", "shift+left,H", "move(0, -8)", "left 8", False),
    ("right8", "shift+right,L", "move(0, 8)", "right 8", False),
    ("raise", "right_square_bracket,plus", "threshold_step(1)", "thr+", True),
    ("lower", "left_square_bracket,minus", "threshold_step(-1)", "thr-", True),
    ("type-threshold", "t", "type_threshold", "threshold", True),
    ("mode", "T", "cycle_mode", "mode", True),
    ("next", "n", "switch_image(1)", "next", True),
    ("previous", "p", "switch_image(-1)", "prev", True),
    ("max", "m", "jump_to_max", "max", True),
    ("exact", "E", "exact_counts", "exact", True),
    ("goto", "g", "goto", "go to", True),
    ("overlays", "o", "toggle_overlays", "overlays", True),
    ("colormap", "c", "cycle_colormap", "colours", True),
    ("scale", "v", "toggle_log_scale", "lin/log", True),
    ("save", "s", "save", "save", True),
    ("help", "question_mark,f1", "help", "help", True),
    ("quit", "q", "quit", "quit", True),
    ("zoom-in", "z", "zoom(1)", "zoom+", True),
    ("zoom-out", "Z", "zoom(-1)", "zoom-", True),
    ("maximise", "f", "maximise", "full", True),
    ("images", "i", "pick_image", "images", True),
    ("picture", "w", "cycle_picture", "picture", False),
    ("quit-now", "ctrl+q,ctrl+c", "quit", "quit", False),
    ("method", "a", "cycle_method", "method", True),
    ("parameters", "A", "method_parameters", "params", True),
    ("target", "r", "cycle_target", "target", True),
    ("box", "b", "mark_box_corner", "box", True),
    ("channel", "R", "cycle_channel", "channel", False),
    ("class", "C", "cycle_class", "class", False),
    ("false-positive", "x", "next_mistake('fp')", "next FP", True),
    ("false-negative", "X", "next_mistake('fn')", "next FN", True),
]
FOOTER_FIRST = ("help", "quit")
"""Shown first in the footer, so a narrow terminal (80 columns) cuts other keys, not these."""
PRIORITY = frozenset({"quit-now"})
"""Answered whatever has the focus (a prompt's input included): Ctrl+Q / Ctrl+C always quit."""

HELP_TEXT: dict[str, str] = {
    "up": "move the cursor one pixel (arrows or hjkl)",
    "up8": "move eight pixels (shift+arrows or HJKL)",
    "raise": "raise / lower the threshold in even log steps (] + / [ -)",
    "type-threshold": "type an exact threshold value",
    "mode": "cycle the threshold mode: global %, row %, absolute, legacy",
    "next": "next / previous image (n / p, or click the list)",
    "max": "jump to the pixel of largest significance",
    "exact": "count exactly for this threshold (large images show ≈ estimates)",
    "goto": "go to a typed pixel: y x",
    "overlays": "toggle the predicted-mask and label outlines",
    "colormap": "cycle diverging colormaps (RdBu, PuOr, RdYlGn)",
    "scale": "linear or signed-log gradient scale",
    "save": "save the view: PNG + .npz + .json",
    "help": "this help (? or F1)",
    "quit": "quit",
    "zoom-in": "zoom in / out (or the mouse wheel over a picture)",
    "maximise": "maximise the focused panel / back",
    "images": "pick an image from the list, filtered as you type",
    "picture": "short terminals: show the next picture (image, p, significance, detail)",
    "method": "cycle the attribution method: gradient, gradient × input, SmoothGrad, IG",
    "parameters": "method parameters: steps, samples, sigma, baseline, seed",
    "target": "cycle what is explained: pixel, box, segment, vessel, border",
    "channel": "RGB images: the attribution's sum over channels, then R, G, B alone",
    "class": "explain the model's next output class (models of several classes)",
    "box": "mark a box corner, then the opposite one (key or click): the box is the target",
    "false-positive": "next false positive pixel: predicted vessel, labelled background",
    "false-negative": "next false negative pixel: labelled vessel, predicted background",
}


def default_bindings() -> list[BindingType]:
    first = [k for k in DEFAULT_KEYS if k[0] in FOOTER_FIRST]
    rest = [k for k in DEFAULT_KEYS if k[0] not in FOOTER_FIRST]
    return [
        Binding(keys, action, label, show=show, id=key_id, priority=key_id in PRIORITY)
        for key_id, keys, action, label, show in first + rest
    ]
