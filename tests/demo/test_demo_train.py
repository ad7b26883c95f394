"""A few training steps of the demo script, end to end through the converter and JAX.

Everything here is ours and imported plainly: a broken import fails the test, never skips it."""

import json

import numpy as np

from cnninterp.demo import MODEL_FILE, train
from cnninterp.jaxcore.images.loading import find_images, load_image
from cnninterp.jaxcore.model.model_file import load_model


def test_short_training_run_end_to_end(tmp_path):
    out = tmp_path / "assets"
    args = ["--out", str(out), "--steps", "3", "--width", "2", "--size", "32", "--pool", "4"]
    args += ["--batch", "2", "--held-out", "2", "--demo-images", "2"]
    args += ["--vessmap", str(tmp_path / "no_vessmap")]
    assert train.main(args) == 0

    config, variables, header = load_model(out / MODEL_FILE)
    assert config.width == 2 and config.classes == 2
    assert not header["info"]["parity"]["forced"]  # PyTorch and JAX agreed
    record = json.loads((out / "metrics.json").read_text())
    assert record["metrics"]["vessmap"] is None
    for name in ("synthetic_held_out_32x32", "synthetic_held_out_64x64"):
        assert 0.0 <= record["metrics"][name]["iou"] <= 1.0
    assert "--steps 3" in (out / "README.md").read_text()

    sources = find_images(out)
    assert [s.name for s in sources] == ["synthetic_0", "synthetic_1"]
    loaded = load_image(sources[0])
    assert loaded.pixels.shape == (64, 64) and loaded.label is not None
    np.testing.assert_array_equal(loaded.pixels, train.synthetic_batch([train.DEMO_SEED], 64)[0][0])
