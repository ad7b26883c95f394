"""Targets: their weight maps against brute force and Xplique, their gradients against rows."""

from collections import deque

import numpy as np
import pytest
from scipy import ndimage

from cnninterp.demo import demo_dir, demo_model_path
from cnninterp.jaxcore.explain.attribution import Attributor
from cnninterp.jaxcore.explain.targets import (
    Target,
    TargetError,
    in_out_border,
    segment_mask,
    target_weights,
)
from cnninterp.jaxcore.images.loading import find_images, load_image
from cnninterp.jaxcore.passes.explainer import Explainer
from tests.jaxcore.torch_reference import relative_error


@pytest.fixture(scope="module")
def attributor(small_pair):
    return Attributor(small_pair.explainer)


@pytest.fixture(scope="module")
def probability32(small_pair, image32):
    return small_pair.explainer.probability(image32)


def flood_fill(mask, y, x):
    """8-connected component by breadth-first search: the definition, spelled out."""
    seen = np.zeros_like(mask)
    queue = deque([(y, x)])
    seen[y, x] = True
    while queue:
        cy, cx = queue.popleft()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ny, nx = cy + dy, cx + dx
                inside = 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1]
                if inside and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
    return seen


def largest_segment_pixel(probability):
    components, count = ndimage.label(probability > 0.5, structure=np.ones((3, 3)))
    largest = 1 + np.argmax(np.bincount(components.ravel())[1:])
    y, x = np.argwhere(components == largest)[0]
    return int(y), int(x)


def test_single_pixel_target_is_gradient_row_to_the_bit(small_pair, image32, attributor):
    row = small_pair.explainer.gradient_row(image32, 9, 20)
    np.testing.assert_array_equal(attributor.target_gradient(image32, Target("pixel", 9, 20)), row)


def test_dense_pull_back_of_one_pixel_equals_its_row(small_pair, image32, attributor):
    weights = np.zeros((32, 32), np.float32)
    weights[0, 31] = 1.0
    probs, masks = small_pair.explainer.linearised(image32)
    dense = np.asarray(attributor.pull_back(probs, masks, weights))
    assert relative_error(dense, small_pair.explainer.gradient_row(image32, 0, 31)) < 1e-5


def test_dense_pull_back_is_the_weighted_sum_of_torch_rows(
    small_pair, image32, jacobian32, attributor
):
    # Any weight map, signed: the pull-back itself, against PyTorch's whole Jacobian.
    weights = np.random.default_rng(1).standard_normal((32, 32)).astype(np.float32)
    probs, masks = small_pair.explainer.linearised(image32)
    actual = np.asarray(attributor.pull_back(probs, masks, weights))
    expected = (weights.reshape(-1, 1) * jacobian32).sum(axis=0).reshape(32, 32)
    assert relative_error(actual, expected) < 1e-4


@pytest.fixture(scope="module")
def demo():
    """The trained demo model on its first image: predicted vessels worth targeting."""
    explainer = Explainer.from_file(demo_model_path())
    pixels = load_image(find_images(demo_dir())[0]).pixels
    return Attributor(explainer), pixels, explainer.probability(pixels)


@pytest.mark.parametrize("kind", ["box", "segment", "vessel", "border"])
def test_region_target_gradient_is_the_weighted_sum_of_rows(kind, demo):
    attributor, pixels, probability = demo
    y, x = largest_segment_pixel(probability)
    radius = 6.0 if kind == "segment" else None
    box = (3, 4, 20, 9) if kind == "box" else None
    target = Target(kind, y, x, box=box, radius=radius)
    weights = target_weights(target, probability)
    support = np.argwhere(weights != 0)
    assert len(support) > 5
    rows = attributor.explainer.gradient_rows(pixels, support)  # proven against torch
    expected = np.tensordot(weights[support[:, 0], support[:, 1]], rows, axes=1)
    assert relative_error(attributor.target_gradient(pixels, target), expected) < 1e-4


def test_segment_is_the_flood_filled_component(demo):
    _, _, probability = demo
    mask = probability > 0.5
    for y, x in np.argwhere(mask)[:: max(1, mask.sum() // 7)]:
        segment = segment_mask(probability, int(y), int(x))
        np.testing.assert_array_equal(segment, flood_fill(mask, y, x))


def test_segment_radius_cuts_the_component_to_a_disc():
    probability = np.zeros((16, 16), np.float32)
    probability[8, :] = 0.9  # one horizontal vessel
    segment = segment_mask(probability, 8, 8, radius=3)
    assert sorted(np.argwhere(segment)[:, 1]) == list(range(5, 12))


def test_segment_on_background_names_the_nearest_vessel_pixel():
    probability = np.zeros((16, 16), np.float32)
    probability[10, 12] = 0.8
    with pytest.raises(TargetError, match=r"\(2, 3\) is background .* nearest vessel pixel is"):
        segment_mask(probability, 2, 3)
    with pytest.raises(TargetError, match=r"\(10, 12\)$"):
        segment_mask(probability, 2, 3)
    with pytest.raises(TargetError, match="predicts no vessel"):
        segment_mask(np.zeros((16, 16), np.float32), 2, 3)


def test_border_matches_xplique_documented_example():
    # Xplique's get_in_out_border docstring: a zone and the border it returns.
    mask = np.array(
        [[0, 0, 0, 0, 0], [0, 0, 0, 1, 1], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1], [0, 1, 1, 1, 1]],
        bool,
    )
    expected = [
        [0, 0, -1, -1, -1],
        [0, -1, -1, 1, 1],
        [0, -1, 1, 1, 0],
        [-1, -1, 1, 0, 0],
        [-1, 1, 1, 0, 0],
    ]
    np.testing.assert_array_equal(in_out_border(mask), expected)


def test_border_is_pixels_with_some_but_not_all_neighbours_across():
    mask = np.random.default_rng(3).random((20, 24)) > 0.6
    padded = np.pad(mask, 1, mode="symmetric")
    expected = np.zeros(mask.shape, int)
    for y in range(20):
        for x in range(24):
            around = padded[y : y + 3, x : x + 3].copy()
            across = int((around != mask[y, x]).sum())  # the centre never differs from itself
            if 1 <= across <= 7:
                expected[y, x] = 1 if mask[y, x] else -1
    np.testing.assert_array_equal(in_out_border(mask), expected)


def test_bad_targets_say_what_is_wrong(probability32):
    with pytest.raises(TargetError, match="not inside the 32x32 image"):
        target_weights(Target("box", box=(0, 0, 32, 5)), probability32)
    with pytest.raises(TargetError, match="y1 >= y0"):
        Target("box", box=(5, 0, 2, 5))
    with pytest.raises(TargetError, match="outside the 32x32 image"):
        target_weights(Target("pixel", 40, 1), probability32)
    with pytest.raises(TargetError, match="unknown target 'blob'"):
        Target.parse("blob")
    with pytest.raises(TargetError, match="four integers"):
        Target.parse("box:1,2,3")
    with pytest.raises(TargetError, match="needs a pixel"):
        Target.parse("segment")
    with pytest.raises(TargetError, match="no vessel"):
        target_weights(Target("vessel"), np.zeros((16, 16), np.float32))


def test_targets_parse_and_key():
    assert Target.parse("box:1,2,3,4") == Target("box", box=(1, 2, 3, 4))
    assert Target.parse("segment", 3, 4).key() == "segment(3,4,r=-)"
    assert Target.parse("pixel", 3, 4).describe() == "pixel at (3, 4)"
    keys = {Target.parse(t, 1, 2).key() for t in ("pixel", "segment", "vessel", "border")}
    assert len(keys) == 4
