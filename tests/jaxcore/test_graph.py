"""The graph record: JSON round trip, and validation errors that name the node and its layer."""

import json

import pytest

from cnninterp.jaxcore.model.graph import OPS, Graph, GraphError


def record(nodes, output="relu"):
    return {"input": "x", "output": output, "parameters": ["conv.weight"], "nodes": nodes}


CONV = {
    "name": "conv",
    "op": "conv2d",
    "args": {
        "input": {"value": "x"},
        "weight": {"value": "conv.weight"},
        "bias": None,
        "stride": [1, 1],
        "padding": [1, 1],
        "dilation": [1, 1],
        "groups": 1,
    },
    "layer": "encoder.conv",
}
RELU = {"name": "relu", "op": "relu", "args": {"self": {"value": "conv"}}, "layer": "encoder.act"}


def test_round_trip_through_json():
    graph = Graph.from_json(record([CONV, RELU]))
    assert Graph.from_json(json.loads(json.dumps(graph.to_json()))) == graph
    assert graph.parameters == ("conv.weight",) and graph.output == "relu"


def test_every_op_has_a_meaning():
    assert all(isinstance(meaning, str) and meaning for meaning in OPS.values())


@pytest.mark.parametrize(
    ("nodes", "output", "message"),
    [
        ([CONV, {**RELU, "op": "warp"}], "relu", "node relu (warp) in layer encoder.act: unknown"),
        ([RELU, CONV], "relu", "node relu (relu) in layer encoder.act: 'conv' is used before"),
        ([CONV, RELU], "logits", "the output 'logits' is never defined"),
        ([CONV, {**RELU, "name": "conv"}], "conv", "'conv' is defined twice"),
        ([{**CONV, "layer": 3}], "conv", "malformed graph record"),
    ],
)
def test_invalid_graphs_are_refused_naming_the_node_and_layer(nodes, output, message):
    with pytest.raises(GraphError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Graph.from_json(record(nodes, output))


def test_a_reference_inside_a_size_list_must_be_defined():
    upsample = {
        "name": "up",
        "op": "upsample_nearest2d",
        "args": {
            "input": {"value": "x"},
            "output_size": [4, {"value": "h"}],
            "scale_factors": None,
        },
        "layer": "",
    }
    with pytest.raises(GraphError, match="the model's top level: 'h' is used before"):
        Graph.from_json(record([upsample], "up"))
