"""The shipped demo: its files are where demo_dir() says, load, and the model segments well."""

import json

import jax
import numpy as np
import pytest

from cnninterp.demo import demo_dir, demo_model_path
from cnninterp.demo.synthetic import synthetic_batch
from cnninterp.demo.train import DEMO_SEED, HELD_OUT_SEED, iou_scores
from cnninterp.jaxcore.images.loading import find_images, load_image
from cnninterp.jaxcore.model.model_file import load_model
from cnninterp.jaxcore.model.network import vessel_probability

# Pooled IoU of p > 0.5 on fresh held-out synthetic 64x64 images. The shipped model scores
# about 0.8 on 64 such images (metrics.json); the bar leaves room for a small sample.
IOU_BAR = 0.65
FRESH_SEED = HELD_OUT_SEED + 500_000  # neither trained on nor in metrics.json


@pytest.fixture(scope="module")
def demo_model():
    return load_model(demo_model_path())


def test_assets_are_in_the_images_labels_layout():
    sources = find_images(demo_dir())
    assert len(sources) >= 4
    assert all(s.label_path is not None for s in sources)
    images, labels = synthetic_batch([DEMO_SEED], 64)
    first = load_image(sources[0])
    np.testing.assert_array_equal(first.pixels, images[0])  # reproducible from the generator
    np.testing.assert_array_equal(first.label, labels[0])


def test_assets_stay_small():
    total = sum(p.stat().st_size for p in demo_dir().rglob("*") if p.is_file())
    assert total < 4_000_000


def test_shipped_model_loads(demo_model):
    config, variables, header = demo_model
    assert config.classes == 2 and config.width == 8
    assert header["info"]["architecture"] == "CustomResNet"


def test_shipped_model_segments_held_out_synthetic_images(demo_model):
    config, variables, _ = demo_model
    images, labels = synthetic_batch(range(FRESH_SEED, FRESH_SEED + 8), 64)
    prob = jax.jit(lambda image: vessel_probability(config, variables, image))
    probs = [np.asarray(prob(image)) for image in images]
    scores = iou_scores(probs, list(labels))
    assert scores["iou"] > IOU_BAR, scores


def test_metrics_file_records_both_scores():
    record = json.loads((demo_dir() / "metrics.json").read_text())
    assert record["threshold"] == 0.5
    assert record["metrics"]["synthetic_held_out_64x64"]["iou"] > IOU_BAR
    assert "vessmap" in record["metrics"]
