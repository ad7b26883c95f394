"""Read a user's .pth file into a flat {key: float32 array} state dict, never running its code.

A checkpoint is a pickle, and unpickling can call any Python function, so this module is the
only place that calls torch.load and it does so with weights_only=True: torch's restricted
unpickler accepts tensors and plain containers and refuses everything else *before* calling
it. When that refusal happens we read the pickle's opcodes (pickletools never executes
anything) to tell the user what the file asked for: a whole pickled nn.Module, which has a
safe remedy, or arbitrary code. Loading a pickled module anyway is the explicit opt-in
`allow_pickled_module`, the one path with weights_only=False.

Two checks come before any unpickling, flag or not. A zip checkpoint's CRC-32s are verified
(PyTorch does not, and parity cannot notice corrupted weights: both sides read the same bytes).
And every global the pickle imports is judged (pickle_scan.py): anything but torch's own data,
nn.Module classes and the user's own classes is refused outright, naming what would have been
called, so the opt-in can never run `os.system` smuggled in beside a module.
"""

import pickle
import struct
import sys
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cnninterp.convert.errors import ConversionError
from cnninterp.convert.pickle_scan import (
    LIBRARY,
    SAFE_GLOBALS_SEEN,
    is_code,
    is_module_class,
    pickle_globals,
    pickle_imports,
)

# Containers that training scripts wrap a state dict in, tried in this order.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights", "params")
# Prefixes added by DataParallel/DistributedDataParallel, torch.compile and Lightning; each is
# stripped only when every key carries it.
KEY_PREFIXES = ("module.", "_orig_mod.", "model.")
RESAVE_HINT = (
    "Re-save just the weights from the training code, where the model class is defined:\n"
    '    torch.save(model.state_dict(), "model_state.pth")\n'
    "and convert that file."
)


@dataclass
class SourceCheckpoint:
    state: dict[str, np.ndarray]
    """Flat state dict; floats as float32, integer buffers as they were."""
    notes: list[str] = field(default_factory=list)
    """What was done to get here (unwrapped, prefixes stripped, dtypes cast)."""
    bn_eps: float | None = None
    """BatchNorm epsilon, known only when a whole module was loaded."""


def read_checkpoint(
    path: Path, *, allow_pickled_module: bool = False, warn: Callable[[str], None] | None = None
) -> SourceCheckpoint:
    """Load `path` and find the CustomResNet state dict in it; raises ConversionError."""
    path = Path(path)
    _check_readable(path)
    _check_archive(path)
    _refuse_code(path)
    notes: list[str] = []
    eps = None
    obj = _torch_load(path, weights_only=True, allow_pickled_module=allow_pickled_module)
    if obj is _REFUSED_MODULE:
        (warn or _print_to_stderr)(
            f"WARNING: loading {path.name} with weights_only=False because of "
            "--allow-pickled-module. This runs whatever code the file contains: do it only "
            "for a file you made yourself or fully trust."
        )
        obj = _torch_load(path, weights_only=False, allow_pickled_module=True)
        notes.append("loaded a whole pickled nn.Module (weights_only=False, opted in)")
    obj, where = _find_state_dict(obj, path)
    if where:
        notes.append(f"state dict found under {where}")
    if isinstance(obj, torch.nn.Module):
        eps_values = {m.eps for m in obj.modules() if isinstance(m, torch.nn.BatchNorm2d)}
        eps = eps_values.pop() if len(eps_values) == 1 else None
        obj = obj.state_dict()
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    ignored = [f"{k!r} ({type(v).__name__})" for k, v in obj.items() if k not in state]
    if ignored:
        notes.append(f"ignored entries that are not tensors: {', '.join(ignored[:5])}")
    for prefix in KEY_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
            notes.append(f"stripped the '{prefix}' prefix from every key")
    return SourceCheckpoint(_to_numpy(state, notes), notes, eps)


_REFUSED_MODULE = object()


def _print_to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise ConversionError(f"{path}: no such file")
    if not path.is_file():
        raise ConversionError(f"{path}: not a file")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise ConversionError(f"{path}: cannot read it ({exc.strerror})") from None
    if not head:
        raise ConversionError(f"{path}: the file is empty")
    if head.startswith(b"PK") and not zipfile.is_zipfile(path):
        raise ConversionError(
            f"{path}: this PyTorch checkpoint is truncated or corrupt (its zip directory is "
            "unreadable). Copy or download it again."
        )
    if not (head.startswith(b"PK") or head[0] == 0x80):  # zip (torch >= 1.6) or a pickle
        raise ConversionError(
            f"{path}: not a PyTorch checkpoint (expected a file written by torch.save)."
        )


def _check_archive(path: Path) -> None:
    """A zip checkpoint whose members fail their CRC-32 is refused before it is trusted."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every member to its end, checking its CRC-32
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        bad, detail = "?", f"{type(exc).__name__}: {exc}"
    else:
        detail = "its CRC-32 check fails"
    if bad is not None:
        raise ConversionError(
            f"{path}: corrupt checkpoint, member {bad} is damaged ({detail}); the weights "
            "cannot be trusted. Copy or save the file again."
        )


def _refuse_code(path: Path) -> None:
    """Refuse a pickle importing anything but tensors, containers and classes, flag or not."""
    code = sorted(f"{m}.{n}" for m, n in pickle_imports(path) if is_code((m, n)))
    if code:
        shown = ", ".join(code[:5]) + (f" and {len(code) - 5} more" if len(code) > 5 else "")
        raise ConversionError(
            f"{path}: refused. Unpickling it would call {shown}: code, not weights. Nothing "
            "from it was run, and --allow-pickled-module does not change this. If you made "
            f"this file, {RESAVE_HINT[0].lower()}{RESAVE_HINT[1:]}"
        )


def _torch_load(path: Path, *, weights_only: bool, allow_pickled_module: bool):
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it did not write; the file is judged below.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=weights_only)
    except pickle.UnpicklingError:
        if not weights_only:
            raise ConversionError(f"{path}: corrupt pickle, cannot load it") from None
        globals_ = pickle_globals(path)
        modules = sorted(g for g in globals_ if is_module_class(g))
        if modules:
            if allow_pickled_module:
                return _REFUSED_MODULE
            own = sorted(g for g in globals_ - SAFE_GLOBALS_SEEN if not g.startswith(LIBRARY))
            layers = ", ".join(m.rsplit(".", 1)[-1] for m in modules[:4])
            described = f"{', '.join(own[:2])} built from {layers}" if own else layers
            raise ConversionError(
                f"{path} holds a whole pickled nn.Module ({described}), not a state dict. "
                "Loading it would run code from the file, so it was refused.\n"
                f"{RESAVE_HINT}\nTo load it anyway, only if you trust the file, pass "
                "--allow-pickled-module."
            ) from None
        if globals_ - SAFE_GLOBALS_SEEN:
            shown = ", ".join(sorted(globals_ - SAFE_GLOBALS_SEEN)[:5])
            raise ConversionError(
                f"{path}: refused. Unpickling it would call Python code ({shown}), which a "
                "weights file never needs. Nothing from it was run. If you made this file, "
                f"{RESAVE_HINT[0].lower()}{RESAVE_HINT[1:]}"
            ) from None
        raise ConversionError(f"{path}: corrupt checkpoint, cannot unpickle it") from None
    except (AttributeError, ModuleNotFoundError, ImportError) as exc:
        # weights_only=False on a module whose class cannot be imported here.
        raise ConversionError(
            f"{path}: the pickled model needs code that is not importable here ({exc}).\n"
            f"{RESAVE_HINT}"
        ) from None
    # Damaged bytes reach torch's readers in many shapes (struct.error on a short legacy
    # header, IndexError or TypeError deep in an unpickler); all mean "corrupt".
    except (
        RuntimeError,
        EOFError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        OverflowError,
        OSError,
        struct.error,
        zipfile.BadZipFile,
    ) as exc:
        raise ConversionError(
            f"{path}: truncated or corrupt checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}). Copy or save it again."
        ) from None


def _find_state_dict(obj, path: Path) -> tuple[object, str | None]:
    if isinstance(obj, torch.nn.Module) or _is_tensor_dict(obj):
        return obj, None
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, torch.nn.Module) or _is_tensor_dict(inner):
                return inner, repr(key)
        keys = ", ".join(repr(k) for k in list(obj)[:10])
        present = [k for k in WRAPPER_KEYS if k in obj]
        where = (
            f"none of {', '.join(repr(k) for k in present)} holds a dict of tensors"
            if present
            else f"it has none of the usual keys {', '.join(WRAPPER_KEYS)}"
        )
        raise ConversionError(
            f"{path}: no state dict found. The checkpoint is a dict with keys {keys}; {where}."
        )
    raise ConversionError(
        f"{path}: holds a {type(obj).__name__}, not a state dict of tensors.\n{RESAVE_HINT}"
    )


# Values a training script stores beside the weights (epoch, step, loss, a tag): not weights,
# never nested state, so a dict of tensors holding a few of them is still the state dict;
# they are dropped with a note naming them. Anything else mixed in (a nested dict, a list)
# means this level is a wrapper, not the state dict.
SCALAR_TYPES = (int, float, bool, str, type(None))


def _is_tensor_dict(obj) -> bool:
    return (
        isinstance(obj, Mapping)
        and all(isinstance(k, str) for k in obj)
        and any(isinstance(v, torch.Tensor) for v in obj.values())
        and all(isinstance(v, (torch.Tensor, *SCALAR_TYPES)) for v in obj.values())
    )


def _to_numpy(state: dict, notes: list[str]) -> dict[str, np.ndarray]:
    arrays = {}
    cast = set()
    for key, tensor in state.items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            if tensor.dtype != torch.float32:
                cast.add(str(tensor.dtype).removeprefix("torch."))
            tensor = tensor.float()
        arrays[key] = tensor.numpy()
    if cast:
        notes.append(f"cast {', '.join(sorted(cast))} tensors to float32")
    return arrays
