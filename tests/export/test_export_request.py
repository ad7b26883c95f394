"""cnninterp-export computes only what is asked (--outputs), takes pixels from files
(--pixels-from, batched), and explains them by a method and target (--method, --target): each
checked against the core's own answers, with the bad-input contract (exit 2 before any image,
or a per-image failure) and resume over the new options."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cnninterp.export import cli as export_cli
from cnninterp.export.cli import main
from cnninterp.export.summary import COLUMNS
from cnninterp.frontend import ExitCode
from cnninterp.jaxcore.explain.attribution import Attributor
from cnninterp.jaxcore.explain.groundtruth import ground_truth_figures, segmentation_scores
from cnninterp.jaxcore.explain.methods import Method
from cnninterp.jaxcore.explain.targets import Target, target_weights
from cnninterp.jaxcore.images.loading import find_images, load_image
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.store.results import ENV_VAR


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def labelled(dataset, tmp_path_factory) -> Path:
    """One labelled 32x32 image of the shared dataset, in the images/ + labels/ layout."""
    root = tmp_path_factory.mktemp("labelled")
    for folder in ("images", "labels"):
        (root / folder).mkdir()
        shutil.copy(dataset / folder / "a.png", root / folder / "a.png")
    return root


@pytest.fixture(scope="module")
def reference(model) -> Explainer:
    return Explainer.from_file(model)


@pytest.fixture(scope="module")
def loaded(labelled):
    return load_image(find_images(labelled)[0])


def export(model, inputs, out, *extra) -> int:
    return main(["--model", str(model), *extra, "-o", str(out), str(inputs)])


def no_full_pass(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a full pass ran although significance was not asked for")

    monkeypatch.setattr(Explainer, "jacobian_stats", refuse)


def test_without_significance_no_pass_runs_and_the_files_say_so(
    model, reference, labelled, loaded, tmp_path, monkeypatch, cache_dir
):
    no_full_pass(monkeypatch)
    calls = []
    real_rows = Explainer.gradient_rows
    monkeypatch.setattr(
        Explainer, "gradient_rows", lambda self, *a: calls.append(1) or real_rows(self, *a)
    )
    csv_file = tmp_path / "pixels.csv"
    csv_file.write_text("y,x\n3,4\n\n20, 10\n31,0\n")
    out = tmp_path / "out"
    extra = ["--outputs", "gradients,probability", "--mode", "row", "--threshold", "5"]
    assert (
        export(model, labelled, out, *extra, "--pixel", "1,2", "--pixels-from", str(csv_file))
        == ExitCode.OK
    )
    pixels = np.array([(1, 2), (3, 4), (20, 10), (31, 0)])
    assert len(calls) == 1  # every row of the image in one batched call
    with np.load(out / "a.npz") as npz:
        assert sorted(npz.files) == ["gradients", "pixels", "probability"]
        np.testing.assert_array_equal(npz["pixels"], pixels)
        rows = reference.gradient_rows(loaded.pixels, pixels)
        np.testing.assert_allclose(npz["gradients"], rows, rtol=1e-6, atol=0)
        np.testing.assert_allclose(
            npz["probability"], reference.probability(loaded.pixels), rtol=1e-6
        )
    record = json.loads((out / "a.json").read_text())
    assert record["outputs_computed"] == ["probability", "gradients"]
    assert record["provenance"]["result_cache"] == "not run"
    assert record["threshold"]["max_abs_J"] is None and record["counts"]["exact"] is None
    for entry, row in zip(record["footprints"], rows, strict=True):
        assert entry["threshold"] == pytest.approx(0.05 * np.abs(row).max(), rel=1e-6)
    summary = (out / "summary.csv").read_text().splitlines()
    line = dict(zip(COLUMNS, summary[1].split(","), strict=True))
    assert line["outputs"] == "probability+gradients"
    assert line["mean_significance_predicted_vessel"] == ""
    assert not cache_dir.joinpath("stats").exists()

    # Global mode needs max |J| of the pass: without it the footprints have no threshold.
    out2 = tmp_path / "global"
    assert export(model, labelled, out2, "--outputs", "gradients", "--pixel", "3,4") == ExitCode.OK
    record = json.loads((out2 / "a.json").read_text())
    assert record["footprints"][0]["threshold"] is None
    with np.load(out2 / "a.npz") as npz:
        assert sorted(npz.files) == ["gradients", "pixels"]


def test_pixels_from_a_npy_file(model, reference, labelled, loaded, tmp_path, monkeypatch):
    no_full_pass(monkeypatch)
    pixels = np.array([[5, 6], [0, 31], [5, 6]], np.int32)
    np.save(tmp_path / "p.npy", pixels)
    out = tmp_path / "out"
    assert (
        export(
            model, labelled, out, "--outputs", "gradients", "--pixels-from", str(tmp_path / "p.npy")
        )
        == ExitCode.OK
    )
    with np.load(out / "a.npz") as npz:
        np.testing.assert_array_equal(npz["pixels"], pixels)
        rows = reference.gradient_rows(loaded.pixels, pixels.astype(np.int64))
        np.testing.assert_allclose(npz["gradients"], rows, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.csv", "y,x\n1,2\n3;4\n", "line 3 is '3;4'"),
        ("three.csv", "1,2,3\n", "line 1"),  # a first line that is no header nor pixel
        ("neg.csv", "1,2\n-1,4\n", "line 2 has a negative coordinate"),
        ("empty.csv", "y,x\n", "no pixels"),
        ("far.csv", "1,2\n40,1\n", "--pixel 40,1 is outside"),
        ("bad.npy", b"not numpy", "not a readable .npy"),
        ("float.npy", np.zeros((2, 2)), "expected integers of shape [N, 2]"),
        ("flat.npy", np.zeros(4, np.int64), "expected integers of shape [N, 2]"),
        ("missing.csv", None, "cannot read it"),
    ],
)
def test_bad_pixel_files_exit_2_naming_the_line(
    model, labelled, tmp_path, capsys, name, content, message
):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        np.save(path, content)
    out = tmp_path / "out"
    assert export(model, labelled, out, "--pixels-from", str(path)) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_ig_of_a_box_then_each_pixel_with_ground_truth(
    model, reference, labelled, loaded, tmp_path, monkeypatch, cache_dir
):
    no_full_pass(monkeypatch)
    out = tmp_path / "out"
    args = ["--outputs", "gradients", "--method", "ig", "--steps", "4", "--baseline", "blur"]
    args += [
        "--target",
        "box:2,3,12,20",
        "--pixel",
        "7,7",
        "--mode",
        "absolute",
        "--threshold",
        "1e-4",
    ]
    assert export(model, labelled, out, *args) == ExitCode.OK
    method = Method("ig", steps=4, baseline="blur")
    attributor = Attributor(reference)
    targets = [Target("box", box=(2, 3, 12, 20)), Target("pixel", y=7, x=7)]
    expected = [attributor.attribute(loaded.pixels, method, t) for t in targets]
    record = json.loads((out / "a.json").read_text())
    assert record["attribution"]["method"] == "ig"
    assert record["attribution"]["parameters"] == {
        "steps": 4,
        "integration": "gausslegendre",
        "baseline": "blur",
    }
    with np.load(out / "a.npz") as npz:
        assert npz["gradients"].shape == (2, 32, 32)
        np.testing.assert_array_equal(npz["pixels"], [[7, 7]])
        for values, attribution in zip(npz["gradients"], expected, strict=True):
            assert attribution is not None
            np.testing.assert_allclose(values, attribution.values, rtol=1e-5, atol=1e-9)
    probability = reference.probability(loaded.pixels)
    assert loaded.label is not None
    for entry, target, attribution in zip(record["footprints"], targets, expected, strict=True):
        assert attribution is not None
        assert entry["target"] == target.key()
        assert entry["completeness_error"] == pytest.approx(
            attribution.completeness_error, rel=1e-4, abs=1e-7
        )
        assert entry["threshold"] == 1e-4
        figures = ground_truth_figures(
            attribution.values, loaded.label, target_weights(target, probability), 1e-4
        ).as_dict()
        for key, value in figures.items():
            got = entry["ground_truth"][key]
            assert (got is None and np.isnan(value)) or got == pytest.approx(value, rel=1e-4), key
    assert record["footprints"][0]["y"] is None  # a region: no pixel of its own
    scores = segmentation_scores(probability[:32, :32], loaded.label)
    assert record["segmentation"]["false_positives"] == scores.false_positives

    # Asked again: both attributions come from the cache, to the bit; a damaged entry is
    # computed again, never trusted.
    assert [e["result_cache"] for e in record["footprints"]] == ["miss", "miss"]
    entries = sorted((cache_dir / "attributions").glob("*.npz"))
    assert len(entries) == 2
    entries[0].write_bytes(b"PK damaged")
    again = tmp_path / "again"
    assert export(model, labelled, again, *args) == ExitCode.OK
    answered = [e["result_cache"] for e in json.loads((again / "a.json").read_text())["footprints"]]
    assert sorted(answered) == ["hit", "miss"]
    with np.load(out / "a.npz") as first, np.load(again / "a.npz") as second:
        np.testing.assert_array_equal(first["gradients"], second["gradients"])


def test_smoothgrad_is_seeded_and_resume_compares_the_method(
    model, reference, labelled, loaded, tmp_path, capsys
):
    out = tmp_path / "out"
    args = ["--outputs", "gradients", "--method", "smoothgrad", "--samples", "3", "--sigma", "0.2"]
    args += ["--seed", "7", "--pixel", "4,4"]
    assert export(model, labelled, out, *args) == ExitCode.OK
    method = Method("smoothgrad", samples=3, sigma=0.2, seed=7)
    expected = Attributor(reference).attribute(loaded.pixels, method, Target("pixel", y=4, x=4))
    assert expected is not None
    with np.load(out / "a.npz") as npz:
        np.testing.assert_allclose(npz["gradients"][0], expected.values, rtol=1e-5, atol=1e-9)
    capsys.readouterr()
    assert export(model, labelled, out, *args) == ExitCode.OK
    assert "skipped 1 of 1 images" in capsys.readouterr().err
    assert export(model, labelled, out, *args[:-3], "8", "--pixel", "4,4") == ExitCode.OK  # seed 8
    assert "skipped" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "ig", "--steps", "0"], "must be from 1 to 1024"),
        (["--method", "ig", "--steps", "5000"], "must be from 1 to 1024"),
        (["--method", "smoothgrad", "--samples", "-3"], "must be from 1 to 1024"),
        (["--method", "smoothgrad", "--sigma", "-0.1"], "must be from 0 to 10"),
        (["--method", "smoothgrad", "--sigma", "nan"], "must be from 0 to 10"),
        (["--steps", "8"], "--steps does not apply to --method gradient"),
        (["--method", "ig", "--seed", "1"], "--seed does not apply to --method ig"),
        (["--method", "saliency"], "invalid choice"),
        (["--target", "box:0,0,40,5"], "is not inside a 32x32 image"),
        (["--target", "box:5,5,1,1"], "y1 >= y0"),
        (["--target", "box:1,2"], "four integers"),
        (["--target", "blob"], "unknown target"),
        (["--target", "segment"], "needs --pixel"),
        (["--outputs", "probability,gradient"], "comma-separated list"),
        (["--outputs", "probability", "--pixel", "1,1"], "add it to --outputs"),
        (["--max-pixels", "12"], "at least 256"),
    ],
)
def test_bad_request_options_exit_2_before_any_image(
    model, labelled, tmp_path, capsys, monkeypatch, extra, message
):
    monkeypatch.setattr(export_cli, "explainer_for", lambda *a, **k: pytest.fail("work started"))
    out = tmp_path / "out"
    assert export(model, labelled, out, *extra) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_segment_on_background_fails_that_image_with_the_nearest_vessel(
    model, reference, labelled, loaded, tmp_path, capsys
):
    probability = reference.probability(loaded.pixels)
    background = np.argwhere(probability[:32, :32] <= 0.5)
    if not len(background) or not (probability > 0.5).any():
        pytest.skip("this random model predicts a single class everywhere")
    y, x = background[0]
    out = tmp_path / "out"
    args = ["--outputs", "gradients", "--target", "segment", "--pixel", f"{y},{x}"]
    assert export(model, labelled, out, *args) == ExitCode.SOME_FAILED
    err = capsys.readouterr().err
    assert f"pixel ({y}, {x}) is background" in err and "nearest vessel pixel" in err
    assert "Traceback" not in err
    assert not out.exists()  # nothing was written, and the folder was ours
