"""Runs a graph record (graph.py) in JAX: one exported PyTorch network as a pure function.

Inside, every 4-D value of the network is kept NHWC, the layout XLA's convolutions want and the
one the rest of the core uses; the ops that name dimensions (cat, softmax, sum, pad, sizes)
translate PyTorch's NCHW dims, and values of other ranks are kept in PyTorch's layout.
Parameters stay in PyTorch's layout (OIHW conv weights) and are cast to the image's dtype, so
the same graph runs in float32 and float64. Exported graphs may hard-code batch 1, so each image
runs alone under jax.vmap.

Resizing, padding and adaptive pooling are index maps and small matrices computed with NumPy
exactly as PyTorch computes them (index_maps.py, which the receptive field walk reads too).
"""

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from cnninterp.jaxcore.model.graph import Graph, GraphError, is_reference, references
from cnninterp.jaxcore.model.index_maps import (
    adaptive_matrix,
    avg_pool_divisors,
    bilinear_matrix,
    nearest_indices,
    pad_indices,
    pair,
    pooled_size,
    slice_indices,
)

STORED_AXIS = (0, 3, 1, 2)  # a 4-D value's PyTorch dim (N, C, H, W) -> its axis in NHWC


def graph_apply(graph: Graph) -> Callable[..., Float[Array, "B H W K"]]:
    """apply(params, images [B, H, W, C]) -> logits [B, H, W, K]; params in PyTorch layout."""

    def apply(params: Mapping[str, Any], images: Float[Array, "B H W C"]):
        def one(image):  # (H, W, C): batch 1 inside, as the export may assume
            return run_graph(graph, params, image[None])[graph.output][0]

        return jax.vmap(one)(images)

    return apply


def run_graph(graph: Graph, params: Mapping[str, Any], image: Array) -> dict[str, Any]:
    """Every value of the graph for one NHWC image [1, H, W, C] (4-D values NHWC)."""
    used = {name for node in graph.nodes for name in references(node.args)}
    env: dict[str, Any] = {graph.input: image}
    logical = {n: _as_operand(params[n], image.dtype) for n in graph.parameters if n in used}
    for node in graph.nodes:
        values = _Values(env, logical, image.dtype)
        try:
            result = OP_RUNNERS[node.op](node.args, values)
        except (KeyError, TypeError, ValueError) as error:
            raise GraphError(f"{node.where()} cannot run: {error}") from error
        env[node.name] = result
    output = env[graph.output]
    if not isinstance(output, jax.Array) or output.ndim != 4:
        raise GraphError(f"the output {graph.output!r} is not a 4-D tensor")
    return env


def _as_operand(param: Any, dtype) -> Array:
    """A parameter in the image's float dtype; integer and boolean buffers (indices, masks)
    as they are."""
    if jnp.issubdtype(param.dtype, jnp.floating):
        return jnp.asarray(param, dtype)
    return jnp.asarray(param)


class _Values:
    """Reads arguments: references resolved, 4-D tensors in the layout the op asks for."""

    def __init__(self, env: dict, params: dict, dtype):
        self.env, self.params, self.dtype = env, params, dtype

    def nhwc(self, arg) -> Array:
        if arg["value"] in self.params and self.params[arg["value"]].ndim == 4:
            return jnp.transpose(self.params[arg["value"]], (0, 2, 3, 1))
        return self.stored(arg)

    def stored(self, arg) -> Array:
        """As stored: node values NHWC when 4-D, parameters in PyTorch's layout."""
        name = arg["value"]
        return self.params[name] if name in self.params else self.env[name]

    def torch_layout(self, arg) -> Array:
        value = self.stored(arg)
        if arg["value"] not in self.params and value.ndim == 4:
            return jnp.transpose(value, STORED_AXIS)
        return value

    def integer(self, arg) -> Any:
        """Sizes resolved to Python ints (lists too); anything else returned as it is."""
        if isinstance(arg, list):
            return [self.integer(a) for a in arg]
        if is_reference(arg) and isinstance(self.env.get(arg["value"]), int):
            return self.env[arg["value"]]
        return arg


def _stored(value: Array) -> Array:
    """A PyTorch-layout result in the stored layout (NHWC when 4-D)."""
    return jnp.transpose(value, (0, 2, 3, 1)) if value.ndim == 4 else value


def _per_channel(vector: Array) -> Array:
    return jnp.reshape(vector, (1, 1, 1, -1))  # [C] -> (1, 1, 1, C) against NHWC


def _axis(dim: int, rank: int) -> int:
    dim = dim % rank
    return STORED_AXIS[dim] if rank == 4 else dim


# ---- convolutions and normalisations --------------------------------------------------------


def conv2d(args, v: _Values) -> Array:
    x, weight = v.nhwc(args["input"]), v.stored(args["weight"])
    (ph, pw), groups = pair(args["padding"]), args["groups"]
    y = lax.conv_general_dilated(
        x,
        jnp.transpose(weight, (2, 3, 1, 0)),  # torch [O, I/g, kH, kW] -> HWIO
        window_strides=pair(args["stride"]),
        padding=((ph, ph), (pw, pw)),
        rhs_dilation=pair(args["dilation"]),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups,
        precision=lax.Precision.HIGHEST,
    )
    return y if args["bias"] is None else y + _per_channel(v.stored(args["bias"]))


def conv_transpose2d(args, v: _Values) -> Array:
    """PyTorch's transposed convolution as the convolution of the stride-dilated input with
    the flipped kernel: out = (n - 1) s - 2 p + d (k - 1) + output_padding + 1."""
    x, weight = v.nhwc(args["input"]), v.stored(args["weight"])
    groups = args["groups"]
    cin, cout_g, kh, kw = weight.shape  # torch [I, O/g, kH, kW]
    kernel = jnp.reshape(weight, (groups, cin // groups, cout_g, kh, kw))
    kernel = jnp.transpose(kernel, (3, 4, 1, 0, 2))  # (kH, kW, I/g, g, O/g)
    kernel = jnp.reshape(kernel, (kh, kw, cin // groups, groups * cout_g))[::-1, ::-1]
    (dh, dw), (ph, pw) = pair(args["dilation"]), pair(args["padding"])
    (oh, ow) = pair(args["output_padding"])
    eh, ew = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    y = lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(1, 1),
        padding=((eh, eh + oh), (ew, ew + ow)),
        lhs_dilation=pair(args["stride"]),
        rhs_dilation=(dh, dw),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups,
        precision=lax.Precision.HIGHEST,
    )
    return y if args["bias"] is None else y + _per_channel(v.stored(args["bias"]))


def _affine(args, v: _Values, y: Array) -> Array:
    if args["weight"] is not None:
        y = y * _per_channel(v.stored(args["weight"]))
    return y if args["bias"] is None else y + _per_channel(v.stored(args["bias"]))


def _running_norm(args, v: _Values) -> Array:
    x = v.nhwc(args["input"])
    mean, var = v.stored(args["running_mean"]), v.stored(args["running_var"])
    return _affine(args, v, (x - _per_channel(mean)) / jnp.sqrt(_per_channel(var) + args["eps"]))


def instance_norm(args, v: _Values) -> Array:
    if not args["use_input_stats"]:
        return _running_norm(args, v)
    x = v.nhwc(args["input"])
    mean = jnp.mean(x, axis=(1, 2), keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True)
    return _affine(args, v, (x - mean) / jnp.sqrt(var + args["eps"]))


def group_norm(args, v: _Values) -> Array:
    x = v.nhwc(args["input"])
    n, h, w, c = x.shape
    g = args["num_groups"]
    grouped = jnp.reshape(x, (n, h, w, g, c // g))  # (N, H, W, G, C/G)
    mean = jnp.mean(grouped, axis=(1, 2, 4), keepdims=True)
    var = jnp.mean(jnp.square(grouped - mean), axis=(1, 2, 4), keepdims=True)
    y = jnp.reshape((grouped - mean) / jnp.sqrt(var + args["eps"]), (n, h, w, c))
    return _affine({"weight": args["weight"], "bias": args["bias"]}, v, y)


# ---- pointwise ----------------------------------------------------------------------------


def _unary(function: Callable) -> Callable:
    return lambda args, v: function(v.stored(args["self"]), args)


def _relu6(x):
    return jnp.clip(x, 0.0, 6.0)


def prelu(args, v: _Values) -> Array:
    x, weight = v.stored(args["self"]), v.stored(args["weight"])
    if weight.size == 1:
        slope = weight[0]
    elif x.ndim == 4:  # NHWC: channels last
        slope = _per_channel(weight)
    else:  # PyTorch's layout: channels on dim 1
        slope = jnp.reshape(weight, (1, -1) + (1,) * (x.ndim - 2))
    return jnp.where(x >= 0, x, slope * x)


def _elementwise(function: Callable) -> Callable:
    """A binary op on tensors or numbers: ranks aligned explicitly as PyTorch broadcasts."""

    def run(args, v: _Values) -> Array:
        operands = [v.integer(args["self"]), v.integer(args["other"])]  # sizes resolved
        tensors = [a for a in operands if is_reference(a)]
        rank = max(v.torch_layout(a).ndim for a in tensors)
        values = []
        for arg in operands:
            if not is_reference(arg):
                values.append(arg)
                continue
            value = v.torch_layout(arg)
            value = jnp.reshape(value, (1,) * (rank - value.ndim) + value.shape)
            values.append(_stored(value) if rank == 4 else value)
        alpha = args.get("alpha", 1)
        if alpha != 1:
            values[1] = values[1] * alpha
        return function(*values)

    return run


def softmax(args, v: _Values) -> Array:
    x = v.stored(args["self"])
    return jax.nn.softmax(x, axis=_axis(args["dim"], x.ndim))


# ---- pooling, resampling, padding -----------------------------------------------------------


def _window(args, x: Array, dilation=(1, 1)):
    """Sizes, strides and padding (with ceil mode's extra) for reduce_window on NHWC."""
    k = pair(args["kernel_size"])
    s = pair(args["stride"] or args["kernel_size"])
    p = pair(args["padding"])
    pads = [(0, 0)]
    for axis in (0, 1):
        n = x.shape[1 + axis]
        out = pooled_size(n, k[axis], s[axis], p[axis], dilation[axis], args["ceil_mode"])
        extra = max(0, (out - 1) * s[axis] + dilation[axis] * (k[axis] - 1) + 1 - n - 2 * p[axis])
        pads.append((p[axis], p[axis] + extra))
    return (1, *k, 1), (1, *s, 1), (*pads, (0, 0)), k, s, p


def max_pool2d(args, v: _Values) -> Array:
    x = v.nhwc(args["self"])
    dilation = pair(args["dilation"])
    window, strides, pads, *_ = _window(args, x, dilation)
    # A scalar -inf with lax.max is JAX's max pool, which has a derivative (an array init
    # makes a generic reduction, which reverse mode cannot differentiate).
    return lax.reduce_window(x, -jnp.inf, lax.max, window, strides, pads, None, (1, *dilation, 1))


def avg_pool2d(args, v: _Values) -> Array:
    x = v.nhwc(args["self"])
    window, strides, pads, k, s, p = _window(args, x)
    # the window sums as a depthwise convolution of ones: reduce_window's sum has no JVP
    # when its init value is not known to be zero, as under some transformations
    ones = jnp.ones((*k, 1, x.shape[3]), x.dtype)
    total = lax.conv_general_dilated(
        x,
        ones,
        window_strides=s,
        padding=pads[1:3],
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=x.shape[3],
        precision=lax.Precision.HIGHEST,
    )
    if args["divisor_override"]:
        return total / args["divisor_override"]
    rows, cols = (
        avg_pool_divisors(
            x.shape[1 + a], k[a], s[a], p[a], total.shape[1 + a], args["count_include_pad"]
        )
        for a in (0, 1)
    )
    divisor = jnp.asarray(np.outer(rows, cols)[None, :, :, None], x.dtype)  # (1, OH, OW, 1)
    return total / divisor


def _resize_sizes(args, v: _Values, x: Array) -> tuple[list[int], list[float | None]]:
    if args["output_size"] is not None:
        return v.integer(args["output_size"]), [None, None]
    factors = list(args["scale_factors"])
    return [int(x.shape[1 + a] * factors[a]) for a in (0, 1)], factors


def upsample_nearest2d(args, v: _Values) -> Array:
    x = v.nhwc(args["input"])
    sizes, factors = _resize_sizes(args, v, x)
    for axis in (0, 1):
        index = nearest_indices(x.shape[1 + axis], sizes[axis], factors[axis])
        x = jnp.take(x, jnp.asarray(index), axis=1 + axis)
    return x


def _apply_matrices(x: Array, rows: np.ndarray, cols: np.ndarray) -> Array:
    along_rows, along_cols = jnp.asarray(rows, x.dtype), jnp.asarray(cols, x.dtype)
    return jnp.einsum(
        "nhwc,oh,pw->nopc", x, along_rows, along_cols, precision=lax.Precision.HIGHEST
    )


def upsample_bilinear2d(args, v: _Values) -> Array:
    x = v.nhwc(args["input"])
    sizes, factors = _resize_sizes(args, v, x)
    rows, cols = (
        bilinear_matrix(x.shape[1 + a], sizes[a], args["align_corners"], factors[a]) for a in (0, 1)
    )
    return _apply_matrices(x, rows, cols)


def adaptive_avg_pool2d(args, v: _Values) -> Array:
    x = v.nhwc(args["self"])
    sizes = [
        x.shape[1 + a] if s is None else s for a, s in enumerate(v.integer(args["output_size"]))
    ]
    return _apply_matrices(
        x, adaptive_matrix(x.shape[1], sizes[0]), adaptive_matrix(x.shape[2], sizes[1])
    )


def pad(args, v: _Values) -> Array:
    x = v.stored(args["self"])
    amounts = v.integer(args["pad"])  # (before, after) pairs from the last dim backwards
    for i in range(len(amounts) // 2):
        axis = _axis(-1 - i, x.ndim)
        index = pad_indices(x.shape[axis], amounts[2 * i], amounts[2 * i + 1], args["mode"])
        x = jnp.take(x, jnp.asarray(np.maximum(index, 0)), axis=axis)
        if (index < 0).any():
            shape = [1] * x.ndim
            shape[axis] = index.size
            keep = jnp.asarray(np.reshape(index >= 0, shape))
            x = jnp.where(keep, x, jnp.array(args.get("value") or 0, x.dtype))
    return x


# ---- tensor plumbing and integers -----------------------------------------------------------


def cat(args, v: _Values) -> Array:
    values = [v.stored(t) for t in args["tensors"]]
    return jnp.concatenate(values, axis=_axis(args["dim"], values[0].ndim))


def stack(args, v: _Values) -> Array:
    values = [v.torch_layout(t) for t in args["tensors"]]
    return _stored(jnp.stack(values, axis=args["dim"] % (values[0].ndim + 1)))


def _reduction(function: Callable) -> Callable:
    def run(args, v: _Values) -> Array:
        x = v.torch_layout(args["self"])
        dims = range(x.ndim) if not args["dim"] else args["dim"]
        axes = tuple(sorted(d % x.ndim for d in dims))
        return _stored(function(x, axis=axes, keepdims=args["keepdim"]))

    return run


def view(args, v: _Values) -> Array:
    return _stored(jnp.reshape(v.torch_layout(args["self"]), v.integer(args["size"])))


def flatten(args, v: _Values) -> Array:
    x = v.torch_layout(args["self"])
    start, end = args["start_dim"] % max(x.ndim, 1), args["end_dim"] % max(x.ndim, 1)
    return _stored(jnp.reshape(x, x.shape[:start] + (-1,) + x.shape[end + 1 :]))


def permute(args, v: _Values) -> Array:
    return _stored(jnp.transpose(v.torch_layout(args["self"]), args["dims"]))


def slice_(args, v: _Values) -> Array:
    x = v.stored(args["self"])
    axis = _axis(args["dim"], x.ndim)
    start, end = v.integer(args["start"]), v.integer(args["end"])
    index = slice_indices(x.shape[axis], start, end, args["step"])
    return jnp.take(x, jnp.asarray(index, dtype=jnp.int32), axis=axis)


def sym_size(args, v: _Values) -> int:
    return int(v.torch_layout(args["self"]).shape[args["dim"]])


def _integers(function: Callable) -> Callable:
    return lambda args, v: function(v.integer(args["a"]), v.integer(args["b"]))


OP_RUNNERS: dict[str, Callable[[Mapping[str, Any], _Values], Any]] = {
    "conv2d": conv2d,
    "conv_transpose2d": conv_transpose2d,
    "batch_norm": _running_norm,
    "instance_norm": instance_norm,
    "group_norm": group_norm,
    "relu": _unary(lambda x, a: jnp.maximum(x, 0)),
    "leaky_relu": _unary(lambda x, a: jnp.where(x >= 0, x, a["negative_slope"] * x)),
    "prelu": prelu,
    "hardswish": _unary(lambda x, a: x * _relu6(x + 3.0) / 6.0),
    "hardsigmoid": _unary(lambda x, a: _relu6(x + 3.0) / 6.0),
    "hardtanh": _unary(lambda x, a: jnp.clip(x, a["min_val"], a["max_val"])),
    "clamp": _unary(lambda x, a: jnp.clip(x, a["min"], a["max"])),
    "sigmoid": _unary(lambda x, a: jax.nn.sigmoid(x)),
    "tanh": _unary(lambda x, a: jnp.tanh(x)),
    "silu": _unary(lambda x, a: jax.nn.silu(x)),
    "gelu": _unary(lambda x, a: jax.nn.gelu(x, approximate=a["approximate"] == "tanh")),
    "softmax": softmax,
    "identity": lambda args, v: v.stored(next(iter(args.values()))),
    "max_pool2d": max_pool2d,
    "avg_pool2d": avg_pool2d,
    "adaptive_avg_pool2d": adaptive_avg_pool2d,
    "upsample_nearest2d": upsample_nearest2d,
    "upsample_bilinear2d": upsample_bilinear2d,
    "pad": pad,
    "add": _elementwise(jnp.add),
    "sub": _elementwise(jnp.subtract),
    "mul": _elementwise(jnp.multiply),
    "div": _elementwise(jnp.divide),
    "cat": cat,
    "stack": stack,
    "sum": _reduction(jnp.sum),
    "mean": _reduction(jnp.mean),
    "view": view,
    "flatten": flatten,
    "permute": permute,
    "slice": slice_,
    "sym_size": sym_size,
    "int_add": _integers(lambda a, b: a + b),
    "int_sub": _integers(lambda a, b: a - b),
    "int_mul": _integers(lambda a, b: a * b),
    "int_floordiv": _integers(lambda a, b: a // b),
}
