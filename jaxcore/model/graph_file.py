"""The generic model file: any exported segmentation model as one safetensors file.

The seed's model file (model_file.py) holds Flax variables of a fixed architecture. A generic
model brings its own architecture, so this file holds it too, as data:

    tensors                      the weights, by their PyTorch state-dict names
    metadata["cnninterp"]        JSON: {"format": "cnninterp-graph-model", "format_version": 1,
                                        "graph": Graph.to_json(), "config": {...}, "info": {...}}

Neither part is code: safetensors is pickle-free, and the graph is a list of operations from a
fixed vocabulary that jaxcore's interpreter knows (an unknown one is refused at load). So
opening a model file never runs anything from it, whoever wrote it.

`config` says how to use the model (GraphConfig: channels, classes, the head's activation,
the normalisation applied to an image in [0, 1] before the network, the receptive field);
`info` is free-form provenance and the converter's parity figures. A file is validated
completely at load, as the seed's is: the header, the graph, every parameter the graph names
(present, floating point or integer, finite) and the config's fields and ranges, each stage's
problems in one ModelFileError.
"""

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from cnninterp.jaxcore.files.disk import write_atomically
from cnninterp.jaxcore.model import model_file
from cnninterp.jaxcore.model.graph import Graph, GraphError
from cnninterp.jaxcore.model.model_file import ModelFileError
from cnninterp.jaxcore.model.weights_check import WEIGHTS_ADVICE, summarise, value_problems

FORMAT = "cnninterp-graph-model"
FORMAT_VERSION = 1
ACTIVATIONS = ("softmax", "sigmoid", "logits")
MAX_CLASSES = 4096
MAX_CHANNELS = 4096
FLOAT_DTYPES = (np.float32,)
"""Weights are stored as float32 (the explainer's precision); parity ran in float64 on them."""
INTEGER_DTYPES = (np.int64, np.int32, np.bool_)
"""Integer buffers a graph may read (indices, counters, masks)."""
REMAKE = "Make one with `cnninterp-convert model.pt2`."


@dataclass(frozen=True)
class GraphConfig:
    """How to use a generic model: what goes in, what comes out, how far an output reaches."""

    input_channels: int
    """Channels of the image the network takes (1 gray, 3 RGB, ...)."""
    classes: int
    """K, the channels of the logits [B, H, W, K]."""
    activation: str
    """'softmax' over the K classes, 'sigmoid' per class, or 'logits' (used as they are)."""
    class_names: tuple[str, ...] | None = None
    """One name per class, or None."""
    normalize: dict | None = None
    """{'mean': [C floats], 'std': [C floats]} applied to the image in [0, 1] before the
    network (inside the differentiated function), or None."""
    explained_class: int = 0
    """The class explained unless the user picks another."""
    size_multiple: int = 1
    """Height and width the network takes are multiples of this (its total stride)."""
    receptive_radius: int | None = None
    """How far (px) an output pixel's gradient reaches; None: the whole image."""
    receptive_reason: str = ""
    """Why the field is what it is ('local', 'instance norm in layer ...')."""


@dataclass(frozen=True)
class GraphModelFile:
    """A generic model file, validated."""

    graph: Graph
    weights: dict[str, np.ndarray]
    """State-dict name -> array, exactly the graph's parameters."""
    config: GraphConfig
    info: dict


def default_explained_class(classes: int) -> int:
    """Class 1 (the first after background) of a multi-class model, else its only class."""
    return min(1, classes - 1)


def save_graph_model(
    path: Path,
    graph: Graph,
    weights: dict[str, np.ndarray],
    config: GraphConfig,
    info: dict | None = None,
) -> None:
    """Write graph, weights (floats as float32), config and `info` atomically."""
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "graph": graph.to_json(),
        "config": asdict(config),
        "info": info or {},
    }
    tensors = {name: _stored(np.asarray(array)) for name, array in weights.items()}
    metadata = {"cnninterp": json.dumps(header, sort_keys=True, allow_nan=False)}
    write_atomically(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def _stored(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind == "f":
        return np.ascontiguousarray(array, np.float32)
    return np.ascontiguousarray(array)


def read_raw_header(path: Path) -> dict:
    """The `cnninterp` JSON of any cnninterp model file, unchecked; raises ModelFileError."""
    return model_file.read_raw_header(path, REMAKE)


def model_kind(path: Path) -> Literal["seed", "graph"]:
    """'seed' for the seed architecture's model file, 'graph' for a generic one (reads only the
    header); raises ModelFileError for anything else."""
    header = read_raw_header(path)
    kind = header.get("format")
    if kind == model_file.FORMAT:
        return "seed"
    if kind == FORMAT:
        return "graph"
    raise ModelFileError(f"{path}: not a cnninterp model file (format {kind!r}). {REMAKE}")


def read_graph_header(path: Path) -> dict:
    """The header of a generic model file, its format and version checked."""
    header = read_raw_header(path)
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a generic cnninterp model file. {REMAKE}")
    version = header.get("format_version")
    if type(version) is not int or version < 1:
        raise ModelFileError(f"{path}: invalid format_version {version!r}; reconvert it.")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model file format {version} is newer than this cnninterp understands "
            f"({FORMAT_VERSION}); upgrade cnninterp or reconvert."
        )
    return header


def load_graph_model(path: Path) -> GraphModelFile:
    """A generic model file, validated completely; raises ModelFileError."""
    path = Path(path)
    header = read_graph_header(path)
    problems = config_problems(header.get("config"))
    if problems:
        raise ModelFileError(f"{path}: invalid config in the header: {summarise(problems)}")
    config = _config_from(header["config"])
    info = header.get("info", {})
    if not isinstance(info, dict):
        raise ModelFileError(f"{path}: invalid info in the header (not a JSON object)")
    try:
        graph = Graph.from_json(header.get("graph") or {})
    except (GraphError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(
            f"{path}: the model's graph cannot be used ({exc}). "
            "Reconvert it with this version of cnninterp."
        ) from None
    try:
        weights = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: corrupt model file ({exc}); reconvert it.") from None
    problems = tensor_problems(weights, graph)
    if problems:
        raise ModelFileError(
            f"{path}: the tensors disagree with the model's graph: {summarise(problems)}. "
            "Reconvert the model."
        )
    problems = value_problems(weights)
    if problems:
        raise ModelFileError(f"{path}: {summarise(problems)}; {WEIGHTS_ADVICE}.")
    return GraphModelFile(graph, weights, config, info)


def tensor_problems(weights: dict[str, np.ndarray], graph: Graph) -> list[str]:
    """Parameters of the graph missing from the file, tensors it never reads, unusable dtypes
    and, where the graph records them, wrong shapes."""
    expected = _parameter_shapes(graph)
    problems = [f"{name} missing" for name in expected if name not in weights]
    problems += [f"{name} unexpected" for name in weights if name not in expected]
    for name, array in weights.items():
        if name not in expected:
            continue
        if array.dtype.type not in FLOAT_DTYPES + INTEGER_DTYPES:
            problems.append(f"{name} is {array.dtype}, expected float32 (or an integer buffer)")
        shape = expected[name]
        if shape is not None and tuple(array.shape) != shape:
            problems.append(f"{name} has shape {tuple(array.shape)}, expected {shape}")
    return problems


def _parameter_shapes(graph: Graph) -> dict[str, tuple[int, ...] | None]:
    """Graph.parameters as {name: shape or None}: a list of names, or a mapping whose values
    are shapes (or records with a `shape`)."""
    parameters = graph.parameters
    if not isinstance(parameters, dict):
        return {str(name): None for name in parameters}
    shapes: dict[str, tuple[int, ...] | None] = {}
    for name, value in parameters.items():
        shape = value.get("shape") if isinstance(value, dict) else getattr(value, "shape", value)
        valid = isinstance(shape, list | tuple) and all(type(n) is int for n in shape)
        shapes[str(name)] = tuple(shape) if valid else None
    return shapes


def config_problems(config) -> list[str]:
    """What is wrong with a header's config dict (empty when it makes a usable GraphConfig)."""
    if not isinstance(config, dict):
        return [f"expected a JSON object, found {type(config).__name__}"]
    known = {f.name for f in fields(GraphConfig)}
    required = ("input_channels", "classes", "activation")
    problems = [f"unknown field {k!r}" for k in sorted(config) if k not in known]
    problems += [f"{k} missing" for k in required if k not in config]

    def integer(name: str, low: int, high: int, default=None) -> None:
        value = config.get(name, default)
        if type(value) is not int:
            problems.append(f"{name} must be an integer, not {value!r}")
        elif not low <= value <= high:
            problems.append(f"{name} {value} must be in {low}..{high}")

    integer("input_channels", 1, MAX_CHANNELS)
    integer("classes", 1, MAX_CLASSES)
    integer("size_multiple", 1, 4096, 1)
    classes = config.get("classes")
    if type(classes) is int and 1 <= classes <= MAX_CLASSES:
        integer("explained_class", 0, classes - 1, 0)  # refused, never clamped
    if config.get("activation") not in ACTIVATIONS:
        problems.append(
            f"activation {config.get('activation')!r} is not one of {', '.join(ACTIVATIONS)}"
        )
    names = config.get("class_names")
    if names is not None:
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            problems.append("class_names must be a list of strings or null")
        elif type(classes) is int and len(names) != classes:
            problems.append(f"class_names has {len(names)} names for {classes} classes")
    problems += _normalize_problems(config.get("normalize"), config.get("input_channels"))
    radius = config.get("receptive_radius")
    if radius is not None and (type(radius) is not int or radius < 0):
        problems.append(f"receptive_radius must be a whole number >= 0 or null, not {radius!r}")
    if not isinstance(config.get("receptive_reason", ""), str):
        problems.append("receptive_reason must be a string")
    return problems


def _normalize_problems(normalize, channels) -> list[str]:
    if normalize is None:
        return []
    if not isinstance(normalize, dict) or set(normalize) != {"mean", "std"}:
        return ["normalize must be {'mean': [...], 'std': [...]} or null"]
    problems = []
    for key in ("mean", "std"):
        values = normalize[key]
        if not (
            isinstance(values, list)
            and all(type(v) in (int, float) and math.isfinite(v) for v in values)
        ):
            problems.append(f"normalize {key} must be a list of finite numbers")
            continue
        if type(channels) is int and len(values) != channels:
            problems.append(f"normalize {key} has {len(values)} values for {channels} channels")
        if key == "std" and any(v <= 0 for v in values):
            problems.append("normalize std must be positive")
    return problems


def _config_from(config: dict) -> GraphConfig:
    fields_ = dict(config)
    if fields_.get("class_names") is not None:
        fields_["class_names"] = tuple(fields_["class_names"])
    if fields_.get("normalize") is not None:
        fields_["normalize"] = {
            k: [float(v) for v in fields_["normalize"][k]] for k in ("mean", "std")
        }
    return GraphConfig(**fields_)
