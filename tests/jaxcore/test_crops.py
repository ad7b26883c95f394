"""Rows on the receptive field (crops.py): exactly today's whole-image rows and PyTorch's, at
corners, edges, inside and every stride phase; one compilation per crop size; batching."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnninterp.jaxcore.model import receptive_field
from cnninterp.jaxcore.model.network import SIZE_MULTIPLE, ModelConfig, model_logits
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.rows import crops, gradients
from tests.jaxcore.nothing_cancels import positive_variables
from tests.jaxcore.torch_reference import relative_error


def test_every_phase_reaches_exactly_its_derived_interval():
    # All weights positive, all ReLUs open: the measured support is the true one.
    config = ModelConfig(width=2)
    variables = positive_variables(config)
    image = jnp.ones((224, 224), jnp.float32)
    logits, pull_back = jax.vjp(lambda im: model_logits(config, variables, im)[..., 1], image)
    base = 96
    for phase in range(SIZE_MULTIPLE):
        y, x = base + phase, base + (phase * 7) % SIZE_MULTIPLE
        (row,) = pull_back(jnp.zeros_like(logits).at[y, x].set(1.0))
        ys, xs = np.nonzero(np.asarray(row))
        assert (ys.min(), ys.max()) == receptive_field.field_interval(y)
        assert (xs.min(), xs.max()) == receptive_field.field_interval(x)
    assert receptive_field.radius() == gradients.RF_RADIUS


def test_every_crop_holds_its_pixels_field_and_starts_on_the_stride():
    size = receptive_field.crop_size()
    for length in (160, 272, 592):
        ys = np.arange(length)
        origins = receptive_field.crop_origin(ys, length)
        assert (origins % SIZE_MULTIPLE == 0).all()
        assert ((origins >= 0) & (origins + size <= length)).all()
        for y, origin in zip(ys, origins, strict=True):
            low, high = receptive_field.field_interval(int(y))
            assert origin <= max(low, 0) and min(high, length - 1) < origin + size


def _probe_pixels(height: int, width: int) -> list[tuple[int, int]]:
    """Corners, and every stride phase near the top/left edge, inside and near the bottom/right
    edge along each axis."""
    ys = [r + base for base in (0, height // 2 - 8, height - 16) for r in range(16)]
    xs = [r + base for base in (0, width // 2 - 8, width - 16) for r in range(16)]
    xs = xs[7:] + xs[:7]  # pair phases differently along the two axes
    corners = [(0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1)]
    return corners + list(zip(ys, xs, strict=True))


@pytest.mark.parametrize("shape", [(208, 160), (272, 96), (64, 64), (32, 32), (16, 16)])
def test_cropped_rows_equal_whole_image_rows(small_pair, shape):
    image = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32)
    explainer = small_pair.explainer
    pixels = _probe_pixels(*shape) if min(shape) >= 32 else [(0, 0), (15, 15), (7, 12), (3, 9)]
    got = explainer.gradient_rows(image, pixels)
    probs, masks = explainer.linearised(image)
    whole = jax.jit(
        lambda ys, xs: crops.rows_on_image(
            small_pair.config, small_pair.variables, probs, masks, ys, xs
        )
    )
    ys, xs = (jnp.asarray(v, jnp.int32) for v in np.asarray(pixels).T)
    expected = np.asarray(whole(ys, xs))
    for row, want in zip(got, expected, strict=True):
        assert relative_error(row, want) < 1e-5
        assert (row[want == 0] == 0).all()  # nothing pasted where the row is zero
    assert crops.is_cropped(*shape) == (max(shape) > receptive_field.crop_size())


@pytest.mark.parametrize("shape", [(208, 160), (16, 16)])
def test_cropped_rows_match_torch_autograd(small_pair, shape):
    image = np.random.default_rng(11).random(shape, dtype=np.float32)
    height, width = shape
    for y, x in [(0, 0), (height - 1, width // 2), (height // 2 + 5, width - 3)]:
        row = small_pair.explainer.gradient_row(image, y, x)
        assert relative_error(row, small_pair.torch_row(image, y, x)) < 1e-4


@pytest.mark.parametrize("constants", [True, False], ids=["weights-constant", "weights-argument"])
def test_one_compilation_per_crop_size_not_per_image_size(small_pair, constants):
    """Both bindings: the weights as constants (the CPU's) and as arguments (GPUs')."""
    explainer = Explainer(small_pair.config, small_pair.variables, weights_as_constants=constants)
    rng = np.random.default_rng(12)
    for shape in [(160, 160), (176, 208), (272, 160)]:
        explainer.gradient_row(rng.random(shape, dtype=np.float32), 100, 150)
    compiled = explainer.rows.compilations()
    assert compiled["rows_on_crops"] == 1
    assert compiled["row"] == 0  # the whole-image row was never compiled


def test_many_rows_go_in_few_batched_calls(small_pair):
    explainer = Explainer(small_pair.config, small_pair.variables)
    image = np.random.default_rng(13).random((160, 160), dtype=np.float32)
    calls = []
    rows_on_crops = explainer.rows.rows_on_crops

    def counting(probs, masks, ys, xs):
        calls.append(len(ys))
        return rows_on_crops(probs, masks, ys, xs)

    explainer.rows.rows_on_crops = counting
    pixels = [(y, (7 * y) % 160) for y in range(0, 160, 8)]  # 20 pixels
    rows = explainer.gradient_rows(image, pixels)
    assert calls == [8, 8, 4]
    for k in (0, 9, 19):
        np.testing.assert_array_equal(rows[k], explainer.gradient_row(image, *pixels[k]))


def test_histogram_summaries_on_crops_equal_the_colouring_pass(small_pair):
    from cnninterp.jaxcore.passes.kernels import members as _members

    explainer = small_pair.explainer
    image = np.random.default_rng(14).random((160, 160), dtype=np.float32)
    probs, masks = explainer.linearised(image)
    offsets = np.array([3, 100], np.int32), np.array([127, 9], np.int32)
    coloured = jax.tree.map(
        np.asarray, explainer.passes.kernels.histogram_summaries(probs, masks, *offsets)
    )
    ys, xs, valid = _members(*offsets, 160, 160)
    ys, xs = ys[valid].astype(np.int32), xs[valid].astype(np.int32)
    origins = crops.crop_origins(ys, xs, 160, 160)
    on_crops = crops.histogram_summaries_on_crops(  # device arrays, as in the jitted pass
        small_pair.config,
        small_pair.variables,
        probs,
        masks,
        *(jnp.asarray(a) for a in (ys, xs, *origins)),
    )
    for name in ("row_max_abs", "row_max_signed", "edges"):
        np.testing.assert_allclose(on_crops[name], coloured[name][valid], rtol=1e-5)
    counts = np.asarray(on_crops["above_edges"]) - coloured["above_edges"][valid]
    assert np.abs(counts).max() <= 2  # edges equal to rounding: a value may sit on one


def test_the_pass_on_crops_summarises_each_row_it_reports(small_pair):
    import threading

    explainer = Explainer(small_pair.config, small_pair.variables, full_pass="rows")
    image = np.random.default_rng(15).random((144, 160), dtype=np.float32)
    cancel, seen = threading.Event(), []

    def progress(stats):
        seen.append(stats.fraction_done)
        if len(seen) == 3:
            cancel.set()

    stats = explainer.jacobian_stats(image, on_progress=progress, cancel=cancel)
    assert not stats.complete and 0 < stats.fraction_done < 1
    ys, xs = np.nonzero(stats.done)
    assert len(ys) == 3 * 8 and (ys % 8 == 0).all() and (xs % 8 == 0).all()  # coarse first
    rows = explainer.gradient_rows(image, np.stack([ys, xs], 1))
    for row, y, x in zip(rows, ys, xs, strict=True):
        flat = y * 160 + x
        assert stats.row_max_abs[y, x] == pytest.approx(np.abs(row).max(), rel=1e-5)
        counts = (np.abs(row).ravel()[None, :] > stats.edges[flat][:, None]).sum(axis=1)
        assert np.abs(stats.above_edges[flat][:-1] - counts).max() <= 2  # values on an edge
        assert stats.above_edges[flat][-1] == (row != 0).sum()
