"""The model file: one safetensors file holding the Flax variables and a JSON config.

safetensors is a flat, pickle-free format (loading it can never run code) whose header is
plain JSON, so `head -c 2000 model.safetensors` shows the config. Keys are the Flax variable
paths joined with '/', e.g. `params/resblock1/conv1/kernel`.

A file is validated completely at load, because a header can disagree with its own tensors
(edited by hand, written by another tool, damaged): the config (width >= 1, classes >= 2,
vessel_class one of the classes, a known precision, a positive finite epsilon), then every
tensor's name, shape and dtype against what that config declares, then every value (finite,
variances >= 0). All problems of a stage go into one ModelFileError, so the user sees the whole
list once, not one raw Flax error per image.
"""

import functools
import json
import math
from dataclasses import asdict, fields
from pathlib import Path

import jax
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from cnninterp.jaxcore.files.disk import write_atomically
from cnninterp.jaxcore.model.network import ModelConfig, init_variables
from cnninterp.jaxcore.model.weights_check import WEIGHTS_ADVICE, summarise, value_problems

FORMAT = "cnninterp-model"
FORMAT_VERSION = 1
MODEL_SUFFIX = ".safetensors"
PRECISIONS = ("highest", "high", "default")
"""jax.lax precisions a model file may ask for."""


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


def save_model(path: Path, config: ModelConfig, variables: dict, info: dict | None = None) -> None:
    """Write variables and config (plus free-form provenance `info`) atomically."""
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": asdict(config)}
    header["info"] = info or {}
    tensors = {
        k: np.ascontiguousarray(v, np.float32) for k, v in flatten_variables(variables).items()
    }
    metadata = {"cnninterp": json.dumps(header, indent=1, sort_keys=True)}
    write_atomically(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def read_raw_header(
    path: Path, remake: str = "Make one with `cnninterp-convert model.pth`."
) -> dict:
    """The `cnninterp` JSON of any cnninterp model file (the seed's or a generic one),
    unchecked; raises ModelFileError, whose message ends with `remake`."""
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
        raise ModelFileError(f"{path}: not a cnninterp model file ({exc}). {remake}") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: not a cnninterp model file. {remake}")
    return header


def read_header(path: Path) -> dict:
    """The JSON header of a model file, validated; raises ModelFileError."""
    path = Path(path)
    header = read_raw_header(path)
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a cnninterp model file")
    version = header.get("format_version", 0)
    if type(version) is not int:
        raise ModelFileError(f"{path}: invalid format_version {version!r}; reconvert it.")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model file format {header['format_version']} is newer than this "
            f"cnninterp understands ({FORMAT_VERSION}); upgrade cnninterp or reconvert."
        )
    return header


def load_model(path: Path) -> tuple[ModelConfig, dict, dict]:
    """(config, variables, header) of a model file, validated completely; raises ModelFileError."""
    path = Path(path)
    header = read_header(path)
    problems = config_problems(header.get("config"))
    if problems:
        raise ModelFileError(f"{path}: invalid config in the header: {summarise(problems)}")
    fields = dict(header["config"])
    fields["bn_eps"] = float(fields.get("bn_eps", ModelConfig.bn_eps))  # JSON may write 1 for 1.0
    config = ModelConfig(**fields)
    try:
        flat = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: corrupt model file ({exc}); reconvert it.") from None
    problems = tensor_problems(flat, config)
    if problems:
        raise ModelFileError(
            f"{path}: the tensors disagree with the header's config (width {config.width}, "
            f"{config.classes} classes): {summarise(problems)}. Reconvert the checkpoint."
        )
    problems = value_problems(flat)
    if problems:
        raise ModelFileError(f"{path}: {summarise(problems)}; {WEIGHTS_ADVICE}.")
    return config, unflatten_variables(flat), header


def config_problems(config) -> list[str]:
    """What is wrong with a header's config dict (empty when it makes a usable ModelConfig)."""
    if not isinstance(config, dict):
        return [f"expected a JSON object, found {type(config).__name__}"]
    known = {f.name for f in fields(ModelConfig)}
    problems = [f"unknown field {k!r}" for k in sorted(config) if k not in known]

    def integer(name: str, low: int, high: int | None = None) -> None:
        value = config.get(name, getattr(ModelConfig, name))
        if type(value) is not int:
            problems.append(f"{name} must be an integer, not {value!r}")
        elif value < low or (high is not None and value > high):
            span = f">= {low}" if high is None else f"in {low}..{high}"
            problems.append(f"{name} {value} must be {span}")

    integer("width", 1, 4096)
    integer("classes", 2, 4096)
    classes = config.get("classes", ModelConfig.classes)
    if type(classes) is int and classes >= 2:
        # Refused, never clamped: JAX would silently read the last class for an index too big.
        integer("vessel_class", 0, classes - 1)
    eps = config.get("bn_eps", ModelConfig.bn_eps)
    if type(eps) not in (int, float) or not (math.isfinite(eps) and eps > 0):
        problems.append(f"bn_eps must be a positive finite number, not {eps!r}")
    precision = config.get("precision", ModelConfig.precision)
    if precision not in PRECISIONS:
        problems.append(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    return problems


@functools.cache
def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """'params/conv1/kernel' -> shape, for every variable of VesselCNN(config) (traced only)."""
    tree = jax.eval_shape(functools.partial(init_variables, config, 0, 32))
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {"/".join(k.key for k in path): tuple(leaf.shape) for path, leaf in leaves}


def tensor_problems(flat: dict[str, np.ndarray], config: ModelConfig) -> list[str]:
    """Missing, unexpected, mis-shaped and non-float32 tensors, against `config`."""
    expected = expected_shapes(config)
    problems = [f"{name} missing" for name in expected if name not in flat]
    problems += [f"{name} unexpected" for name in flat if name not in expected]
    for name, array in flat.items():
        if name not in expected:
            continue
        if tuple(array.shape) != expected[name]:
            problems.append(f"{name} has shape {tuple(array.shape)}, expected {expected[name]}")
        if array.dtype != np.float32:
            problems.append(f"{name} is {array.dtype}, expected float32")
    return problems
