"""Route (b): the user's own model code and weights, exported here.

`cnninterp-convert --from MODULE:CALLABLE --weights state.pth`: the user names code they trust
(their own), we import MODULE (the current directory first on sys.path), call CALLABLE() for
an nn.Module (a class or a factory), load the state dict with `weights_only=True` (a
checkpoint is a pickle: loading it never runs code), strictly, and export the module with
torch.export, height and width dynamic. The exported program is saved to bytes, so what
follows is route (a)'s path exactly: the same safe reader and the same translation, whatever
produced the program.
"""

import importlib
import io
import sys
from pathlib import Path

import torch

from cnninterp.convert.errors import ConversionError
from cnninterp.convert.exported_model import Exported
from cnninterp.jaxcore.files.disk import file_sha256
from cnninterp.jaxcore.model.model_file import MODEL_SUFFIX

EXPORT_SIZE = 64
"""Side of the example image torch.export traces with (height and width stay dynamic)."""
WRAPPER_KEYS = ("state_dict", "model")
"""Keys under which training scripts commonly nest the state dict."""


def import_callable(spec: str):
    """MODULE:CALLABLE imported, with the current directory on sys.path; ConversionError."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ConversionError(
            f"--from {spec!r}: expected MODULE:CALLABLE, e.g. my_models:build_unet"
        )
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConversionError(
            f"--from {spec}: cannot import {module_name!r} ({exc}). Run cnninterp-convert from "
            "the folder that holds the module, or install it."
        ) from None
    except Exception as exc:  # the user's module failed while importing: say where
        raise ConversionError(
            f"--from {spec}: importing {module_name!r} failed ({type(exc).__name__}: {exc})"
        ) from None
    target = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConversionError(f"--from {spec}: {module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ConversionError(
            f"--from {spec}: {attribute!r} is a {type(target).__name__}, not a class or function"
        )
    return target


def build_module(spec: str) -> torch.nn.Module:
    """CALLABLE() of MODULE:CALLABLE, checked to be an nn.Module."""
    factory = import_callable(spec)
    try:
        model = factory()
    except Exception as exc:
        raise ConversionError(
            f"--from {spec}: calling it without arguments failed ({type(exc).__name__}: {exc}). "
            "Name a function that takes no arguments and returns the model."
        ) from None
    if not isinstance(model, torch.nn.Module):
        raise ConversionError(
            f"--from {spec}: returned a {type(model).__name__}, not a torch.nn.Module"
        )
    return model


def read_state_dict(weights: Path) -> dict[str, torch.Tensor]:
    """A state dict saved with torch.save, plain or under 'state_dict'/'model'; never runs code."""
    if not weights.is_file():
        raise ConversionError(f"--weights {weights}: no such file")
    try:
        loaded = torch.load(weights, weights_only=True, map_location="cpu")
    except Exception as exc:  # UnpicklingError for code, RuntimeError for a damaged zip, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(
            f"--weights {weights}: not a state dict that can be loaded safely ({first}). "
            "Save it with torch.save(model.state_dict(), path)."
        ) from None
    for key in WRAPPER_KEYS:
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
            break
    if not isinstance(loaded, dict) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise ConversionError(
            f"--weights {weights}: expected a state dict (names to tensors), found "
            f"{type(loaded).__name__}. Save it with torch.save(model.state_dict(), path)."
        )
    return loaded


def load_weights(model: torch.nn.Module, weights: Path) -> None:
    """Strict load: every missing and unexpected key listed in one message."""
    state = read_state_dict(weights)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_listed(missing)}")
        if unexpected:
            parts.append(f"unexpected {_listed(unexpected)}")
        raise ConversionError(f"--weights {weights} does not fit the model: {'; '.join(parts)}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # shapes
        raise ConversionError(f"--weights {weights} does not fit the model: {exc}") from None


def _listed(keys: list[str], shown: int = 8) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def export_to_bytes(model: torch.nn.Module, channels: int, size: int = EXPORT_SIZE) -> bytes:
    """torch.export of model.eval() on a [1, C, size, size] input, height and width dynamic,
    saved with torch.export.save; ConversionError naming what failed."""
    example = torch.randn(1, channels, size, size)
    dims = {2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO}
    try:
        program = torch.export.export(model.eval(), (example,), dynamic_shapes=(dims,))
    except Exception as exc:
        message = str(exc).strip().splitlines()
        head = message[0] if message else type(exc).__name__
        raise ConversionError(
            f"torch.export could not export the model on a [1, {channels}, {size}, {size}] "
            f"input ({type(exc).__name__}: {head}). Check --channels, or make the model "
            "exportable (https://pytorch.org/docs/stable/export.html)."
        ) from None
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def first_conv_channels(model: torch.nn.Module) -> int | None:
    """in_channels of the first convolution, the usual way to learn what a model takes."""
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            return int(module.in_channels)
    return None


def export_from_code(
    spec: str, weights: Path | None, channels: int | None = None, size: int | None = None
) -> Exported:
    """The user's model exported: the .pt2 bytes, and the module itself as the reference."""
    model = build_module(spec)
    sha = ""
    if weights is not None:
        load_weights(model, Path(weights))
        sha = file_sha256(Path(weights))
    channels = channels or first_conv_channels(model)
    if channels is None:
        raise ConversionError(f"--from {spec}: cannot tell the input channels; pass --channels")
    pt2 = export_to_bytes(model.eval(), channels, size or EXPORT_SIZE)
    name = f"{spec} with {weights}" if weights is not None else spec
    return Exported(
        pt2=pt2, name=name, sha256=sha, module=model, default_out=_default_out(spec, weights)
    )


def _default_out(spec: str, weights: Path | None) -> Path:
    """STATE.safetensors beside the weights, else CALLABLE.safetensors here."""
    if weights is not None:
        return Path(weights).with_suffix(MODEL_SUFFIX)
    return Path(spec.partition(":")[2].replace(".", "_") + MODEL_SUFFIX)
