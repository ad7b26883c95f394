"""summary.csv: every number recomputed here by brute force from the .npz and the labels."""

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from cnninterp.export.cli import main
from cnninterp.export.summary import COLUMNS
from cnninterp.frontend import ExitCode
from cnninterp.jaxcore.files.disk import file_sha256


def test_summary_lines_are_the_statistics_of_the_outputs(model, dataset, tmp_path):
    # A 30x30 image is padded to 32x32: its statistics must not see the padding.
    odd = np.random.default_rng(9).integers(0, 256, (30, 30)).astype(np.uint8)
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir()
    Image.fromarray(odd).save(data / "images" / "odd.png")
    label = np.zeros((30, 30), np.uint8)
    label[5:12, :] = 255
    Image.fromarray(label).save(data / "labels" / "odd.png")
    for name in ("a", "unlabelled"):
        (data / "images" / f"{name}.png").write_bytes(
            (dataset / "images" / f"{name}.png").read_bytes()
        )
    (data / "labels" / "a.png").write_bytes((dataset / "labels" / "a.png").read_bytes())
    out = tmp_path / "out"
    args = ["--model", str(model), "--mode", "row", "--threshold", "5", "--no-cache"]
    assert main([*args, "-o", str(out), str(data)]) == ExitCode.OK
    with open(out / "summary.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = {row["name"]: row for row in reader}
    assert sorted(rows) == ["a", "odd", "unlabelled"]
    for name, row in rows.items():
        with np.load(out / f"{name}.npz") as npz:
            probability, significance = npz["probability"], npz["significance"]
        size = 30 if name == "odd" else 32
        assert (row["height"], row["width"]) == (str(size), str(size))
        probability, significance = probability[:size, :size], significance[:size, :size]
        regions = {"predicted_vessel": probability > 0.5}
        regions["predicted_background"] = ~regions["predicted_vessel"]
        label_path = data / "labels" / f"{name}.png"
        if label_path.exists():
            regions["labelled_vessel"] = np.asarray(Image.open(label_path)) > 127
            regions["labelled_background"] = ~regions["labelled_vessel"]
        for region in ("labelled_vessel", "labelled_background"):
            if region not in regions:
                assert row[f"mean_significance_{region}"] == ""
                assert row[f"median_significance_{region}"] == ""
        for region, mask in regions.items():
            assert mask.any() and not mask.all() or region.startswith("predicted")
            values = significance[mask].astype(np.float64)
            assert float(row[f"mean_significance_{region}"]) == values.mean()
            assert float(row[f"median_significance_{region}"]) == np.median(values)
        assert row["model_sha256"] == file_sha256(model)
        assert (row["threshold_mode"], row["threshold"]) == ("row", "5.0")
        assert row["device"] == "CPU" and float(row["seconds"]) > 0
    assert Path(out / "summary.csv").read_text().count("\n") == 4
