"""cnninterp-convert from the command line: exit codes, messages, the model file it writes."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnninterp.convert import variables
from cnninterp.convert.cli import main
from cnninterp.convert.layout import conv_transpose_kernel
from cnninterp.frontend import ExitCode
from cnninterp.jaxcore.files.disk import file_sha256
from cnninterp.jaxcore.model.model_file import load_model


def run_main(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_converts_and_writes_a_self_describing_model_file(small_checkpoint, tmp_path, capsys):
    # 8-bit gray, not a multiple of 16: cropped for the check (to 64x64, reusing the compile)
    image = tmp_path / "check.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (70, 79), np.uint8)).save(image)
    code, out, err = run_main(capsys, small_checkpoint, "--check-image", image)
    assert code == 0, err
    assert "Traceback" not in out + err
    assert "passed" in out and "check.png" in out and "4 → 8 → 16 → 32 → 64" in out

    config, _, header = load_model(small_checkpoint.with_suffix(".safetensors"))
    assert (config.width, config.classes) == (4, 2)
    info = header["info"]
    assert info["source_file"] == "model.pth"
    assert info["source_sha256"] == file_sha256(small_checkpoint)
    assert info["input_normalisation"] == "uint8 / 255"
    assert {"torch", "jax", "flax", "cnninterp"} <= info["versions"].keys()
    parity = info["parity"]
    assert parity["passed"] and not parity["forced"]
    sizes = [(r["height"], r["width"]) for r in parity["inputs"]]
    assert sizes == [(64, 64)] * 3
    assert any("cropped 70x79 -> 64x64" in n for n in info["conversion_notes"])


def test_refuses_to_replace_an_existing_output(small_checkpoint, capsys):
    out = small_checkpoint.with_suffix(".safetensors")
    out.write_bytes(b"keep me")
    code, _, err = run_main(capsys, small_checkpoint)
    assert code == ExitCode.BAD_INPUT and "--overwrite" in err and out.read_bytes() == b"keep me"


@pytest.fixture
def broken_upconv(monkeypatch):
    """A layout bug that keeps every shape: the transposed kernel flipped in space."""
    table = dict(variables.KEY_TABLE)
    path, _ = table["upconv4.weight"]
    table["upconv4.weight"] = (path, lambda w: conv_transpose_kernel(w)[::-1, ::-1].copy())
    monkeypatch.setattr(variables, "KEY_TABLE", table)


def test_parity_failure_writes_nothing_and_exits_3(small_checkpoint, capsys, broken_upconv):
    code, out, err = run_main(capsys, small_checkpoint)
    assert code == ExitCode.PARITY
    assert "FAILED" in out and "Parity check failed" in err and "--force" in err
    assert not small_checkpoint.with_suffix(".safetensors").exists()


def test_force_writes_despite_parity_failure_and_records_it(
    small_checkpoint, capsys, broken_upconv
):
    code, out, _ = run_main(
        capsys, small_checkpoint, "--force", "-o", small_checkpoint.parent / "f.st"
    )
    assert code == 0 and "WARNING" in out
    _, _, header = load_model(small_checkpoint.parent / "f.st")
    assert header["info"]["parity"]["forced"] is True


def test_bad_input_is_a_message_not_a_traceback(tmp_path, capsys):
    code, out, err = run_main(capsys, tmp_path / "missing.pth")
    assert code == ExitCode.BAD_INPUT
    assert "no such file" in err and "Traceback" not in out + err


def test_console_script_end_to_end(small_checkpoint):
    script = Path(sys.executable).with_name("cnninterp-convert")
    if not script.exists():
        pytest.skip("cnninterp-convert is not installed next to this Python")
    env = {**os.environ, "COLUMNS": "120"}
    done = subprocess.run(
        [script, small_checkpoint, "-o", small_checkpoint.parent / "cli.safetensors"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Wrote" in done.stdout and "Traceback" not in done.stderr
    assert (small_checkpoint.parent / "cli.safetensors").exists()


@pytest.mark.parametrize(
    "content, message", [(None, "no such file"), (b"not a png", "cannot read this image")]
)
def test_a_bad_check_image_is_named(small_checkpoint, tmp_path, capsys, content, message):
    image = tmp_path / "check.png"
    if content is not None:
        image.write_bytes(content)
    code, out, err = run_main(capsys, small_checkpoint, "--check-image", image)
    assert code == 2 and "Traceback" not in out + err
    assert f"--check-image {image}: {message}" in err
    assert not small_checkpoint.with_suffix(".safetensors").exists()
