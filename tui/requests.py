"""What the app asks its workers for: one frozen dataclass per kind of work.

A request carries the image's `token` so its answer can be dropped when the user has moved on,
and everything the worker needs, so the worker never reads the app's state.
"""

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnninterp.jaxcore.explain.methods import Method
from cnninterp.jaxcore.explain.targets import Target
from cnninterp.jaxcore.images.loading import ImageSource
from cnninterp.jaxcore.summaries.significance import JacobianStats, ThresholdMode


@dataclass(frozen=True)
class ThresholdKey:
    """The threshold exact counts were computed for."""

    mode: ThresholdMode
    t_value: float


@dataclass(frozen=True)
class CountsKey:
    """What significance counts were computed from: the threshold and how many rows were in."""

    mode: ThresholdMode
    t_value: float
    rows_done: int


@dataclass(frozen=True)
class ImageRequest:
    """Load image `index`, compute its probability map, then its significance pass (resumed
    when the session kept a partial one) until `cancel` is set: the user left the image."""

    token: int
    index: int
    source: ImageSource
    cancel: threading.Event


@dataclass(frozen=True)
class RowRequest:
    """The gradient row of (y, x); answered from `stats` when the pass kept that row."""

    token: int
    y: int
    x: int
    pixels: np.ndarray
    """float32 [H, W]: the image as the model sees it."""
    stats: JacobianStats | None


@dataclass(frozen=True)
class CountsRequest:
    """Significance counts of the stats so far, for one threshold."""

    token: int
    key: CountsKey
    stats: JacobianStats
    predicted_mask: np.ndarray | None
    """bool [H, W]; legacy mode only."""


@dataclass(frozen=True)
class ExactCountsRequest:
    """A second pass counting rows exactly (large images keep only histograms): every row, or
    on a partial pass the rows it has done."""

    token: int
    key: ThresholdKey
    pixels: np.ndarray
    """float32 [H, W]."""
    thresholds: np.ndarray
    """float32 [H, W]: the absolute threshold of each row."""
    predicted_mask: np.ndarray | None
    rows: np.ndarray | None = None
    """bool [H, W]: the rows to count (those a partial pass had done); None: every row."""
    cancel: threading.Event | None = None
    """The image's cancel event: the second pass stops when the user leaves the image."""


@dataclass(frozen=True)
class AttributionRequest:
    """An attribution map (method x target) of the image; `cancel` is set by the next request,
    so a slow IG stops between chunks of its inputs as soon as the user asks for another."""

    token: int
    key: str
    """Explanation.key: what the answer is cached and matched under."""
    pixels: np.ndarray
    """float32 [H, W]."""
    method: Method
    target: Target
    cancel: threading.Event


@dataclass(frozen=True)
class SaveRequest:
    """`s`: the view as on screen, written to the save folder (saving.py)."""

    view: Any
    """The image's results (an ImageResults)."""
    record: dict
    """The statistics panel's numbers (JSON-ready)."""
    cursor: tuple[int, int]
    log_scale: bool
    cmap: str
    rows: list[tuple[str, str]]
    """The statistics panel's lines."""
    explained: tuple[np.ndarray, str] | None
    """The gradient panel's attribution and its title, when it is not the row."""


@dataclass(frozen=True)
class ClassRequest:
    """`C`: the model opened again, explaining another output class."""

    explained_class: int
