"""The `s` figure: every panel drawn from plain arrays, the cursor marked, NaN and inf survived."""

import io

import numpy as np
import pytest
from PIL import Image

from cnninterp.tui.figure import (
    DPI,
    FIGURE_INCHES,
    FigureInputs,
    detail_crop,
    figure,
    gradient_norm,
    save_figure,
)
from cnninterp.tui.pictures import colours

SIZE = 32


def small_inputs(**changes) -> FigureInputs:
    rng = np.random.default_rng(0)
    yy, xx = np.indices((SIZE, SIZE))
    vessel = np.exp(-(((yy - xx) / 3.0) ** 2))
    probability = 1.0 / (1.0 + np.exp(-8.0 * (vessel - 0.5)))
    gradient = rng.standard_normal((SIZE, SIZE)) * np.exp(-((yy - 12) ** 2 + (xx - 14) ** 2) / 20)
    counts = rng.integers(0, 50, (SIZE, SIZE)).astype(float)
    counts[20:] = np.nan  # not computed yet
    values = dict(
        image=vessel + 0.1 * rng.standard_normal((SIZE, SIZE)),
        cursor=(12, 14),
        probability=probability,
        label=vessel > 0.4,
        significance=counts,
        gradient=gradient,
        threshold=0.05,
        title="image_0  pixel (12, 14)",
        statistics=(("pixel", "y 12  x 14"), ("signific.", "≈ 1.28e3 ± 3 (E: exact)")),
    )
    return FigureInputs(**(values | changes))


def pixels(path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"))


def near(rgb: np.ndarray, colour, tolerance: int = 40) -> np.ndarray:
    return np.all(np.abs(rgb[..., :3].astype(int) - np.array(colour)) <= tolerance, axis=-1)


def test_the_png_has_every_panel_the_cursor_marks_and_the_outlines(tmp_path):
    [png] = save_figure(tmp_path, "view", small_inputs())
    assert png == tmp_path / "view.png"
    picture = pixels(png)
    assert picture.shape[:2] == (round(FIGURE_INCHES[1] * DPI), round(FIGURE_INCHES[0] * DPI))
    marked = near(picture, colours.CURSOR_RGB, tolerance=10)
    # four squares (image, p, significance, gradient) and the detail's: in five places
    columns = np.flatnonzero(marked.any(axis=0))
    groups = np.split(columns, np.flatnonzero(np.diff(columns) > 20) + 1)
    assert marked.sum() > 100 and len(groups) == 3  # three columns of panels, all marked
    assert near(picture, colours.PREDICTED_OUTLINE_RGB).sum() > 50
    assert near(picture, colours.LABEL_OUTLINE_RGB).sum() > 50
    assert near(picture, colours.MISSING_RGB, tolerance=2).sum() > 1000  # not computed: grey
    assert [p.name for p in tmp_path.iterdir()] == ["view.png"]  # no temporary left


def test_without_the_cursor_mark_there_is_no_cursor_colour(tmp_path):
    # the check above would pass by accident if the colourmaps themselves held magenta
    fig = figure(small_inputs())
    for ax in fig.axes:
        for line in list(ax.lines):
            line.remove()
    fig.savefig(tmp_path / "unmarked.png", dpi=DPI)
    picture = pixels(tmp_path / "unmarked.png")
    assert near(picture, colours.CURSOR_RGB, tolerance=10).sum() == 0


def test_the_gradient_colours_are_symmetric_around_zero():
    gradient = np.array([[-3e-4, 1e-6], [2e-2, np.nan]])
    for log in (False, True):
        norm, scale = gradient_norm(gradient, log)
        assert scale.vmax == pytest.approx(2e-2)
        assert float(norm(0.0)) == pytest.approx(0.5)
        for v in (1e-5, 3e-4, 2e-2):
            assert float(norm(v)) + float(norm(-v)) == pytest.approx(1.0)
    assert gradient_norm(np.zeros((2, 2)), True)[1].vmax == 1.0  # all zero: still a scale


def test_detail_is_the_bounding_box_of_the_values_above_threshold():
    gradient = np.zeros((10, 12))
    gradient[2, 3], gradient[6, 8], gradient[4, 5] = 0.5, -0.7, 0.01
    values, top, left = detail_crop(gradient, 0.1)
    assert (top, left, values.shape) == (2, 3, (5, 6))
    assert values[0, 0] == 0.5 and values[4, 5] == -0.7 and values[2, 2] == 0.0  # below: zero
    assert detail_crop(gradient, 1.0) is None


@pytest.mark.parametrize(
    "changes",
    [
        dict(image=np.full((SIZE, SIZE), np.nan), gradient=np.full((SIZE, SIZE), np.nan)),
        dict(
            image=np.where(np.eye(SIZE, dtype=bool), np.inf, 0.5),
            gradient=np.where(np.eye(SIZE, dtype=bool), -np.inf, 1e-3),
            significance=np.full((SIZE, SIZE), np.nan),
            label=np.ones((SIZE, SIZE), bool),
            threshold=1.0,
        ),
        dict(probability=np.full((SIZE, SIZE), np.nan), gradient=None, significance=None),
        dict(statistics=(("$x", "$1 $^ {"),), title="a $b$ c $", threshold=None),
        dict(
            image=np.zeros((3, 5)),
            probability=None,
            label=None,
            significance=None,
            gradient=np.zeros((3, 5)),
            cursor=(2, 4),
        ),
    ],
)
def test_nan_inf_and_missing_panels_never_raise(changes):
    fig = figure(small_inputs(**changes))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=30)  # drawing is where a bad value would raise
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_pdf_and_svg_on_request_and_unknown_formats_refused(tmp_path):
    paths = save_figure(tmp_path, "paper", small_inputs(), formats=("pdf", "svg"))
    assert [p.suffix for p in paths] == [".pdf", ".svg"]
    assert paths[0].read_bytes().startswith(b"%PDF") and b"<svg" in paths[1].read_bytes()
    with pytest.raises(ValueError, match="jpeg"):
        save_figure(tmp_path, "x", small_inputs(), formats=("jpeg",))
