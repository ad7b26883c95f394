"""Columns of J by forward mode: equal to PyTorch's, windows proven wide enough, and the
pass by columns (the CPU's default) behaves like the pass by rows."""

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from cnninterp.jaxcore.model.network import model_logits
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.rows import columns, linear
from tests.jaxcore.nothing_cancels import open_network
from tests.jaxcore.torch_reference import Pair, relative_error

# Input pixels at every corner, edge and stride phase (q mod 4) of a 48x48 image.
PIXELS = [(0, 0), (0, 47), (47, 0), (47, 47), (1, 2), (22, 23), (13, 40), (30, 5), (46, 29)]


def torch_column(pair: Pair, image: np.ndarray, qy: int, qx: int) -> np.ndarray:
    def probability(pixels):
        return torch.softmax(pair.torch_model(pixels[None, None]), dim=1)[0, 1]

    tangent = torch.zeros(image.shape)
    tangent[qy, qx] = 1.0
    _, column = torch.autograd.functional.jvp(probability, torch.tensor(image), tangent)
    return column.numpy()


def jax_columns(explainer: Explainer, image: np.ndarray, pixels) -> np.ndarray:
    probs, masks = explainer.linearised(image)
    qys, qxs = (jnp.asarray(v) for v in np.asarray(pixels).T)
    return np.asarray(explainer.passes.kernels.columns(probs, masks, qys, qxs)["columns"])


@pytest.mark.parametrize("width", [4, 8])
def test_columns_match_torch_forward_mode(width):
    pair = Pair(width, seed=width)
    image = np.random.default_rng(width).random((48, 48), dtype=np.float32)
    got = jax_columns(pair.explainer, image, PIXELS)
    for column, (qy, qx) in zip(got, PIXELS, strict=True):
        assert relative_error(column, torch_column(pair, image, qy, qx)) < 1e-4


def test_all_columns_are_the_transposed_rows(small_pair):
    image = np.random.default_rng(3).random((64, 64), dtype=np.float32)
    explainer = small_pair.explainer
    pixels = np.stack(np.indices((64, 64)).reshape(2, -1), axis=1)
    by_columns = np.concatenate(
        [jax_columns(explainer, image, pixels[i : i + 512]) for i in range(0, 4096, 512)]
    ).reshape(4096, 4096)
    by_rows = explainer.gradient_rows(image, pixels[::37]).reshape(-1, 4096)
    assert relative_error(by_columns.T[::37], by_rows) < 1e-5


def test_windows_hold_the_whole_tangent():
    # All weights positive and every ReLU open: nothing cancels, so any part of a tangent
    # that fell outside its window would be missing from the column.
    config, variables, _, masks = open_network(48, 48)
    image = jnp.ones((48, 48), jnp.float32)
    layers = linear.folded_layers(config, variables)
    ones = jnp.ones((48, 48, config.classes), jnp.float32)  # sum of the logits' tangents
    prepared = linear.prepared_masks(masks)
    pixels = np.stack(np.indices((48, 48)).reshape(2, -1), axis=1)

    @jax.jit
    def windowed(qys, qxs):
        one = lambda qy, qx: columns.column(config, layers, ones, prepared, qy, qx)  # noqa: E731
        return jax.vmap(one)(qys, qxs)

    got = np.concatenate(
        [np.asarray(windowed(*jnp.asarray(pixels[i : i + 576].T))) for i in range(0, 2304, 576)]
    ).reshape(2304, 2304)
    summed_logits = lambda im: model_logits(config, variables, im).sum(-1)  # noqa: E731
    expected = np.asarray(jax.jacfwd(summed_logits)(image)).reshape(2304, 2304).T
    assert (expected > 0).mean() > 0.9  # the tangents really reach far
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_a_cancelled_column_pass_keeps_its_preview_rows(small_pair):
    explainer = Explainer(small_pair.config, small_pair.variables, chunk_size=16)
    assert explainer.full_pass == "columns"  # the CPU's default
    image = np.random.default_rng(11).random((32, 32), dtype=np.float32)
    cancel = threading.Event()
    seen = []

    def on_progress(stats):
        seen.append(stats.fraction_done)
        if len(seen) == 3:  # the preview's one chunk, then two chunks of columns
            cancel.set()

    stats = explainer.jacobian_stats(image, on_progress=on_progress, cancel=cancel)
    assert not stats.complete
    assert stats.done.sum() == 16 and stats.done[::8, ::8].all()  # the preview rows
    assert seen == sorted(seen) and 0 < seen[-1] < 1
    np.testing.assert_allclose(
        stats.row(8, 16), explainer.gradient_row(image, 8, 16), rtol=1e-5, atol=1e-9
    )


def test_full_pass_kind_is_checked(small_pair):
    with pytest.raises(ValueError, match="full_pass"):
        Explainer(small_pair.config, small_pair.variables, full_pass="diagonal")


@pytest.mark.slow
def test_full_size_columns_match_torch():
    pair = Pair(width=64, seed=1)
    image = np.random.default_rng(1).random((64, 64), dtype=np.float32)
    pixels = [(0, 63), (37, 18)]
    for column, (qy, qx) in zip(jax_columns(pair.explainer, image, pixels), pixels, strict=True):
        assert relative_error(column, torch_column(pair, image, qy, qx)) < 1e-4


def test_both_passes_agree_on_a_wide_image(small_pair):
    # 32x144: colours of two members (COLOUR_SPACING 128) in the rows' preview, every window
    # phase along x, and windows reaching past both ends of the short side.
    image = np.random.default_rng(13).random((32, 144), dtype=np.float32)
    by = {
        kind: Explainer(small_pair.config, small_pair.variables, full_pass=kind).jacobian_stats(
            image
        )
        for kind in ("columns", "rows")
    }
    assert by["columns"].complete and by["columns"].done.all()
    assert relative_error(by["columns"].rows, by["rows"].rows) < 1e-5
    assert relative_error(by["columns"].sorted_abs, by["rows"].sorted_abs) < 1e-5
