"""Any exported PyTorch segmentation model in, verified generic model file out.

    read (.pt2 by the safe reader, or the bytes route (b) exported) -> translate to our graph
    -> run it once (shapes) -> receptive field -> parity in float64 -> write (graph_file, atomic)

Two routes meet here and share everything after the export: (a) a `.pt2` file someone made
with torch.export.save, whose reference for parity is our graph evaluated by PyTorch's own
ATen kernels (convert.torch_graph; nothing from the file runs), and (b) `--from MODULE:CALLABLE
--weights`, the user's own code, exported in convert.from_code, whose reference is their module
in float64. Parity above RELATIVE_TOLERANCE raises ParityError (nothing written) unless
forced; every other problem is a ConversionError raised before anything is written.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import torch

from cnninterp.convert.api import _check_output, _printer, _versions
from cnninterp.convert.aten_graph import UnsupportedOp, translate
from cnninterp.convert.errors import ConversionError, ParityError
from cnninterp.convert.graph_parity import GraphParity, measure_graph_parity
from cnninterp.convert.pt2_file import read_pt2, read_pt2_bytes
from cnninterp.convert.torch_graph import evaluate, torch_parameters
from cnninterp.jaxcore.files.disk import file_sha256
from cnninterp.jaxcore.model.graph import Graph, references
from cnninterp.jaxcore.model.graph_field import receptive_field
from cnninterp.jaxcore.model.graph_file import (
    ACTIVATIONS,
    GraphConfig,
    default_explained_class,
    save_graph_model,
)
from cnninterp.jaxcore.model.interpreter import graph_apply
from cnninterp.jaxcore.model.model_file import MODEL_SUFFIX
from cnninterp.jaxcore.model.weights_check import WEIGHTS_ADVICE, summarise, value_problems

CHECK_SIZE = 64
"""Side of the test images, rounded up to the model's size multiple."""
FIELD_SIZE = 1024
"""Side of the image the receptive field is walked on (a cheap interval walk)."""
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


@dataclass(frozen=True)
class GraphConversionReport:
    """What convert_exported wrote and how well it agrees with PyTorch."""

    out_path: Path
    config: GraphConfig
    parity: GraphParity
    seconds: float
    source: str
    """The .pt2 file, or 'MODULE:CALLABLE with WEIGHTS'."""
    source_sha256: str
    """Of the .pt2 file, or of the weights (route b)."""
    parameters: int
    """Values in the floating-point weights."""
    ops: dict[str, int]
    """Our op -> how many nodes use it."""
    forced: bool = False
    notes: tuple[str, ...] = ()
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Exported:
    """What a route hands over: the program as bytes or a file, and its PyTorch reference."""

    pt2: Path | bytes
    name: str
    sha256: str
    module: torch.nn.Module | None = None
    """Route (b): the user's module with its weights (the parity reference)."""
    default_out: Path | None = None
    """Where the model file goes without -o (default: the .pt2 with suffix .safetensors)."""


def convert_exported(
    source: Path | Exported,
    out_path: Path | None = None,
    *,
    channels: int | None = None,
    normalize: dict | None = None,
    activation: str | None = None,
    class_names: list[str] | None = None,
    size: int | None = None,
    force: bool = False,
    overwrite: bool = False,
    console=None,
) -> GraphConversionReport:
    """Convert an exported model (a .pt2 path, or route (b)'s Exported) to a generic model
    file, proving it first. `activation` overrides the head's ('softmax' | 'sigmoid' |
    'logits'); `normalize` is {'mean': [...], 'std': [...]} applied to images in [0, 1].
    Raises ParityError (nothing written) unless force=True, ConversionError otherwise."""
    start = time.perf_counter()
    stages: dict[str, float] = {}
    say = _printer(console)
    exported = source if isinstance(source, Exported) else _from_file(Path(source))
    default_out = exported.default_out or Path(exported.name).with_suffix(MODEL_SUFFIX)
    out = Path(out_path) if out_path is not None else default_out
    _check_output(
        out, exported.pt2 if isinstance(exported.pt2, Path) else Path(exported.name), overwrite
    )
    if activation is not None and activation not in ACTIVATIONS:
        raise ConversionError(
            f"--activation {activation!r}: expected one of {', '.join(ACTIVATIONS)}"
        )

    say(f"Reading {exported.name} ...")
    if isinstance(exported.pt2, bytes):
        program = read_pt2_bytes(exported.pt2, exported.name)
    else:
        program = read_pt2(exported.pt2)
    try:
        translated = translate(program.model_json)
    except UnsupportedOp as exc:
        raise ConversionError(f"{exported.name}: {exc}") from None
    graph = translated.graph
    weights = {name: np.asarray(program.weights[name]) for name in graph.parameters}
    broken = value_problems(weights)
    if broken:
        raise ConversionError(f"{exported.name}: {summarise(broken)}; {WEIGHTS_ADVICE}.")
    channels = channels or _input_channels(program.model_json, graph)
    if channels is None:
        raise ConversionError(f"{exported.name}: cannot tell the input channels; pass --channels")
    field_, side = _field_and_size(graph, weights, channels, size, exported.name)
    stages["read and translate"] = time.perf_counter() - start

    t = time.perf_counter()
    apply = graph_apply(graph)
    classes = _check_shapes(apply, weights, channels, side, exported.name)
    stages["shapes"] = time.perf_counter() - t
    config = _config(
        classes,
        channels,
        translated.head_activation,
        activation,
        normalize,
        class_names,
        field_,
    )

    say(f"Checking parity with PyTorch in float64 at {side}x{side} ...")
    t = time.perf_counter()
    head = translated.head_activation
    parity = measure_graph_parity(
        _jax_outputs(apply, graph, weights, head),
        _torch_outputs(exported.module, graph, weights, head),
        channels=channels,
        size=side,
        activation=config.activation if head is None else "logits",
        explained_class=config.explained_class,
        normalize=config.normalize,
    )
    stages["parity"] = time.perf_counter() - t
    if not parity.outputs_finite:
        raise ConversionError(
            f"{exported.name}: the model's outputs are not finite on the test images. "
            "Nothing was written, and --force does not change this."
        )
    if not parity.passed and not force:
        raise ParityError(
            f"Parity check failed: the JAX model differs from PyTorch by up to "
            f"{parity.max_rel:.3g} relative in float64 (tolerance {parity.tolerance:g}). "
            f"Nothing was written. Pass --force to write {out.name} anyway.",
            parity,
        )

    t = time.perf_counter()
    notes = _notes(translated.head_activation, config)
    ops = dict(Counter(node.op for node in graph.nodes).most_common())
    parameters = sum(int(w.size) for w in weights.values() if w.dtype.kind == "f")
    info = {
        "source_file": exported.name,
        "source_sha256": exported.sha256,
        "route": "pt2" if exported.module is None else "from-code",
        "parameters": parameters,
        "ops": ops,
        "head_activation": translated.head_activation,
        "versions": _versions(),
        "parity": {**parity.as_dict(), "forced": not parity.passed},
        "conversion_notes": notes,
    }
    try:
        save_graph_model(out, graph, weights, config, info)
    except OSError as exc:
        raise ConversionError(
            f"{out}: cannot write the model file ({exc.strerror or exc})"
        ) from None
    stages["write"] = time.perf_counter() - t
    return GraphConversionReport(
        out_path=out,
        config=config,
        parity=parity,
        seconds=time.perf_counter() - start,
        source=exported.name,
        source_sha256=exported.sha256,
        parameters=parameters,
        ops=ops,
        forced=not parity.passed,
        notes=tuple(notes),
        stage_seconds=stages,
    )


def _from_file(path: Path) -> Exported:
    if not path.is_file():
        raise ConversionError(f"{path}: no such file")
    return Exported(pt2=path, name=str(path), sha256=file_sha256(path))


def _input_channels(model_json: dict, graph: Graph) -> int | None:
    """The image's channel count as the export fixed it (dimension 1 of its example)."""
    try:
        sizes = model_json["graph_module"]["graph"]["tensor_values"][graph.input]["sizes"]
        value = sizes[1]["as_int"]
    except (KeyError, IndexError, TypeError):
        return None
    return value if type(value) is int and value >= 1 else None


def _field_and_size(graph, weights, channels: int, size: int | None, name: str):
    """The receptive field, and the side of the test images: `size`, or CHECK_SIZE rounded up
    to the model's size multiple. The field is walked on FIELD_SIZE images, so that a radius
    is the network's own and not clipped by a small test image."""
    side = size or CHECK_SIZE
    try:
        multiple = receptive_field(graph, weights, side, side, channels).size_multiple
        if size is None:
            side = -(-side // multiple) * multiple
        big = -(-max(FIELD_SIZE, side) // multiple) * multiple
        field_ = receptive_field(graph, weights, big, big, channels)
    except Exception as exc:  # a shape the graph cannot take: say so, before parity
        raise ConversionError(
            f"{name}: the model cannot run on a {side}x{side} image with {channels} channels "
            f"({type(exc).__name__}: {exc}). Check --channels, or pass --size."
        ) from None
    if side % field_.size_multiple:
        raise ConversionError(
            f"--size {side}: the model takes sides that are multiples of {field_.size_multiple}"
        )
    return field_, side


def _check_shapes(apply, weights, channels: int, side: int, name: str) -> int:
    """Run the interpreter once in float32; the class count K of logits [1, H, W, K]."""
    image = jnp.zeros((1, side, side, channels), jnp.float32)  # (B, H, W, C)
    params = {k: jnp.asarray(v) for k, v in weights.items()}
    try:
        shape = jax.eval_shape(apply, params, image).shape
    except Exception as exc:  # a shape the interpreter refuses: say where
        raise ConversionError(
            f"{name}: the model cannot run on a {side}x{side} image with {channels} channels "
            f"({type(exc).__name__}: {exc}). Check --channels, or pass --size."
        ) from None
    if len(shape) != 4 or tuple(shape[:3]) != (1, side, side):
        raise ConversionError(
            f"{name}: for a {side}x{side} image the model returns {tuple(shape)}; cnninterp "
            "needs logits for every pixel, [B, K, H, W] in PyTorch's layout."
        )
    return int(shape[3])


def _config(classes, channels, head, activation, normalize, class_names, field_) -> GraphConfig:
    if normalize is not None:  # one mean and std stand for every channel
        normalize = {
            k: list(v) * channels if len(v) == 1 else list(v) for k, v in normalize.items()
        }
    if normalize is not None and any(len(normalize[k]) != channels for k in ("mean", "std")):
        raise ConversionError(
            f"--normalize gives {len(normalize['mean'])} means and {len(normalize['std'])} "
            f"stds for a model with {channels} input channels"
        )
    if class_names is not None and len(class_names) != classes:
        raise ConversionError(
            f"--class-names gives {len(class_names)} names for a model with {classes} classes"
        )
    chosen = activation or head or ("softmax" if classes >= 2 else "sigmoid")
    return GraphConfig(
        input_channels=channels,
        classes=classes,
        activation=chosen,
        class_names=tuple(class_names) if class_names is not None else None,
        normalize=normalize,
        explained_class=default_explained_class(classes),
        size_multiple=int(field_.size_multiple),
        receptive_radius=field_.radius,
        receptive_reason=field_.reason or "local",
    )


def _notes(head: str | None, config: GraphConfig) -> list[str]:
    notes = []
    if head is not None:
        notes.append(f"the model ends in {head}: kept out of the graph, applied by the explainer")
        if config.activation != head:
            notes.append(f"--activation {config.activation} replaces the model's own {head}")
    return notes


def _jax_outputs(apply, graph: Graph, weights, head: str | None) -> Callable:
    """images [B, H, W, C] -> the network's outputs [B, H, W, K] (logits, then the head's
    activation where the export ended in one), the weights cast to the images' dtype."""

    @jax.jit
    def outputs(params, images):
        logits = apply(params, images)
        if head == "softmax":
            return jax.nn.softmax(logits, axis=-1)
        if head == "sigmoid":
            return jax.nn.sigmoid(logits)
        return logits

    used = {name for node in graph.nodes for name in references(node.args)}
    floats = {k: v for k, v in weights.items() if k in used and v.dtype.kind == "f"}
    others = {k: jnp.asarray(v) for k, v in weights.items() if k in used and k not in floats}

    def call(images):  # the weights cast to the images' dtype: float32 or float64
        params = {k: jnp.asarray(v, images.dtype) for k, v in floats.items()}
        return outputs(params | others, images)

    return call


def _torch_outputs(module, graph: Graph, weights, head: str | None) -> Callable:
    """images [B, C, H, W] float64 -> outputs [B, K, H, W] from PyTorch: the user's module
    (route b), or our graph run by ATen kernels plus the head it ended in (route a)."""
    if module is not None:
        module = module.double().eval().requires_grad_(False)
        return module
    parameters = torch_parameters(weights)

    def outputs(images):
        logits = evaluate(graph, parameters, images)
        if head == "softmax":
            return torch.softmax(logits, dim=1)
        if head == "sigmoid":
            return torch.sigmoid(logits)
        return logits

    return outputs
