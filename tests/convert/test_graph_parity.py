"""The parity check's test images: every side the converter may be asked for (--size N)."""

import numpy as np
import pytest

from cnninterp.convert.graph_parity import test_images as parity_images


@pytest.mark.parametrize("size", [1, 7, 8, 12, 64, 100])
def test_parity_images_have_the_asked_side_at_any_size(size):
    images = parity_images(3, size)
    assert [name for name, _ in images] == ["random noise", "random blobs"]
    for _, image in images:
        assert image.shape == (size, size, 3)
        assert image.dtype == np.float64
        assert 0.0 <= image.min() and image.max() <= 1.0
