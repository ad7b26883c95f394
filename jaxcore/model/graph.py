"""An exported segmentation network as data: our own op vocabulary and the graph record.

The converter (convert/aten_graph.py) translates a torch.export program into this record; the
interpreter (interpreter.py) runs it in JAX and graph_field.py walks it for the receptive
field. It is plain JSON so that it can sit in a model file, and it names its own ops (not
ATen's) so that the core never needs torch to read it.

A node's `args` are keyed by the ATen argument names with every default filled in. A reference
to another value (the image, a parameter, an earlier node's tensor or integer) is written
{"value": "<name>"}; lists may mix integers and references (sizes that depend on the image);
everything else is a constant.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

OPS: dict[str, str] = {
    # convolutions, normalisations
    "conv2d": "2-D convolution (groups, dilation), PyTorch's OIHW weight",
    "conv_transpose2d": "2-D transposed convolution, PyTorch's [I, O/groups, kH, kW] weight",
    "batch_norm": "batch norm with running statistics (eval mode)",
    "instance_norm": "per-image, per-channel normalisation over space",
    "group_norm": "per-image normalisation over channel groups and space",
    # pointwise
    "relu": "max(x, 0)",
    "leaky_relu": "x or negative_slope * x",
    "prelu": "x or weight * x, one slope per channel or shared",
    "hardswish": "x * relu6(x + 3) / 6",
    "hardsigmoid": "relu6(x + 3) / 6",
    "hardtanh": "clamp(x, min_val, max_val)",
    "clamp": "clamp(x, min, max), either bound optional",
    "sigmoid": "logistic sigmoid",
    "tanh": "hyperbolic tangent",
    "silu": "x * sigmoid(x)",
    "gelu": "Gaussian error linear unit (approximate 'none' or 'tanh')",
    "softmax": "softmax over one dimension",
    "identity": "the input unchanged (clone, contiguous, eval-mode dropout)",
    # pooling, resampling, padding
    "max_pool2d": "max pooling (padding, dilation, ceil mode)",
    "avg_pool2d": "average pooling (padding, ceil mode, count_include_pad, divisor)",
    "adaptive_avg_pool2d": "average pooling to a fixed output size, PyTorch's bins",
    "upsample_nearest2d": "nearest-neighbour resize to output_size or by scale_factors",
    "upsample_bilinear2d": "bilinear resize, align_corners either way",
    "pad": "pad the last dimensions: constant, reflect, replicate or circular",
    # arithmetic and tensor plumbing
    "add": "self + alpha * other (tensors or numbers, broadcasting)",
    "sub": "self - alpha * other",
    "mul": "self * other",
    "div": "self / other",
    "cat": "concatenate tensors along dim",
    "stack": "stack tensors along a new dim",
    "sum": "sum over dims (keepdim)",
    "mean": "mean over dims (keepdim)",
    "view": "reshape to size (-1 inferred)",
    "flatten": "flatten dims start_dim..end_dim",
    "permute": "reorder dims",
    "slice": "self[start:end:step] along dim",
    # integers that depend on the image's size
    "sym_size": "the size of a tensor's dimension, an integer",
    "int_add": "a + b on integers",
    "int_sub": "a - b on integers",
    "int_mul": "a * b on integers",
    "int_floordiv": "a // b on integers",
}


class GraphError(ValueError):
    """A graph record that cannot be run: unknown op, undefined reference, missing output."""


@dataclass(frozen=True)
class Node:
    """One operation; its result is the value named `name`."""

    name: str
    """The value this node defines."""
    op: str
    """A key of OPS."""
    args: Mapping[str, Any]
    """JSON values keyed by argument name; {"value": name} refers to another value."""
    layer: str
    """The module path the node came from ('' for the top level), for messages."""

    def where(self) -> str:
        """'node conv2d_3 (conv2d) in layer encoder.conv1' for messages."""
        layer = f"layer {self.layer}" if self.layer else "the model's top level"
        return f"node {self.name} ({self.op}) in {layer}"


@dataclass(frozen=True)
class Graph:
    """A network from one image to logits, its weights named by their state-dict names."""

    input: str
    """The image's value name."""
    output: str
    """The logits' value name."""
    nodes: tuple[Node, ...]
    """In an order where every reference is defined before it is used."""
    parameters: tuple[str, ...]
    """Weights, buffers and constants the graph takes, by their state-dict names."""

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "parameters": list(self.parameters),
            "nodes": [
                {"name": n.name, "op": n.op, "args": dict(n.args), "layer": n.layer}
                for n in self.nodes
            ],
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> "Graph":
        """The graph in `data`, checked: every op known, every reference defined before its
        use, the output defined. Raises GraphError naming the node and its layer."""
        try:
            graph = Graph(
                input=_text(data["input"]),
                output=_text(data["output"]),
                parameters=tuple(_text(p) for p in data["parameters"]),
                nodes=tuple(
                    Node(_text(n["name"]), _text(n["op"]), dict(n["args"]), _text(n["layer"]))
                    for n in data["nodes"]
                ),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise GraphError(f"malformed graph record: {error!r}") from error
        graph.check()
        return graph

    def check(self) -> None:
        """Raise GraphError unless the graph can be run in order."""
        defined = {self.input, *self.parameters}
        if len(defined) != 1 + len(self.parameters):
            raise GraphError("the input or a parameter is named twice")
        for node in self.nodes:
            if node.op not in OPS:
                raise GraphError(f"{node.where()}: unknown op {node.op!r}")
            for name in references(node.args):
                if name not in defined:
                    raise GraphError(f"{node.where()}: {name!r} is used before it is defined")
            if node.name in defined:
                raise GraphError(f"{node.where()}: {node.name!r} is defined twice")
            defined.add(node.name)
        if self.output not in defined:
            raise GraphError(f"the output {self.output!r} is never defined")


def is_reference(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"value"} and isinstance(value["value"], str)


def references(value: Any) -> Iterator[str]:
    """Every value name referred to in an argument (nested lists and dicts included)."""
    if is_reference(value):
        yield value["value"]
    elif isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from references(item)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value
