"""tui.render with a broken model's numbers: NaN and infinity render as "no data", never raise."""

import numpy as np
import pytest

from cnninterp.tui import render

BAD = [float("nan"), float("inf"), -float("inf")]


@pytest.mark.parametrize("vmax", BAD)
@pytest.mark.parametrize("log", [False, True])
def test_colorbar_of_a_scale_without_data_says_so(vmax, log):
    ramp, labels = render.colorbar_text(render.SignedScale(vmax, log=log), "RdBu", 21)
    assert len(ramp) == 21 and len(labels) == 21
    assert labels.strip() == render.NO_DATA


@pytest.mark.parametrize("vmax", BAD)
def test_signed_rgb_of_nan_gradients_is_the_missing_colour(vmax):
    values = np.array([[np.nan, 1.0], [-np.inf, 0.0]])
    rgb = render.signed_rgb(values, render.SignedScale(vmax, log=True), "RdBu")
    assert rgb.shape == (2, 2, 3) and (rgb == render.MISSING_RGB).all()
    assert render.SignedScale(vmax).ticks() == []


def test_finite_scale_with_nan_values_draws_only_those_as_missing():
    rgb = render.signed_rgb(np.array([np.nan, 0.5]), render.SignedScale(1.0), "RdBu")
    assert (rgb[0] == render.MISSING_RGB).all() and not (rgb[1] == render.MISSING_RGB).all()


def test_gray_and_stretch_of_nan_pixels_do_not_raise():
    pixels = np.array([[np.nan, 0.5], [1.0, np.inf]])
    gray = render.gray_rgb(render.contrast_stretch(pixels))
    assert gray.dtype == np.uint8 and gray.shape == (2, 2, 3)
    assert render.format_value(float("nan")) == "-"
