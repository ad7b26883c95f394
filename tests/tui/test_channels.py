"""An RGB image in the TUI: the image panel in colour, and the gradient panels showing an
attribution's sum over channels or one channel alone (`R`), the title naming which."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from cnninterp.jaxcore.explain.attribution import Attribution
from cnninterp.jaxcore.explain.methods import Method
from cnninterp.jaxcore.explain.targets import Target
from cnninterp.jaxcore.images.loading import ImageSource, LoadedImage
from cnninterp.tui.pictures import panel_pictures
from cnninterp.tui.state.effects import Paint
from cnninterp.tui.state.session import Session

SIDE = 8


def session_with(pixels: np.ndarray) -> Session:
    session = Session()
    source = ImageSource("image", Path("image.png"), None)
    opened = session.model_ready(SimpleNamespace(device_name="cpu"), [source], notes=[])
    loaded = LoadedImage(source, pixels, None, (SIDE, SIDE), ())
    session.image_ready(opened.requests[0].token, loaded, np.zeros((SIDE, SIDE), np.float32))
    return session


def rgb() -> np.ndarray:
    return np.random.default_rng(0).random((SIDE, SIDE, 3), dtype=np.float32)


def test_the_channel_key_cycles_sum_r_g_b_and_repaints_the_row():
    session = session_with(rgb())
    shown = []
    for _ in range(4):
        effects = session.cycle_channel()
        assert Paint.ROW in effects.paints
        shown.append(session.channel)
    assert shown == [0, 1, 2, None]


def test_the_channel_key_says_a_gray_image_has_one_channel():
    session = session_with(np.zeros((SIDE, SIDE), np.float32))
    effects = session.cycle_channel()
    assert session.channel is None and not effects.paints
    assert "gray" in effects.notes[0].text


def test_the_gradient_panel_shows_the_sum_or_one_channel_and_says_which():
    channels = np.random.default_rng(1).standard_normal((3, SIDE, SIDE)).astype(np.float32)
    attribution = Attribution(
        channels.sum(axis=0), Method("gradxinput"), Target("vessel"), 1.0, channels=channels
    )
    values, words = panel_pictures.attribution_channel(attribution, None)
    assert values is attribution.values and words == " · sum over R+G+B"
    values, words = panel_pictures.attribution_channel(attribution, 1)
    np.testing.assert_array_equal(values, channels[1])
    assert words == " · G only"
    gray = Attribution(channels[0], Method("gradxinput"), Target("vessel"), 1.0)
    assert panel_pictures.attribution_channel(gray, 1) == (gray.values, "")


def test_an_rgb_image_is_drawn_in_colour_and_titled_so():
    pixels = np.zeros((SIDE, SIDE, 3), np.float32)
    pixels[..., 0] = 1.0  # red
    pixels[0, 0] = 0.0  # one black pixel: the stretch keeps red red
    loaded = LoadedImage(ImageSource("image", Path("image.png"), None), pixels, None, (8, 8), ())
    picture = panel_pictures.image_picture(loaded)
    assert picture.shape == (SIDE, SIDE, 3) and picture.dtype == np.uint8
    assert tuple(picture[1, 1]) == (255, 0, 0) and tuple(picture[0, 0]) == (0, 0, 0)
    assert "RGB" in panel_pictures.image_title(loaded, 0, 1)
