"""The model seam: the seed architecture's record, and the Explainer taking a model through it."""

from dataclasses import replace

import jax.numpy as jnp
import numpy as np
import pytest

from cnninterp.jaxcore.model import receptive_field
from cnninterp.jaxcore.model.network import SIZE_MULTIPLE, ModelConfig, vessel_probability
from cnninterp.jaxcore.model.seam import SegmentationModel, activate
from cnninterp.jaxcore.model.seed import seed_model
from cnninterp.jaxcore.passes.explainer import Explainer


def test_the_seed_record_describes_the_architecture(small_pair):
    config = replace(small_pair.config, vessel_class=0)
    model = seed_model(config, small_pair.variables)
    assert (model.input_channels, model.classes, model.explained_class) == (1, 2, 0)
    assert model.activation == "softmax" and model.size_multiple == SIZE_MULTIPLE == 16
    assert model.receptive_radius == receptive_field.radius() == 62
    assert model.architecture is config and model.params is small_pair.variables


def test_the_seed_records_apply_and_activation_are_the_networks(small_pair, image32):
    model = seed_model(small_pair.config, small_pair.variables)
    logits = model.apply(model.params, jnp.asarray(image32)[None, :, :, None])[0]
    explained = np.asarray(model.scores(logits)[..., model.explained_class])
    expected = np.asarray(
        vessel_probability(small_pair.config, small_pair.variables, jnp.asarray(image32))
    )
    np.testing.assert_array_equal(explained, expected)


def test_an_explainer_of_the_seed_record_is_the_explainer_of_its_config(small_pair, image32):
    explainer = Explainer(seed_model(small_pair.config, small_pair.variables))
    assert explainer.config is small_pair.config and explainer.model.architecture is not None
    np.testing.assert_array_equal(
        explainer.gradient_row(image32, 5, 30), small_pair.explainer.gradient_row(image32, 5, 30)
    )
    np.testing.assert_array_equal(
        explainer.probability(image32), small_pair.explainer.probability(image32)
    )


@pytest.fixture(scope="module")
def generic_seed(small_pair) -> Explainer:
    """The seed's network as any other model: no architecture, so the generic rows
    (rows/generic.py: reverse mode over its apply function) serve it."""
    seed = seed_model(small_pair.config, small_pair.variables)
    return Explainer(replace(seed, architecture=None))


def test_a_model_without_the_seeds_fast_paths_takes_the_generic_rows(generic_seed):
    assert generic_seed.config is None and generic_seed.kit.crops is False
    assert generic_seed.kit.columns is False and generic_seed.full_pass == "rows"
    assert generic_seed.description["activation"] == "softmax"


def test_generic_rows_equal_the_seeds_fast_paths(small_pair, generic_seed, image32, jacobian32):
    np.testing.assert_allclose(
        generic_seed.probability(image32), small_pair.explainer.probability(image32), atol=1e-6
    )
    pixels = [(5, 30), (0, 0), (31, 17)]
    rows = generic_seed.gradient_rows(image32, pixels)
    jacobian = jacobian32.reshape(32, 32, 32, 32)
    for row, (y, x) in zip(rows, pixels, strict=True):
        np.testing.assert_allclose(row, jacobian[y, x], atol=1e-5 * np.abs(jacobian).max())
    np.testing.assert_array_equal(generic_seed.gradient_row(image32, 5, 30), rows[0])


def test_the_generic_pass_by_colours_equals_the_jacobian(generic_seed, image32, jacobian32):
    stats = generic_seed.jacobian_stats(image32)  # no columns for generic models: by rows
    assert stats.complete and stats.rows is not None
    rows = stats.rows.reshape(jacobian32.shape)
    np.testing.assert_allclose(rows, jacobian32, atol=1e-5 * np.abs(jacobian32).max())


def test_generic_colours_separate_their_members(small_pair, generic_seed):
    """At 160x160 a colour of the seed (radius 62, spacing 126) has four members: one
    backward pass, split by windows, gives each member's own row."""
    image = np.random.default_rng(1).random((160, 160), dtype=np.float32)
    kit, model = generic_seed.kit, generic_seed.model
    assert kit.colour_spacing == 2 * receptive_field.radius() + 2
    probs, state = kit.forward(kit.static, model.params, jnp.asarray(image))
    rows, valid = kit.colour_rows(kit.static, model.params, probs, state, 3, 100)
    assert np.asarray(valid).tolist() == [True, False, True, False]
    expected = small_pair.explainer.gradient_rows(image, [(3, 100), (129, 100)])
    for got, want in zip(np.asarray(rows)[[0, 2]], expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max())


def test_a_seed_record_that_is_not_a_softmax_is_refused(small_pair):
    seed = seed_model(small_pair.config, small_pair.variables)
    with pytest.raises(ValueError, match="differentiate a softmax"):
        Explainer(replace(seed, activation="sigmoid"))


def test_the_explained_class_is_the_records(small_pair, image32):
    seed = seed_model(small_pair.config, small_pair.variables)
    explainer = Explainer(replace(seed, explained_class=0))
    assert explainer.config.vessel_class == 0
    other = 1.0 - small_pair.explainer.probability(image32)  # two classes
    np.testing.assert_allclose(explainer.probability(image32), other, atol=1e-6)


def test_the_size_multiple_comes_from_the_model(small_pair):
    model = seed_model(ModelConfig(width=4), small_pair.variables)
    explainer = Explainer(replace(model, size_multiple=32))
    with pytest.raises(ValueError, match="multiple of 32"):
        explainer.probability(np.zeros((48, 48), np.float32))


def test_a_record_that_cannot_be_explained_is_refused(small_pair):
    model = seed_model(small_pair.config, small_pair.variables)
    with pytest.raises(ValueError, match="class 2 does not exist"):
        replace(model, explained_class=2)
    # The tests check type hints at run time (jaxtyping's TypeCheckError, a TypeError) before
    # __post_init__ would raise its ValueError.
    with pytest.raises((TypeError, ValueError), match="activation"):
        replace(model, activation="relu")


def test_the_activations():
    logits = jnp.asarray([[0.5, -1.0, 2.0]])
    np.testing.assert_allclose(activate("softmax", logits).sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(activate("sigmoid", logits), 1 / (1 + np.exp(-logits)), rtol=1e-6)
    assert activate("logits", logits) is logits
    assert SegmentationModel.__hash__ is object.__hash__  # by identity: params are arrays
