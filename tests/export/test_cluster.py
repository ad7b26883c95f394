"""--cluster: a local Ray writes what the in-process export writes, array for array, survives
a worker killed mid-task, and says how to install Ray when it is missing."""

import csv
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cnninterp.export.cli import main
from cnninterp.export.cluster import INSTALL_HINT, explain_remotely, run_on_cluster
from cnninterp.export.cluster_progress import ClusterProgress
from cnninterp.export.image import Job
from cnninterp.frontend import ExitCode
from cnninterp.jaxcore.files.disk import file_sha256
from cnninterp.jaxcore.images.loading import find_images
from cnninterp.jaxcore.summaries.significance import ThresholdMode

PIXELS = ["--pixel", "3,4", "--pixel", "20,10"]
WHERE_AND_WHEN = ("device", "node", "seconds")  # the summary columns allowed to differ
ARRAYS = ("probability", "pixels", "gradients", "significance")


def export(model: Path, dataset: Path, out: Path, *extra: str) -> int:
    return main(
        ["--model", str(model), *PIXELS, "--no-cache", "-o", str(out), *extra, str(dataset)]
    )


@pytest.fixture(scope="module")
def in_process(model, dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("in-process")
    assert export(model, dataset, out) == ExitCode.OK
    return out


def assert_same_outputs(expected: Path, actual: Path, names) -> None:
    for name in names:
        with np.load(expected / f"{name}.npz") as want, np.load(actual / f"{name}.npz") as got:
            assert sorted(got.files) == sorted(ARRAYS)
            for key in ARRAYS:
                np.testing.assert_array_equal(got[key], want[key], err_msg=f"{name}: {key}")
        want, got = (json.loads((d / f"{name}.json").read_text()) for d in (expected, actual))
        for key in ("image", "request", "threshold", "counts", "footprints"):
            assert got[key] == want[key], f"{name}: {key}"
        assert got["provenance"]["model"]["sha256"] == want["provenance"]["model"]["sha256"]


def summary_without_timing(out: Path) -> list[dict]:
    with open(out / "summary.csv", newline="") as f:
        return [
            {k: v for k, v in row.items() if k not in WHERE_AND_WHEN} for row in csv.DictReader(f)
        ]


def test_local_ray_writes_what_the_in_process_export_writes(
    ray_session, model, dataset, in_process, tmp_path
):
    assert export(model, dataset, tmp_path, "--cluster", "local") == ExitCode.OK
    names = [s.name for s in find_images(dataset)]
    assert_same_outputs(in_process, tmp_path, names)
    assert summary_without_timing(tmp_path) == summary_without_timing(in_process)
    assert [r["name"] for r in summary_without_timing(tmp_path)] == names
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{n}.{ext}" for n in names for ext in ("npz", "json")] + ["summary.csv"]
    )  # and nothing half-written


def test_a_worker_killed_mid_task_is_retried_and_every_output_is_right(
    ray_session, model, dataset, in_process, tmp_path
):
    marks = tmp_path / "marks"
    marks.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    victim = "b"

    def waits_on_first_attempt(model_bytes, model_sha256, source, files, job, use_cache, board):
        import os
        import time
        from pathlib import Path

        mark = Path(str(marks)) / source.name
        if source.name == victim and not mark.exists():
            (mark.parent / "tmp").write_text(str(os.getpid()))
            os.replace(mark.parent / "tmp", mark)  # the test kills this process
            time.sleep(300)
        return explain_remotely(model_bytes, model_sha256, source, files, job, use_cache, board)

    killed = []

    def kill_the_victim() -> None:
        deadline = time.monotonic() + 300
        while not (marks / victim).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int((marks / victim).read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_the_victim, daemon=True)
    killer.start()
    sources = find_images(dataset)
    model_sha256 = file_sha256(model)
    provenance = {"model": {"sha256": model_sha256}}
    job = Job(out, np.array([[3, 4], [20, 10]]), ThresholdMode.GLOBAL, 0.01, provenance)
    progress = ClusterProgress(len(sources))
    try:
        report = run_on_cluster(
            ray_session,
            sources,
            job,
            model.read_bytes(),
            model_sha256,
            use_cache=False,
            gpus_per_task=0,
            progress=progress,
            task=waits_on_first_attempt,
        )
    finally:
        progress.close()
    killer.join(timeout=10)
    assert killed, "the victim's first attempt never started"
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)  # it really died
    assert [r.error for r in report.results] == [None] * len(sources)
    assert report.attempts[victim] == 1  # the killed attempt ran no export; the retry did
    assert_same_outputs(in_process, out, [s.name for s in sources])
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_rerun_on_the_cluster_skips_everything_and_writes_nothing(
    ray_session, model, dataset, in_process, capsys
):
    before = {p.name: p.stat().st_mtime_ns for p in in_process.iterdir()}
    assert export(model, dataset, in_process, "--cluster", "local") == ExitCode.OK
    assert {p.name: p.stat().st_mtime_ns for p in in_process.iterdir()} == before
    assert "skipped 4 of 4 images" in capsys.readouterr().err


def test_missing_ray_says_how_to_install_it(model, dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    out = tmp_path / "out"
    assert export(model, dataset, out, "--cluster", "local") == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert INSTALL_HINT in err and "Traceback" not in err
    assert err.count("\n") == 1
    assert not out.exists()  # refused before anything was made


def test_an_image_failing_on_the_cluster_is_reported_and_the_others_written(
    ray_session, model, dataset, tmp_path, capsys
):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.png").write_bytes((dataset / "images" / "a.png").read_bytes())
    (data / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    out = tmp_path / "out"
    assert export(model, data, out, "--cluster", "local") == ExitCode.SOME_FAILED
    err = capsys.readouterr().err
    assert "bad: FAILED" in err and "cannot read this image" in err
    assert f"{data / 'bad.png'}: cannot read" in err  # the user's path, not the worker's copy
    assert "1 of 2 images written" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.npz", "summary.csv"]


def test_gpus_per_task_without_a_cluster_is_refused(model, dataset, tmp_path, capsys):
    assert export(model, dataset, tmp_path / "out", "--gpus-per-task", "1") == ExitCode.BAD_INPUT
    assert "give --cluster too" in capsys.readouterr().err
