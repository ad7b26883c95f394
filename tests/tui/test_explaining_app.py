"""Pilot tests of method x target in the app (tiny width-4 model, 32x32 images), checked
against jaxcore's Attributor and groundtruth on the same arrays."""

import json

import numpy as np
import pytest
from PIL import Image

from cnninterp.jaxcore.explain.attribution import Attributor
from cnninterp.jaxcore.explain.groundtruth import mistakes
from cnninterp.jaxcore.explain.methods import Method
from cnninterp.jaxcore.explain.targets import Target, predicted_mask
from cnninterp.tui.app import create_app
from cnninterp.tui.pictures import panel_pictures
from cnninterp.tui.state.attribution_state import TARGET_OUTLINE_RGB
from cnninterp.tui.widgets.prompt_screen import PromptScreen
from tests.tui.pilot_helpers import options, row_shown, wait_for


def attribution_shown(app) -> bool:
    return app.session.shown_attribution() is not None


def gradient_rgb(app) -> np.ndarray:
    return app.query_one("#gradient").shown_rgb


async def test_cycling_the_method_shows_the_attribution_jaxcore_computes(
    data_dir, model_file, tmp_path
):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("j", "j", "l")
        y, x = app.session.cursor
        attributor, pixels = Attributor(app.session.explainer), app.session.view.loaded.pixels
        box = app.query_one("#gradient-box")
        for name, title in [
            ("gradxinput", f"gradient × input of pixel at ({y}, {x})"),
            ("smoothgrad", f"SmoothGrad(16, 15 %) of pixel at ({y}, {x})"),
            ("ig", f"IG(32, zeros) of pixel at ({y}, {x})"),
        ]:
            await pilot.press("a")
            assert app.session.explanation.method.name == name
            await wait_for(pilot, lambda: attribution_shown(app), timeout=60)
            await pilot.pause()
            want = attributor.attribute(pixels, Method(name), Target("pixel", y=y, x=x)).values
            np.testing.assert_allclose(
                app.session.shown_attribution().values, want, rtol=1e-5, atol=1e-8
            )
            scale = panel_pictures.row_scale(want, app.session.log_scale)
            drawn = panel_pictures.gradient_picture(
                app.session.shown_attribution().values, scale, app.session.cmap
            ).rgb
            np.testing.assert_array_equal(gradient_rgb(app), drawn)
            assert box.border_title == title
            text = app.query_one("#stats").text()
            assert f"explains: {title}" in text
            assert (
                "significance (per-pixel gradient)" == app.query_one("#significance").border_title
            )
        assert "complete.: |ΣA - ΔT|" in text  # IG shows its completeness error
        await pilot.press("a")  # back to the plain row
        assert app.session.explanation.is_plain
        await wait_for(pilot, lambda: row_shown(app))
        assert box.border_title == f"gradient ({y}, {x})"
        assert app.query_one("#significance").border_title == "significance"


async def test_a_box_drawn_with_keys_is_the_target_titled_and_outlined(
    data_dir, model_file, tmp_path
):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("g", "ctrl+a", "ctrl+k", *"9 4", "enter", "b")
        await pilot.press("k", "k", "l", "l", "l", "b")  # the other corner: (7, 7)
        assert app.session.explanation.target_kind == "box" and app.session.explanation.box == (
            7,
            4,
            9,
            7,
        )
        await wait_for(pilot, lambda: attribution_shown(app), timeout=60)
        title = "gradient of box (7, 4)-(9, 7)"
        assert app.query_one("#gradient-box").border_title == title
        want = Attributor(app.session.explainer).target_gradient(
            app.session.view.loaded.pixels, Target("box", box=(7, 4, 9, 7))
        )
        np.testing.assert_allclose(
            app.session.shown_attribution().values, want, rtol=1e-5, atol=1e-8
        )
        # the outline is a layer over the image (drawn after zooming, by block maxima)
        layers = {colour: mask for mask, colour in app.query_one("#image").shown_layers}
        outline = layers[TARGET_OUTLINE_RGB]
        assert outline[7, 4:8].all() and not outline[8, 5]
        # the box does not follow the cursor: moving keeps the cached result, no new request
        computed = app.runner.attributions.computed
        await pilot.press("j", "l")
        await pilot.pause(0.2)
        assert app.session.attribution.asked is None and attribution_shown(app)
        assert app.runner.attributions.computed == computed


async def test_a_box_corner_marked_then_a_click_draws_the_box(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("b")  # corner at (0, 0)
        view = app.query_one("#probability")
        await pilot.click("#probability", offset=(1 + view.picture_left + 10, 1 + 4))
        y, x = view.window.pixel_at(4, 10)
        assert app.session.explanation.box == (0, 0, y, x)
        assert app.session.cursor == (y, x)  # the click still moves the cursor
        await wait_for(pilot, lambda: attribution_shown(app), timeout=60)
        assert app.session.shown_attribution().target == Target("box", box=(0, 0, y, x))


async def test_segment_on_background_is_refused_naming_the_nearest_vessel(
    data_dir, model_file, tmp_path
):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        mask = predicted_mask(app.session.view.probability)
        assert mask.any() and (~mask).any()  # the fixture's images have both
        by, bx = np.argwhere(~mask)[0]
        await pilot.press("g", "ctrl+a", "ctrl+k", *f"{by} {bx}", "enter", "r", "r")
        assert app.session.explanation.target_kind == "segment"
        await pilot.pause()
        assert "is background" in app.query_one("#gradient").shown_message
        assert "the nearest vessel pixel is" in app.query_one("#gradient").shown_message
        assert app.query_one("#gradient-box").border_subtitle == "refused"
        vy, vx = np.argwhere(mask)[0]
        await pilot.press("g", "ctrl+a", "ctrl+k", *f"{vy} {vx}", "enter")
        await wait_for(pilot, lambda: attribution_shown(app), timeout=60)
        assert app.query_one("#gradient-box").border_title == f"gradient of segment at ({vy}, {vx})"


async def test_bad_parameters_keep_the_prompt_open_saying_what_is_allowed(
    data_dir, model_file, tmp_path
):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("A", "ctrl+a", "ctrl+k", *"steps=0", "enter")
        assert isinstance(app.screen, PromptScreen)
        refusal = str(app.screen.query_one("#prompt-error").render())
        assert "steps must be an integer from 1 to 1024" in refusal
        await pilot.press("ctrl+a", "ctrl+k", *"steps=4 baseline=mean", "enter")
        assert not isinstance(app.screen, PromptScreen)
        assert (app.session.explanation.method.steps, app.session.explanation.method.baseline) == (
            4,
            "mean",
        )
        assert app.session.explanation.is_plain  # parameters only; the method is still gradient


async def test_a_new_request_cancels_the_one_running(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("a", "a", "a")  # IG of the cursor pixel
        first = app.session.attribution.asked
        assert first is not None and first.method.name == "ig"
        await pilot.press("l")  # another pixel: the first IG is no longer wanted
        assert first.cancel.is_set() and app.session.attribution.asked is not first
        await wait_for(pilot, lambda: attribution_shown(app), timeout=60)
        assert app.session.shown_attribution().target == Target("pixel", y=0, x=1)


@pytest.fixture
def labelled_dir(tmp_path, make_images):
    """Two 32x32 images with labels: a band the tiny model gets partly wrong."""
    folder = tmp_path / "labelled"
    make_images(folder / "images", count=2)
    (folder / "labels").mkdir()
    label = np.zeros((32, 32), np.uint8)
    label[10:20, :] = 255
    for i in range(2):
        Image.fromarray(label).save(folder / "labels" / f"image_{i}.png")
    return folder


async def test_mistake_keys_walk_false_positives_and_negatives(labelled_dir, model_file, tmp_path):
    app = create_app(options(labelled_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        probability, label = app.session.view.probability, app.session.view.loaded.label
        for key, kind in (("x", "fp"), ("X", "fn")):
            wrong = mistakes(probability, label, kind)
            assert wrong.sum() >= 2  # the fixture's model and label disagree both ways
            seen = []
            for _ in range(2):
                await pilot.press(key)
                assert wrong[app.session.cursor]
                seen.append(app.session.cursor)
            assert seen[0] != seen[1]
        await wait_for(pilot, lambda: row_shown(app))
        text = app.query_one("#stats").text()
        fp, fn = (
            int(mistakes(probability, label, "fp").sum()),
            int(mistakes(probability, label, "fn").sum()),
        )
        assert f"FP {fp}  FN {fn}" in text and "pointing:" in text and "|A| ves/bg:" in text


async def test_save_writes_the_attribution_on_screen(data_dir, model_file, tmp_path):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.press("a")  # gradient x input
        await wait_for(pilot, lambda: attribution_shown(app), timeout=60)
        shown = app.session.shown_attribution()
        await pilot.press("s")
        folder = tmp_path / "saves"
        await wait_for(pilot, lambda: len(list(folder.glob("*.json"))) == 1)
        await app.workers.wait_for_complete()
        stem = next(folder.glob("*.json")).stem
        np.testing.assert_array_equal(np.load(folder / f"{stem}.npz")["attribution"], shown.values)
        assert json.loads((folder / f"{stem}.json").read_text())["explained"] == shown.title()
