"""cnninterp-export: outputs equal the Explainer's own answers, and the exit-code contract.

A tiny real model (width 4) and 32x32 PNGs. Compiling is the slow part (seconds on this
machine): runs in this process share the core's explainer cache, so runs are few and each checks
several things.
"""

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnninterp.export.cli import main, resolve_model
from cnninterp.frontend import ExitCode
from cnninterp.jaxcore.files.disk import file_sha256
from cnninterp.jaxcore.images.loading import ImageSource, load_image
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.store.results import ENV_VAR, StatsCache
from cnninterp.jaxcore.summaries.footprint import footprint
from cnninterp.jaxcore.summaries.significance import (
    DEFAULT_THRESHOLD_PERCENT,
    ThresholdMode,
    significance_counts,
    threshold_value,
)

SIZE = 32
PIXELS = [(3, 4), (20, 10), (3, 4), (29, 29)]  # a repeat; the last pixel of the 30x30 image


def write_png(path: Path, size: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size)).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def reference(model) -> Explainer:
    return Explainer.from_file(model)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """A 32x32 image and a 30x30 one (padded to 32x32)."""
    folder = tmp_path_factory.mktemp("images")
    write_png(folder / "a.png", SIZE, 0)
    write_png(folder / "odd.png", 30, 2)
    return folder


def bad_png(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bad.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    return path


_STATS: dict[bytes, object] = {}


def reference_stats(reference, pixels):
    """The reference Explainer's full pass of an image, run once per module."""
    if pixels.tobytes() not in _STATS:
        _STATS[pixels.tobytes()] = reference.jacobian_stats(pixels)
    return _STATS[pixels.tobytes()]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "cache"))
    return tmp_path / "cache"


def pixel_args(pixels) -> list[str]:
    return [arg for y, x in pixels for arg in ("--pixel", f"{y},{x}")]


def check_outputs(out: Path, image: Path, reference, mode, t_value, pixels) -> dict:
    """The .npz and .json of one image against the Explainer's own answers."""
    pixels_yx = np.array(pixels, np.int64).reshape(-1, 2)
    loaded = load_image(ImageSource(image.stem, image, None))
    stats = reference_stats(reference, loaded.pixels)
    probability = reference.probability(loaded.pixels)
    with np.load(out / f"{image.stem}.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["gradients", "pixels", "probability", "significance"]
        np.testing.assert_array_equal(npz["pixels"], pixels_yx)
        assert npz["probability"].dtype == npz["gradients"].dtype == np.float32
        assert npz["significance"].dtype == np.float32
        np.testing.assert_allclose(npz["probability"], probability, rtol=1e-6, atol=0)
        rows = reference.gradient_rows(loaded.pixels, pixels_yx)
        assert npz["gradients"].shape == (len(pixels), SIZE, SIZE)
        np.testing.assert_allclose(npz["gradients"], rows, rtol=1e-6, atol=0)
        expected = significance_counts(
            stats, ThresholdMode(mode), t_value, predicted_mask=probability > 0.5
        )
        np.testing.assert_array_equal(npz["significance"], expected.counts)
    record = json.loads((out / f"{image.stem}.json").read_text())
    for entry, (y, x), row in zip(record["footprints"], pixels, rows, strict=True):
        assert (entry["y"], entry["x"]) == (y, x)
        fp = footprint(row, threshold_value(stats, ThresholdMode(mode), t_value, y, x), y, x)
        assert {k: entry[k] for k in asdict(fp)} == pytest.approx(asdict(fp), rel=1e-6)
    assert len(record["footprints"]) == len(pixels)
    assert record["threshold"]["mode"] == mode
    assert record["counts"] == {"exact": True, "max_error": None}
    assert record["threshold"]["max_abs_J"] == pytest.approx(stats.max_abs, rel=1e-6)
    provenance = record["provenance"]
    assert provenance["device"] == reference.device_name
    assert set(provenance["versions"]) == {"cnninterp", "jax", "flax", "numpy", "python"}
    assert provenance["utc"].endswith("+00:00") and provenance["seconds"] > 0
    return record


def test_export_matches_the_explainer_and_reuses_the_cache(
    model, reference, images, tmp_path, capsys, cache_dir
):
    out = tmp_path / "out"
    args = ["--model", str(model), *pixel_args(PIXELS), "-o", str(out), str(images)]
    assert main(args) == ExitCode.OK
    stdout = capsys.readouterr().out.split()
    assert stdout == [str(out / f"{n}.npz") for n in ("a", "odd")]
    for name in ("a", "odd"):
        record = check_outputs(
            out, images / f"{name}.png", reference, "global", DEFAULT_THRESHOLD_PERCENT, PIXELS
        )
        assert record["provenance"]["result_cache"] == "miss"
        assert record["provenance"]["model"]["sha256"] == reference.model_sha256
        assert record["threshold"]["absolute"] == pytest.approx(
            DEFAULT_THRESHOLD_PERCENT / 100 * record["threshold"]["max_abs_J"]
        )
    assert record["image"]["original_shape"] == [30, 30]
    assert any("padded 30x30 -> 32x32" in note for note in record["image"]["notes"])
    assert sorted(p.name for p in out.iterdir()) == [
        "a.json",
        "a.npz",
        "odd.json",
        "odd.npz",
        "summary.csv",
    ]
    assert len(list((cache_dir / "stats").iterdir())) == 2

    # Another mode and threshold on the same images: every full pass comes from the cache.
    # One image is named twice (as a file and in its folder): exported once.
    row_out = tmp_path / "row"
    args = ["--model", str(model), "--mode", "row", "--threshold", "5", "--pixel", "7,8"]
    assert main([*args, "-o", str(row_out), str(images / "a.png"), str(images)]) == ExitCode.OK
    assert len(capsys.readouterr().out.split()) == 2
    for name in ("a", "odd"):
        record = check_outputs(row_out, images / f"{name}.png", reference, "row", 5.0, [(7, 8)])
        assert record["provenance"]["result_cache"] == "hit"
        assert record["threshold"]["absolute"] is None  # per pixel, in the footprints


def test_failed_image_is_reported_and_others_written(model, reference, images, tmp_path, capsys):
    """Legacy mode, no pixels, no cache, and one unreadable image among the inputs."""
    out = tmp_path / "out"
    args = ["--model", str(model), "--mode", "legacy", "--threshold", "3", "--no-cache"]
    inputs = [str(bad_png(tmp_path / "in")), str(images / "a.png")]
    assert main([*args, "-o", str(out), *inputs]) == ExitCode.SOME_FAILED
    err = capsys.readouterr().err
    assert "--threshold is ignored" in err
    assert "bad: FAILED" in err and "cannot read this image" in err and "Traceback" not in err
    assert "1 of 2 images written" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.npz", "summary.csv"]
    record = check_outputs(out, images / "a.png", reference, "legacy", 3.0, [])
    with np.load(out / "a.npz") as npz:
        assert npz["gradients"].shape == (0, SIZE, SIZE) and npz["pixels"].shape == (0, 2)
        assert np.nanmax(npz["significance"]) <= 1.0
    assert record["provenance"]["result_cache"] == "disabled"
    assert record["threshold"]["value"] is None
    assert not (tmp_path / "cache").exists()


@pytest.mark.slow  # imports torch and converts: about 10 s here
def test_checkpoint_is_converted_once_into_the_cache(images, tmp_path, capsys, cache_dir):
    torch = pytest.importorskip("torch")
    from cnninterp.convert.torch_model import random_model

    checkpoint = tmp_path / "model.pth"
    torch.save(random_model(4, 2, seed=5).state_dict(), checkpoint)
    out = tmp_path / "out"
    args = ["--model", str(checkpoint), "--pixel", "5,5", "-o", str(out), str(images / "a.png")]
    assert main(args) == ExitCode.OK
    assert "converting" in capsys.readouterr().err
    model = json.loads((out / "a.json").read_text())["provenance"]["model"]
    converted = Path(model["converted"])
    assert converted.parent == cache_dir / "models"
    assert model["sha256"] == file_sha256(converted)
    assert model["checkpoint_sha256"] == file_sha256(checkpoint)
    with np.load(out / "a.npz") as npz:
        assert npz["gradients"].shape == (1, SIZE, SIZE) and np.abs(npz["gradients"]).max() > 0
    # The second time the conversion is found in the cache (and the damaged one is redone).
    cache = StatsCache()
    assert resolve_model(checkpoint, cache, tmp_path, print)[0] == converted
    assert "converting" not in capsys.readouterr().out
    converted.write_bytes(b"damaged")
    assert resolve_model(checkpoint, cache, tmp_path, print)[0] == converted
    assert "converting" in capsys.readouterr().out
    assert file_sha256(converted) == model["sha256"]


# --- bad input: exit 2, a message naming the problem, no traceback, nothing written ---------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pixel", "3"], "expected Y,X"),
        (["--pixel", "a,b"], "expected Y,X"),
        (["--pixel=-1,2"], "negative"),
        (["--pixel", "32,0"], "outside"),
        (["--pixel", "0,30"], "outside"),  # odd.png is 30x30 before padding
        (["--threshold", "-1"], "non-negative"),
        (["--threshold", "nan"], "non-negative"),
        (["--threshold", "x"], "expected a number"),
        (["--mode", "absolute"], "needs --threshold"),
        (["--mode", "fancy"], "invalid choice"),
        (["--devices", "gpu1"], "expected 'all', a count"),
        (["--devices", "5"], "5 devices asked for, but 1 CPU device available"),
        (["--devices", "0,3"], "device 3 does not exist"),
    ],
)
def test_bad_arguments_exit_2(model, images, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert main(["--model", str(model), *extra, "-o", str(out), str(images)]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_bad_model_and_inputs_exit_2(model, images, tmp_path, capsys):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "other").mkdir()
    write_png(tmp_path / "other" / "a.png", SIZE, 9)
    out = str(tmp_path / "out")
    cases = [
        (["--model", str(tmp_path / "missing.safetensors"), "-o", out, str(images)], "no such"),
        (["--model", str(junk), "-o", out, str(images)], "not a cnninterp model file"),
        (["--model", str(model), "-o", out, str(empty)], "no images found"),
        (["--model", str(model), "-o", out, str(tmp_path / "nowhere")], "no such folder"),
        (["--model", str(model), "-o", out, str(images), str(tmp_path / "other")], "both"),
        (["--model", str(model), str(images)], "required: -o"),
    ]
    for args, message in cases:
        assert main(args) == ExitCode.BAD_INPUT, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)


def test_help_documents_the_exit_codes(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for line in ("0  every image written", "2  bad usage", "4  some images failed"):
        assert line in text


def test_console_script(model, reference, images, tmp_path):
    """The installed script: its exit code, stdout listing and plain progress lines."""
    script = Path(sys.executable).with_name("cnninterp-export")
    out = tmp_path / "out"
    env = os.environ | {ENV_VAR: str(tmp_path / "cache"), "JAX_PLATFORMS": "cpu"}
    args = [str(script), "--model", str(model), "--pixel", "1,2", "--mode", "absolute"]
    inputs = [str(images / "a.png"), str(bad_png(tmp_path / "in"))]
    done = subprocess.run(
        [*args, "--threshold", "1e-3", "-o", str(out), *inputs],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == ExitCode.SOME_FAILED, done.stderr
    assert done.stdout.split() == [str(out / "a.npz")]
    assert "[1/2] a: written" in done.stderr  # plain lines: stderr is not a terminal
    assert "[2/2] bad: FAILED" in done.stderr and "Traceback" not in done.stderr
    check_outputs(out, images / "a.png", reference, "absolute", 1e-3, [(1, 2)])


def test_export_imports_torch_and_rich_progress_only_when_needed():
    """Flax brings rich's console along (see tests/convert/test_convert_boundaries.py); the
    progress bar, and torch for converting a .pth, come in only when used."""
    code = (
        "import sys, cnninterp.export.cli, cnninterp.jaxcore.store.results\n"
        "print(sorted(m for m in ('rich.progress', 'torch', 'textual') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
