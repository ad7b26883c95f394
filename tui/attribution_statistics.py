"""The statistics of an attribution map, and the ground truth beside them.

Pure, like cursor_statistics.py, whose cursor record this extends: an attribution A takes the
place of the gradient row in the footprint numbers (A(y,x), max |A|, pixels above the
threshold, ...), and with labels every explanation, the plain row included, gets the figures
of jaxcore.explain.groundtruth (its detail crop: pictures/panel_pictures.attribution_detail). The
significance numbers stay the per-pixel gradient footprint's.

Thresholds of an attribution follow jaxcore's significance.attribution_threshold, the one rule
the export applies too.
"""

import numpy as np

from cnninterp.jaxcore.explain.attribution import Attribution
from cnninterp.jaxcore.explain.groundtruth import ground_truth_figures, segmentation_scores
from cnninterp.jaxcore.summaries.footprint import footprint
from cnninterp.jaxcore.summaries.significance import (
    LEGACY_FRACTION,
    ThresholdMode,
    attribution_threshold,
)
from cnninterp.tui import number_text
from cnninterp.tui.cursor_statistics import (
    StatsRecord,
    current_threshold,
    cursor_statistics,
    statistics_rows,
)
from cnninterp.tui.state.image_results import ImageResults
from cnninterp.tui.state.threshold import Threshold

FOOTPRINT_FIELDS: tuple[str, ...] = ("above", "y_min", "y_max", "x_min", "x_max", "area")
FOOTPRINT_FIELDS += ("fulfillment", "positive_mass", "negative_mass", "centre_dy", "centre_dx")


def attribution_limit(threshold: Threshold, values: np.ndarray) -> float:
    """The user's threshold applied to an attribution (significance.attribution_threshold)."""
    return attribution_threshold(threshold.mode, threshold.t_value, values)


def describe_threshold(threshold: Threshold) -> str:
    """The rule attribution_limit applies, in words."""
    if threshold.mode is ThresholdMode.ABSOLUTE:
        return threshold.describe()
    if threshold.mode is ThresholdMode.LEGACY:
        return f"{LEGACY_FRACTION * 100:g} % of max |A| (legacy)"
    return f"{threshold.percent:g} % of max |A|"


class GroundTruthMemo:
    """The last ground-truth figures, by the identity of their arrays and the threshold: a
    region's attribution stays the same while the cursor moves, and its figures cost 30 ms at
    256x256 (a sort of |A|), too much to redo on every key repeat."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._kept: tuple = ()
        self._figures: dict = {}

    def figures(self, values, label, weights, limit: float) -> dict:
        key = (id(values), id(label), id(weights), limit)
        if key != self._key:
            self._figures = ground_truth_figures(values, label, weights, limit).as_dict()
            self._key, self._kept = key, (values, label, weights)  # kept: ids stay unique
        return self._figures


def explained_statistics(
    view: ImageResults,
    threshold: Threshold,
    y: int,
    x: int,
    attribution: Attribution | None,
    weights: np.ndarray | None,
    memo: GroundTruthMemo | None = None,
) -> StatsRecord:
    """cursor_statistics, with the attribution's numbers in place of the row's when one is
    given, and ground truth where the image has labels. weights: the target's, float32 [H, W]
    (None: the cursor pixel); memo: reuses the figures while nothing they depend on changed."""
    out = cursor_statistics(view, threshold, y, x)
    if view.loaded is None:
        return out
    values, limit = view.row_for(y, x), current_threshold(view, threshold, y, x)
    if attribution is not None:
        values = attribution.values
        limit = attribution_limit(threshold, values)
        out.update(_attribution_fields(attribution, values, limit, y, x))
    label = view.loaded.label
    if label is None or view.probability is None:
        return out
    scores = segmentation_scores(view.probability, label)
    out |= {"iou": scores.iou, "false_positives": scores.false_positives}
    out["false_negatives"] = scores.false_negatives
    if values is not None and limit is not None:
        if weights is None:
            weights = np.zeros(values.shape, np.float32)
            weights[y, x] = 1.0
        memo = memo or GroundTruthMemo()
        out |= memo.figures(values, label, weights, limit)
    return out


def _attribution_fields(
    attribution: Attribution, values: np.ndarray, limit: float, y: int, x: int
) -> StatsRecord:
    out: StatsRecord = {"explains": attribution.title(), "method": attribution.method.name}
    out["parameters"] = attribution.method.parameters()
    out["target"] = attribution.target.key()
    out["target_value"] = attribution.target_value
    out["completeness_error"] = attribution.completeness_error
    out["threshold"] = limit
    out["gradient_at_cursor"] = float(values[y, x])
    out["row_max_abs"] = float(np.max(np.abs(values)))
    fp = footprint(values, limit, y, x)
    for name in FOOTPRINT_FIELDS:
        value = getattr(fp, name)
        out[name] = value.item() if hasattr(value, "item") else value
    return out


def explained_rows(record: StatsRecord, threshold: Threshold) -> list[tuple[str, str]]:
    """The statistics panel's lines: cursor_statistics.statistics_rows, relabelled for an
    attribution, then the method's own figures and the ground truth."""
    rows = statistics_rows(record, threshold)
    if "method" in record:
        names = {"G(y,x)": "A(y,x)", "row max": "max |A|"}
        rows = [(names.get(label, label), value) for label, value in rows]
        rows = [("mode", describe_threshold(threshold)) if r[0] == "mode" else r for r in rows]
        rows.insert(1, ("explains", record["explains"]))
        rows.insert(2, ("T(x)", number_text.format_value(record["target_value"])))
        if record["completeness_error"] is not None:
            rows.append(
                ("complete.", f"|ΣA - ΔT| {number_text.format_value(record['completeness_error'])}")
            )
        if record["method"] == "smoothgrad":
            rows.append(("seed", str(record["parameters"]["seed"])))
    if "iou" in record:
        rows.append(("IoU p>0.5", f"{_share(record['iou'])}  FP {record['false_positives']}"))
        rows[-1] = (rows[-1][0], f"{rows[-1][1]}  FN {record['false_negatives']}")
    if "vessel_share" in record:
        rows.append(("|A| ves/bg", _vessel_background(record["vessel_share"])))
        rows.append(("footprint", _vessel_background(record["footprint_vessel_share"])))
        rows.append(("mass acc.", _share(record["relevance_mass_accuracy"])))
        rows.append(("rank acc.", _share(record["relevance_rank_accuracy"])))
        hit = record["pointing_game"]
        rows.append(("pointing", "-" if np.isnan(hit) else "hit" if hit else "miss"))
    return rows


def _share(value: float) -> str:
    return "-" if value is None or np.isnan(value) else f"{value:.3f}"


def _vessel_background(share: float) -> str:
    """'62.0 % / 38.0 %': the share of |A| on labelled vessel, then on background."""
    if share is None or np.isnan(share):
        return "-"
    return f"{100 * share:.1f} % / {100 * (1 - share):.1f} %"
