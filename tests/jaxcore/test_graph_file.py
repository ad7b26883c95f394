"""The generic model file: what is written is read back, and every kind of damage is refused
with a message that names it."""

import json
from dataclasses import replace

import numpy as np
import pytest
from safetensors.numpy import save_file

from cnninterp.jaxcore.model.graph import Graph, Node
from cnninterp.jaxcore.model.graph_file import (
    GraphConfig,
    load_graph_model,
    model_kind,
    read_raw_header,
    save_graph_model,
)
from cnninterp.jaxcore.model.model_file import ModelFileError, save_model
from cnninterp.jaxcore.model.network import ModelConfig, random_variables


def tiny_graph() -> Graph:
    conv = Node(
        "conv",
        "conv2d",
        {
            "input": {"value": "x"},
            "weight": {"value": "head.weight"},
            "bias": {"value": "head.bias"},
            "stride": [1, 1],
            "padding": [1, 1],
            "dilation": [1, 1],
            "groups": 1,
        },
        "head",
    )
    return Graph("x", "conv", (conv,), ("head.weight", "head.bias"))


def tiny_weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "head.weight": rng.standard_normal((2, 3, 3, 3)).astype(np.float32),
        "head.bias": np.zeros(2, np.float32),
    }


CONFIG = GraphConfig(
    input_channels=3,
    classes=2,
    activation="softmax",
    class_names=("background", "vessel"),
    normalize={"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    explained_class=1,
    size_multiple=1,
    receptive_radius=1,
    receptive_reason="local",
)


@pytest.fixture
def written(tmp_path):
    path = tmp_path / "model.safetensors"
    save_graph_model(path, tiny_graph(), tiny_weights(), CONFIG, {"source_file": "m.pt2"})
    return path


def rewrite(path, *, header=None, tensors=None):
    """The file at `path` written again with its header edited by `header(dict)` and its
    tensors replaced by `tensors` (neither: unchanged)."""
    raw = read_raw_header(path)
    if header is not None:
        header(raw)
    from safetensors.numpy import load_file

    flat = load_file(str(path)) if tensors is None else tensors
    save_file(flat, str(path), metadata={"cnninterp": json.dumps(raw)})


def test_round_trip(written):
    loaded = load_graph_model(written)
    assert loaded.config == CONFIG
    assert loaded.graph == tiny_graph()
    assert loaded.info == {"source_file": "m.pt2"}
    for name, array in tiny_weights().items():
        np.testing.assert_array_equal(loaded.weights[name], array)
    assert model_kind(written) == "graph"


def test_floats_are_stored_as_float32_and_unused_defaults_fill_in(tmp_path):
    path = tmp_path / "m.safetensors"
    weights = {k: v.astype(np.float64) for k, v in tiny_weights().items()}
    config = GraphConfig(input_channels=3, classes=2, activation="logits")
    save_graph_model(path, tiny_graph(), weights, config)
    loaded = load_graph_model(path)
    assert {a.dtype for a in loaded.weights.values()} == {np.dtype(np.float32)}
    assert loaded.config == config and loaded.config.receptive_radius is None


def test_seed_files_are_told_apart(tmp_path):
    seed = tmp_path / "seed.safetensors"
    save_model(seed, ModelConfig(width=2), random_variables(ModelConfig(width=2), 0))
    assert model_kind(seed) == "seed"
    with pytest.raises(ModelFileError, match="not a generic cnninterp model file"):
        load_graph_model(seed)


def test_not_a_model_file(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFileError, match="not a cnninterp model file"):
        model_kind(path)
    with pytest.raises(ModelFileError, match="no such model file"):
        load_graph_model(tmp_path / "absent.safetensors")


def test_damaged_header_json(written):
    data = bytearray(written.read_bytes())
    data[20:30] = b"#" * 10  # inside the JSON header
    written.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="not a cnninterp model file"):
        load_graph_model(written)


def test_newer_format_refused(written):
    rewrite(written, header=lambda h: h.update(format_version=99))
    with pytest.raises(ModelFileError, match="newer than this cnninterp"):
        load_graph_model(written)


def test_unknown_op_in_graph_refused(written):
    def edit(header):
        header["graph"]["nodes"][0]["op"] = "fft2"

    rewrite(written, header=edit)
    with pytest.raises(ModelFileError, match="graph cannot be used.*fft2"):
        load_graph_model(written)


def test_missing_tensor(written):
    rewrite(written, tensors={"head.weight": tiny_weights()["head.weight"]})
    with pytest.raises(ModelFileError, match="head.bias missing"):
        load_graph_model(written)


def test_unexpected_tensor(written):
    rewrite(written, tensors=tiny_weights() | {"extra": np.zeros(2, np.float32)})
    with pytest.raises(ModelFileError, match="extra unexpected"):
        load_graph_model(written)


def test_wrong_dtype(written):
    weights = tiny_weights() | {"head.bias": np.zeros(2, np.float16)}
    rewrite(written, tensors=weights)
    with pytest.raises(ModelFileError, match="head.bias is float16, expected float32"):
        load_graph_model(written)


def test_non_finite_weight(written):
    weights = tiny_weights()
    weights["head.weight"][0, 0, 0, 0] = np.nan
    rewrite(written, tensors=weights)
    with pytest.raises(ModelFileError, match="head.weight holds 1 NaN"):
        load_graph_model(written)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"classes": 0}, "classes 0 must be in 1..4096"),
        ({"activation": "relu"}, "activation 'relu' is not one of"),
        ({"explained_class": 2}, "explained_class 2 must be in 0..1"),
        ({"class_names": ["a"]}, "class_names has 1 names for 2 classes"),
        ({"normalize": {"mean": [0, 0, 0], "std": [1, 0, 1]}}, "std must be positive"),
        ({"normalize": {"mean": [0], "std": [1]}}, "mean has 1 values for 3 channels"),
        ({"size_multiple": 0}, "size_multiple 0 must be in"),
        ({"receptive_radius": -1}, "receptive_radius must be"),
        ({"colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_invalid_config(written, change, message):
    rewrite(written, header=lambda h: h["config"].update(change))
    with pytest.raises(ModelFileError, match=message):
        load_graph_model(written)


def test_missing_config_field(written):
    rewrite(written, header=lambda h: h["config"].pop("activation"))
    with pytest.raises(ModelFileError, match="activation missing"):
        load_graph_model(written)


def test_written_atomically_over_an_old_file(written):
    save_graph_model(written, tiny_graph(), tiny_weights(), replace(CONFIG, explained_class=0))
    assert load_graph_model(written).config.explained_class == 0
    assert [p.name for p in written.parent.iterdir()] == [written.name]
