"""Opening a model: the one answer every front end (TUI, cnninterp-export) gives.

A `.safetensors` model file is used as it is. A PyTorch checkpoint (`.pth`, `.pt`) or a
torch.export program (`.pt2`) is converted once into
`<cache root>/models/<sha256 of the checkpoint>.safetensors`, with the conversion's parity
report beside it as `<sha256>.parity.json`; every later open of the same checkpoint (by
content, wherever it lies) reuses that file without converting again.

Why the converter is passed in: converting needs `cnninterp.convert` and PyTorch, which sit
above the core (the converter writes model files *for* the core). The core therefore names
only what it needs, a `Converter` callable, and the front ends hand it one that imports
`cnninterp.convert` when it is called. So `jaxcore` never imports `convert` or torch, not even
lazily, and the boundary test holds for every module without exemptions; a front end that
never meets a checkpoint never loads torch.

Building an Explainer compiles nothing yet but reads and places the weights; `explainer_for`
keeps the last few, keyed by the file's identity and the options, so a front end reopened in
the same process (tests, notebooks, repeated export calls) skips that work.
"""

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnninterp.jaxcore.files.disk import file_sha256, write_atomically
from cnninterp.jaxcore.model.graph_file import load_graph_model, model_kind, read_graph_header
from cnninterp.jaxcore.model.model_file import (
    MODEL_SUFFIX,
    ModelFileError,
    load_model,
    read_header,
)
from cnninterp.jaxcore.model.seed import SEED_CLASS_NAMES
from cnninterp.jaxcore.passes.devices import DeviceChoice, DeviceChoiceError, select_devices
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.store.results import cache_root

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".pt2")
"""PyTorch checkpoints and torch.export programs: converted before use."""
EXPLAINERS_KEPT = 2  # a full-size model holds ~125 MB of weights: keep few


class ModelOpenError(Exception):
    """The model cannot be opened; the message is fit for the user."""


class ConversionFailed(Exception):
    """Raised by a Converter for a checkpoint it cannot convert (message fit for the user)."""


Converter = Callable[[Path, Path], dict[str, Any]]
"""converter(checkpoint, out): write the converted model file at `out` (replacing what is
there) and return the parity report as JSON-ready data; raise ConversionFailed, or
ImportError when PyTorch is not installed."""


@dataclass(frozen=True)
class OpenedModel:
    """The model file to load and where it came from."""

    path: Path
    """A model file (.safetensors)."""
    provenance: dict[str, str]
    """path (as given, resolved); for a checkpoint also checkpoint_sha256 and converted."""
    converted_now: bool = False
    """True when this open ran the conversion (False: a model file, or the cache had it)."""


def is_checkpoint(path: Path) -> bool:
    return path.suffix.lower() in CHECKPOINT_SUFFIXES


def models_folder() -> Path:
    """Where converted checkpoints are kept: `models/` in the cache folder."""
    return cache_root() / "models"


def open_model(
    path: Path,
    converter: Converter | None,
    *,
    folder: Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> OpenedModel:
    """The model file for `path`: itself, or its checkpoint's conversion in `folder` (default
    models_folder()), converted now unless an intact one is there. Raises ModelOpenError."""
    if not path.is_file():
        raise ModelOpenError(f"{path}: no such model file")
    provenance = {"path": str(path.resolve())}
    if not is_checkpoint(path):
        return OpenedModel(path, provenance)
    folder = models_folder() if folder is None else folder
    try:
        source_sha = file_sha256(path)
    except OSError as exc:
        raise ModelOpenError(f"{path}: cannot read ({exc})") from None
    out = folder / f"{source_sha}{MODEL_SUFFIX}"
    provenance |= {"checkpoint_sha256": source_sha, "converted": str(out)}
    try:
        model_kind(out)  # either kind of model file: the seed's or a generic one
        return OpenedModel(out, provenance)
    except ModelFileError:
        pass  # not converted yet, or a damaged earlier conversion: convert (again)
    if converter is None:
        raise ModelOpenError(f"{path}: a PyTorch checkpoint; convert it with cnninterp-convert")
    say(f"converting {path} (once; kept as {out}) ...")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        report = converter(path, out)
        text = json.dumps(report, indent=1, default=str) + "\n"
        write_atomically(parity_report_path(out), lambda tmp: tmp.write_text(text))
    except ImportError as exc:
        raise ModelOpenError(f"{path}: converting a checkpoint needs PyTorch ({exc})") from None
    except (ConversionFailed, OSError) as exc:
        raise ModelOpenError(str(exc)) from None
    return OpenedModel(out, provenance, converted_now=True)


def class_names(path: Path) -> tuple[tuple[str, ...] | None, int]:
    """(the classes' names where the model file has them, how many classes) from its header
    alone. Raises ModelFileError."""
    try:
        if model_kind(path) == "graph":
            config = read_graph_header(path)["config"]
            names = config.get("class_names")
            return (tuple(map(str, names)) if names else None), int(config["classes"])
        classes = int(read_header(path)["config"]["classes"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a header of odd shape
        raise ModelFileError(f"{path}: the header has no usable class count ({exc!r})") from None
    return (SEED_CLASS_NAMES if classes == 2 else None), classes


def resolve_class(path: Path, text: str | None) -> int | None:
    """The class `--class K` or `--class NAME` picks in this model file (None: the file's
    own choice). Raises ModelOpenError naming the classes there are."""
    if text is None:
        return None
    try:
        names, classes = class_names(path)
    except ModelFileError as exc:
        raise ModelOpenError(str(exc)) from None
    known = ", ".join(f"{k} {name}" for k, name in enumerate(names)) if names else ""
    choices = f"classes 0 to {classes - 1}" + (f" ({known})" if known else "")
    if text.strip().lstrip("-").isdecimal():  # what int() reads (isdigit takes "²")
        index = int(text)
        if not 0 <= index < classes:
            raise ModelOpenError(f"--class {text}: the model has {choices}")
        return index
    if names is None or text not in names:
        raise ModelOpenError(f"--class {text}: no class of that name; the model has {choices}")
    return names.index(text)


def check_model_file(path: Path) -> None:
    """Load and validate a model file of either kind without building anything from it (a
    front end that hands the file to other processes checks it once, early). Raises
    ModelFileError."""
    if model_kind(path) == "graph":
        load_graph_model(path)
    else:
        load_model(path)


def parity_report_path(model_path: Path) -> Path:
    """The JSON parity report kept beside a converted checkpoint."""
    return model_path.with_name(model_path.name.removesuffix(MODEL_SUFFIX) + ".parity.json")


_explainers: "OrderedDict[tuple[object, ...], Explainer]" = OrderedDict()
_explainers_lock = threading.Lock()  # front ends open models from worker threads


def explainers_kept() -> int:
    """How many Explainers explainer_for holds now (at most EXPLAINERS_KEPT)."""
    with _explainers_lock:
        return len(_explainers)


def explainer_for(
    path: Path,
    *,
    vessel_class: int | None = None,
    chunk_size: int | None = None,
    devices: DeviceChoice = None,
) -> Explainer:
    """Explainer.from_file(path, ...), reused while the file is unchanged (the last
    EXPLAINERS_KEPT by file identity, options and the devices `devices` resolves to).
    Raises ModelOpenError."""
    try:
        stat = path.stat()
        chosen = select_devices(devices)
    except OSError as exc:
        raise ModelOpenError(f"{path}: cannot read ({exc})") from None
    except DeviceChoiceError as exc:
        raise ModelOpenError(str(exc)) from None
    identity = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    key = (*identity, vessel_class, chunk_size, tuple(device.id for device in chosen))
    with _explainers_lock:
        if key in _explainers:
            _explainers.move_to_end(key)
            return _explainers[key]
    try:
        explainer = Explainer.from_file(
            path, vessel_class=vessel_class, chunk_size=chunk_size, devices=chosen
        )
    except ModelFileError as exc:
        raise ModelOpenError(str(exc)) from None
    except ValueError as exc:  # a class the model does not have
        raise ModelOpenError(f"--class {vessel_class}: {exc}") from None
    with _explainers_lock:
        _explainers[key] = explainer
        while len(_explainers) > EXPLAINERS_KEPT:
            _explainers.popitem(last=False)
    return explainer
