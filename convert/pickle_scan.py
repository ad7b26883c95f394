"""Read a pickle's imports without running it, and judge each one: data, a class, or code.

pickletools walks the opcodes and never executes anything. Each GLOBAL/STACK_GLOBAL names
what unpickling would import and (through REDUCE/BUILD) call; reading them all before any
torch.load lets the converter refuse code outright, with its name, whether or not the user
opted in to loading a pickled module.

Judged as data: every global torch's weights_only unpickler accepts (rebuild functions,
storage and dtype types, collections.OrderedDict) and nn.Module classes from torch.nn.modules.
Judged as the user's own classes (loaded only with the opt-in): names in a module outside the
standard library whose every dotted part is capitalised, as classes are (PEP 8). Everything
else is code: functions anywhere (`os.system`, `builtins.exec`, `torch.load`), dotted paths
through a module (`__main__.os.system`), and STACK_GLOBALs the scan cannot follow.
"""

import functools
import io
import pickletools
import sys
import zipfile
from pathlib import Path
from typing import BinaryIO

# Globals torch writes into every state-dict checkpoint; anything else explains a refusal.
SAFE_GLOBALS_SEEN = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch.FloatStorage",
    "torch.DoubleStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.nn.parameter.Parameter",
}


LIBRARY = ("torch.", "builtins.", "collections.", "_codecs.")


def is_module_class(name: str) -> bool:
    return name.startswith("torch.nn.modules.")


def pickle_globals(path: Path) -> set[str]:
    """Every 'module.name' a pickle (or torch zip checkpoint) imports, read without running it."""
    return {f"{module}.{name}" for module, name in pickle_imports(path)}


UNRESOLVED = ("?", "?")
"""A STACK_GLOBAL whose operands the scan could not follow: treated as code."""
LEGACY_PICKLES = 5  # torch's pre-zip format: magic, protocol, sys info, object, storage keys


def pickle_imports(path: Path | BinaryIO) -> set[tuple[str, str]]:
    """(module, qualified name) of every global a checkpoint's pickles import, never run.
    `path`: a file, or its bytes as a binary stream."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                blobs = [archive.read(n) for n in archive.namelist() if n.endswith(".pkl")]
            count = 1
        elif isinstance(path, Path | str):
            blobs, count = [Path(path).read_bytes()], LEGACY_PICKLES
        else:
            path.seek(0)
            blobs, count = [path.read()], LEGACY_PICKLES
    except (OSError, EOFError, ValueError, zipfile.BadZipFile):
        return set()
    found: set[tuple[str, str]] = set()
    for blob in blobs:
        stream = io.BytesIO(blob)
        for _ in range(count):  # pickles follow each other; genops stops at each STOP
            if stream.tell() >= len(blob) or not _scan_one(stream, found):
                break
    return found


def _scan_one(stream: io.BytesIO, found: set[tuple[str, str]]) -> bool:
    """Add the imports of the pickle at stream's position; False if it is not a whole one."""
    strings: list = []  # recent string pushes, for STACK_GLOBAL
    memo: dict = {}
    last = None
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            name = opcode.name
            if "UNICODE" in name or "STRING" in name:
                last = arg
                strings.append(arg)
            elif name == "MEMOIZE":
                memo[len(memo)] = last
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = last
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                last = memo.get(arg)
                strings.append(last)
            elif name in ("GLOBAL", "INST"):  # protocol <= 2 spells builtins as __builtin__
                module, _, qualname = str(arg).partition(" ")
                found.add(("builtins" if module == "__builtin__" else module, qualname))
                last = None
            elif name == "STACK_GLOBAL":
                pair = strings[-2:]
                ok = len(pair) == 2 and all(isinstance(x, str) for x in pair)
                found.add((pair[0], pair[1]) if ok else UNRESOLVED)
                last = None
            else:
                last = None
    except ValueError:  # truncated or not a pickle: report what was read
        return False
    return True


def is_code(imported: tuple[str, str]) -> bool:
    """True for a global that is neither torch's own data, an nn.Module nor a user's class."""
    module, qualname = imported
    if f"{module}.{qualname}" in torch_allowed_globals() | SAFE_GLOBALS_SEEN:
        return False
    if module.startswith("torch.nn.modules."):  # nn.Module classes, nothing else from there
        return not is_class_name(qualname)
    top = module.split(".")[0]
    if imported == UNRESOLVED or top in sys.stdlib_module_names or top in ("torch", "_codecs"):
        return True
    return not is_class_name(qualname)  # the user's own model classes


def is_class_name(qualname: str) -> bool:
    """'CustomResNet', 'Outer.Inner': every part capitalised, as classes are named."""
    return all(part.isidentifier() and part[:1].isupper() for part in qualname.split("."))


@functools.cache
def torch_allowed_globals() -> frozenset[str]:
    """'module.name' of every global torch's weights_only unpickler accepts."""
    try:
        from torch import _weights_only_unpickler as wo

        return frozenset(wo._get_allowed_globals())
    except (ImportError, AttributeError):  # a torch without it: SAFE_GLOBALS_SEEN still applies
        return frozenset()
