"""torch.export programs translated into our graph: state-dict names, defaults filled in,
in-place and eval-mode ops made plain, a final activation split off, anything else refused
with the op and its layer."""

import pytest
import torch

from cnninterp.convert.aten_graph import UnsupportedOp, translate
from cnninterp.jaxcore.model.graph import Graph, references
from tests import torch_models
from tests.graph_exports import model_json


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (model, model.json), each exported once for this module."""
    cache = {}

    def get(name):
        if name not in cache:
            channels = 3 if name == "torchvision_lraspp" else 1
            model = torch_models.build(name, channels, 2)
            cache[name] = model, model_json(model, channels, tmp_path_factory.mktemp(name))
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(torch_models.MODELS))
def test_the_test_models_translate_with_state_dict_names(exported, name):
    model, data = exported(name)
    translated = translate(data)
    graph = translated.graph
    assert translated.head_activation is None
    assert set(graph.parameters) <= set(model.state_dict())
    used = {r for node in graph.nodes for r in references(node.args)}
    assert used - {n.name for n in graph.nodes} <= set(graph.parameters) | {graph.input}
    assert not any(node.op.endswith("_") for node in graph.nodes)
    assert Graph.from_json(graph.to_json()) == graph


def test_defaults_are_filled_and_dropout_rewired(exported):
    smp = translate(exported("smp_unet")[1]).graph
    (pool,) = [n for n in smp.nodes if n.op == "max_pool2d"]
    assert pool.args["dilation"] == [1, 1] and pool.args["ceil_mode"] is False
    assert pool.layer == "encoder.maxpool"
    monai = translate(exported("monai_unet")[1]).graph
    assert {n.op for n in monai.nodes} == {
        "conv2d",
        "instance_norm",
        "prelu",
        "cat",
        "conv_transpose2d",
    }


class WithHead(torch.nn.Module):
    def __init__(self, head):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3, padding=1)
        self.head = head

    def forward(self, x):
        return self.head(self.conv(x))


@pytest.mark.parametrize(
    ("head", "activation"),
    [
        (torch.nn.Softmax(dim=1), "softmax"),
        (torch.nn.Sigmoid(), "sigmoid"),
        (torch.nn.ReLU(), None),
    ],
)
def test_a_final_activation_is_split_off(tmp_path, head, activation):
    translated = translate(model_json(WithHead(head).eval(), 1, tmp_path))
    assert translated.head_activation == activation
    last = [n for n in translated.graph.nodes if n.name == translated.graph.output][0]
    assert last.op == ("conv2d" if activation else "relu")


class Warp(torch.nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=2)


class Unsupported(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.warp = Warp()

    def forward(self, x):
        return self.warp(self.conv(x))


def test_an_unknown_op_is_refused_naming_op_and_layer(tmp_path):
    data = model_json(Unsupported().eval(), 1, tmp_path)
    with pytest.raises(UnsupportedOp, match=r"aten\.cumsum\.default in layer warp \(Warp\)"):
        translate(data)


def test_a_custom_op_is_refused(tmp_path):
    data = model_json(WithHead(torch.nn.ReLU()).eval(), 1, tmp_path)
    node = data["graph_module"]["graph"]["nodes"][-1]
    node["target"] = "torch.ops.mylib.warp.default"
    with pytest.raises(UnsupportedOp, match=r"torch\.ops\.mylib\.warp\.default in layer head"):
        translate(data)
