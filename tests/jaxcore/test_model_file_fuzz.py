"""jaxcore.model.model_file under hostile input: headers that disagree with their tensors, broken
weights, random bytes. The contract: load_model returns a usable model or raises
ModelFileError with one line naming the file and everything that is wrong."""

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from cnninterp.jaxcore.model.model_file import (
    FORMAT,
    ModelFileError,
    flatten_variables,
    load_model,
    save_model,
)
from cnninterp.jaxcore.model.network import ModelConfig, random_variables

FUZZ = settings(max_examples=30)  # the rest from the suite's profile (tests/conftest.py)
SMALL = ModelConfig(width=4)


@pytest.fixture(scope="module")
def small_flat() -> dict[str, np.ndarray]:
    return {
        k: np.ascontiguousarray(v, np.float32)
        for k, v in flatten_variables(random_variables(SMALL)).items()
    }


def write_model(path: Path, config: dict, flat: dict[str, np.ndarray]) -> Path:
    """A model file with exactly this header config and these tensors, however wrong."""
    header = {"format": FORMAT, "format_version": 1, "config": config, "info": {}}
    save_file(flat, str(path), metadata={"cnninterp": json.dumps(header)})
    return path


def refused(path: Path) -> str:
    with pytest.raises(ModelFileError) as exc:
        load_model(path)
    message = str(exc.value)
    assert str(path) in message and "\n" not in message
    return message


def test_a_valid_file_still_loads(tmp_path, small_flat):
    path = write_model(tmp_path / "ok.safetensors", asdict(SMALL), small_flat)
    config, variables, _ = load_model(path)
    assert config == SMALL and "batch_stats" in variables


def test_config_width_over_tensors_of_another_width(tmp_path, small_flat):
    path = write_model(tmp_path / "m.safetensors", asdict(ModelConfig(width=8)), small_flat)
    message = refused(path)
    assert "disagree with the header's config (width 8" in message
    assert "batch_stats/bn1/mean has shape (4,), expected (8,)" in message
    assert "and " in message and "more" in message  # many problems, listed then counted


def test_missing_unexpected_permuted_and_float64_tensors_in_one_message(tmp_path, small_flat):
    flat = dict(small_flat)
    del flat["params/final/bias"]
    flat["params/extra/kernel"] = np.zeros(3, np.float32)
    flat["params/conv1/kernel"] = np.ascontiguousarray(flat["params/conv1/kernel"].T)
    flat["params/final/kernel"] = flat["params/final/kernel"].astype(np.float64)
    message = refused(write_model(tmp_path / "m.safetensors", asdict(SMALL), flat))
    assert "params/final/bias missing" in message
    assert "params/extra/kernel unexpected" in message
    assert "params/conv1/kernel has shape (4, 1, 3, 3), expected (3, 3, 1, 4)" in message
    assert "params/final/kernel is float64, expected float32" in message


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"width": 0}, "width 0 must be in 1..4096"),
        ({"width": 4.0}, "width must be an integer"),
        ({"classes": 1}, "classes 1 must be in 2..4096"),
        ({"vessel_class": 2}, "vessel_class 2 must be in 0..1"),
        ({"vessel_class": -1}, "vessel_class -1 must be in 0..1"),
        ({"precision": "fp8"}, "precision 'fp8' is not one of highest, high, default"),
        ({"bn_eps": -1e-5}, "bn_eps must be a positive finite number"),
        ({"colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_invalid_config_refused_never_clamped(tmp_path, small_flat, change, expected):
    path = write_model(tmp_path / "m.safetensors", asdict(SMALL) | change, small_flat)
    message = refused(path)
    assert "invalid config in the header" in message and expected in message


def test_non_finite_weights_and_negative_variances_are_named(tmp_path, small_flat):
    flat = dict(small_flat)
    kernel = flat["params/resblock1/conv1/kernel"].copy()
    kernel.flat[0] = np.nan
    kernel.flat[1] = np.inf
    flat["params/resblock1/conv1/kernel"] = kernel
    flat["batch_stats/bn1/var"] = np.full_like(flat["batch_stats/bn1/var"], -0.5)
    message = refused(write_model(tmp_path / "m.safetensors", asdict(SMALL), flat))
    assert f"params/resblock1/conv1/kernel holds 1 NaN and 1 infinite of {kernel.size}" in message
    assert "batch_stats/bn1/var holds negative BatchNorm variances (min -0.5)" in message
    assert "the weights themselves are broken" in message


def test_save_model_round_trip_through_validation(tmp_path):
    path = tmp_path / "saved.safetensors"
    save_model(path, SMALL, random_variables(SMALL, seed=3))
    assert load_model(path)[0] == SMALL


# --- property-based -------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_are_a_model_file_error(tmp_path, data):
    path = tmp_path / "random.safetensors"
    path.write_bytes(data)
    refused(path)


@FUZZ
@given(
    config=st.dictionaries(
        st.sampled_from(["width", "classes", "vessel_class", "bn_eps", "precision", "x"]),
        st.one_of(
            st.integers(-3, 6),
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from(["highest", "high", "bf16", ""]),
            st.none(),
            st.booleans(),
        ),
    )
)
def test_random_configs_load_only_when_they_describe_the_tensors(tmp_path, small_flat, config):
    path = write_model(tmp_path / "m.safetensors", config, small_flat)
    try:
        loaded, _, _ = load_model(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert loaded.width == 4 and 0 <= loaded.vessel_class < loaded.classes


@FUZZ
@given(cut=st.integers(0, 4000), flip=st.integers(0, 255))
def test_truncated_or_flipped_files(tmp_path, small_flat, cut, flip):
    good = write_model(tmp_path / "good.safetensors", asdict(SMALL), small_flat).read_bytes()
    damaged = bytearray(good[: len(good) - cut])
    if damaged:
        damaged[flip % len(damaged)] ^= 0xFF
    path = tmp_path / "bad.safetensors"
    path.write_bytes(bytes(damaged))
    try:
        config, variables, _ = load_model(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    # A flip inside tensor data can leave a valid file; then every value is still finite.
    leaves = flatten_variables(variables).values()
    assert config == SMALL and all(np.isfinite(v).all() for v in leaves)
