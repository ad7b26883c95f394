"""A torch.export program (its serialized models/model.json) translated into our graph record.

Nothing from the file runs: the JSON is read as data, and torch is asked only for the schemas
of the ATen ops it names (`torch.ops.aten.<op>.<overload>._schema`), to fill every default in,
so that the interpreter never has to know PyTorch's defaults. Parameters, buffers and lifted
constants are renamed to their state-dict names, so the weights read beside the graph fit it
by key. In-place ops become functional, eval-mode dropout and copies are rewired away, and a
final softmax or sigmoid is left out and reported: the explainer applies its own activation to
the logits. Anything outside the vocabulary is refused with the op and the layer it came from.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from cnninterp.jaxcore.model.graph import Graph, Node, references

HeadActivation = Literal["softmax", "sigmoid"]

# "aten op.overload" -> our op; in-place variants (relu_) are looked up without the underscore.
ATEN_OPS: dict[str, str] = {
    "conv2d.default": "conv2d",
    "conv_transpose2d.input": "conv_transpose2d",
    "batch_norm.default": "batch_norm",
    "instance_norm.default": "instance_norm",
    "group_norm.default": "group_norm",
    "relu.default": "relu",
    "leaky_relu.default": "leaky_relu",
    "prelu.default": "prelu",
    "hardswish.default": "hardswish",
    "hardsigmoid.default": "hardsigmoid",
    "hardtanh.default": "hardtanh",
    "relu6.default": "hardtanh",
    "clamp.default": "clamp",
    "sigmoid.default": "sigmoid",
    "tanh.default": "tanh",
    "silu.default": "silu",
    "gelu.default": "gelu",
    "softmax.int": "softmax",
    "_softmax.default": "softmax",
    "max_pool2d.default": "max_pool2d",
    "avg_pool2d.default": "avg_pool2d",
    "adaptive_avg_pool2d.default": "adaptive_avg_pool2d",
    "upsample_nearest2d.vec": "upsample_nearest2d",
    "upsample_bilinear2d.vec": "upsample_bilinear2d",
    "pad.default": "pad",
    "add.Tensor": "add",
    "add.Scalar": "add",
    "sub.Tensor": "sub",
    "sub.Scalar": "sub",
    "mul.Tensor": "mul",
    "mul.Scalar": "mul",
    "div.Tensor": "div",
    "div.Scalar": "div",
    "cat.default": "cat",
    "stack.default": "stack",
    "sum.dim_IntList": "sum",
    "mean.dim": "mean",
    "view.default": "view",
    "reshape.default": "view",
    "flatten.using_ints": "flatten",
    "permute.default": "permute",
    "slice.Tensor": "slice",
    "sym_size.int": "sym_size",
}
# Ops that pass their first argument through in eval mode: rewired, not kept.
PASS_THROUGH = {
    "dropout",
    "feature_dropout",
    "alpha_dropout",
    "feature_alpha_dropout",
    "clone",
    "contiguous",
    "alias",
    "detach",
}
INT_OPS = {"add": "int_add", "sub": "int_sub", "mul": "int_mul", "floordiv": "int_floordiv"}
RENAMED_ARGS = {"reshape.default": {"shape": "size"}}  # view's name for the same argument
VALUE_KINDS = {"as_int", "as_float", "as_bool", "as_string", "as_ints", "as_floats", "as_bools"}
IGNORED_KINDS = {"as_scalar_type", "as_memory_format", "as_layout", "as_device"}


class UnsupportedOp(ValueError):
    """An op (or an argument of one) the interpreter cannot run, with the layer it is in."""


@dataclass(frozen=True)
class Translated:
    """The graph, and the activation the export ended with (left out of the graph)."""

    graph: Graph
    head_activation: HeadActivation | None


def translate(model_json: Mapping[str, Any]) -> Translated:
    """Our graph of the exported program in `model_json` (the parsed models/model.json)."""
    module = model_json["graph_module"]
    names, image, parameters = _signature_names(module["signature"])
    nodes: list[Node] = []
    for raw in module["graph"]["nodes"]:
        node = _translate_node(raw, names)
        if node is not None:
            nodes.append(node)
    outputs = [s["user_output"]["arg"] for s in module["signature"]["output_specs"]]
    if len(module["signature"]["output_specs"]) != 1 or len(outputs) != 1:
        raise UnsupportedOp("the exported program must return exactly one tensor, the logits")
    output = names.get(outputs[0]["as_tensor"]["name"], outputs[0]["as_tensor"]["name"])
    nodes, output, head = _split_head_activation(nodes, output)
    graph = Graph(input=image, output=output, nodes=tuple(nodes), parameters=parameters)
    graph.check()
    return Translated(graph, head)


def _signature_names(signature: Mapping[str, Any]) -> tuple[dict[str, str], str, tuple[str, ...]]:
    """Graph input name -> state-dict name, the image's name, and the state-dict names."""
    names: dict[str, str] = {}
    images: list[str] = []
    for spec in signature["input_specs"]:
        (kind, body), *_ = spec.items()
        if kind == "user_input" and "as_tensor" in body["arg"]:
            images.append(body["arg"]["as_tensor"]["name"])
        elif kind in ("parameter", "buffer", "tensor_constant"):
            names[body["arg"]["name"]] = body[f"{kind}_name"]
        else:
            raise UnsupportedOp(f"an exported input of kind {kind!r} is not supported")
    if len(images) != 1:
        raise UnsupportedOp(f"the model must take one image tensor, it takes {len(images)}")
    return names, images[0], tuple(names.values())


def _translate_node(raw: Mapping[str, Any], names: dict[str, str]) -> Node | None:
    """Our node for one exported node; None where it is rewired away (names updated)."""
    target = raw["target"]
    layer, where = _layer(raw)
    outputs = raw["outputs"]
    if target.startswith("torch.ops.aten._assert") or "sym_constrain_range" in target:
        return None  # shape assertions: the interpreter runs on shapes that satisfy them
    if target.startswith("_operator."):
        op = INT_OPS.get(target.removeprefix("_operator."))
        if op is None:
            raise UnsupportedOp(f"{target} in {where} is not supported")
        args = {i["name"]: _argument(i["arg"], names, target, where) for i in raw["inputs"]}
        return Node(_output_name(outputs, target, where), op, args, layer)
    if not target.startswith("torch.ops.aten."):
        raise UnsupportedOp(
            f"{target} in {where} is not supported: only ATen ops can be interpreted"
            " (a custom or higher-order op has no JAX equivalent here)"
        )
    aten = target.removeprefix("torch.ops.aten.")
    name, _, overload = aten.partition(".")
    functional = f"{name.rstrip('_')}.{overload}" if not name.startswith("_") else aten
    args = {i["name"]: _argument(i["arg"], names, aten, where) for i in raw["inputs"]}
    if name.rstrip("_") in PASS_THROUGH:
        if args.get("train") is True:
            raise UnsupportedOp(f"aten.{aten} in {where} runs in training mode: export eval()")
        source = next(iter(args.values()))
        names[_output_name(outputs, aten, where)] = source["value"]
        return None
    op = ATEN_OPS.get(functional)
    if op is None:
        raise UnsupportedOp(
            f"aten.{aten} in {where} is not supported: the interpreter knows"
            f" {', '.join(sorted({o.split('.')[0] for o in ATEN_OPS}))}"
        )
    args = _with_defaults(functional, args, aten, where)
    if functional == "relu6.default":  # relu6 is hardtanh(0, 6)
        args = {**args, "min_val": 0.0, "max_val": 6.0}
    for key, renamed in RENAMED_ARGS.get(functional, {}).items():
        args[renamed] = args.pop(key)
    if op == "batch_norm" and args["training"]:
        raise UnsupportedOp(f"aten.{aten} in {where} runs in training mode: export eval()")
    if op == "div" and args.get("rounding_mode") is not None:
        raise UnsupportedOp(f"aten.{aten} in {where}: rounding division is not supported")
    return Node(_output_name(outputs, aten, where), op, args, layer)


def _with_defaults(functional: str, args: dict[str, Any], aten: str, where: str) -> dict:
    """The arguments in schema order with every default filled in."""
    name, overload = functional.split(".")
    schema = getattr(getattr(torch.ops.aten, name), overload)._schema
    known = {a.name for a in schema.arguments}
    unknown = set(args) - known
    if unknown:
        raise UnsupportedOp(f"aten.{aten} in {where}: unknown arguments {sorted(unknown)}")
    filled: dict[str, Any] = {}
    for argument in schema.arguments:
        if argument.name in args:
            filled[argument.name] = args[argument.name]
        elif argument.has_default_value():
            filled[argument.name] = _json_default(argument.default_value)
        else:
            raise UnsupportedOp(f"aten.{aten} in {where}: argument {argument.name} is missing")
    return filled


def _json_default(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_default(v) for v in value]
    return str(value)  # a dtype or memory format: the interpreter follows the image's


def _argument(arg: Mapping[str, Any], names: dict[str, str], op: str, where: str) -> Any:
    """One serialized argument as a JSON value, tensors and symbolic ints as references."""
    (kind, body), *_ = arg.items()
    if kind == "as_none":
        return None
    if kind in VALUE_KINDS or kind in IGNORED_KINDS:
        return body
    if kind == "as_tensor":
        return _reference(body["name"], names)
    if kind == "as_tensors":
        return [_reference(t["name"], names) for t in body]
    if kind == "as_sym_int":
        return _sym_int(body, names)
    if kind == "as_sym_ints":
        return [_sym_int(item, names) for item in body]
    raise UnsupportedOp(f"{op} in {where}: arguments of kind {kind!r} are not supported")


def _sym_int(body: Mapping[str, Any], names: dict[str, str]) -> Any:
    return _reference(body["as_name"], names) if "as_name" in body else body["as_int"]


def _reference(name: str, names: dict[str, str]) -> dict[str, str]:
    return {"value": names.get(name, name)}


def _output_name(outputs: list, op: str, where: str) -> str:
    if len(outputs) != 1:
        raise UnsupportedOp(f"{op} in {where}: ops with {len(outputs)} outputs are not supported")
    (kind, body), *_ = outputs[0].items()
    if kind == "as_tensor":
        return body["name"]
    if kind == "as_sym_int" and "as_name" in body:
        return body["as_name"]
    raise UnsupportedOp(f"{op} in {where}: an output of kind {kind!r} is not supported")


def _layer(raw: Mapping[str, Any]) -> tuple[str, str]:
    """The node's module path, and 'layer <path> (<Class>)' for messages."""
    stack = (raw.get("metadata") or {}).get("nn_module_stack", "")
    if not stack:
        return "", "the model's top level"
    # "key,path,module.Class;key,path,module.Class": the innermost module is last
    _, path, cls = stack.split(";")[-1].split(",", 2)
    cls = cls.rsplit(".", 1)[-1]
    if path.startswith("_empty_nn_module_stack"):  # torch's placeholder for "no module"
        return "", "the model's top level"
    return path, (f"layer {path} ({cls})" if path else f"the model's top level ({cls})")


def _split_head_activation(
    nodes: list[Node], output: str
) -> tuple[list[Node], str, HeadActivation | None]:
    """Leave a final softmax over channels or sigmoid out, and say which it was."""
    last = next((n for n in nodes if n.name == output), None)
    if last is None or last.op not in ("softmax", "sigmoid"):
        return nodes, output, None
    if last.op == "softmax" and last.args["dim"] not in (1, -3):
        return nodes, output, None
    source = last.args["self"]["value"]
    used_elsewhere = any(output in references(n.args) for n in nodes if n is not last)
    kept = nodes if used_elsewhere else [n for n in nodes if n is not last]
    return kept, source, "softmax" if last.op == "softmax" else "sigmoid"
