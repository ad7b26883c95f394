"""The labels in the numbers: where an attribution's mass lies, and where the model errs.

Localisation metrics follow Quantus' definitions (quantus/metrics/localisation), applied to
the relevance R = |A| (Quantus' abs=True: a signed gradient's mass could cancel) and a
segment S (bool [H, W]):

    relevance mass accuracy  sum(R * S) / sum(R)
    relevance rank accuracy  share of S among the |S| pixels of largest R
    pointing game            whether a pixel of maximal R lies in S

all NaN where S is empty, as in Quantus. S is the target's *labelled* segment: the 8-connected
components of the label that the target touches. Mistakes are counted at p > 0.5.

Pure NumPy on [H, W] maps, fast enough for every cursor move.
"""

from dataclasses import asdict, dataclass

import numpy as np
from jaxtyping import Bool, Float
from scipy import ndimage

from cnninterp.jaxcore.explain.targets import EIGHT_CONNECTED
from cnninterp.jaxcore.summaries.significance import predicted_mask

MISTAKES = ("fp", "fn")  # false positive: predicted vessel, labelled background; fn: the reverse


@dataclass(frozen=True)
class SegmentationScores:
    """The predicted mask (p > 0.5) against the label, for one image."""

    iou: float
    """|P & L| / |P | L|; NaN when both are empty."""
    false_positives: int
    false_negatives: int


@dataclass(frozen=True)
class GroundTruthFigures:
    """One attribution against the label. Shares are of sum |A|; NaN where undefined."""

    vessel_share: float
    """Share of |A| on labelled vessel (the rest, 1 - this, is on background)."""
    footprint_vessel_share: float
    """The same inside the footprint (|A| > threshold)."""
    relevance_mass_accuracy: float
    relevance_rank_accuracy: float
    pointing_game: float
    """1.0 hit, 0.0 miss, NaN when the labelled segment is empty."""
    segment_pixels: int
    """Size of the target's labelled segment."""

    def as_dict(self) -> dict:
        return asdict(self)


def segmentation_scores(
    probability: Float[np.ndarray, "H W"], label: Bool[np.ndarray, "H W"]
) -> SegmentationScores:
    predicted, label = predicted_mask(probability), np.asarray(label, bool)
    union = int((predicted | label).sum())
    iou = float((predicted & label).sum() / union) if union else float("nan")
    return SegmentationScores(
        iou=iou,
        false_positives=int((predicted & ~label).sum()),
        false_negatives=int((~predicted & label).sum()),
    )


def mistakes(probability, label, kind: str) -> np.ndarray:
    """bool [H, W]: the false positives ('fp') or false negatives ('fn') at p > 0.5."""
    if kind not in MISTAKES:
        raise ValueError(f"unknown mistake {kind!r}: choose fp or fn")
    predicted, label = predicted_mask(probability), np.asarray(label, bool)
    return predicted & ~label if kind == "fp" else ~predicted & label


def next_mistake(kind: str, probability, label, y: int, x: int) -> tuple[int, int] | None:
    """The next false positive / negative after (y, x) in reading order (row by row, left to
    right), wrapping around at the image's end; None when there is none but (y, x) itself."""
    flat = np.flatnonzero(mistakes(probability, label, kind))
    if len(flat) == 0:
        return None
    width = np.shape(label)[1]
    cursor = y * width + x
    after = flat[flat > cursor]
    chosen = after[0] if len(after) else flat[0]
    if chosen == cursor:
        return None
    return int(chosen // width), int(chosen % width)


def labelled_segment(label, target_weights) -> np.ndarray:
    """bool [H, W]: the label's 8-connected components that the target's support touches."""
    label = np.asarray(label, bool)
    components, _ = ndimage.label(label, structure=EIGHT_CONNECTED)
    touched = np.unique(components[np.asarray(target_weights) != 0])
    return np.isin(components, touched[touched > 0])


def relevance_mass_accuracy(relevance, segment) -> float:
    relevance, segment = np.asarray(relevance, np.float64), np.asarray(segment, bool)
    if not segment.any():
        return float("nan")
    return float((relevance * segment).sum() / relevance.sum())


def relevance_rank_accuracy(relevance, segment) -> float:
    relevance, segment = np.asarray(relevance).ravel(), np.asarray(segment, bool).ravel()
    size = int(segment.sum())
    if size == 0:
        return float("nan")
    top = np.argsort(-relevance, kind="stable")[:size]  # ties: the first in reading order
    return float(segment[top].sum() / size)


def pointing_game(relevance, segment) -> float:
    relevance, segment = np.asarray(relevance), np.asarray(segment, bool)
    if not segment.any():
        return float("nan")
    return float(np.any(segment & (relevance == relevance.max())))


def vessel_share(relevance, label, where=None) -> float:
    """Share of sum(relevance) on labelled vessel, within `where` (bool [H, W]) if given."""
    relevance, label = np.asarray(relevance, np.float64), np.asarray(label, bool)
    if where is not None:
        relevance = relevance * np.asarray(where, bool)
    total = relevance.sum()
    return float((relevance * label).sum() / total) if total > 0 else float("nan")


def ground_truth_figures(
    values: Float[np.ndarray, "H W"],
    label: Bool[np.ndarray, "H W"],
    target_weights: Float[np.ndarray, "H W"],
    threshold: float,
) -> GroundTruthFigures:
    """Every figure of one attribution A against the label; `threshold` is the footprint's
    (|A| > threshold), as the statistics panel draws it."""
    relevance = np.abs(np.asarray(values, np.float32))
    segment = labelled_segment(label, target_weights)
    return GroundTruthFigures(
        vessel_share=vessel_share(relevance, label),
        footprint_vessel_share=vessel_share(relevance, label, relevance > threshold),
        relevance_mass_accuracy=relevance_mass_accuracy(relevance, segment),
        relevance_rank_accuracy=relevance_rank_accuracy(relevance, segment),
        pointing_game=pointing_game(relevance, segment),
        segment_pixels=int(segment.sum()),
    )
