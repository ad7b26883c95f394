"""Resume: a rerun skips exactly the images whose outputs are complete and were made from the
same model, image content and options; Ctrl+C keeps what finished."""

import shutil
from pathlib import Path

import pytest

import cnninterp.export.cli as export_cli
from cnninterp.export.cli import main
from cnninterp.frontend import ExitCode

ARGS = ["--pixel", "3,4", "--no-cache"]


def export(model: Path, dataset: Path, out: Path, *extra: str) -> int:
    return main(["--model", str(model), *ARGS, *extra, "-o", str(out), str(dataset)])


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


@pytest.fixture(scope="module")
def exported(model, dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exported")
    assert export(model, dataset, out) == ExitCode.OK
    return out


def test_a_rerun_skips_everything_and_writes_nothing(model, dataset, exported, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(exported, out)
    before = mtimes(out)
    capsys.readouterr()
    assert export(model, dataset, out) == ExitCode.OK
    assert mtimes(out) == before
    captured = capsys.readouterr()
    assert "skipped 4 of 4 images" in captured.err
    assert captured.out == ""  # no .npz written


def test_only_what_differs_is_computed_again(model, dataset, exported, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(exported, out)
    (out / "a.npz").write_bytes((out / "a.npz").read_bytes()[:-10])  # truncated
    (out / "b.json").unlink()  # interrupted between the .npz and the .json
    capsys.readouterr()
    assert export(model, dataset, out) == ExitCode.OK
    captured = capsys.readouterr()
    assert "skipped 2 of 4 images" in captured.err
    assert sorted(Path(line).name for line in captured.out.split()) == ["a.npz", "b.npz"]
    assert (out / "a.npz").read_bytes() == (exported / "a.npz").read_bytes()
    # Other options (here another pixel) are another export: nothing is skipped.
    assert export(model, dataset, out, "--pixel", "5,6") == ExitCode.OK
    assert "skipped" not in capsys.readouterr().err


def test_other_image_content_under_the_same_name_is_computed_again(
    model, dataset, exported, tmp_path, capsys
):
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    shutil.copy(data / "images" / "c.png", data / "images" / "a.png")  # a's content changes
    out = tmp_path / "out"
    shutil.copytree(exported, out)
    capsys.readouterr()
    assert export(model, data, out) == ExitCode.OK
    captured = capsys.readouterr()
    assert "skipped 3 of 4 images" in captured.err
    assert [Path(line).name for line in captured.out.split()] == ["a.npz"]
    assert (out / "a.npz").read_bytes() == (out / "c.npz").read_bytes()


def test_ctrl_c_keeps_what_finished_and_a_rerun_resumes(
    model, dataset, tmp_path, monkeypatch, capsys
):
    real_export_image = export_cli.export_image

    def interrupted_on_the_second(explainer, source, job, cache, on_progress):
        if source.name == "b":
            raise KeyboardInterrupt
        return real_export_image(explainer, source, job, cache, on_progress)

    monkeypatch.setattr(export_cli, "export_image", interrupted_on_the_second)
    out = tmp_path / "out"
    assert export(model, dataset, out) == ExitCode.INTERRUPTED
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.npz", "summary.csv"]
    assert (out / "summary.csv").read_text().count("\n") == 2  # the header and a
    monkeypatch.undo()
    assert export(model, dataset, out) == ExitCode.OK
    assert "skipped 1 of 4 images" in capsys.readouterr().err
