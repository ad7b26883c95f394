"""read_pt2 on real exports, on exports edited to carry code, and on damaged archives.

Each malicious file is a real .pt2 with one member rewritten. The test first shows read_pt2
refuses it and the payload's marker file does not exist, then (where torch has that route)
that torch.export.load really would have run it: the marker appears. So the refusal is of a
live attack, not of a file torch would have rejected anyway.
"""

import io
import json
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cnninterp.convert import pt2_file
from cnninterp.convert.errors import BadModelFile, ConversionError, UnsafeModelFile
from cnninterp.convert.pt2_file import read_pt2, read_pt2_bytes

MODEL_JSON = "models/model.json"
WEIGHTS_CONFIG = "data/weights/model_weights_config.json"
SAMPLE_INPUTS = "data/sample_inputs/model.pt"


class Tiny(torch.nn.Module):
    """Shape arithmetic (guards, FloorDiv expressions), a transposed parameter, a
    non-persistent buffer, an int64 buffer and a lifted tensor constant."""

    def __init__(self):
        super().__init__()
        self.down = torch.nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.norm = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Conv2d(4, 2, 1)
        self.mix = torch.nn.Parameter(torch.randn(2, 2).t())  # non-contiguous strides
        self.register_buffer("shift", torch.randn(2), persistent=False)

    def forward(self, x):
        y = torch.relu(self.norm(self.down(x)))
        y = torch.nn.functional.interpolate(y, size=(x.shape[2] // 2 * 2, x.shape[3]))
        y = torch.einsum("bchw,cd->bdhw", self.head(y), self.mix)
        return (y + self.shift[None, :, None, None]) * torch.tensor([1.0, 2.0])[None, :, None, None]


@torch.library.custom_op("cnninterp_test::scaled", mutates_args=())
def scaled(x: torch.Tensor) -> torch.Tensor:
    return 2 * x


@scaled.register_fake
def _(x):
    return torch.empty_like(x)


class CustomOpLayer(torch.nn.Module):
    def forward(self, x):
        return scaled(x)


class WithCustomOp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 1)
        self.scale = CustomOpLayer()

    def forward(self, x):
        return self.scale(self.conv(x))


class RunsCodeWhenUnpickled:
    """Unpickling this calls exec, which would create `marker`; only ever pickled here."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def export_bytes(model: torch.nn.Module) -> bytes:
    dims = {2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No complete tensor found": the transposed parameter
        program = torch.export.export(
            model.eval(), (torch.randn(1, 1, 16, 16),), dynamic_shapes=(dims,)
        )
        buffer = io.BytesIO()
        torch.export.save(program, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = Tiny().eval()
    with torch.no_grad():
        model.norm.running_mean.copy_(torch.randn(4))
        model.norm.num_batches_tracked.fill_(7)
    return model, export_bytes(model)


def rewrite(data: bytes, edits: dict[str, bytes | None]) -> bytes:
    """The archive with members (paths under its root) replaced or, with None, removed; a
    path not yet there is added."""
    edits = dict(edits)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        root = source.namelist()[0].split("/")[0]
        for info in source.infolist():
            path = info.filename.split("/", 1)[1]
            blob = edits.pop(path, source.read(info))
            if blob is not None:
                target.writestr(info.filename, blob)
        for path, blob in edits.items():
            target.writestr(f"{root}/{path}", blob)
    return out.getvalue()


def edit_json(data: bytes, path: str, change) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        root = archive.namelist()[0].split("/")[0]
        value = json.loads(archive.read(f"{root}/{path}"))
    change(value)
    return rewrite(data, {path: json.dumps(value).encode()})


def torch_runs_it(data: bytes, marker: Path) -> bool:
    """Whether torch.export.load (and calling the module) creates `marker`; removes it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.export.load(io.BytesIO(data)).module()(torch.randn(1, 1, 16, 16))
        except Exception:  # the payload has run by the time torch trips over what it returned
            pass
    ran = marker.exists()
    marker.unlink(missing_ok=True)
    return ran


def payload(marker: Path) -> str:
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


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

    def flag(config):
        config["config"]["down.weight"]["use_pickle"] = True

    data = edit_json(tiny[1], WEIGHTS_CONFIG, flag)
    name = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(f"archive/{WEIGHTS_CONFIG}"))
    weight = name["config"]["down.weight"]["path_name"]
    evil = pickle.dumps(RunsCodeWhenUnpickled(marker), protocol=2)  # dumps only: never loaded
    data = rewrite(data, {f"data/weights/{weight}": evil})
    assert_unsafe(data, r"'down\.weight' is stored as a pickle \(use_pickle\)", marker)
    assert torch_runs_it(data, marker)


def test_sample_inputs_that_run_code_are_refused_unrun(tiny, tmp_path):
    marker = tmp_path / "MARKER"
    evil = io.BytesIO()
    torch.save(RunsCodeWhenUnpickled(marker), evil)  # its data.pkl imports builtins.exec
    data = rewrite(tiny[1], {SAMPLE_INPUTS: evil.getvalue()})
    assert_unsafe(data, r"sample-input pickle imports builtins\.exec", marker)
    assert torch_runs_it(data, marker)


def test_code_in_a_shape_expression_is_refused_unrun(tiny, tmp_path):
    marker = tmp_path / "MARKER"

    def inject(model_json):
        values = model_json["graph_module"]["graph"]["sym_int_values"].values()
        next(v for v in values if "FloorDiv" in v["as_expr"]["expr_str"])["as_expr"]["expr_str"] = (
            payload(marker)
        )

    data = edit_json(tiny[1], MODEL_JSON, inject)
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

    def inject(model_json):
        model_json["guards_code"].append(f"{payload(marker)} is None")

    data = edit_json(tiny[1], MODEL_JSON, inject)
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


def test_an_operator_outside_aten_is_refused_by_name_and_layer():
    torch.manual_seed(0)
    data = export_bytes(WithCustomOp())
    with pytest.raises(
        UnsafeModelFile,
        match=r"layer scale \(.*CustomOpLayer\) calls the "
        r"operator torch\.ops\.cnninterp_test\.scaled\.default",
    ):
        read_pt2_bytes(data)


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
