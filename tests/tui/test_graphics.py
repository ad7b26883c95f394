"""Real terminal graphics without a terminal: the mode decision, the pictures handed to
textual-image, and the boundary that keeps torch (and textual-image) out of a plain start."""

import subprocess
import sys

import numpy as np
import pytest

from cnninterp.tui.cursor_statistics import statistics_rows
from cnninterp.tui.graphics import choose_graphics, multiplexer, resolve_graphics
from cnninterp.tui.pictures import colours
from cnninterp.tui.pictures.terminal_picture import CellGeometry, upscaled_picture
from cnninterp.tui.state.threshold import Threshold


def choose(requested, detected="kitty", is_tty=True, columns=120, multiplexed=""):
    calls = []

    def detect():
        calls.append(1)
        if isinstance(detected, Exception):
            raise detected
        return detected

    mode, note = choose_graphics(
        requested, is_tty=is_tty, columns=columns, multiplexed=multiplexed, detect=detect
    )
    return mode, note, len(calls)


def test_graphics_mode_resolution():
    assert choose("halfblock") == ("halfblock", None, 0)  # textual-image never imported
    assert choose("auto") == ("kitty", None, 1)
    assert choose("auto", detected="sixel")[:2] == ("sixel", None)
    assert choose("auto", detected=None)[:2] == ("halfblock", None)
    for kw in ({"is_tty": False}, {"columns": 0}):  # 0 columns: textual-image would divide by it
        mode, note, calls = choose("kitty", **kw)
        assert mode == "halfblock" and note and calls == 0
    assert choose("auto", multiplexed="tmux") == ("halfblock", None, 0)
    mode, note, _ = choose("kitty", multiplexed="mosh")  # asked for explicitly: try, but warn
    assert mode == "kitty" and "mosh" in note
    mode, note, _ = choose("sixel", detected="kitty")
    assert mode == "sixel" and "did not report" in note
    mode, note, _ = choose("auto", detected=ZeroDivisionError("division by zero"))
    assert mode == "halfblock" and "ZeroDivisionError" in note


def test_multiplexers_are_recognised():
    assert multiplexer({"TMUX": "/tmp/tmux-0/default,1,0"}) == "tmux"
    assert multiplexer({"TERM": "screen-256color"}) == "screen"
    assert multiplexer({"STY": "123.pts-0"}) == "screen"
    assert multiplexer({"TERM": "xterm-kitty"}, ("bash", "mosh-server", "sshd")) == "mosh"
    assert multiplexer({"TERM": "xterm-kitty"}, ("bash", "sshd")) == ""
    assert resolve_graphics("kitty")[0] == "halfblock"  # pytest's stdout is not a terminal


@pytest.mark.parametrize(
    "shape, box, cell", [((64, 64), (40, 20), (10, 20)), ((256, 256), (41, 21), (9, 18))]
)
def test_pictures_for_textual_image_have_exact_pixels_and_a_palette(shape, box, cell):
    rng = np.random.default_rng(0)
    gray = colours.gray_rgb(rng.random(shape))
    g = CellGeometry.into(*shape, *box, cell)
    assert 0 < g.cols <= box[0] and 0 < g.rows <= box[1]
    picture = upscaled_picture(gray, g, background=(1, 2, 3))
    assert picture.size == g.canvas_size  # textual-image's resize is then a copy: no blur
    assert picture.mode == "P"
    assert picture.resize(picture.size).tobytes() == picture.tobytes()
    shown = np.asarray(picture.convert("RGB"))
    for y, x in [(0, 0), (shape[0] // 2, shape[1] // 3), (shape[0] - 1, shape[1] - 1)]:
        row, col = g.cell_of(y, x)
        assert 0 <= row < g.rows and 0 <= col < g.cols
    for row, col in [(0, 0), (g.rows // 2, g.cols // 3), (g.rows - 2, g.cols - 2)]:
        centre = shown[int((row + 0.5) * cell[1]), int((col + 0.5) * cell[0])]
        pixel = g.pixel_at(row, col)
        assert tuple(centre) == tuple(gray[pixel])  # a click there picks what is shown
        assert g.cell_of(*pixel) == (row, col)


def test_enlarged_pictures_use_whole_pixels_and_many_colours_stay_rgb():
    g = CellGeometry.into(32, 32, 40, 20)
    assert g.scale == int(g.scale) and g.scale >= 1
    colours = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    picture = upscaled_picture(colours, g)
    assert picture.mode == "RGB" and picture.size == g.canvas_size


def test_contrast_stretch_brightens_dark_images():
    dark = np.random.default_rng(2).random((64, 64)).astype(np.float32) * 0.1
    out = colours.contrast_stretch(dark)
    assert out.min() == 0.0 and out.max() == 1.0 and np.percentile(out, 50) > 0.3
    flat = np.full((16, 16), 0.2, np.float32)
    np.testing.assert_array_equal(colours.contrast_stretch(flat), flat)


def test_estimated_counts_show_approximately_and_their_bound():
    base = {"image": "a", "y": 0, "x": 0, "significance": 412.0, "stats_complete": True}
    rows = dict(statistics_rows({**base, "count_exact": False, "count_error": 7}, Threshold()))
    assert rows["signific."].startswith("≈ 412 ± 7")
    rows = dict(statistics_rows({**base, "count_exact": True}, Threshold()))
    assert rows["signific."] == "412"


def test_importing_the_tui_does_not_import_torch_or_textual_image():
    code = (
        "import sys, cnninterp.tui.app, cnninterp.tui.cli; "
        "print(sorted(m for m in ('torch', 'textual_image') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_truecolor_is_forced_before_the_app_exists(monkeypatch):
    from cnninterp.tui.app import create_app
    from cnninterp.tui.cli import force_truecolor

    monkeypatch.setenv("COLORTERM", "")  # as over SSH; monkeypatch restores it afterwards
    monkeypatch.setenv("TERM", "xterm-256color")
    assert create_app().console.color_system == "256"
    force_truecolor()
    assert create_app().console.color_system == "truecolor"
