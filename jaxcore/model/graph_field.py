"""The receptive field of an interpreted graph, by an interval walk over its ops.

For one image size, every 4-D value carries, per spatial axis, the hull [lo[i], hi[i]] of the
input rows (or columns) its position i depends on. Convolutions and pools take the union over
their taps inside the input (padding taps depend on nothing); transposed convolutions scatter;
resizing, padding and adaptive pooling read the interpreter's own index maps and matrices, so
a bilinear neighbour whose weight is exactly 0 is no dependency. Ops that mix every position
(instance and group norm, global pooling, reductions or softmax over space, reshapes, anything
unknown) make a value depend on the whole image, and the first such op is the reason given.

The walk also finds the total stride: the size multiple that keeps every pooling phase, the
lcm of every value's cumulative stride.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cnninterp.jaxcore.model import index_maps
from cnninterp.jaxcore.model import interpreter as run
from cnninterp.jaxcore.model.graph import Graph, Node, references

EMPTY = np.iinfo(np.int64).max  # lo of a position that depends on no input pixel (hi: -1)
SAME_POSITIONS = {
    "batch_norm",
    "relu",
    "leaky_relu",
    "prelu",
    "hardswish",
    "hardsigmoid",
    "hardtanh",
    "clamp",
    "sigmoid",
    "tanh",
    "silu",
    "gelu",
    "identity",
    "add",
    "sub",
    "mul",
    "div",
}
MIXING = {
    "instance_norm": "instance norm",
    "group_norm": "group norm",
    "adaptive_avg_pool2d": "global average pooling",
    "softmax": "a softmax over space",
    "sum": "a sum over space",
    "mean": "a mean over space",
    "view": "a reshape",
    "flatten": "a flatten",
    "permute": "a permute",
    "stack": "a stack",
}


@dataclass(frozen=True)
class Field:
    """Which input pixels each output pixel depends on, for one image size."""

    radius: int | None
    """How far, in pixels each way, any output pixel sees; None: the whole image."""
    reason: str | None
    """Why the field is the whole image (the op and its layer); None when it is local."""
    rows: tuple[np.ndarray, np.ndarray] | None
    """(lo, hi): output row y depends on input rows lo[y]..hi[y]; None for the whole image."""
    cols: tuple[np.ndarray, np.ndarray] | None
    """(lo, hi) for the columns, likewise."""
    size_multiple: int
    """Image sides must be multiples of this (the lcm of every value's total stride)."""


@dataclass(frozen=True)
class _Dep:
    whole: str | None = None  # the reason, when the value depends on the whole image
    rows: tuple[np.ndarray, np.ndarray] | None = None
    cols: tuple[np.ndarray, np.ndarray] | None = None


def receptive_field(
    graph: Graph, params: Mapping[str, Any], height: int, width: int, channels: int
) -> Field:
    """The field of `graph` on height x width images; params give the weights' shapes."""
    shapes = _value_shapes(graph, params, height, width, channels)
    rows = (np.arange(height), np.arange(height))
    deps: dict[str, _Dep | None] = {graph.input: _Dep(rows=rows, cols=(np.arange(width),) * 2)}
    strides: dict[str, tuple[Fraction, Fraction]] = {graph.input: (Fraction(1), Fraction(1))}
    for node in graph.nodes:
        inputs = [deps.get(name) for name in references(node.args)]
        if all(d is None for d in inputs) or not isinstance(shapes.get(node.name), tuple):
            deps[node.name] = None  # weights, integers: no pixel
        else:
            deps[node.name] = _walk(node, deps, shapes)
        if isinstance(shapes.get(node.name), tuple) and len(shapes[node.name]) == 4:
            strides[node.name] = _stride(node, strides, shapes)
    numerators: list[int] = [s.numerator for pair in strides.values() for s in pair]
    multiple = math.lcm(*numerators)
    out = deps[graph.output]
    if out is None or out.whole is not None:
        return Field(
            None, out.whole if out else "the output depends on no pixel", None, None, multiple
        )
    assert out.rows is not None and out.cols is not None  # a local value has both
    radius = max(_reach(*out.rows), _reach(*out.cols))
    return Field(radius, None, out.rows, out.cols, multiple)


def field_crop(field: Field, y: int, x: int, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the smallest window aligned to the size multiple that
    holds pixel (y, x)'s field; the whole image when the field is."""
    if field.rows is None or field.cols is None:
        return 0, height, 0, width
    m = field.size_multiple
    (rlo, rhi), (clo, chi) = field.rows, field.cols
    top, left = (min(rlo[y], y) // m) * m, (min(clo[x], x) // m) * m
    bottom = min(height, -(-(max(rhi[y], y) + 1) // m) * m)
    right = min(width, -(-(max(chi[x], x) + 1) // m) * m)
    return int(top), int(bottom), int(left), int(right)


def _reach(lo: np.ndarray, hi: np.ndarray) -> int:
    position = np.arange(lo.size)
    seen = lo <= hi
    if not seen.any():
        return 0
    return int(max((position - lo)[seen].max(), (hi - position)[seen].max(), 0))


def _value_shapes(graph, params, height, width, channels) -> dict[str, Any]:
    """The PyTorch-layout shape of every tensor value, and the value of every integer (sizes),
    traced without computing anything."""
    specs = {n: jax.ShapeDtypeStruct(np.shape(params[n]), jnp.float32) for n in graph.parameters}
    image = jax.ShapeDtypeStruct((1, height, width, channels), jnp.float32)

    integers: dict[str, int] = {}

    def values(p, x):
        env = run.run_graph(graph, p, x)
        integers.update({k: v for k, v in env.items() if isinstance(v, int)})
        return {k: v for k, v in env.items() if isinstance(v, jax.Array)}

    stored = jax.eval_shape(values, specs, image)
    shapes: dict[str, Any] = {n: tuple(s.shape) for n, s in specs.items()}  # PyTorch layout
    shapes.update(integers)
    for name, s in stored.items():  # node values: NHWC when 4-D
        shapes[name] = (
            (s.shape[0], s.shape[3], s.shape[1], s.shape[2]) if s.ndim == 4 else tuple(s.shape)
        )
    return shapes


def _whole(node: Node, what: str) -> _Dep:
    layer = f"layer {node.layer}" if node.layer else "the model's top level"
    return _Dep(whole=f"{what} in {layer}: every output depends on every pixel")


def _walk(node: Node, deps: dict, shapes: dict) -> _Dep:
    """The dependency of the node's value, given its inputs'."""
    args = node.args
    inputs = [deps[name] for name in references(args) if deps.get(name) is not None]
    for dep in inputs:
        if dep.whole:
            return dep
    out_shape = shapes[node.name]
    if len(out_shape) != 4:
        return _whole(node, MIXING.get(node.op, node.op))
    op = node.op
    if op in SAME_POSITIONS or (op == "cat" and args["dim"] % 4 < 2):
        return _union(inputs, out_shape)
    if op == "softmax" and args["dim"] % 4 < 2:
        return inputs[0]
    if op in ("sum", "mean") and args["keepdim"] and all(d % 4 < 2 for d in args["dim"] or [2]):
        return inputs[0]
    if op in ("conv2d", "max_pool2d", "avg_pool2d"):
        return _windowed(node, inputs[0], shapes)
    if op == "conv_transpose2d":
        return _transposed(node, inputs[0], shapes)
    if op in ("upsample_nearest2d", "upsample_bilinear2d", "pad", "adaptive_avg_pool2d"):
        return _resampled(node, inputs[0], shapes)
    if op == "slice":
        return inputs[0] if args["dim"] % 4 < 2 else _resampled(node, inputs[0], shapes)
    if op == "cat":
        return _concatenated(node, [deps.get(t["value"]) for t in args["tensors"]], shapes)
    return _whole(node, MIXING.get(op, f"the op {op}"))


def _union(inputs: list[_Dep], shape: tuple[int, ...]) -> _Dep:
    """Positionwise union, an operand of size 1 broadcast along its axis."""
    axes = []
    for axis, n in (("rows", shape[2]), ("cols", shape[3])):
        lo, hi = np.full(n, EMPTY), np.full(n, -1)
        for dep in inputs:
            dlo, dhi = getattr(dep, axis)
            lo, hi = (
                np.minimum(lo, np.broadcast_to(dlo, n)),
                np.maximum(hi, np.broadcast_to(dhi, n)),
            )
        axes.append((lo, hi))
    return _Dep(rows=axes[0], cols=axes[1])


def _gather(dep_axis, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output position, the union over the input positions in `sources` [out, taps]
    (-1: none)."""
    lo, hi = dep_axis
    valid = sources >= 0
    safe = np.maximum(sources, 0)
    return (
        np.where(valid, lo[safe], EMPTY).min(axis=1),
        np.where(valid, hi[safe], -1).max(axis=1),
    )


def _windowed(node: Node, dep: _Dep, shapes: dict) -> _Dep:
    args = node.args
    source = args.get("input", args.get("self"))
    n_in, n_out = shapes[source["value"]][2:], shapes[node.name][2:]
    if node.op == "conv2d":
        kernel = shapes[args["weight"]["value"]][2:]
        stride = index_maps.pair(args["stride"])
    else:
        kernel = index_maps.pair(args["kernel_size"])
        stride = index_maps.pair(args["stride"] or args["kernel_size"])
    padding = index_maps.pair(args["padding"])
    dilation = index_maps.pair(args.get("dilation", [1]))
    axes = []
    for a, axis in enumerate(("rows", "cols")):
        taps = np.arange(n_out[a])[:, None] * stride[a] - padding[a]
        taps = taps + np.arange(kernel[a])[None, :] * dilation[a]
        taps = np.where((taps >= 0) & (taps < n_in[a]), taps, -1)
        axes.append(_gather(getattr(dep, axis), taps))
    return _Dep(rows=axes[0], cols=axes[1])


def _transposed(node: Node, dep: _Dep, shapes: dict) -> _Dep:
    args = node.args
    n_in, n_out = shapes[args["input"]["value"]][2:], shapes[node.name][2:]
    kernel = shapes[args["weight"]["value"]][2:]
    stride, padding = index_maps.pair(args["stride"]), index_maps.pair(args["padding"])
    dilation = index_maps.pair(args["dilation"])
    axes = []
    for a, axis in enumerate(("rows", "cols")):
        dlo, dhi = getattr(dep, axis)
        lo, hi = np.full(n_out[a], EMPTY), np.full(n_out[a], -1)
        for t in range(kernel[a]):
            target = np.arange(n_in[a]) * stride[a] - padding[a] + t * dilation[a]
            inside = (target >= 0) & (target < n_out[a])
            np.minimum.at(lo, target[inside], dlo[inside])
            np.maximum.at(hi, target[inside], dhi[inside])
        axes.append((lo, hi))
    return _Dep(rows=axes[0], cols=axes[1])


def _resampled(node: Node, dep: _Dep, shapes: dict) -> _Dep:
    """Resizing, padding, adaptive pooling: the interpreter's own maps, read for sources."""
    args = node.args
    source = args.get("input", args.get("self"))
    n_in, n_out = shapes[source["value"]][2:], shapes[node.name][2:]
    if node.op == "adaptive_avg_pool2d" and n_out == (1, 1) and n_in != (1, 1):
        return _whole(node, MIXING[node.op])
    axes = []
    for a, axis in enumerate(("rows", "cols")):
        sources = _sources(node, a, n_in[a], n_out[a], shapes)
        axes.append(_gather(getattr(dep, axis), sources))
    return _Dep(rows=axes[0], cols=axes[1])


def _integer(arg: Any, shapes: dict) -> Any:
    return shapes[arg["value"]] if isinstance(arg, dict) else arg


def _sources(node: Node, a: int, n: int, out: int, shapes: dict) -> np.ndarray:
    """[out, taps] input positions each output position reads along axis a (-1: none)."""
    args = node.args
    factors = args.get("scale_factors") or [None, None]
    if node.op == "upsample_nearest2d":
        return index_maps.nearest_indices(n, out, factors[a])[:, None]
    if node.op == "slice":
        if node.args["dim"] % 4 != 2 + a:
            return np.arange(n)[:, None]
        start, end = _integer(node.args["start"], shapes), _integer(node.args["end"], shapes)
        return index_maps.slice_indices(n, start, end, node.args["step"])[:, None]
    if node.op == "pad":
        amounts = [_integer(p, shapes) for p in args["pad"]] + [0] * 4  # sizes resolved
        before, after = amounts[2 * (1 - a)], amounts[2 * (1 - a) + 1]
        return index_maps.pad_indices(n, before, after, args["mode"])[:, None]
    if node.op == "upsample_bilinear2d":
        matrix = index_maps.bilinear_matrix(n, out, args["align_corners"], factors[a])
    else:
        matrix = index_maps.adaptive_matrix(n, out)
    return np.where(matrix != 0, np.arange(n)[None, :], -1)


def _concatenated(node: Node, inputs: list, shapes: dict) -> _Dep:
    """cat along rows or columns: the positions follow one another."""
    along = "rows" if node.args["dim"] % 4 == 2 else "cols"
    other = "cols" if along == "rows" else "rows"
    n_other = shapes[node.name][3 if along == "rows" else 2]
    parts, lo, hi = [], np.full(n_other, EMPTY), np.full(n_other, -1)
    for tensor, dep in zip(node.args["tensors"], inputs, strict=True):
        size = shapes[tensor["value"]][2 if along == "rows" else 3]
        if dep is None:
            parts.append((np.full(size, EMPTY), np.full(size, -1)))
            continue
        parts.append(getattr(dep, along))
        lo, hi = np.minimum(lo, getattr(dep, other)[0]), np.maximum(hi, getattr(dep, other)[1])
    joined = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return _Dep(rows=joined, cols=(lo, hi)) if along == "rows" else _Dep(rows=(lo, hi), cols=joined)


def _resized(stride: Fraction, n_in: int, n_out: int) -> Fraction:
    """A resize by a whole factor moves the grid; one to another size (a skip's odd size)
    leaves it where it was."""
    if n_out % n_in == 0 or n_in % n_out == 0:
        return stride * Fraction(n_in, n_out)
    return stride


def _stride(node: Node, strides: dict, shapes: dict) -> tuple[Fraction, Fraction]:
    """A 4-D value's cumulative stride per axis, from the first strided input's."""
    sources = [r for r in references(node.args) if r in strides]
    if not sources:
        return Fraction(1), Fraction(1)
    source = sources[0]
    base = strides[source]
    args, op = node.args, node.op
    if op in ("add", "sub", "mul", "div"):  # the operand not broadcast sets the grid
        full = [s for s in sources if shapes[s][2:] == shapes[node.name][2:]]
        return strides[full[0]] if full else base
    if op in ("conv2d", "max_pool2d", "avg_pool2d"):
        step = index_maps.pair(args["stride"] or args.get("kernel_size"))
        return base[0] * step[0], base[1] * step[1]
    if op == "conv_transpose2d":
        step = index_maps.pair(args["stride"])
        return base[0] / step[0], base[1] / step[1]
    if op in ("upsample_nearest2d", "upsample_bilinear2d"):
        n_in, n_out = shapes[source][2:], shapes[node.name][2:]
        return _resized(base[0], n_in[0], n_out[0]), _resized(base[1], n_in[1], n_out[1])
    if op == "adaptive_avg_pool2d":
        return Fraction(1), Fraction(1)  # PyTorch's bins fit any size
    return base
