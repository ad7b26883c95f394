"""A converted three-channel model explains colour images as colour: RGB files load as RGB, rows
are PyTorch's gradient summed over the channels, and every attribution keeps its per-channel
maps (summing exactly to the map shown), through the core, its cache and the export."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cnninterp.convert.exported_model import convert_exported
from cnninterp.export.cli import main as export_main
from cnninterp.frontend import model_notes
from cnninterp.jaxcore.explain.attribution import Attributor
from cnninterp.jaxcore.explain.methods import Method
from cnninterp.jaxcore.explain.targets import Target
from cnninterp.jaxcore.images.loading import ImageSource, load_image
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.store.attributions import AttributionCache, attribution_key
from tests import torch_models

SIZE = 32
TOLERANCE = 2e-5  # float32, relative to the largest entry (test_generic_explainer.py's)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(torch model, its converted file) of a two-level U-Net on 3 channels, 2 classes."""
    folder = tmp_path_factory.mktemp("colour")
    model = torch_models.build("tiny_unet", 3, 2, seed=5)
    pt2 = torch_models.save_pt2(model, 3, folder / "tiny.pt2")
    return model, convert_exported(pt2, folder / "tiny.safetensors").out_path


@pytest.fixture(scope="module")
def explainer(tiny) -> Explainer:
    return Explainer.from_file(tiny[1])


@pytest.fixture(scope="module")
def attributor(explainer) -> Attributor:
    return Attributor(explainer)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(7).random((SIZE, SIZE, 3), dtype=np.float32)


def torch_gradient(model, image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """d sum(weights * p(class 1)) / d image, per channel [H, W, 3], by autograd."""
    x = torch.tensor(np.moveaxis(image, -1, 0)[None].copy(), requires_grad=True)  # (1, 3, H, W)
    scores = torch.softmax(model(x), dim=1)[0, 1]
    (scores * torch.tensor(weights)).sum().backward()
    return np.moveaxis(x.grad[0].numpy(), 0, -1)


def one_hot(y: int, x: int) -> np.ndarray:
    weights = np.zeros((SIZE, SIZE), np.float32)
    weights[y, x] = 1.0
    return weights


def assert_close(ours, theirs):
    np.testing.assert_allclose(ours, theirs, atol=TOLERANCE * np.abs(theirs).max())


def test_an_rgb_file_loads_as_rgb_for_three_channels_and_as_gray_for_one(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    source = ImageSource("rgb", tmp_path / "rgb.png", None)
    colour = load_image(source, channels=3)
    assert colour.pixels.shape == (32, 32, 3) and colour.pixels.dtype == np.float32
    np.testing.assert_array_equal(colour.pixels[:20, :20], rgb / np.float32(255))
    assert not any("gray" in note for note in colour.notes)
    assert any("padded 20x20 -> 32x32" in note for note in colour.notes)
    gray = load_image(source)
    assert gray.pixels.shape == (32, 32) and "RGB converted to gray" in gray.notes


def test_a_gray_file_is_repeated_and_alpha_ignored_for_three_channels(tmp_path):
    gray = np.random.default_rng(1).integers(0, 256, (16, 16), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    loaded = load_image(ImageSource("gray", tmp_path / "gray.png", None), channels=3)
    assert loaded.pixels.shape == (16, 16, 3)
    np.testing.assert_array_equal(loaded.pixels, np.repeat(gray[..., None] / np.float32(255), 3, 2))
    assert loaded.notes == ("gray image repeated over the model's 3 channels",)
    rgba = np.random.default_rng(2).integers(0, 256, (16, 16, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    loaded = load_image(ImageSource("rgba", tmp_path / "rgba.png", None), channels=3)
    np.testing.assert_array_equal(loaded.pixels, rgba[..., :3] / np.float32(255))
    assert loaded.notes == ("alpha channel ignored",)


def test_the_front_ends_say_colour_is_kept(explainer):
    (note,) = model_notes(explainer.model)
    assert "read as RGB" in note and "per channel" in note


def test_images_are_checked_against_the_model_s_channels(explainer, image):
    assert explainer.check_image(image).shape == (SIZE, SIZE, 3)
    assert explainer.check_image(image[..., 0]).shape == (SIZE, SIZE)  # gray: repeated
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        explainer.check_image(image[..., :2])


def test_rows_of_an_rgb_image_are_pytorch_s_gradient_summed_over_channels(tiny, explainer, image):
    model = tiny[0]
    x = torch.tensor(np.moveaxis(image, -1, 0)[None].copy())
    assert_close(explainer.probability(image), torch.softmax(model(x), 1)[0, 1].detach().numpy())
    for y, x in [(0, 0), (13, 21), (31, 31)]:
        theirs = torch_gradient(model, image, one_hot(y, x)).sum(axis=-1)
        assert_close(explainer.gradient_row(image, y, x), theirs)
    rows = explainer.gradient_rows(image, [(13, 21), (2, 3)])
    assert_close(rows[0], torch_gradient(model, image, one_hot(13, 21)).sum(axis=-1))


def test_the_full_pass_of_an_rgb_image_holds_every_row(explainer, image):
    stats = explainer.jacobian_stats(image)
    assert stats.complete and stats.rows is not None
    rows = stats.rows.reshape(SIZE, SIZE, SIZE, SIZE)
    assert_close(rows[13, 21], explainer.gradient_row(image, 13, 21))


def test_gradient_times_input_per_channel_equals_pytorch(tiny, attributor, image):
    result = attributor.attribute(image, Method("gradxinput"), Target("pixel", y=13, x=21))
    assert result is not None and result.channels is not None
    theirs = torch_gradient(tiny[0], image, one_hot(13, 21)) * image
    assert result.channels.shape == (3, SIZE, SIZE)
    assert_close(result.channels, np.moveaxis(theirs, -1, 0))
    np.testing.assert_array_equal(result.channels.sum(axis=0), result.values)


def test_integrated_gradients_per_channel_sum_to_values_and_stay_complete(attributor, image):
    box = Target("box", box=(8, 8, 15, 15))
    for baseline, steps in [("zeros", 32), ("blur", 4), ("mean", 4)]:
        result = attributor.attribute(image, Method("ig", steps=steps, baseline=baseline), box)
        assert result is not None and result.channels is not None
        np.testing.assert_array_equal(result.channels.sum(axis=0), result.values)
        assert result.completeness_error is not None and result.baseline_value is not None
        if baseline == "zeros":  # the others start close to the image: T barely changes
            change = abs(result.target_value - result.baseline_value)
            assert result.completeness_error < 1e-2 * change


def test_smoothgrad_takes_noise_of_the_image_s_shape(attributor, image):
    method = Method("smoothgrad", samples=2)
    result = attributor.attribute(image, method, Target("pixel", y=4, x=5))
    assert result is not None and result.channels is not None
    np.testing.assert_array_equal(result.channels.sum(axis=0), result.values)
    with pytest.raises(ValueError, match=r"noise must be \[N, 32, 32, 3\]"):
        attributor.attribute(image, method, Target("pixel", y=4, x=5), noise=np.zeros((2, 32, 32)))


def test_the_attribution_cache_keeps_the_channels(explainer, attributor, image, tmp_path):
    method, target = Method("gradient"), Target("vessel")
    result = attributor.attribute(image, method, Target("box", box=(0, 0, 9, 9)))
    assert result is not None
    cache = AttributionCache(tmp_path)
    key = attribution_key(explainer, image, method, target)
    assert cache.store(key, result)
    loaded = cache.load(key, method, target, image.shape)
    assert loaded is not None and loaded.channels is not None
    np.testing.assert_array_equal(loaded.channels, result.channels)
    assert cache.load(key, method, target, image.shape[:2]) is not None  # gray asks no channels


def test_the_export_writes_the_per_channel_maps(tiny, tmp_path):
    rgb = np.random.default_rng(4).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "image.png")
    args = ["--model", str(tiny[1]), "--pixel", "5,6", "--pixel", "20,9", "--no-cache"]
    args += ["--outputs", "probability,gradients", "-o", str(tmp_path / "out")]
    assert export_main([*args, str(tmp_path / "image.png")]) == 0
    with np.load(tmp_path / "out" / "image.npz") as arrays:
        gradients, channels = arrays["gradients"], arrays["gradient_channels"]
    assert gradients.shape == (2, SIZE, SIZE) and channels.shape == (2, 3, SIZE, SIZE)
    np.testing.assert_array_equal(channels.sum(axis=1), gradients)
    theirs = torch_gradient(tiny[0], rgb / np.float32(255), one_hot(5, 6))
    assert_close(channels[0], np.moveaxis(theirs, -1, 0))
    record = json.loads((tmp_path / "out" / "image.json").read_text())
    assert record["image"]["shape"] == [SIZE, SIZE] and record["image"]["channels"] == 3
    assert record["attribution"]["channels"]["npz"] == "gradient_channels"
