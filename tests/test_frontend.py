"""cnninterp.frontend, the one home of what the three command lines share: each exit code means
one outcome in every command, the shared options parse alike in the TUI's and the export's
parsers, the shared argument types refuse what they must, the converter hook converts lazily,
and importing the module loads neither JAX, torch nor any front end."""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cnninterp.convert.cli as convert_cli
import cnninterp.export.cli as export_cli
import cnninterp.tui.cli as tui_cli
from cnninterp import frontend
from cnninterp.frontend import DEFAULT_MAX_PIXELS, ExitCode, parse_max_pixels
from cnninterp.jaxcore.images.header import MAX_PIXELS


def test_the_exit_codes_keep_the_documented_numbers():
    """README and each --help: 0 done, 1 a bug, 2 bad input, 3 parity, 4 some failed, 130 ^C."""
    numbers = {code.name: int(code) for code in ExitCode}
    assert numbers == {
        "OK": 0,
        "BUG": 1,
        "BAD_INPUT": 2,
        "PARITY": 3,
        "SOME_FAILED": 4,
        "INTERRUPTED": 130,
    }


@pytest.fixture
def image_folder(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "a.png")
    return folder


def test_each_command_exits_bad_input_on_a_model_it_cannot_use(tmp_path, image_folder, capsys):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    missing = tmp_path / "missing.safetensors"
    out = tmp_path / "out"
    assert tui_cli.main([str(image_folder), "--model", str(missing)]) == ExitCode.BAD_INPUT
    assert "no such model file" in capsys.readouterr().err
    assert tui_cli.main([str(image_folder)]) == ExitCode.BAD_INPUT  # no model in the folder
    assert "no model in" in capsys.readouterr().err
    export_args = ["--model", str(junk), "--no-cache", "-o", str(out), str(image_folder)]
    assert export_cli.main(export_args) == ExitCode.BAD_INPUT
    assert "error" in capsys.readouterr().err and not out.exists()
    checkpoint = tmp_path / "junk.pth"
    checkpoint.write_bytes(b"not a checkpoint")
    assert (
        convert_cli.main([str(checkpoint), "-o", str(tmp_path / "m.safetensors")])
        == ExitCode.BAD_INPUT
    )
    assert "error" in capsys.readouterr().err and not (tmp_path / "m.safetensors").exists()


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_each_command_exits_interrupted_on_ctrl_c(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tui_cli, "run", interrupt)
    monkeypatch.setattr(export_cli, "enable_compilation_cache", interrupt)
    monkeypatch.setattr(convert_cli, "convert_checkpoint", interrupt)
    assert tui_cli.main([str(tmp_path)]) == ExitCode.INTERRUPTED
    export_args = ["--model", "m.safetensors", "-o", str(tmp_path / "out"), "a.png"]
    assert export_cli.main(export_args) == ExitCode.INTERRUPTED
    assert convert_cli.main([str(tmp_path / "m.pth")]) == ExitCode.INTERRUPTED
    assert "interrupted" in capsys.readouterr().err


def test_a_ctrl_c_inside_the_tui_cancels_its_workers_and_exits_interrupted(tmp_path, monkeypatch):
    import cnninterp.jaxcore.store.compilations as compilations
    import cnninterp.tui.app as tui_app

    cancelled = []

    class Session:
        def cancel_all(self):
            cancelled.append(True)

    class App:
        session = Session()

        def run(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(compilations, "enable_compilation_cache", lambda: None)
    monkeypatch.setattr(tui_app, "create_app", lambda options: App())
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"")
    argv = [str(tmp_path), "--model", str(model), "--graphics", "halfblock"]
    assert tui_cli.main(argv) == ExitCode.INTERRUPTED and cancelled == [True]


SHARED = ("model", "cache", "devices", "max_pixels")


def tui_values(argv: list[str]) -> dict:
    args = tui_cli.parse_args(["folder", *argv])
    return {name: getattr(args, name) for name in SHARED}


def export_values(argv: list[str]) -> dict:
    args = export_cli.build_parser().parse_args([*argv, "-o", "out", "a.png"])
    return {name: getattr(args, name) for name in SHARED}


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--model", "m.pth"], (True, None, DEFAULT_MAX_PIXELS)),
        (["--model", "m.pth", "--no-cache", "--devices", "0,2"], (False, [0, 2], 2**26)),
        (["--model", "m.pth", "--devices", "2", "--max-pixels", "4096"], (True, 2, 4096)),
        (["--model", "m.pth", "--devices", "all", "--max-pixels", "256"], (True, None, 256)),
    ],
)
def test_the_shared_options_parse_alike_in_the_tui_and_the_export(argv, expected):
    cache, devices, max_pixels = expected
    values = {"model": Path("m.pth"), "cache": cache, "devices": devices, "max_pixels": max_pixels}
    assert tui_values(argv) == export_values(argv) == values


@pytest.mark.parametrize(
    "argv",
    [["--devices", "two"], ["--devices", "0;2"], ["--max-pixels", "ten"], ["--max-pixels", "255"]],
)
def test_a_bad_shared_option_is_bad_input_in_both(argv, capsys):
    for parse in (tui_values, export_values):
        with pytest.raises(SystemExit) as exit_info:
            parse(["--model", "m.pth", *argv])
        assert exit_info.value.code == ExitCode.BAD_INPUT, (parse, argv)
        assert argv[0] in capsys.readouterr().err


def test_the_tui_finds_its_model_and_the_export_needs_one(capsys):
    assert tui_values([])["model"] is None
    with pytest.raises(SystemExit) as exit_info:
        export_values([])
    assert exit_info.value.code == ExitCode.BAD_INPUT and "--model" in capsys.readouterr().err


def test_parse_max_pixels_takes_an_integer_of_at_least_16x16():
    assert parse_max_pixels("256") == 256 and parse_max_pixels("4096") == 4096
    for text in ("255", "0", "-4096", "ten", "1e6", "", "4096.0"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_max_pixels(text)


def test_the_default_max_pixels_is_the_cores():
    assert DEFAULT_MAX_PIXELS == MAX_PIXELS


def test_the_converter_hook_calls_the_converter_when_it_is_called(tmp_path, monkeypatch):
    import cnninterp.convert.into_cache as into_cache

    calls = []

    def fake_convert_into(checkpoint, out):
        calls.append((checkpoint, out))
        return {"passed": True}

    monkeypatch.setattr(into_cache, "convert_into", fake_convert_into)
    pair = (tmp_path / "m.pth", tmp_path / "m.safetensors")
    assert frontend.convert_with_torch(*pair) == {"passed": True} and calls == [pair]


def test_importing_the_front_end_module_loads_no_jax_torch_or_front_end():
    watched = ["jax", "torch", "textual", "rich", "cnninterp.jaxcore"]
    watched += ["cnninterp.tui", "cnninterp.export", "cnninterp.convert"]
    code = f"import sys, cnninterp.frontend; print([m for m in {watched!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
