"""A .pt2 that would run code is refused by both commands that take one: exit 2, a message
naming what was found, nothing written and nothing run (the payload's marker never appears).

The five routes torch.export.load would take (malicious_pt2.py, each shown there to be live):
a weight flagged as a pickle, sample inputs that fall back to unpickling, a shape expression
and a guard that make calls, and an operator outside ATen whose kernel leaves the marker.
"""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnninterp.convert.cli import main as convert_main
from cnninterp.export.cli import main as export_main
from cnninterp.frontend import ExitCode
from tests.convert import malicious_pt2


@pytest.fixture(scope="module")
def tiny_bytes() -> bytes:
    return malicious_pt2.tiny_export()[1]


ROUTES = {
    "pickled-weight": (
        malicious_pt2.pickled_weight,
        "'down.weight' is stored as a pickle (use_pickle)",
    ),
    "sample-inputs": (
        malicious_pt2.pickled_sample_inputs,
        "sample-input pickle imports builtins.exec",
    ),
    "shape-expression": (
        malicious_pt2.code_in_a_shape_expression,
        "shape expression is not plain sympy",
    ),
    "guard": (
        malicious_pt2.code_in_a_guard,
        "shape guard is not plain arithmetic",
    ),
    "non-aten-op": (
        lambda data, marker: malicious_pt2.custom_op_export(marker),
        "calls the operator torch.ops.cnninterp_test.scaled.default",
    ),
}


@pytest.fixture(params=sorted(ROUTES))
def crafted(request, tiny_bytes, tmp_path) -> tuple[Path, Path, str]:
    """(the malicious .pt2 in its own folder, its marker's path, the message expected)."""
    craft, message = ROUTES[request.param]
    marker = tmp_path / "marker" / "RAN"
    marker.parent.mkdir()
    folder = tmp_path / "model"
    folder.mkdir()
    path = folder / "evil.pt2"
    path.write_bytes(craft(tiny_bytes, marker))
    return path, marker, message


def one_line(text: str) -> str:
    """The message as one line (rich wraps stderr at the console's width)."""
    return " ".join(text.split())


def test_convert_refuses_with_exit_2_and_writes_nothing(crafted, capsys):
    pt2, marker, message = crafted
    out = pt2.parent / "evil.safetensors"
    assert convert_main([str(pt2), "-o", str(out)]) == ExitCode.BAD_INPUT
    err = one_line(capsys.readouterr().err)
    assert message in err and "nothing in it ran" in err
    assert not out.exists() and list(pt2.parent.iterdir()) == [pt2]
    assert not marker.exists()


def test_convert_without_o_writes_nothing_beside_the_file(crafted, capsys):
    pt2, marker, message = crafted
    assert convert_main([str(pt2)]) == ExitCode.BAD_INPUT
    assert message in one_line(capsys.readouterr().err)
    assert list(pt2.parent.iterdir()) == [pt2] and not marker.exists()


def test_export_refuses_the_file_as_its_model(crafted, tmp_path, capsys):
    pt2, marker, message = crafted
    images = tmp_path / "images"
    images.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    Image.fromarray(pixels).save(images / "a.png")
    out = tmp_path / "out"
    argv = ["--model", str(pt2), "--no-cache", "-o", str(out), str(images)]
    assert export_main(argv) == ExitCode.BAD_INPUT
    err = one_line(capsys.readouterr().err)
    assert message in err and "nothing in it ran" in err
    assert not out.exists() and list(pt2.parent.iterdir()) == [pt2]
    assert not marker.exists()
