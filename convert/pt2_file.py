"""Read a torch.export .pt2 archive as data, never loading it with torch.

torch.export.load runs code from the file four ways: it unpickles weights flagged use_pickle
(and pickled constants) with weights_only=False, falls back to weights_only=False for the
sample-input pickle, hands every shape expression string to sympy.sympify (an eval), and execs
the guards_code strings when the module is called. So this module opens the zip itself, reads
the JSON, and judges each of those routes before decoding a byte of the weights with numpy:
pickles are refused (the sample inputs are scanned and must hold plain tensors), and the code
strings are parsed with `ast` (parsing runs nothing) and must fit the small grammar that real
exports write. An operator outside ATen is refused too: its code is not in the file, so we can
neither check nor convert it. torch is imported nowhere here.

The zip is checked before reading: one root folder, plain member names, no duplicates, sizes
that agree with the compression and the declared tensor shapes, so a zip bomb or a truncated
weight is a BadModelFile with a message, not an out-of-memory or a wrong array.
"""

import io
import json
import math
import pickletools
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import ml_dtypes
import numpy as np

from cnninterp.convert.errors import BadModelFile, UnsafeModelFile
from cnninterp.convert.pickle_scan import SAFE_GLOBALS_SEEN, pickle_imports
from cnninterp.convert.pt2_code_strings import is_guard, is_sympy_expression


@dataclass(frozen=True)
class ExportedFile:
    """What a .pt2 file holds, read without running any of it."""

    model_json: dict
    """models/model.json parsed: the serialized graph, signature and range constraints."""
    weights: dict[str, np.ndarray]
    """Parameters, buffers and lifted tensor constants by state-dict name, in their own dtype."""
    archive: str
    """The archive's root folder (torch.export.save names it after the file)."""
    torch_version: str
    """The torch that exported it, as the file says."""


MAX_JSON_BYTES = 256 * 2**20
MAX_SAMPLE_INPUT_BYTES = 256 * 2**20
MAX_SMALL_BYTES = 4096  # archive_format, byteorder and the like
MAX_DEFLATE_RATIO = 200  # deflate tops out near 1000:1 on zeros; real weights barely shrink

# torch/_export/serde/schema.py ScalarType -> little-endian numpy dtype
DTYPES = {
    5: np.dtype("<i8"),
    4: np.dtype("<i4"),
    6: np.dtype("<f2"),
    7: np.dtype("<f4"),
    8: np.dtype("<f8"),
    12: np.dtype("bool"),
    13: np.dtype(ml_dtypes.bfloat16),
}
STRIDED_LAYOUT = 7
WEIGHTS_CONFIG = "data/weights/model_weights_config.json"
CONSTANTS_CONFIG = "data/constants/model_constants_config.json"
SAMPLE_INPUTS = "data/sample_inputs/model.pt"
MODEL_JSON = "models/model.json"
KNOWN_MEMBERS = re.compile(
    r"(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/model\.json|data/weights/[^/]+|data/constants/[^/]+|data/sample_inputs/model\.pt"
    r"|extra/[^/]+)\Z"  # extra/: torch.export.save(extra_files=...), never read here
)


def read_pt2(source: Path | str | BinaryIO, name: str | None = None) -> ExportedFile:
    """The graph and weights of a .pt2 at `source` (a path or a binary file object).

    Raises UnsafeModelFile for anything torch.export.load would run, BadModelFile for a
    damaged or unsupported file; `name` is how messages refer to it (the path by default).
    """
    label = name or (str(source) if isinstance(source, (str, Path)) else "the model file")
    try:
        with zipfile.ZipFile(source) as archive:
            return _read_archive(archive, label)
    except FileNotFoundError:
        raise BadModelFile(f"{label}: no such file.") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise BadModelFile(
            f"{label} is not a .pt2 file from torch.export.save, or it is truncated or "
            f"corrupt ({exc})."
        ) from None
    except (zlib.error, NotImplementedError, RuntimeError) as exc:  # bad deflate, encrypted
        raise BadModelFile(f"{label} is damaged: a zip member cannot be read ({exc}).") from None
    except OSError as exc:
        raise BadModelFile(f"{label}: cannot read it ({exc.strerror or exc}).") from None
    except (KeyError, TypeError, AttributeError, IndexError):
        # JSON of the wrong shape somewhere: the file was not written by torch.export.save
        raise BadModelFile(
            f"{label} is not a .pt2 file from torch.export.save: its JSON has an unexpected "
            "structure."
        ) from None


def read_pt2_bytes(data: bytes, name: str = "the model file") -> ExportedFile:
    """read_pt2 of an archive in memory (torch.export.save into io.BytesIO)."""
    return read_pt2(io.BytesIO(data), name)


def _read_archive(archive: zipfile.ZipFile, label: str) -> ExportedFile:
    root = _check_members(archive, label)
    member = _Members(archive, root, label)
    if member.text("archive_format") != "pt2":
        raise BadModelFile(f"{label} is a zip file but not a torch.export .pt2 archive.")
    if member.exists("byteorder") and member.text("byteorder") != "little":
        raise BadModelFile(f"{label} was saved on a big-endian machine; re-export it on x86/ARM.")
    if member.exists("data/weights/model.pt") or member.exists("data/constants/model.pt"):
        raise BadModelFile(
            f"{label} uses the old .pt2 layout that stores weights as a pickle, which cannot be "
            "checked without unpickling it; it was not loaded. Re-save it with "
            "torch.export.save from torch 2.6 or newer."
        )
    model_json = member.json(MODEL_JSON)
    weights_config = member.json(WEIGHTS_CONFIG).get("config", {})
    constants_config = member.json(CONSTANTS_CONFIG).get("config", {})
    _refuse_pickled_payloads(weights_config, WEIGHTS_CONFIG, "weight_", label)
    _refuse_pickled_payloads(constants_config, CONSTANTS_CONFIG, "tensor_", label)
    _refuse_code_in_graph(model_json, label)
    if member.exists(SAMPLE_INPUTS):
        _refuse_unsafe_sample_inputs(member.bytes(SAMPLE_INPUTS, MAX_SAMPLE_INPUT_BYTES), label)
    weights = {
        **_decode_payloads(weights_config, "data/weights/", member),
        **_decode_payloads(constants_config, "data/constants/", member),
    }
    _check_signature_names(model_json, weights, label)
    return ExportedFile(model_json, weights, root, str(model_json.get("torch_version", "")))


def _check_members(archive: zipfile.ZipFile, label: str) -> str:
    """The single root folder, after refusing odd names, duplicates and inflated sizes."""
    infos = [i for i in archive.infolist() if not i.is_dir()]
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise BadModelFile(f"{label} is not a valid .pt2 file: a zip member appears twice.")
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) != 1 or not all("/" in n for n in names):
        raise BadModelFile(f"{label} is not a .pt2 file: its members are not in one folder.")
    root = roots.pop()
    for info in infos:
        path = info.filename.split("/", 1)[1]
        parts = info.filename.split("/")
        if "\\" in info.filename or "\0" in info.filename or {"", ".", ".."} & set(parts):
            raise BadModelFile(f"{label} has a zip member with an unsafe name: {path!r}.")
        if not KNOWN_MEMBERS.match(path):
            raise BadModelFile(
                f"{label} holds {path!r}, which a model saved with torch.export.save does not; "
                "only plain exported programs are read (not AOTInductor or ExecuTorch packages)."
            )
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.file_size != info.compress_size) or (
            not stored and info.file_size > MAX_DEFLATE_RATIO * info.compress_size + 2**20
        ):
            raise BadModelFile(
                f"{label}: the zip member {path!r} declares {info.file_size} bytes from "
                f"{info.compress_size} stored bytes, which no real weight file does (a zip bomb?)."
            )
    return root


class _Members:
    """Reads of one archive's members, each bounded before any byte is read."""

    def __init__(self, archive: zipfile.ZipFile, root: str, label: str):
        self.archive, self.root, self.label = archive, root, label

    def exists(self, path: str) -> bool:
        return f"{self.root}/{path}" in self.archive.NameToInfo

    def size(self, path: str) -> int:
        if not self.exists(path):
            raise BadModelFile(f"{self.label} is not a complete .pt2 file: {path} is missing.")
        return self.archive.getinfo(f"{self.root}/{path}").file_size

    def bytes(self, path: str, limit: int) -> bytes:
        if self.size(path) > limit:
            raise BadModelFile(
                f"{self.label}: {path} declares {self.size(path)} bytes, more than the "
                f"{limit} a .pt2 file needs there."
            )
        return self.archive.read(f"{self.root}/{path}")

    def text(self, path: str) -> str:
        return self.bytes(path, MAX_SMALL_BYTES).decode("utf-8", "replace").strip()

    def json(self, path: str) -> dict:
        try:
            value = json.loads(self.bytes(path, MAX_JSON_BYTES))
        except (ValueError, RecursionError):
            raise BadModelFile(f"{self.label}: {path} is not valid JSON.") from None
        if not isinstance(value, dict):
            raise BadModelFile(f"{self.label}: {path} is not a JSON object.")
        return value


def _unsafe(label: str, what: str, member: str) -> UnsafeModelFile:
    return UnsafeModelFile(
        f"{label} was refused: {what} (in {member}). torch.export.load would run it; "
        "cnninterp did not load the file and nothing in it ran."
    )


def _refuse_pickled_payloads(config: dict, member: str, prefix: str, label: str) -> None:
    for fqn, meta in config.items():
        if not isinstance(meta, dict):
            raise BadModelFile(f"{label}: the entry {fqn!r} in {member} is not an object.")
        if meta.get("use_pickle") is not False:
            raise _unsafe(label, f"{fqn!r} is stored as a pickle (use_pickle)", member)
        if not re.fullmatch(prefix + r"\d+", str(meta.get("path_name"))):
            raise _unsafe(
                label, f"{fqn!r} is stored as {meta.get('path_name')!r}, not a raw tensor", member
            )


# --- the graph's code strings and operators -------------------------------------------------


def _refuse_code_in_graph(model_json: dict, label: str) -> None:
    """Judge every guard, sympy string and operator in models/model.json."""
    guards = model_json.get("guards_code") or []
    for guard in guards if isinstance(guards, list) else [guards]:
        if not is_guard(guard):
            raise _unsafe(
                label, f"a shape guard is not plain arithmetic: {_short(guard)}", MODEL_JSON
            )
    for symbol, bounds in (model_json.get("range_constraints") or {}).items():
        values = bounds.values() if isinstance(bounds, dict) else [bounds]
        if not is_sympy_expression(symbol) or not all(_is_int_or_none(v) for v in values):
            raise _unsafe(
                label, f"a range constraint is not a plain symbol: {_short(symbol)}", MODEL_JSON
            )
    for node in _dicts(model_json):
        if "expr_str" in node and not is_sympy_expression(node["expr_str"]):
            what = f"a shape expression is not plain sympy: {_short(node['expr_str'])}"
            raise _unsafe(label, what, MODEL_JSON)
        if node.get("custom_obj_values") or "as_custom_obj" in node or "custom_obj" in node:
            raise _unsafe(label, "the graph uses a pickled custom object", MODEL_JSON)
        if "target" in node and "inputs" in node and not _is_builtin_op(node["target"]):
            raise UnsafeModelFile(
                f"{label} was refused: {_layer(node)} calls the operator {node['target']}, "
                "which is not a built-in PyTorch (ATen) operator. Its code is not in the file, so "
                "cnninterp can neither check nor convert it; the file was not loaded and "
                "nothing in it ran."
            )
        if "as_operator" in node and not _is_builtin_op(node["as_operator"]):
            raise _unsafe(
                label, f"the graph refers to the operator {node['as_operator']}", MODEL_JSON
            )


def _dicts(value) -> Iterator[dict]:
    """Every dict inside a JSON value, without recursion (nesting depth is the file's choice)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# What export writes for symbolic-int arithmetic (torch/_export/serde/serialize.py _SYM_OPS).
SYM_OPS = {
    f"_operator.{op}"
    for op in "eq ne le ge lt gt neg pos mul add sub floordiv mod pow truediv and_ or_ lshift "
    "rshift".split()
}
SYM_OPS |= {"math.trunc"} | {f"torch.sym_{op}" for op in "not int float ite max min sqrt".split()}


def _is_builtin_op(target) -> bool:
    return isinstance(target, str) and (
        target in SYM_OPS or re.fullmatch(r"torch\.ops\.aten\.\w+(\.\w+)?", target) is not None
    )


def _layer(node: dict) -> str:
    """'layer encoder.conv1 (torch.nn.modules.conv.Conv2d)' from the node's nn_module_stack."""
    stack = str((node.get("metadata") or {}).get("nn_module_stack", ""))
    parts = stack.split(";")[-1].split(",")
    if len(parts) >= 3 and parts[1]:
        return f"layer {parts[1]} ({parts[-1]})"
    return f"node {node.get('name', '?')!r} at the model's top level"


def _short(text) -> str:
    text = repr(text)
    return text if len(text) <= 120 else text[:117] + "..."


def _is_int_or_none(value) -> bool:
    return value is None or type(value) is int


# --- the sample inputs ----------------------------------------------------------------------

SAMPLE_INPUT_GLOBALS = SAFE_GLOBALS_SEEN | {"torch.BoolStorage"}


def _refuse_unsafe_sample_inputs(blob: bytes, label: str) -> None:
    """torch.export.load unpickles these with weights_only=False if weights_only fails."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as inner:
            names = inner.namelist()
            if sum(i.file_size for i in inner.infolist()) > MAX_SAMPLE_INPUT_BYTES:
                raise zipfile.BadZipFile("inflated sizes")
            pickles = [inner.read(n) for n in names if n.endswith(".pkl")]
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, RuntimeError, NotImplementedError):
        what = "the sample inputs are not a readable torch.save archive"
        raise _unsafe(label, what, SAMPLE_INPUTS) from None
    if len(set(names)) != len(names) or not pickles or not all(map(_is_whole_pickle, pickles)):
        raise _unsafe(
            label, "the sample inputs are a pickle that cannot be read through", SAMPLE_INPUTS
        )
    imported = {f"{m}.{n}" for m, n in pickle_imports(io.BytesIO(blob))}
    if unexpected := sorted(imported - SAMPLE_INPUT_GLOBALS):
        what = f"the sample-input pickle imports {', '.join(unexpected)}, not just tensors"
        raise _unsafe(label, what, SAMPLE_INPUTS)


def _is_whole_pickle(blob: bytes) -> bool:
    """True if pickletools reads `blob` through to its STOP (so the scan saw every import)."""
    try:
        last = None
        for opcode, _, _ in pickletools.genops(blob):
            last = opcode.name
        return last == "STOP"
    except (ValueError, EOFError):
        return False


# --- the weights ----------------------------------------------------------------------------


def _decode_payloads(config: dict, folder: str, member: _Members) -> dict[str, np.ndarray]:
    """{state-dict name: array} from raw storage files, aliases read from their shared file."""
    storages: dict[str, bytes] = {}
    arrays = {}
    for fqn, meta in config.items():
        path = folder + meta["path_name"]
        dtype, shape, strides, offset = _tensor_layout(
            meta.get("tensor_meta"), fqn, path, member.label
        )
        # the copy below holds math.prod(shape) elements: with stride 0 that can exceed the
        # storage it reads, so both bound it before anything is allocated
        needed = max(_extent(shape, strides, offset), math.prod(shape)) * dtype.itemsize
        available = member.size(path)
        if available < needed or available % dtype.itemsize:
            raise BadModelFile(
                f"{member.label} is damaged: {path} has {available} bytes, but {fqn!r} "
                f"({dtype.name} {list(shape)}) needs {needed}."
            )
        if path not in storages:
            storages[path] = member.bytes(path, available)
        flat = np.frombuffer(storages[path], dtype=dtype, count=available // dtype.itemsize)
        view = np.lib.stride_tricks.as_strided(
            flat[offset:], shape, [s * dtype.itemsize for s in strides], writeable=False
        )
        arrays[fqn] = np.array(view)  # its own contiguous memory
    return arrays


def _tensor_layout(meta, fqn: str, path: str, label: str):
    """(dtype, shape, strides in elements, storage offset) from a serialized TensorMeta."""
    if not isinstance(meta, dict):
        raise BadModelFile(f"{label}: {fqn!r} in {path} has no tensor description.")
    if meta.get("layout") != STRIDED_LAYOUT:
        raise BadModelFile(
            f"{label}: {fqn!r} is a sparse or mkldnn tensor; only dense ones are read."
        )
    code = meta.get("dtype")
    dtype = DTYPES.get(code) if isinstance(code, int) else None
    if dtype is None:
        raise BadModelFile(
            f"{label}: {fqn!r} has dtype code {meta.get('dtype')!r}; only float16, bfloat16, "
            "float32, float64, int32, int64 and bool tensors are read."
        )
    try:
        shape = [_concrete(s) for s in meta["sizes"]]
        strides = [_concrete(s) for s in meta["strides"]]
        offset = _concrete(meta["storage_offset"])
    except (KeyError, TypeError, ValueError):
        raise BadModelFile(
            f"{label}: {fqn!r} has a symbolic, negative or missing size, stride or offset."
        ) from None
    if len(shape) != len(strides):
        raise BadModelFile(f"{label}: {fqn!r} has {len(shape)} sizes but {len(strides)} strides.")
    return dtype, shape, strides, offset


def _concrete(value) -> int:
    number = value["as_int"]
    if type(number) is not int or number < 0:
        raise ValueError(number)
    return number


def _extent(shape: list[int], strides: list[int], offset: int) -> int:
    """Elements of storage the tensor reaches (0 for an empty one)."""
    if 0 in shape:
        return 0
    return offset + 1 + sum((n - 1) * s for n, s in zip(shape, strides, strict=True))


def _check_signature_names(model_json: dict, weights: dict, label: str) -> None:
    signature = (model_json.get("graph_module") or {}).get("signature") or {}
    for spec in signature.get("input_specs") or []:
        if "custom_obj" in spec:
            raise _unsafe(label, "the graph takes a pickled custom object", MODEL_JSON)
        for kind, key in (
            ("parameter", "parameter_name"),
            ("buffer", "buffer_name"),
            ("tensor_constant", "tensor_constant_name"),
        ):
            if kind in spec and spec[kind].get(key) not in weights:
                raise BadModelFile(
                    f"{label} is damaged: the graph uses the {kind} "
                    f"{spec[kind].get(key)!r}, which is not among its stored tensors."
                )
