"""The README's three-line export snippet, pasted into a training script, works as written."""

import re
from pathlib import Path

import torch

from cnninterp.convert.exported_model import convert_exported
from cnninterp.jaxcore.passes.explainer import Explainer
from tests import torch_models

README = Path(__file__).resolve().parent.parent / "README.md"
MARK = "<!-- export-snippet:"


def export_snippet() -> str:
    """The ```python block right after the README's export-snippet mark."""
    text = README.read_text()
    after = text[text.index(MARK) :]
    return re.search(r"```python\n(.*?)```", after, re.DOTALL).group(1)


def test_the_readme_export_snippet_makes_a_file_the_converter_takes(tmp_path, monkeypatch):
    snippet = export_snippet()
    assert len(snippet.strip().splitlines()) == 3
    model = torch_models.build("tiny_unet", 1, 2)  # "model" in the user's training script
    monkeypatch.chdir(tmp_path)
    exec(snippet, {"torch": torch, "model": model})  # as pasted after training
    report = convert_exported(tmp_path / "model.pt2", tmp_path / "model.safetensors")
    assert report.parity.passed
    explainer = Explainer.from_file(report.out_path)
    image = torch.rand(96, 128).numpy()  # any size the model accepts: the export is dynamic
    assert explainer.gradient_row(image, 50, 60).shape == (96, 128)
