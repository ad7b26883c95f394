"""The encoder's coarse levels on windows (windowed_encoder.py): derived windows, exact rows at
every stride phase, corner and edge, and used only where the windows are smaller."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnninterp.jaxcore.model import receptive_field
from cnninterp.jaxcore.model.network import SIZE_MULTIPLE
from cnninterp.jaxcore.rows import gradients, windowed_encoder
from tests.jaxcore.nothing_cancels import open_network
from tests.jaxcore.torch_reference import relative_error


def test_windows_are_derived_and_smaller_than_a_crop():
    windows = receptive_field.encoder_windows()
    assert list(windows) == list(receptive_field.WINDOWED_LEVELS)
    crop = receptive_field.crop_size()
    for level, (offset, size) in windows.items():
        assert size < crop >> (level - 1)  # otherwise the windows would cost, not save
        if level + 1 in windows:  # each holds what the block above reads for the next
            low, width = windowed_encoder.reads(*windows[level + 1])
            assert offset <= low and low + width <= offset + size
    assert windowed_encoder.applies(128, 128) and windowed_encoder.applies(256, 592)
    assert not windowed_encoder.applies(64, 64) and not windowed_encoder.applies(128, 96)


def _whole_rows(config, variables, probs, masks):
    """Rows through whole canvases (gradients.pull_back_pixels), never the windows."""
    one = jnp.ones((1,), jnp.float32)
    return jax.jit(
        jax.vmap(
            lambda y, x: gradients.pull_back_pixels(
                config, variables, probs, masks, y[None], x[None], one
            )
        )
    )


def _probe_pixels(height: int, width: int) -> list[tuple[int, int]]:
    """Corners, and every stride phase at both edges and inside along each axis."""
    ys = [r + base for base in (0, height // 2, height - SIZE_MULTIPLE) for r in range(16)]
    xs = [r + base for base in (width - SIZE_MULTIPLE, 0, width // 2) for r in range(16)]
    xs = xs[5:] + xs[:5]  # pair the phases differently along the two axes
    corners = [(0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1)]
    return corners + list(zip(ys, xs, strict=True))


def test_windows_hold_the_whole_cotangent_where_nothing_cancels():
    # Positive averaging weights and every ReLU open: a cotangent beyond its window would be
    # missing from the row, and nothing can cancel to hide it.
    config, variables, probs, masks = open_network(160, 144)
    windowed = jax.jit(
        jax.vmap(lambda y, x: gradients.gradient_row(config, variables, probs, masks, y, x))
    )
    pixels = _probe_pixels(160, 144)
    ys, xs = (jnp.asarray(v, jnp.int32) for v in np.asarray(pixels).T)
    got = np.asarray(windowed(ys, xs))
    expected = np.asarray(_whole_rows(config, variables, probs, masks)(ys, xs))
    for (y, x), row in zip(pixels, expected, strict=True):  # each row fills its whole field
        rows, cols = np.nonzero(row)
        (low_y, high_y), (low_x, high_x) = (receptive_field.field_interval(q) for q in (y, x))
        assert (rows.min(), rows.max()) == (max(low_y, 0), min(high_y, 159))
        assert (cols.min(), cols.max()) == (max(low_x, 0), min(high_x, 143))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=0)


@pytest.mark.parametrize("shape", [(128, 128), (208, 160)])
def test_windowed_rows_equal_whole_canvas_rows(small_pair, shape):
    image = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32)
    config, variables = small_pair.config, small_pair.variables
    probs, masks = small_pair.explainer.linearised(image)
    pixels = np.asarray(_probe_pixels(*shape))
    ys, xs = (jnp.asarray(v, jnp.int32) for v in pixels.T)
    windowed = jax.jit(
        jax.vmap(lambda y, x: gradients.gradient_row(config, variables, probs, masks, y, x))
    )
    got, expected = (
        np.asarray(windowed(ys, xs)),
        np.asarray(_whole_rows(config, variables, probs, masks)(ys, xs)),
    )
    for row, want in zip(got, expected, strict=True):
        assert relative_error(row, want) < 1e-5
        assert (row[want == 0] == 0).all()


@pytest.mark.slow
def test_full_size_windowed_rows_match_torch():
    from tests.jaxcore.torch_reference import Pair

    pair = Pair(width=64, seed=2)
    image = np.random.default_rng(2).random((128, 128), dtype=np.float32)
    for y, x in [(0, 127), (70, 9), (127, 64)]:
        row = pair.explainer.gradient_row(image, y, x)
        assert relative_error(row, pair.torch_row(image, y, x)) < 1e-4
