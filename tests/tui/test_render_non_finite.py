"""pictures/colours.py and number_text.py with a broken model's numbers: NaN and infinity
render as "no data", never raise."""

import numpy as np
import pytest

from cnninterp.tui import number_text
from cnninterp.tui.pictures import colours

BAD = [float("nan"), float("inf"), -float("inf")]


@pytest.mark.parametrize("vmax", BAD)
@pytest.mark.parametrize("log", [False, True])
def test_colorbar_of_a_scale_without_data_says_so(vmax, log):
    ramp, labels = colours.colorbar_text(colours.SignedScale(vmax, log=log), "RdBu", 21)
    assert len(ramp) == 21 and len(labels) == 21
    assert labels.strip() == number_text.NO_DATA


@pytest.mark.parametrize("vmax", BAD)
def test_signed_rgb_of_nan_gradients_is_the_missing_colour(vmax):
    values = np.array([[np.nan, 1.0], [-np.inf, 0.0]])
    rgb = colours.signed_rgb(values, colours.SignedScale(vmax, log=True), "RdBu")
    assert rgb.shape == (2, 2, 3) and (rgb == colours.MISSING_RGB).all()
    assert colours.SignedScale(vmax).ticks() == []


def test_finite_scale_with_nan_values_draws_only_those_as_missing():
    rgb = colours.signed_rgb(np.array([np.nan, 0.5]), colours.SignedScale(1.0), "RdBu")
    assert (rgb[0] == colours.MISSING_RGB).all() and not (rgb[1] == colours.MISSING_RGB).all()


def test_gray_and_stretch_of_nan_pixels_do_not_raise():
    pixels = np.array([[np.nan, 0.5], [1.0, np.inf]])
    gray = colours.gray_rgb(colours.contrast_stretch(pixels))
    assert gray.dtype == np.uint8 and gray.shape == (2, 2, 3)
    assert number_text.format_value(float("nan")) == "-"
