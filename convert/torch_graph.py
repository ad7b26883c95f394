"""Our graph evaluated by PyTorch itself: the parity reference for a `.pt2` file.

Parity needs an independent forward to compare the JAX interpreter with. Loading the
exported program would run code from the file (torch.export.load unpickles), so instead we
evaluate the graph we translated, node by node, with PyTorch's own ATen kernels:
`torch.ops.aten.<op>(**args)`, the arguments keyed by the ATen names the graph kept. What is
checked is then exactly the part we wrote: the interpreter's conv layouts, padding, resizing
and normalisations against PyTorch's, on the same graph and weights. A mistake in the
translation from ATen (a dropped argument) would be in both, which is why the translator's own
tests run the original modules; route (b) compares against the user's module as well.

A few ops of the vocabulary are not ATen ops under their own name: the integer arithmetic on
sizes, sym_size and identity are evaluated here directly.
"""

import operator
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from cnninterp.jaxcore.model.graph import Graph, Node, is_reference

INTEGER_OPS = {
    "int_add": operator.add,
    "int_sub": operator.sub,
    "int_mul": operator.mul,
    "int_floordiv": operator.floordiv,
}
ATEN_NAMES = {"view": "reshape"}
"""Our op -> the ATen op run for it, where they differ. view becomes reshape because a view of
a permuted tensor is legal in the exported program only after its own contiguous()."""


class ReferenceFailed(RuntimeError):
    """A node PyTorch could not evaluate (message names the node and its layer)."""


def torch_parameters(weights: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The weights as float64 tensors (integer buffers kept as they are)."""
    tensors = {}
    for name, array in weights.items():
        tensor = torch.from_numpy(np.array(array))
        tensors[name] = tensor.double() if tensor.is_floating_point() else tensor
    return tensors


def evaluate(graph: Graph, parameters: Mapping[str, torch.Tensor], image: torch.Tensor):
    """The graph's output for `image` [B, C, H, W] (PyTorch's layout, as the graph records
    it), every node run by its ATen kernel. Autograd flows through, so the caller can take
    gradients with respect to the image."""
    values: dict[str, Any] = {graph.input: image, **parameters}
    for node in graph.nodes:
        args = {key: _resolved(value, values) for key, value in node.args.items()}
        try:
            values[node.name] = run_node(node, args)
        except Exception as exc:
            raise ReferenceFailed(
                f"PyTorch could not evaluate {node.where()}: {type(exc).__name__}: {exc}"
            ) from None
    return values[graph.output]


def run_node(node: Node, args: dict[str, Any]):
    """One node's value from its resolved arguments."""
    if node.op in INTEGER_OPS:
        a, b = args.values()
        return INTEGER_OPS[node.op](int(a), int(b))
    if node.op == "sym_size":
        tensor = _only_tensor(args)
        return int(tensor.shape[args["dim"]])
    if node.op == "identity":
        return _only_tensor(args)
    if node.op == "view":
        tensor = args.pop("self")
        return torch.ops.aten.reshape(tensor, args.get("size", args.get("shape")))
    return getattr(torch.ops.aten, ATEN_NAMES.get(node.op, node.op))(**args)


def _only_tensor(args: dict[str, Any]) -> torch.Tensor:
    tensors = [v for v in args.values() if isinstance(v, torch.Tensor)]
    if len(tensors) != 1:
        raise ValueError(f"expected one tensor argument, found {len(tensors)}")
    return tensors[0]


def _resolved(value: Any, values: Mapping[str, Any]) -> Any:
    if is_reference(value):
        return values[value["value"]]
    if isinstance(value, list):
        return [_resolved(item, values) for item in value]
    return value
