"""A converted PyTorch model through the whole core: the Explainer's rows, the full pass, the
region targets and the attribution methods equal PyTorch autograd on the same model."""

import json
from dataclasses import replace

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from PIL import Image

from cnninterp.convert.exported_model import convert_exported
from cnninterp.export.cli import main as export_main
from cnninterp.jaxcore.explain.attribution import Attributor
from cnninterp.jaxcore.explain.methods import Method
from cnninterp.jaxcore.explain.targets import Target, target_weights
from cnninterp.jaxcore.model.generic import crops_exact, graph_model
from cnninterp.jaxcore.model.graph import Graph, Node
from cnninterp.jaxcore.model.graph_file import load_graph_model
from cnninterp.jaxcore.passes.explainer import Explainer
from tests import torch_models

SIZE = 32
TOLERANCE = 2e-5  # float32, relative to the largest entry: see test_float32_rows_and_switches


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(torch model, its converted file) of a two-level U-Net with 3 classes."""
    folder = tmp_path_factory.mktemp("tiny")
    model = torch_models.build("tiny_unet", 1, 3, seed=4)
    pt2 = torch_models.save_pt2(model, 1, folder / "tiny.pt2")
    names = ["background", "vessel", "artery"]
    report = convert_exported(pt2, folder / "tiny.safetensors", class_names=names)
    return model, report.out_path


@pytest.fixture(scope="module")
def explainer(tiny) -> Explainer:
    return Explainer.from_file(tiny[1], vessel_class=2)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(3).random((SIZE, SIZE), dtype=np.float32)


def torch_scores(model, image: np.ndarray) -> torch.Tensor:
    """softmax scores [C, H, W] of the image, with the graph for autograd."""
    x = torch.tensor(image, requires_grad=True)
    return x, torch.softmax(model(x[None, None]), dim=1)[0]


def torch_row(model, image, y: int, x: int, k: int = 2) -> np.ndarray:
    pixels, scores = torch_scores(model, image)
    scores[k, y, x].backward()
    return pixels.grad.numpy()


def assert_close(ours, theirs):
    np.testing.assert_allclose(ours, theirs, atol=TOLERANCE * np.abs(theirs).max())


def test_the_converted_model_is_local_and_explains_the_chosen_class(explainer):
    model = explainer.model
    assert (model.classes, model.explained_class, model.activation) == (3, 2, "softmax")
    assert model.score_label == "p(artery)"
    assert model.receptive_radius is not None and model.receptive_radius < 10
    assert explainer.kit.colour_spacing == 2 * model.receptive_radius + 2
    assert explainer.description["classes"] == 3 and explainer.config is None


def test_probability_and_rows_equal_pytorch(tiny, explainer, image):
    model = tiny[0]
    _, scores = torch_scores(model, image)
    assert_close(explainer.probability(image), scores[2].detach().numpy())
    for y, x in [(0, 0), (13, 21), (31, 31)]:
        assert_close(explainer.gradient_row(image, y, x), torch_row(model, image, y, x))


def test_the_full_pass_by_colours_holds_every_row(tiny, explainer, image):
    stats = explainer.jacobian_stats(image)
    assert stats.complete and stats.rows is not None
    rows = stats.rows.reshape(SIZE, SIZE, SIZE, SIZE)
    for y, x in [(4, 9), (30, 2)]:
        assert_close(rows[y, x], torch_row(tiny[0], image, y, x))
    # Every row is zero beyond the receptive radius: the colours did not mix members.
    radius = explainer.model.receptive_radius
    ys, xs = np.nonzero(rows[16, 16])
    assert np.abs(ys - 16).max() <= radius and np.abs(xs - 16).max() <= radius


def test_a_region_target_and_integrated_gradients_equal_pytorch(tiny, explainer, image):
    attributor = Attributor(explainer)
    target = Target.parse("box:4,4,20,28")
    weights = target_weights(target, explainer.probability(image))
    pixels, scores = torch_scores(tiny[0], image)
    (scores[2] * torch.tensor(weights)).sum().backward()
    assert_close(attributor.target_gradient(image, target), pixels.grad.numpy())
    result = attributor.attribute(image, Method("ig", steps=16), target)
    assert result is not None
    # IG's completeness holds to the quadrature error of 16 steps.
    assert result.completeness_error < 0.05 * abs(result.target_value - result.baseline_value)


def test_the_export_explains_the_class_named_on_its_command_line(tiny, explainer, tmp_path):
    pixels = np.random.default_rng(5).integers(0, 256, (SIZE, SIZE), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "image.png")
    args = ["--model", str(tiny[1]), "--class", "artery", "--pixel", "5,6"]
    args += ["--outputs", "probability,gradients", "-o", str(tmp_path / "out")]
    assert export_main([*args, "--no-cache", str(tmp_path / "image.png")]) == 0
    with np.load(tmp_path / "out" / "image.npz") as arrays:
        image = pixels.astype(np.float32) / 255
        np.testing.assert_array_equal(arrays["probability"], explainer.probability(image))
        np.testing.assert_array_equal(arrays["gradients"][0], explainer.gradient_row(image, 5, 6))
    record = json.loads((tmp_path / "out" / "image.json").read_text())
    assert record["request"]["class"] == 2


def test_rows_on_crops_equal_rows_on_the_whole_image(tiny, image):
    """A local field and shift-equivariant ops: rows of a larger image go on crops, and equal
    the rows the whole image gives."""
    cropped = Explainer.from_file(tiny[1], vessel_class=2)
    large = np.random.default_rng(9).random((96, 128), dtype=np.float32)
    assert cropped.model.crops_exact and cropped.kit.is_cropped(96, 128)
    crop_h, crop_w = cropped.kit.crop_shape(96, 128)
    assert crop_h < 96 and crop_w < 128
    pixels = [(0, 0), (50, 61), (95, 127), (17, 100)]
    on_crops = cropped.gradient_rows(large, pixels)
    whole = cropped.kit.rows_on_image(
        cropped.kit.static,
        cropped.model.params,
        *cropped.linearised(large),
        jnp.asarray([y for y, _ in pixels]),
        jnp.asarray([x for _, x in pixels]),
    )
    np.testing.assert_allclose(on_crops, np.asarray(whole), atol=1e-6 * np.abs(whole).max())
    for row, (y, x) in zip(on_crops, pixels, strict=True):  # and against PyTorch
        assert_close(row, torch_row(tiny[0], large, y, x))


def test_crops_are_exact_only_for_shift_equivariant_graphs():
    def ref(name):
        return {"value": name}

    conv = Node("y", "conv2d", {"input": ref("x"), "weight": ref("w")}, "conv")
    weights = {"w": np.zeros((2, 1, 3, 3)), "pos": np.zeros((1, 2, 8, 8))}
    weights["bias"] = np.zeros((1, 2, 1, 1))

    def exact(*nodes):
        return crops_exact(Graph("x", nodes[-1].name, (conv, *nodes), tuple(weights)), weights)

    assert exact(Node("z", "relu", {"self": ref("y")}, "act"))
    assert exact(Node("z", "add", {"self": ref("y"), "other": ref("bias")}, "bias"))
    assert not exact(Node("z", "add", {"self": ref("y"), "other": ref("pos")}, "positional"))
    assert not exact(Node("z", "softmax", {"self": ref("y"), "dim": 2}, "over space"))
    resize = {"input": ref("y"), "output_size": None, "scale_factors": [2.0, 2.0]}
    assert exact(Node("z", "upsample_bilinear2d", resize | {"align_corners": False}, "up"))
    assert not exact(Node("z", "upsample_bilinear2d", resize | {"align_corners": True}, "up"))
    fixed = resize | {"output_size": [64, 64], "align_corners": False}
    assert not exact(Node("z", "upsample_bilinear2d", fixed, "up"))


def test_the_cache_key_tells_models_with_the_same_weights_apart(tiny):
    loaded = load_graph_model(tiny[1])
    other = replace(loaded, config=replace(loaded.config, normalize={"mean": [0.5], "std": [2.0]}))
    assert graph_model(loaded).fingerprint != graph_model(other).fingerprint
    assert graph_model(loaded).fingerprint == graph_model(load_graph_model(tiny[1])).fingerprint
    assert Explainer(graph_model(other)).description != Explainer(graph_model(loaded)).description
