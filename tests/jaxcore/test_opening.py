"""jaxcore.opening: one answer to "open this model" for every front end.

The converter is injected, so these tests pass one that writes a real model file without
torch and count its calls; the torch converter itself is exercised from the TUI and export
tests (tests/tui/test_logic.py, tests/export/test_export.py).
"""

import json
from pathlib import Path

import pytest
from safetensors.numpy import save_file

from cnninterp.jaxcore import opening
from cnninterp.jaxcore.model.model_file import save_model
from cnninterp.jaxcore.model.network import ModelConfig, random_variables
from cnninterp.jaxcore.opening import (
    ConversionFailed,
    ModelOpenError,
    explainer_for,
    open_model,
    parity_report_path,
)

CONFIG = ModelConfig(width=4)


class CountingConverter:
    """Writes a small model file at `out`, as the torch converter would, and counts calls."""

    def __init__(self):
        self.calls: list[tuple[Path, Path]] = []

    def __call__(self, checkpoint: Path, out: Path) -> dict[str, object]:
        self.calls.append((checkpoint, out))
        save_model(out, CONFIG, random_variables(CONFIG, seed=1), {"purpose": "opening tests"})
        return {"parity_passed": True, "source": checkpoint}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    """This test's own cache folder: conversions of other tests must not answer."""
    monkeypatch.setenv("CNNINTERP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    path = tmp_path / "somewhere" / "model.pth"
    path.parent.mkdir()
    path.write_bytes(b"a checkpoint's bytes")
    return path


def test_a_model_file_passes_through(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, CONFIG, random_variables(CONFIG, seed=1), {})
    converter = CountingConverter()
    opened = open_model(path, converter)
    assert opened.path == path and not opened.converted_now and converter.calls == []


def test_a_checkpoint_is_converted_once_into_the_cache_and_reused(checkpoint, cache_dir):
    converter = CountingConverter()
    first = open_model(checkpoint, converter)
    assert first.converted_now and len(converter.calls) == 1
    assert first.path.parent == cache_dir / "models"
    assert first.path.stem == first.provenance["checkpoint_sha256"]
    report = json.loads(parity_report_path(first.path).read_text())
    assert report["parity_passed"] is True
    second = open_model(checkpoint, converter)
    assert second.path == first.path and not second.converted_now
    assert len(converter.calls) == 1  # the cache answered
    copy = checkpoint.parent / "copy.pt"  # same bytes elsewhere: same conversion
    copy.write_bytes(checkpoint.read_bytes())
    assert open_model(copy, converter).path == first.path and len(converter.calls) == 1


def test_a_damaged_conversion_is_redone(checkpoint, cache_dir):
    converter = CountingConverter()
    path = open_model(checkpoint, converter).path
    path.write_bytes(b"damaged")
    assert open_model(checkpoint, converter).converted_now and len(converter.calls) == 2


def test_failures_are_one_sentence(checkpoint, tmp_path):
    def no_torch(checkpoint: Path, out: Path) -> dict[str, object]:
        raise ImportError("No module named 'torch'")

    def refuses(checkpoint: Path, out: Path) -> dict[str, object]:
        raise ConversionFailed(f"{checkpoint}: not a CustomResNet state dict")

    with pytest.raises(ModelOpenError, match="needs PyTorch"):
        open_model(checkpoint, no_torch)
    with pytest.raises(ModelOpenError, match="not a CustomResNet"):
        open_model(checkpoint, refuses)
    with pytest.raises(ModelOpenError, match="cnninterp-convert"):
        open_model(checkpoint, None)
    with pytest.raises(ModelOpenError, match="no such model file"):
        open_model(tmp_path / "missing.pth", CountingConverter())


def test_explainers_are_reused_per_file_and_options_and_few_are_kept(tmp_path):
    paths = []
    for seed in range(3):
        paths.append(tmp_path / f"m{seed}.safetensors")
        save_model(paths[-1], CONFIG, random_variables(CONFIG, seed=seed), {})
    first = explainer_for(paths[0])
    assert explainer_for(paths[0]) is first
    assert explainer_for(paths[0], chunk_size=4) is not first
    assert explainer_for(paths[1]) is not first
    explainer_for(paths[2])
    assert opening.explainers_kept() == opening.EXPLAINERS_KEPT
    assert explainer_for(paths[0]) is not first  # evicted: the least recently used
    with pytest.raises(ModelOpenError, match="class 5"):
        explainer_for(paths[0], vessel_class=5)


def test_the_class_is_picked_by_number_or_by_the_model_files_name(model_file, tmp_path):
    assert opening.resolve_class(model_file, None) is None  # the file's own choice
    assert opening.resolve_class(model_file, "0") == 0
    assert opening.resolve_class(model_file, "vessel") == 1  # the seed's two classes
    with pytest.raises(ModelOpenError, match=r"classes 0 to 1 \(0 background, 1 vessel\)"):
        opening.resolve_class(model_file, "2")
    with pytest.raises(ModelOpenError, match="no class of that name"):
        opening.resolve_class(model_file, "artery")
    three = tmp_path / "three.safetensors"
    save_model(
        three, ModelConfig(width=4, classes=3), random_variables(ModelConfig(width=4, classes=3))
    )
    with pytest.raises(
        ModelOpenError, match=r"no class of that name; the model has classes 0 to 2$"
    ):
        opening.resolve_class(three, "vessel")  # three unnamed classes
    assert opening.resolve_class(three, "2") == 2


def test_a_class_option_that_is_no_number_or_a_header_without_classes_is_a_clear_error(
    model_file, tmp_path
):
    with pytest.raises(ModelOpenError, match="no class of that name"):
        opening.resolve_class(model_file, "²")  # isdigit, but int() refuses it
    odd = tmp_path / "odd.safetensors"
    save_file(
        {},
        str(odd),
        metadata={
            "cnninterp": json.dumps({"format": "cnninterp-graph-model", "format_version": 1})
        },
    )
    with pytest.raises(ModelOpenError, match="no usable class count"):
        opening.resolve_class(odd, "1")
