"""Gradient rows against PyTorch autograd, the receptive field, colouring and bad input."""

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnninterp.jaxcore.model import receptive_field
from cnninterp.jaxcore.model.network import (
    SIZE_MULTIPLE,
    ModelConfig,
    model_logits,
    vessel_probability,
)
from cnninterp.jaxcore.passes.explainer import check_image
from cnninterp.jaxcore.passes.full_passes import coarse_to_fine
from cnninterp.jaxcore.passes.streaming import is_out_of_memory
from cnninterp.jaxcore.rows import gradients
from tests.jaxcore.nothing_cancels import open_network, positive_variables
from tests.jaxcore.torch_reference import Pair, relative_error

PIXELS_64 = [(0, 0), (0, 63), (63, 0), (63, 63), (31, 32), (17, 5), (62, 40)]


def test_probability_matches_torch(small_pair, image32):
    import torch

    expected = torch.softmax(small_pair.torch_model(torch.tensor(image32)[None, None]), 1)[0, 1]
    actual = small_pair.explainer.probability(image32)
    assert np.abs(actual - expected.numpy()).max() < 1e-5


@pytest.mark.parametrize("width", [4, 8])
def test_rows_match_torch_autograd_at_corners_borders_and_inside(width):
    pair = Pair(width, seed=width)
    image = np.random.default_rng(width).random((64, 64), dtype=np.float32)
    for y, x in PIXELS_64:
        expected = pair.torch_row(image, y, x)
        assert relative_error(pair.explainer.gradient_row(image, y, x), expected) < 1e-4


def test_a_row_for_python_int_pixels(small_pair, image32):
    explainer = small_pair.explainer
    probs, masks = explainer.linearised(image32)
    row = gradients.gradient_row(explainer.config, small_pair.variables, probs, masks, 5, 6)
    np.testing.assert_allclose(row, explainer.gradient_row(image32, 5, 6), rtol=1e-6, atol=1e-9)


def test_gradient_rows_keep_the_requested_order(small_pair, image32):
    pixels = [(5, 6), (0, 0), (31, 2)]
    rows = small_pair.explainer.gradient_rows(image32, pixels)
    for row, (y, x) in zip(rows, pixels, strict=True):
        single = small_pair.explainer.gradient_row(image32, y, x)
        # Equal to rounding: XLA:CPU sums a batch's matmuls in another order than one row's.
        np.testing.assert_allclose(row, single, rtol=1e-5, atol=1e-6 * np.abs(single).max())


@pytest.mark.slow
def test_full_size_model_rows_match_torch():
    pair = Pair(width=64, seed=1)
    image = np.random.default_rng(1).random((64, 64), dtype=np.float32)
    for y, x in [(0, 0), (40, 21)]:
        assert (
            relative_error(pair.explainer.gradient_row(image, y, x), pair.torch_row(image, y, x))
            < 1e-4
        )


def test_receptive_field_radius():
    config = ModelConfig(width=2)
    variables = positive_variables(config)
    image = np.ones((192, 192), np.float32)
    y = x = 96
    # The logit, not p: with all-positive weights p saturates and its gradient underflows.
    row = jax.grad(lambda im: model_logits(config, variables, im)[y, x, 1])(jnp.asarray(image))
    ys, xs = np.nonzero(np.asarray(row))
    reach = max(y - ys.min(), ys.max() - y, x - xs.min(), xs.max() - x)
    assert reach == gradients.RF_RADIUS  # reached exactly: the bound is tight, not guessed
    assert gradients.RF_RADIUS == receptive_field.radius()  # derived, not a constant
    # test_crops.py checks every stride phase's interval, of which this is the widest.
    assert 2 * gradients.RF_RADIUS + 1 < gradients.COLOUR_SPACING


def test_decoder_windows_hold_the_whole_cotangent():
    # Positive averaging weights and every ReLU open: a cotangent that left its window would be
    # missing from some row, and nothing can cancel to hide it.
    config, variables, probs, masks = open_network(48, 48)
    image = jnp.ones((48, 48), jnp.float32)
    ys, xs = (jnp.asarray(v.ravel()) for v in np.indices((48, 48)))
    rows = jax.jit(
        jax.vmap(lambda y, x: gradients.gradient_row(config, variables, probs, masks, y, x))
    )
    got = np.concatenate(
        [np.asarray(rows(ys[i : i + 576], xs[i : i + 576])) for i in range(0, 2304, 576)]
    )
    expected = jax.jacrev(lambda im: vessel_probability(config, variables, im))(image)
    expected = np.asarray(expected).reshape(2304, 48, 48)
    assert (expected > 0).mean() > 0.9  # the rows really reach far
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_one_colour_gives_the_rows_of_all_its_pixels(small_pair):
    image = np.random.default_rng(2).random((256, 256), dtype=np.float32)
    explainer = small_pair.explainer
    probs, masks = explainer.linearised(image)
    rows, valid = jax.jit(
        lambda oy, ox: gradients.colour_rows(
            explainer.config, small_pair.variables, probs, masks, oy, ox
        )
    )(jnp.int32(100), jnp.int32(7))
    assert np.asarray(valid).all()
    members = [(100, 7), (100, 135), (228, 7), (228, 135)]
    for row, (y, x) in zip(np.asarray(rows), members, strict=True):
        expected = explainer.gradient_row(image, y, x)
        assert relative_error(row, expected) < 1e-5


def test_coarse_to_fine_order_visits_every_pixel_once_coarse_grid_first():
    order = coarse_to_fine(32, 48)
    assert len({tuple(p) for p in order}) == 32 * 48 == len(order)
    first = order[: (32 // 8) * (48 // 8)]
    assert (first % 8 == 0).all()


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((30, 32), np.float32), "multiple of 16"),
        (np.full((32, 32), np.nan, np.float32), "non-finite"),
        (np.zeros((2, 32, 32), np.float32), "grayscale"),
    ],
)
def test_bad_images_are_named(image, message):
    with pytest.raises(ValueError, match=message):
        check_image(image, SIZE_MULTIPLE)


def test_pixel_outside_the_image_is_refused(small_pair, image32):
    with pytest.raises(ValueError, match="outside"):
        small_pair.explainer.gradient_row(image32, 32, 0)


def test_rows_from_another_thread_during_a_pass(small_pair):
    """The pass holds at its first progress report until a row is answered: rows that had to
    wait for the pass to end would leave it waiting in vain (the timeout), and fail."""
    image = np.random.default_rng(4).random((32, 32), dtype=np.float32)
    explainer = small_pair.explainer
    expected = explainer.gradient_row(image, 3, 4)
    pass_running, row_answered = threading.Event(), threading.Event()
    overlapped: list[bool] = []

    def hold_until_a_row(stats) -> None:
        if not pass_running.is_set():
            assert not stats.complete
            pass_running.set()
            overlapped.append(row_answered.wait(timeout=30))

    results = []
    worker = threading.Thread(
        target=lambda: results.append(explainer.jacobian_stats(image, on_progress=hold_until_a_row))
    )
    worker.start()
    assert pass_running.wait(timeout=120)
    rows = [explainer.gradient_row(image, 3, 4) for _ in range(5)]
    row_answered.set()
    worker.join()
    assert overlapped == [True]  # answered while the pass was part-way
    for row in rows:
        np.testing.assert_array_equal(row, expected)
    assert results[0].complete
    np.testing.assert_allclose(results[0].row(3, 4), expected, rtol=1e-5, atol=1e-9)


def test_only_the_out_of_memory_status_counts_as_out_of_memory():
    assert is_out_of_memory(jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory"))
    assert not is_out_of_memory(jax.errors.JaxRuntimeError("INTERNAL: RESOURCE_EXHAUSTED"))
    assert not is_out_of_memory(MemoryError("RESOURCE_EXHAUSTED"))


def test_host_and_device_agree_on_the_pixels_of_a_colour():
    from cnninterp.jaxcore.passes.kernels import members as _members

    offsets = np.array([0, 5, 127]), np.array([3, 127, 0])
    for height, width in [(64, 64), (256, 256), (272, 144)]:
        ys, xs, valid = _members(*offsets, height, width)
        for k in range(3):
            dy, dx, dv = gradients.colour_members(offsets[0][k], offsets[1][k], height, width)
            np.testing.assert_array_equal(ys[k], np.asarray(dy))
            np.testing.assert_array_equal(xs[k], np.asarray(dx))
            np.testing.assert_array_equal(valid[k], np.asarray(dv))


def test_out_of_device_memory_halves_the_chunk_and_loses_nothing(small_pair):
    explainer = type(small_pair.explainer)(
        small_pair.config, small_pair.variables, chunk_size=64, full_pass="rows"
    )
    image = np.random.default_rng(5).random((32, 32), dtype=np.float32)
    expected = explainer.jacobian_stats(image)
    explainer.engine.chunk_size = 64
    summaries = explainer.passes.kernels.exact_summaries
    calls = []

    def flaky(probs, masks, offsets_y, offsets_x):
        calls.append(len(offsets_y))
        if len(calls) == 3:  # the third chunk, with the second still in flight
            raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: out of memory (simulated)")
        return summaries(probs, masks, offsets_y, offsets_x)

    explainer.passes.kernels.exact_summaries = flaky
    stats = explainer.jacobian_stats(image)
    assert stats.complete
    # The smaller chunk is kept for this image size only; the override stands for others.
    assert explainer.engine.chunk_for(32, 32) == 32 and explainer.engine.chunk_for(64, 64) == 64
    assert calls[:3] == [64, 64, 64] and set(calls[3:]) == {32}
    # Chunks of 32 and of 64 are different XLA programs: equal up to rounding (jax 0.10 differs
    # by ~1e-10 here), while a lost or doubled chunk would leave rows of zeros.
    assert stats.done.all()
    atol = 1e-6 * float(np.abs(expected.rows).max())
    np.testing.assert_allclose(stats.rows, expected.rows, rtol=1e-5, atol=atol)
    np.testing.assert_allclose(stats.sorted_abs, expected.sorted_abs, rtol=1e-5, atol=atol)
