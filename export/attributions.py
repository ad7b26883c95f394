"""The `gradients` of one image's export: the attribution of each entry, in order.

Entries: with --target pixel (the default) or segment, one per requested pixel; with box,
vessel or border the region first (entry 0), then each requested pixel's own. The plain
gradient of pixels is Explainer.gradient_rows, batched; every other method or target goes
through jaxcore.explain.attribution's Attributor, one per explainer (it compiles per instance).

An image of several channels (RGB, for a three-channel model) sends every entry, plain rows
too, through the Attributor, which keeps each entry's per-channel maps (Entries.channels);
`values` are their sums over the channels, what footprints and ground truth read.

Footprint thresholds: a pixel's gradient keeps the threshold modes' meaning (global needs the
full pass's max |J|, so without the significance output it has none). Any other attribution is
not a row of the Jacobian: significance.attribution_threshold, the TUI's rule too.
"""

import weakref
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cnninterp.jaxcore.explain.attribution import Attribution, Attributor
from cnninterp.jaxcore.explain.groundtruth import ground_truth_figures
from cnninterp.jaxcore.explain.methods import Method
from cnninterp.jaxcore.explain.targets import Target, target_weights
from cnninterp.jaxcore.store.attributions import AttributionCache, attribution_key
from cnninterp.jaxcore.summaries.footprint import footprint
from cnninterp.jaxcore.summaries.significance import (
    JacobianStats,
    attribution_threshold,
    threshold_at,
)

_ATTRIBUTORS: "weakref.WeakKeyDictionary[object, Attributor]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Entries:
    """The attributions of one image, in the order of the .npz's gradients."""

    values: np.ndarray
    """float32 [N, H, W] (for an image of C channels, the sum of `channels` over C)."""
    records: list[dict]
    """One .json record per entry: target, footprint, method figures, ground truth."""
    channels: np.ndarray | None = None
    """float32 [N, C, H, W]: each entry's map per input channel of an image of C > 1
    channels; None for a gray image."""


def entry_targets(target: str, pixels: np.ndarray) -> list[Target]:
    """The targets of an image's entries, in order."""
    yx = [(int(y), int(x)) for y, x in np.asarray(pixels).reshape(-1, 2)]
    kind = target.partition(":")[0]
    if kind in ("pixel", "segment"):
        return [Target(kind, y=y, x=x) for y, x in yx]
    return [Target.parse(target), *(Target("pixel", y=y, x=x) for y, x in yx)]


def attributor_for(explainer) -> Attributor:
    if explainer not in _ATTRIBUTORS:
        _ATTRIBUTORS[explainer] = Attributor(explainer)
    return _ATTRIBUTORS[explainer]


def footprint_threshold(
    values, target: Target, method: Method, stats: JacobianStats | None, mode, t_value
) -> float | None:
    """The footprint's threshold of one entry (see the module's docstring); None when it
    needs the full pass and there is none."""
    if target.is_single_pixel and method.name == "gradient":
        assert target.y is not None and target.x is not None
        return threshold_at(stats, mode, t_value, target.y, target.x, row=values)
    return attribution_threshold(mode, t_value, values)


def explain_entries(
    explainer,
    pixels,
    probability,
    label,
    job,
    stats: JacobianStats | None,
    cache: AttributionCache | None = None,
) -> Entries:
    """Every entry's attribution, footprint and figures; raises ValueError (TargetError,
    MethodError) with a message fit for the user. Attributions other than plain rows are
    answered from `cache` when it holds them, and stored there."""
    targets = entry_targets(job.target, job.pixels)
    height, width = pixels.shape[:2]
    values = np.zeros((len(targets), height, width), np.float32)
    coloured = pixels.ndim == 3
    channels = np.zeros((len(targets), pixels.shape[-1], height, width), np.float32)
    attributions: list[Attribution | None] = [None] * len(targets)
    plain = [  # rows are sums over channels: an image with channels needs the Attributor's maps
        i
        for i, t in enumerate(targets)
        if t.is_single_pixel and job.method.name == "gradient" and not coloured
    ]
    if plain:  # batched rows: the common case, and the fast one
        yx = np.array([(targets[i].y, targets[i].x) for i in plain], np.int64).reshape(-1, 2)
        values[plain] = explainer.gradient_rows(pixels, yx)
    answered = ["row"] * len(targets)
    for i, target in enumerate(targets):
        if i in plain:
            continue
        key = attribution_key(explainer, pixels, job.method, target)
        attribution = None if cache is None else cache.load(key, job.method, target, pixels.shape)
        answered[i] = "hit" if attribution is not None else "miss"
        if attribution is None:
            attribution = attributor_for(explainer).attribute(pixels, job.method, target)
            assert attribution is not None  # never cancelled here
            if cache is not None:
                cache.store(key, attribution)
        values[i], attributions[i] = attribution.values, attribution
        if coloured:
            assert attribution.channels is not None
            channels[i] = attribution.channels
    records = []
    for i, target in enumerate(targets):
        threshold = footprint_threshold(values[i], target, job.method, stats, job.mode, job.t_value)
        y, x = (target.y, target.x) if target.y is not None else (None, None)
        record: dict[str, Any] = {
            "y": y,
            "x": x,
            "probability": None if y is None else float(probability[y, x]),
            "target": target.key(),
            "result_cache": answered[i] if cache is None or cache.enabled else "disabled",
        }
        fp = None if threshold is None else footprint(values[i], threshold, y or 0, x or 0)
        record |= asdict(fp) if fp is not None else {"threshold": None}
        attribution = attributions[i]
        if attribution is not None:
            record |= {
                "target_value": attribution.target_value,
                "baseline_value": attribution.baseline_value,
                "completeness_error": attribution.completeness_error,
            }
        if label is not None:
            weights = target_weights(target, probability)
            figures = ground_truth_figures(
                values[i], label, weights, np.inf if threshold is None else threshold
            )
            record["ground_truth"] = figures.as_dict()
        records.append(record)
    return Entries(values, records, channels if coloured else None)
