"""The method x target state, its parameter prompt and its statistics, without an App."""

import io

import numpy as np
import pytest
from rich.console import Console

from cnninterp.jaxcore.explain.attribution import Attribution
from cnninterp.jaxcore.explain.groundtruth import ground_truth_figures, segmentation_scores
from cnninterp.jaxcore.explain.methods import Method
from cnninterp.jaxcore.explain.targets import Target, TargetError
from cnninterp.jaxcore.images.loading import ImageSource, LoadedImage
from cnninterp.jaxcore.summaries.significance import ThresholdMode
from cnninterp.tui.attribution_statistics import (
    GroundTruthMemo,
    attribution_limit,
    describe_threshold,
    explained_rows,
    explained_statistics,
)
from cnninterp.tui.key_labels import help_rows
from cnninterp.tui.keymap import default_bindings
from cnninterp.tui.prompts import Refused
from cnninterp.tui.state.attribution_state import RecentAttributions
from cnninterp.tui.state.explanation_choice import Explanation, parameters_text, parse_parameters
from cnninterp.tui.state.image_results import ImageResults
from cnninterp.tui.state.threshold import Threshold
from cnninterp.tui.widgets.help_screen import help_table


def test_cycling_visits_every_method_and_target_and_comes_back():
    e = Explanation()
    assert e.is_plain
    names = []
    for _ in range(4):
        names.append(e.method.name)
        e = e.next_method()
    assert names == ["gradient", "gradxinput", "smoothgrad", "ig"] and e.method.name == "gradient"
    kinds = []
    for _ in range(5):
        kinds.append(e.target_kind)
        e = e.next_target()
    assert kinds == ["pixel", "box", "segment", "vessel", "border"] and e.is_plain


def test_titles_say_method_and_target():
    e = Explanation(Method("ig", baseline="blur"), "segment")
    assert e.title(30, 24) == "IG(32, blur) of segment at (30, 24)"
    assert Explanation().title(3, 4) == "gradient (3, 4)"
    assert Explanation(Method("smoothgrad"), "vessel").title(0, 0) == (
        "SmoothGrad(16, 15 %) of whole vessel"
    )
    assert Explanation(target_kind="box").title(1, 2) == "gradient of box (not drawn)"


def test_a_box_from_two_corners_in_any_order_and_none_before():
    with pytest.raises(TargetError, match="press b"):
        Explanation(target_kind="box").target_at(0, 0)
    e = Explanation().with_box((9, 2), (4, 7))
    assert e.target_kind == "box" and e.target_at(0, 0) == Target("box", box=(4, 2, 9, 7))
    assert e.next_target().box == (4, 2, 9, 7)  # kept while other targets are chosen


def test_keys_differ_by_parameters_and_cursor_only_where_they_matter():
    ig = Explanation(Method("ig"), "vessel")
    assert ig.key(1, 1) == ig.key(5, 5)  # the vessel does not follow the cursor
    assert ig.key(1, 1) != Explanation(Method("ig", steps=8), "vessel").key(1, 1)
    pixel = Explanation(Method("gradxinput"))
    assert pixel.key(1, 1) != pixel.key(1, 2)


def test_parameters_parse_what_is_typed_and_keep_the_rest():
    method = Method("ig")
    assert parse_parameters(parameters_text(method), method) == method
    chosen = parse_parameters("steps=8, baseline=blur sigma=0.3 seed=7", method)
    assert (chosen.steps, chosen.baseline, chosen.sigma, chosen.seed) == (8, "blur", 0.3, 7)
    assert chosen.samples == method.samples and chosen.name == "ig"


@pytest.mark.parametrize(
    "text, says",
    [
        ("steps=0", "from 1 to 1024"),
        ("steps=5000", "from 1 to 1024"),
        ("samples=-2", "from 1 to 1024"),
        ("sigma=-1", "from 0 to 10"),
        ("sigma=nan", "from 0 to 10"),
        ("baseline=noise", "zeros, blur, mean"),
        ("steps=3.5", "steps must be an integer"),
        ("size=3", "names: steps, samples, sigma, baseline, seed"),
        ("32", "name=value"),
    ],
)
def test_bad_parameters_are_refused_saying_what_is_allowed(text, says):
    with pytest.raises(Refused, match=says):
        parse_parameters(text, Method("gradient"))  # checked whichever method is chosen


def _attribution(values, name="gradxinput") -> Attribution:
    return Attribution(values, Method(name), Target("vessel"), 1.0)


def test_the_cache_keeps_one_image_and_drops_the_oldest():
    cache = RecentAttributions(size=2)
    a = _attribution(np.zeros((2, 2), np.float32))
    cache.put(1, "a", a)
    cache.put(1, "b", a)
    assert cache.get(1, "a") is a  # now the newest
    cache.put(1, "c", a)
    assert cache.get(1, "b") is None and cache.get(1, "a") is a and len(cache) == 2
    assert cache.get(2, "a") is None
    cache.put(2, "d", a)
    assert cache.get(1, "a") is None and len(cache) == 1


def test_attribution_limits_are_percent_of_max_abs_a_or_absolute():
    values = np.array([[1.0, -4.0], [2.0, 0.5]], np.float32)
    assert attribution_limit(Threshold(ThresholdMode.GLOBAL, 50.0), values) == 2.0
    assert attribution_limit(Threshold(ThresholdMode.ROW, 25.0), values) == 1.0
    assert attribution_limit(Threshold(ThresholdMode.ABSOLUTE, absolute=0.7), values) == 0.7


def test_the_legacy_label_names_the_rule_applied():
    """Legacy applies the original's 1 %, whatever percent the user last set elsewhere."""
    legacy = Threshold(ThresholdMode.LEGACY, 0.05)
    values = np.array([[1.0, -4.0]], np.float32)
    assert attribution_limit(legacy, values) == pytest.approx(0.04)
    assert describe_threshold(legacy).startswith("1 % of max |A|")
    assert describe_threshold(Threshold(ThresholdMode.GLOBAL, 0.05)) == "0.05 % of max |A|"


def _view_with_label(tmp_path) -> ImageResults:
    rng = np.random.default_rng(0)
    pixels = rng.random((16, 16)).astype(np.float32)
    label = np.zeros((16, 16), bool)
    label[4:12, 6:9] = True
    probability = np.where(label, 0.9, 0.1).astype(np.float32)
    probability[0, 0], probability[5, 7] = 0.8, 0.2  # one false positive, one false negative
    source = ImageSource("x", tmp_path / "x.png", None)
    loaded = LoadedImage(source, pixels, label, (16, 16), ())
    return ImageResults(1, 0, loaded=loaded, probability=probability)


def test_statistics_of_an_attribution_with_ground_truth_equal_jaxcore(tmp_path):
    view = _view_with_label(tmp_path)
    values = np.random.default_rng(1).standard_normal((16, 16)).astype(np.float32)
    weights = (view.probability > 0.5).astype(np.float32)
    threshold = Threshold(ThresholdMode.GLOBAL, 10.0)
    record = explained_statistics(view, threshold, 6, 7, _attribution(values), weights)
    limit = 0.1 * float(np.abs(values).max())
    assert record["threshold"] == pytest.approx(limit)
    assert record["gradient_at_cursor"] == values[6, 7]
    assert record["above"] == int((np.abs(values) > limit).sum())
    want = ground_truth_figures(values, view.loaded.label, weights, limit).as_dict()
    assert {k: record[k] for k in want} == pytest.approx(want, nan_ok=True)
    scores = segmentation_scores(view.probability, view.loaded.label)
    assert (record["false_positives"], record["false_negatives"]) == (1, 1)
    assert record["iou"] == scores.iou
    rows = dict(explained_rows(record, threshold))
    assert rows["explains"] == "gradient × input of whole vessel"
    assert rows["mode"] == "10 % of max |A|"
    assert "A(y,x)" in rows and "G(y,x)" not in rows
    assert rows["IoU p>0.5"] == f"{scores.iou:.3f}  FP 1  FN 1"
    share = want["vessel_share"]
    assert rows["|A| ves/bg"] == f"{100 * share:.1f} % / {100 * (1 - share):.1f} %"


def test_ig_shows_its_completeness_error_and_smoothgrad_its_seed(tmp_path):
    view = _view_with_label(tmp_path)
    values = np.ones((16, 16), np.float32)
    ig = Attribution(values, Method("ig"), Target("vessel"), 2.0, 1.5, 0.25)
    rows = dict(
        explained_rows(explained_statistics(view, Threshold(), 0, 0, ig, None), Threshold())
    )
    assert rows["complete."] == "|ΣA - ΔT| 0.25"
    smooth = Attribution(values, Method("smoothgrad", seed=42), Target("vessel"), 2.0)
    record = explained_statistics(view, Threshold(), 0, 0, smooth, None)
    assert dict(explained_rows(record, Threshold()))["seed"] == "42"


def test_the_keys_are_in_the_footer_and_the_help():
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(help_table())
    text = console.export_text()
    for key, words in [
        ("a", "attribution method"),
        ("A", "method parameters"),
        ("r", "what is explained"),
    ]:
        assert any(line.split()[:1] == [key] and words in line for line in text.splitlines())
    assert "false negative" in text and "box corner" in text
    rows = dict(help_rows())
    assert rows["x / X"] == "next false positive / false negative pixel (with labels)"
    shown = {b.key: b.description for b in default_bindings() if b.show}
    assert shown["a"] == "method" and shown["r"] == "target" and shown["X"] == "next FN"


def test_ground_truth_figures_are_reused_only_while_their_inputs_stay(tmp_path):
    view = _view_with_label(tmp_path)
    values = np.random.default_rng(2).standard_normal((16, 16)).astype(np.float32)
    weights = (view.probability > 0.5).astype(np.float32)
    memo = GroundTruthMemo()
    first = memo.figures(values, view.loaded.label, weights, 0.5)
    assert memo.figures(values, view.loaded.label, weights, 0.5) is first
    other = memo.figures(values, view.loaded.label, weights, 1.5)
    want = ground_truth_figures(values, view.loaded.label, weights, 1.5).as_dict()
    assert other is not first and other == pytest.approx(want, nan_ok=True)
    shifted = values + 1
    assert memo.figures(shifted, view.loaded.label, weights, 1.5) == pytest.approx(
        ground_truth_figures(shifted, view.loaded.label, weights, 1.5).as_dict(), nan_ok=True
    )
