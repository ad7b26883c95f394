"""demo.synthetic: deterministic, sized as asked, and its labels describe its images."""

import numpy as np
import pytest

from cnninterp.demo.synthetic import synthetic_batch, synthetic_vessels


def test_same_seed_gives_identical_arrays():
    a_img, a_lab = synthetic_vessels(7, 64)
    b_img, b_lab = synthetic_vessels(7, 64)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_lab, b_lab)


def test_different_seeds_differ():
    a_img, a_lab = synthetic_vessels(1, 64)
    b_img, b_lab = synthetic_vessels(2, 64)
    assert not np.array_equal(a_img, b_img)
    assert not np.array_equal(a_lab, b_lab)


@pytest.mark.parametrize("size", [64, 256, (64, 128)])
def test_shapes_types_and_range(size):
    image, label = synthetic_vessels(3, size)
    shape = (size, size) if isinstance(size, int) else size
    assert image.shape == label.shape == shape
    assert image.dtype == np.float32 and label.dtype == np.bool_
    assert image.min() >= 0 and image.max() <= 1
    # On the 8-bit grid, so saving as an 8-bit PNG is lossless.
    np.testing.assert_array_equal(np.round(image * 255) / 255, image)


def test_labels_mark_the_bright_tubes():
    images, labels = synthetic_batch(range(100, 120), 64)
    fractions = labels.mean(axis=(1, 2))
    assert np.all(fractions > 0.01) and np.all(fractions < 0.6)
    for image, label in zip(images, labels, strict=True):
        inside, outside = image[label].mean(), image[~label].mean()
        # Vessels are clearly brighter than what surrounds them, relative to the noise.
        assert inside - outside > 0.5 * image[~label].std(), (inside, outside)
        assert inside > outside + 0.02


def test_rejects_sizes_out_of_range():
    with pytest.raises(ValueError, match="size"):
        synthetic_vessels(0, 8)
