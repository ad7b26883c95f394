"""read_pt2 on real exports, on exports edited to carry code, and on damaged archives.

Each malicious file is a real .pt2 with one member rewritten. The test first shows read_pt2
refuses it and the payload's marker file does not exist, then (where torch has that route)
that torch.export.load really would have run it: the marker appears. So the refusal is of a
live attack, not of a file torch would have rejected anyway.
"""

import io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cnninterp.convert import pt2_file
from cnninterp.convert.errors import BadModelFile, ConversionError, UnsafeModelFile
from cnninterp.convert.pt2_file import read_pt2, read_pt2_bytes
from tests.convert.malicious_pt2 import (
    MODEL_JSON,
    WEIGHTS_CONFIG,
    code_in_a_guard,
    code_in_a_shape_expression,
    custom_op_export,
    edit_json,
    payload,
    pickled_sample_inputs,
    pickled_weight,
    rewrite,
    tiny_export,
    torch_runs_it,
)


@pytest.fixture(scope="module")
def tiny():
    return tiny_export()


def test_a_real_export_reads_back_exactly(tiny, tmp_path):
    model, data = tiny
    path = tmp_path / "tiny.pt2"
    path.write_bytes(data)
    read = read_pt2(path)
    assert read_pt2_bytes(data).weights.keys() == read.weights.keys()
    expected = {**model.state_dict(), "shift": model.shift, "lifted_tensor_0": None}
    assert read.weights.keys() == expected.keys()
    for name, tensor in model.state_dict(keep_vars=False).items():
        assert read.weights[name].dtype == tensor.numpy().dtype, name
        np.testing.assert_array_equal(read.weights[name], tensor.numpy(), err_msg=name)
    np.testing.assert_array_equal(read.weights["mix"], model.mix.detach().numpy())
    np.testing.assert_array_equal(read.weights["shift"], model.shift.numpy())
    np.testing.assert_array_equal(read.weights["lifted_tensor_0"], [1.0, 2.0])
    assert read.weights["norm.num_batches_tracked"] == 7
    assert read.archive == "archive" and read.torch_version == torch.__version__
    assert read.model_json["guards_code"]  # real guards and FloorDiv strings were accepted
    assert "FloorDiv" in json.dumps(read.model_json["graph_module"]["graph"]["sym_int_values"])


def assert_unsafe(data: bytes, match: str, marker: Path) -> None:
    with pytest.raises(UnsafeModelFile, match=match) as refused:
        read_pt2_bytes(data, "evil.pt2")
    assert "nothing in it ran" in str(refused.value)
    assert isinstance(refused.value, ConversionError)
    assert not marker.exists()


def test_pickled_weight_is_refused_unrun(tiny, tmp_path):
    marker = tmp_path / "MARKER"
    data = pickled_weight(tiny[1], marker)
    assert_unsafe(data, r"'down\.weight' is stored as a pickle \(use_pickle\)", marker)
    assert torch_runs_it(data, marker)


def test_sample_inputs_that_run_code_are_refused_unrun(tiny, tmp_path):
    marker = tmp_path / "MARKER"
    data = pickled_sample_inputs(tiny[1], marker)
    assert_unsafe(data, r"sample-input pickle imports builtins\.exec", marker)
    assert torch_runs_it(data, marker)


def test_code_in_a_shape_expression_is_refused_unrun(tiny, tmp_path):
    marker = tmp_path / "MARKER"
    data = code_in_a_shape_expression(tiny[1], marker)
    assert_unsafe(data, r"shape expression is not plain sympy: .*__import__", marker)
    assert torch_runs_it(data, marker)


def test_code_in_a_range_constraint_is_refused(tiny, tmp_path):
    marker = tmp_path / "MARKER"

    def inject(model_json):
        model_json["range_constraints"][payload(marker)] = {"min_val": 2, "max_val": None}

    data = edit_json(tiny[1], MODEL_JSON, inject)
    assert_unsafe(data, r"range constraint is not a plain symbol: .*__import__", marker)


def test_code_in_a_guard_is_refused_unrun(tiny, tmp_path):
    marker = tmp_path / "MARKER"
    data = code_in_a_guard(tiny[1], marker)
    assert_unsafe(data, r"shape guard is not plain arithmetic: .*__import__", marker)
    assert torch_runs_it(data, marker)


@pytest.mark.parametrize(
    "guard",
    [
        "L['x'].size()[2].__class__ == 1",
        "L['x'].__dict__ != 0",
        "(lambda: 1)() == 1",
        "[c for c in ()] == []",
        "L[__import__('os').name].size()[0] == 1",
        "open('f') is None",
    ],
)
def test_guards_outside_the_grammar_are_refused(tiny, guard):
    data = edit_json(tiny[1], MODEL_JSON, lambda m: m["guards_code"].append(guard))
    with pytest.raises(UnsafeModelFile, match="shape guard"):
        read_pt2_bytes(data)


def test_an_operator_outside_aten_is_refused_by_name_and_layer(tmp_path):
    marker = tmp_path / "MARKER"
    data = custom_op_export(marker)
    with pytest.raises(
        UnsafeModelFile,
        match=r"layer scale \(.*CustomOpLayer\) calls the "
        r"operator torch\.ops\.cnninterp_test\.scaled\.default",
    ):
        read_pt2_bytes(data)
    assert not marker.exists()
    assert torch_runs_it(data, marker)


def test_a_custom_object_is_refused(tiny):
    def add(model_json):
        model_json["graph_module"]["graph"]["custom_obj_values"] = {"obj": {"name": "obj"}}

    with pytest.raises(UnsafeModelFile, match="custom object"):
        read_pt2_bytes(edit_json(tiny[1], MODEL_JSON, add))


def test_a_pickled_constant_is_refused(tiny):
    def point(config):
        config["config"]["shift"]["path_name"] = "opaque_obj_0"

    data = edit_json(tiny[1], "data/constants/model_constants_config.json", point)
    with pytest.raises(UnsafeModelFile, match="'shift' is stored as 'opaque_obj_0'"):
        read_pt2_bytes(data)


def weight_file(data: bytes, name: str) -> str:
    config = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(f"archive/{WEIGHTS_CONFIG}"))
    return "data/weights/" + config["config"][name]["path_name"]


def set_meta(data: bytes, name: str, **fields) -> bytes:
    return edit_json(
        data, WEIGHTS_CONFIG, lambda c: c["config"][name]["tensor_meta"].update(fields)
    )


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda d: b"not a zip at all", "not a .pt2 file"),
        (lambda d: d[: len(d) // 2], "not a .pt2 file"),
        (lambda d: rewrite(d, {MODEL_JSON: None}), "models/model.json is missing"),
        (lambda d: rewrite(d, {"data/aotinductor/model.so": b"\x7fELF"}), "AOTInductor"),
        (lambda d: rewrite(d, {"byteorder": b"big"}), "big-endian"),
        (lambda d: rewrite(d, {"archive_format": b"zip"}), "not a torch.export .pt2"),
        (lambda d: rewrite(d, {MODEL_JSON: b"{nope"}), "not valid JSON"),
        (lambda d: rewrite(d, {MODEL_JSON: b"[]"}), "not a JSON object"),
        (lambda d: rewrite(d, {weight_file(d, "down.weight"): b"\0" * 10}), "needs 144"),
        (lambda d: set_meta(d, "down.weight", dtype=10), "dtype code 10"),
        (lambda d: set_meta(d, "down.weight", layout=1), "sparse"),
        (
            lambda d: set_meta(
                d, "down.bias", sizes=[{"as_int": 10**6}] * 2, strides=[{"as_int": 0}] * 2
            ),
            r"needs 4000000000000",
        ),
        (lambda d: set_meta(d, "down.bias", storage_offset={"as_int": -1}), "negative"),
        (lambda d: set_meta(d, "down.bias", sizes=[{"as_expr": {"expr_str": "s0"}}]), "symbolic"),
    ],
    ids=[
        "not-a-zip",
        "truncated",
        "missing-member",
        "unknown-member",
        "big-endian",
        "not-pt2",
        "bad-json",
        "json-not-object",
        "truncated-weight",
        "complex-dtype",
        "sparse",
        "stride-0-bomb",
        "negative-offset",
        "symbolic-size",
    ],
)
def test_damaged_files_are_bad_model_files(tiny, damage, match):
    with pytest.raises(BadModelFile, match=match):
        read_pt2_bytes(damage(tiny[1]), "model.pt2")


def test_a_zip_bomb_is_refused_before_inflating(tiny):
    bomb = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(tiny[1])) as source, zipfile.ZipFile(bomb, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("archive/data/weights/weight_99", bytes(64 * 2**20), zipfile.ZIP_DEFLATED)
    with pytest.raises(BadModelFile, match="zip bomb"):
        read_pt2_bytes(bomb.getvalue())


def test_json_over_the_cap_is_refused(tiny, monkeypatch):
    monkeypatch.setattr(pt2_file, "MAX_JSON_BYTES", 1000)
    with pytest.raises(BadModelFile, match="models/model.json declares .* bytes, more than"):
        read_pt2_bytes(tiny[1])


@pytest.mark.parametrize("name", ["archive/../escape", "archive/a\\b", "/archive/abs"])
def test_odd_member_names_are_refused(tiny, name):
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(tiny[1])) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        info = zipfile.ZipInfo("placeholder")
        info.filename = name  # ZipInfo() would normalise it; an attacker's tool would not
        target.writestr(info, b"x")
    with pytest.raises(BadModelFile, match="unsafe name|not in one folder"):
        read_pt2_bytes(out.getvalue())


def test_a_duplicated_member_is_refused(tiny):
    out = io.BytesIO(tiny[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile: "Duplicate name"
        with zipfile.ZipFile(out, "a") as archive:
            archive.writestr("archive/models/model.json", b"{}")
    with pytest.raises(BadModelFile, match="appears twice"):
        read_pt2_bytes(out.getvalue())
