"""Ground-truth figures against Quantus' own metrics and brute-force definitions."""

import numpy as np
import pytest
import quantus

from cnninterp.jaxcore.explain.groundtruth import (
    ground_truth_figures,
    labelled_segment,
    mistakes,
    next_mistake,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    segmentation_scores,
)


def random_case(seed, size=24):
    rng = np.random.default_rng(seed)
    attribution = rng.standard_normal((size, size)).astype(np.float32)
    segment = rng.random((size, size)) > 0.7
    return attribution, segment


def quantus_score(metric, relevance, segment) -> float:
    """Quantus' batch evaluation on one (1, 1, H, W) explanation, as its __call__ runs it."""
    batch = dict(a_batch=relevance[None, None], s_batch=segment[None, None])
    return float(metric(disable_warnings=True).evaluate_batch(**batch)[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_localisation_metrics_equal_quantus(seed):
    attribution, segment = random_case(seed)
    relevance = np.abs(attribution)  # Quantus' abs=True
    assert relevance_mass_accuracy(relevance, segment) == pytest.approx(
        quantus_score(quantus.RelevanceMassAccuracy, relevance, segment), rel=1e-6
    )
    assert relevance_rank_accuracy(relevance, segment) == quantus_score(
        quantus.RelevanceRankAccuracy, relevance, segment
    )
    assert pointing_game(relevance, segment) == quantus_score(
        quantus.PointingGame, relevance, segment
    )


def test_pointing_game_hits_and_misses():
    relevance = np.zeros((8, 8), np.float32)
    relevance[2, 3] = 5.0
    segment = np.zeros((8, 8), bool)
    segment[2, 3] = True
    assert pointing_game(relevance, segment) == 1.0
    assert pointing_game(relevance, np.roll(segment, 1, axis=0)) == 0.0
    assert quantus_score(quantus.PointingGame, relevance, segment) == 1.0


def test_empty_segment_is_nan():
    relevance = np.ones((8, 8), np.float32)
    empty = np.zeros((8, 8), bool)
    for metric in (relevance_mass_accuracy, relevance_rank_accuracy, pointing_game):
        assert np.isnan(metric(relevance, empty))


def test_figures_split_the_mass_by_label():
    attribution, label = random_case(5)
    weights = np.zeros_like(attribution)
    weights[label.nonzero()[0][0], label.nonzero()[1][0]] = 1.0
    relevance = np.abs(attribution)
    threshold = float(np.quantile(relevance, 0.8))
    figures = ground_truth_figures(attribution, label, weights, threshold)
    footprint = relevance > threshold
    assert figures.vessel_share == pytest.approx(relevance[label].sum() / relevance.sum())
    assert figures.footprint_vessel_share == pytest.approx(
        relevance[footprint & label].sum() / relevance[footprint].sum()
    )
    segment = labelled_segment(label, weights)
    assert figures.segment_pixels == segment.sum() > 0
    assert figures.relevance_mass_accuracy == pytest.approx(
        relevance[segment].sum() / relevance.sum()
    )
    assert set(figures.as_dict()) >= {"vessel_share", "pointing_game"}


def test_labelled_segment_is_the_touched_components():
    label = np.zeros((10, 10), bool)
    label[1, 1:4] = True  # component A
    label[2, 4] = True  # joins A diagonally (8-connected)
    label[7, 7:9] = True  # component B
    weights = np.zeros((10, 10), np.float32)
    weights[1, 2] = 1.0
    segment = labelled_segment(label, weights)
    assert segment.sum() == 4 and not segment[7].any()
    weights[7, 8] = 1.0
    assert labelled_segment(label, weights).sum() == 6


def test_segmentation_scores_count_by_brute_force():
    rng = np.random.default_rng(2)
    probability = rng.random((16, 16)).astype(np.float32)
    label = rng.random((16, 16)) > 0.5
    scores = segmentation_scores(probability, label)
    fp = sum(probability[y, x] > 0.5 and not label[y, x] for y in range(16) for x in range(16))
    fn = sum(probability[y, x] <= 0.5 and label[y, x] for y in range(16) for x in range(16))
    tp = int(((probability > 0.5) & label).sum())
    assert (scores.false_positives, scores.false_negatives) == (fp, fn)
    assert scores.iou == pytest.approx(tp / (tp + fp + fn))


def test_next_mistake_walks_in_reading_order_and_wraps():
    probability = np.zeros((4, 5), np.float32)
    label = np.zeros((4, 5), bool)
    probability[[0, 2, 3], [4, 1, 0]] = 0.9  # three false positives
    label[1, 1] = True  # one false negative
    walk, at = [], (1, 2)
    for _ in range(4):
        at = next_mistake("fp", probability, label, *at)
        walk.append(at)
    assert walk == [(2, 1), (3, 0), (0, 4), (2, 1)]
    assert next_mistake("fn", probability, label, 0, 0) == (1, 1)
    assert next_mistake("fn", probability, label, 1, 1) is None  # only the cursor itself
    assert mistakes(probability, label, "fp").sum() == 3
    with pytest.raises(ValueError, match="choose fp or fn"):
        next_mistake("tp", probability, label, 0, 0)
