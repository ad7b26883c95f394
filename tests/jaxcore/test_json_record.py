"""jaxcore.files.json_record: records holding NaN or infinity become strict JSON with null."""

import json

import numpy as np

from cnninterp.jaxcore.files.json_record import finite_or_null, json_text
from cnninterp.jaxcore.model.network import ModelConfig
from cnninterp.jaxcore.model.provenance import model_provenance
from cnninterp.jaxcore.model.seed import seed_model


def test_non_finite_numbers_become_null_and_the_text_is_strict_json():
    record = {
        "max_abs_J": float("nan"),
        "rows": [1.5, float("inf"), np.float32("nan"), np.float64(2.0), np.int64(3)],
        "nested": {"t": (-float("inf"), "text", None, True)},
    }
    text = json_text(record)
    assert "NaN" not in text and "Infinity" not in text and text.endswith("\n")
    back = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert back == {
        "max_abs_J": None,
        "rows": [1.5, None, None, 2.0, 3],
        "nested": {"t": [None, "text", None, True]},
    }
    assert finite_or_null(True) is True  # bools stay bools, not numbers


def test_model_provenance_names_the_explained_class():
    record = model_provenance(seed_model(ModelConfig(width=4, classes=3, vessel_class=2), {}))
    assert record == {"explained_class": 2, "classes": 3, "width": 4, "precision": "highest"}
