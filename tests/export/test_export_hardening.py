"""cnninterp-export under hostile or careless use (issue 10): OUTDIR checked before any work
and never left behind empty, stale temporaries swept, Ctrl+C anywhere one line and exit 130,
--max-pixels, and the memory check before a pass."""

import os
import time
from pathlib import Path

import pytest

from cnninterp.export import cli as export_cli
from cnninterp.export.cli import main
from cnninterp.frontend import ExitCode
from cnninterp.jaxcore.passes import memory
from cnninterp.jaxcore.store.results import ENV_VAR
from cnninterp.tui.cli import parse_args as tui_parse_args


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "cache"))
    return tmp_path / "cache"


def image(dataset) -> str:
    return str(dataset / "images" / "a.png")


def only_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def work_must_not_start(monkeypatch):
    monkeypatch.setattr(export_cli, "resolve_model", lambda *a, **k: pytest.fail("work started"))


def test_an_unwritable_outdir_is_refused_before_any_work(
    model, dataset, tmp_path, capsys, monkeypatch
):
    work_must_not_start(monkeypatch)
    outs = [Path("/proc/cnninterp-export-test"), Path("/proc/cnninterp-export-test/deeper")]
    locked = tmp_path / "locked"
    if os.geteuid() != 0:  # root writes into read-only folders: /proc refuses even root
        locked.mkdir()
        locked.chmod(0o500)
        outs += [locked, locked / "new" / "deeper"]
    try:
        for out in outs:
            assert (
                main(["--model", str(model), "-o", str(out), image(dataset)]) == ExitCode.BAD_INPUT
            )
            assert "cannot write there" in only_error_line(capsys.readouterr().err)
            assert not out.exists()
    finally:
        if locked.exists():
            locked.chmod(0o700)


def test_an_outdir_that_is_a_file_is_refused(model, dataset, tmp_path, capsys, monkeypatch):
    work_must_not_start(monkeypatch)
    out = tmp_path / "file"
    out.write_text("x")
    assert main(["--model", str(model), "-o", str(out), image(dataset)]) == ExitCode.BAD_INPUT
    assert "is not a folder" in only_error_line(capsys.readouterr().err)


def test_a_model_error_leaves_no_outdir(dataset, tmp_path, capsys):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    out = tmp_path / "a" / "b"
    assert main(["--model", str(junk), "-o", str(out), image(dataset)]) == ExitCode.BAD_INPUT
    assert "not a cnninterp model file" in only_error_line(capsys.readouterr().err)
    assert not (tmp_path / "a").exists() or not out.exists()
    assert not out.exists()


def test_stale_temporaries_are_swept_and_fresh_ones_kept(model, dataset, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale, fresh = out / ".old.npz.abc.tmp", out / ".b.json.def.tmp"
    stale.write_bytes(b"x" * 10)
    fresh.write_bytes(b"y")
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    args = ["--model", str(model), "--outputs", "probability", "-o", str(out), image(dataset)]
    assert main(args) == ExitCode.OK
    assert not stale.exists() and fresh.exists()
    assert (out / "a.npz").exists()


def test_ctrl_c_before_the_export_loop_is_one_line_and_130(
    model, dataset, tmp_path, capsys, monkeypatch
):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export_cli, "collect_images", interrupt)
    out = tmp_path / "out"
    assert main(["--model", str(model), "-o", str(out), image(dataset)]) == ExitCode.INTERRUPTED
    assert only_error_line(capsys.readouterr().err) == "cnninterp-export: interrupted"
    assert not out.exists()


def test_max_pixels_is_passed_to_the_images(model, dataset, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--model", str(model), "--max-pixels", "1000", "--outputs", "probability"]
    assert main([*args, "-o", str(out), image(dataset)]) == ExitCode.SOME_FAILED  # 32x32 > 1000
    err = capsys.readouterr().err
    assert "1,000 pixels" in err and "--max-pixels" in err and "Traceback" not in err
    assert not out.exists()
    assert (
        main([*args[:2], "--max-pixels", "1024", *args[4:], "-o", str(out), image(dataset)])
        == ExitCode.OK
    )


def test_a_pass_that_does_not_fit_in_memory_is_refused_before_it_starts(
    model, dataset, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(memory, "available_bytes", lambda: 2**20)
    out = tmp_path / "out"
    assert main(["--model", str(model), "-o", str(out), image(dataset)]) == ExitCode.BAD_INPUT
    line = only_error_line(capsys.readouterr().err)
    assert "a.png" in line and "GiB of host memory" in line and "leave significance out" in line
    assert not out.exists()
    # Without the pass there is nothing to refuse.
    args = ["--model", str(model), "--outputs", "probability", "-o", str(out), image(dataset)]
    assert main(args) == ExitCode.OK


def test_the_tui_takes_max_pixels_too():
    assert tui_parse_args(["--max-pixels", "4096"]).max_pixels == 4096
    assert tui_parse_args([]).max_pixels == 2**26
    with pytest.raises(SystemExit) as exit_info:
        tui_parse_args(["--max-pixels", "ten"])
    assert exit_info.value.code == 2


def test_help_documents_limits_and_exit_codes(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for words in ("--max-pixels", "130  interrupted", "cannot be written", "would not", "1..1024"):
        assert words in text, words
