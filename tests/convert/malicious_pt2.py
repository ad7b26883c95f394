"""Real .pt2 files edited to run code, one per route torch.export.load would take: the reader
tests (test_pt2_file.py) and the command-line tests (test_convert_safety_cli.py) craft them here.

Each crafting function takes a real export's bytes (tiny_export) and the path of a marker file
the payload would create, and returns the edited archive. `torch_runs_it` shows torch really
runs each payload, so a refusal is of a live attack, not of a file torch rejects anyway.
"""

import io
import json
import pickle
import warnings
import zipfile
from pathlib import Path

import torch

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
def scaled(x: torch.Tensor, marker: str) -> torch.Tensor:
    """2 x; running it creates the file `marker` (when not empty): code outside ATen."""
    if marker:
        Path(marker).touch()
    return 2 * x


@scaled.register_fake
def _(x, marker):
    return torch.empty_like(x)


class CustomOpLayer(torch.nn.Module):
    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def forward(self, x):
        return scaled(x, self.marker)


class WithCustomOp(torch.nn.Module):
    def __init__(self, marker: str = ""):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 1)
        self.scale = CustomOpLayer(marker)

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


def tiny_export() -> tuple[Tiny, bytes]:
    """Tiny with seeded weights and non-trivial BatchNorm state, and its .pt2 bytes."""
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


def payload(marker: Path) -> str:
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


def pickled_weight(data: bytes, marker: Path, name: str = "down.weight") -> bytes:
    """Weight `name` flagged use_pickle, its bytes a pickle that calls exec."""

    def flag(config):
        config["config"][name]["use_pickle"] = True

    data = edit_json(data, WEIGHTS_CONFIG, flag)
    config = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(f"archive/{WEIGHTS_CONFIG}"))
    weight = config["config"][name]["path_name"]
    evil = pickle.dumps(RunsCodeWhenUnpickled(marker), protocol=2)  # dumps only: never loaded
    return rewrite(data, {f"data/weights/{weight}": evil})


def pickled_sample_inputs(data: bytes, marker: Path) -> bytes:
    """Sample inputs that torch.export.load falls back to unpickling: its data.pkl imports
    builtins.exec."""
    evil = io.BytesIO()
    torch.save(RunsCodeWhenUnpickled(marker), evil)
    return rewrite(data, {SAMPLE_INPUTS: evil.getvalue()})


def code_in_a_shape_expression(data: bytes, marker: Path) -> bytes:
    """A FloorDiv shape expression (which torch evaluates with sympy's eval) made a call."""

    def inject(model_json):
        values = model_json["graph_module"]["graph"]["sym_int_values"].values()
        expression = next(v for v in values if "FloorDiv" in v["as_expr"]["expr_str"])
        expression["as_expr"]["expr_str"] = payload(marker)

    return edit_json(data, MODEL_JSON, inject)


def code_in_a_guard(data: bytes, marker: Path) -> bytes:
    """A shape guard (Python source torch compiles and runs on each call) that makes a call."""

    def inject(model_json):
        model_json["guards_code"].append(f"{payload(marker)} is None")

    return edit_json(data, MODEL_JSON, inject)


def custom_op_export(marker: Path | str = "") -> bytes:
    """A real export calling cnninterp_test::scaled, whose kernel creates `marker`."""
    torch.manual_seed(0)
    return export_bytes(WithCustomOp(str(marker)))


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
