"""App-wide result messages, posted by thread workers and handled on the UI thread.

Workers never touch widgets; they post one of these and the app routes it. Every result that
belongs to an image carries the image's `token` (a counter bumped on every image switch) so a
late answer for an image the user has left is dropped instead of painted.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
from textual.message import Message

from cnninterp.jaxcore.explain.attribution import Attribution
from cnninterp.jaxcore.images.loading import ImageSource, LoadedImage
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.summaries.significance import JacobianStats, Significance
from cnninterp.tui.requests import CountsKey, ThresholdKey

Severity = Literal["information", "warning", "error"]


@dataclass
class ModelReady(Message):
    """The explainer is built; `images` are the sources found in the folder."""

    explainer: Explainer
    images: list[ImageSource]
    notes: list[str]


@dataclass
class ClassReady(Message):
    """The explainer of the same model explaining another class (`C`)."""

    explainer: Explainer


@dataclass
class ImageReady(Message):
    """An image is loaded and its probability map computed."""

    token: int
    loaded: LoadedImage
    probability: np.ndarray
    """float32 [H, W]."""


@dataclass
class ImageFailed(Message):
    """The image `token` cannot be read; `message` says why."""

    token: int
    message: str


@dataclass
class Notice(Message):
    """Tell the user something (a saved file, a note about the data)."""

    text: str
    severity: Severity = "information"


@dataclass
class RowReady(Message):
    """The gradient row of pixel (y, x) of the image `token`."""

    token: int
    y: int
    x: int
    row: np.ndarray
    seconds: float


@dataclass
class StatsProgress(Message):
    """Jacobian statistics so far (`stats.complete` tells whether they are final)."""

    token: int
    stats: JacobianStats
    rows_done: int
    rows_total: int
    fraction: float  # of the pass's work: a pass by columns finishes most rows at its end
    seconds: float


@dataclass
class SignificanceReady(Message):
    """Significance counts for the settings in `key` (threshold and rows seen)."""

    token: int
    key: CountsKey
    significance: Significance


@dataclass
class ExactCountsReady(Message):
    """Exact significance counts of image `token` for the threshold `key`."""

    token: int
    key: ThresholdKey
    counts: np.ndarray
    """float32 [H, W]; NaN outside `rows`."""
    seconds: float
    rows: np.ndarray | None = None
    """bool [H, W]: the rows counted (a partial pass's rows done at `E`); None: all."""
    thresholds: np.ndarray | None = None
    """float32 [H, W]: the absolute threshold each row was counted with."""


@dataclass
class Status(Message):
    """Free text for the status line (what is being computed)."""

    text: str


@dataclass
class WorkFailed(Message):
    """A worker failed; `message` is fit for the user, `fatal` means nothing can be shown.

    Every failure ends here: the jobs post it for failures they expect, and the app posts it
    for any exception that escapes a worker (the app keeps running)."""

    message: str
    fatal: bool = False


@dataclass
class AttributionProgress(Message):
    """Share done of the attribution `key` of image `token` (SmoothGrad and IG, by chunks)."""

    token: int
    key: str
    share: float


@dataclass
class AttributionReady(Message):
    """The attribution `key` (an Explanation.key) of image `token`."""

    token: int
    key: str
    attribution: Attribution
    seconds: float


@dataclass
class AttributionRefused(Message):
    """The attribution `key` cannot be computed: `message` says why (a segment on background
    with the nearest vessel pixel, a box outside the image, bad parameters)."""

    token: int
    key: str
    message: str
