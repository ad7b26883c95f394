"""The model file: one safetensors file holding the Flax variables and a JSON config.

safetensors is a flat, pickle-free format (loading it can never run code) whose header is
plain JSON, so `head -c 2000 model.safetensors` shows the config. Keys are the Flax variable
paths joined with '/', e.g. `params/resblock1/conv1/kernel`.
"""

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from cnninterp.jaxcore.model import ModelConfig

FORMAT = "cnninterp-model"
FORMAT_VERSION = 1
MODEL_SUFFIX = ".safetensors"


class ModelFileError(Exception):
    """A model file that cannot be used, with a message fit for the user."""


def flatten_variables(variables: dict, prefix: str = "") -> dict[str, np.ndarray]:
    """{'params': {'conv1': {'kernel': a}}} -> {'params/conv1/kernel': a}."""
    flat = {}
    for key, value in variables.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_variables(value, path + "/"))
        else:
            flat[path] = np.asarray(value)
    return flat


def unflatten_variables(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        *parents, leaf = path.split("/")
        node = tree
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    return tree


def write_atomically(path: Path, write) -> None:
    """Call write(tmp_path) then rename onto path, so readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared like any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(path: Path, config: ModelConfig, variables: dict, info: dict | None = None) -> None:
    """Write variables and config (plus free-form provenance `info`) atomically."""
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": asdict(config)}
    header["info"] = info or {}
    tensors = {
        k: np.ascontiguousarray(v, np.float32) for k, v in flatten_variables(variables).items()
    }
    metadata = {"cnninterp": json.dumps(header, indent=1, sort_keys=True)}
    write_atomically(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def read_header(path: Path) -> dict:
    """The JSON header of a model file, validated; raises ModelFileError."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size < 100_000_000:
                raise ValueError("bad header length")
            raw = json.loads(f.read(size))
        header = json.loads(raw["__metadata__"]["cnninterp"])
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(
            f"{path}: not a cnninterp model file ({exc}). "
            "Make one with `cnninterp-convert model.pth`."
        ) from None
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a cnninterp model file")
    if header.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model file format {header['format_version']} is newer than this "
            f"cnninterp understands ({FORMAT_VERSION}); upgrade cnninterp or reconvert."
        )
    return header


def load_model(path: Path) -> tuple[ModelConfig, dict, dict]:
    """(config, variables, header) of a model file; raises ModelFileError."""
    header = read_header(path)
    try:
        config = ModelConfig(**header["config"])
        flat = load_file(str(path))
    except (TypeError, SafetensorError, OSError) as exc:
        raise ModelFileError(f"{path}: corrupt model file ({exc}); reconvert it.") from None
    return config, unflatten_variables(flat), header


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
