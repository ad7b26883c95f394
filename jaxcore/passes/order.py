"""The order of a full pass that follows the user's eyes: rows around a focus first.

A 256x256 pass on a CPU takes hours; the user looks at one place. `FocusOrder` stands in for
the pass's array of (y, x) rows: the pass only asks for its length and for slices
`order[start : start + chunk]` in increasing `start`, so each new slice is the moment to
re-read the focus (a callable, the TUI's cursor) and hand out the rows nearest to it first,
then the rest coarse-to-fine. Rows already handed out are kept in a history, so a slice that
is asked again (the pass redoes a chunk after running out of memory) is the same rows. The
pass's own code is unchanged: this is the ordering only.
"""

from collections.abc import Callable

import numpy as np

Focus = Callable[[], tuple[int, int] | None]
"""The pixel (y, x) the user looks at now, or None (no preference: coarse-to-fine)."""

NEAR_RADIUS = 12
"""Rows within this many pixels (Chebyshev) of the focus go first, nearest first: a 25x25
square, the cursor's neighbourhood and then some."""


def coarse_levels(order: np.ndarray) -> np.ndarray:
    """Coarse-to-fine rank of each (y, x) of `order`: 0 on the stride-8 grid, then 1 on the
    stride-4 grid, 2 on stride 2, 3 elsewhere (lower goes first)."""
    level = np.full(len(order), 3)
    for rank, stride in reversed(list(enumerate((8, 4, 2)))):
        level[(order % stride == 0).all(axis=1)] = rank
    return level


def focus_first(pixels: np.ndarray, focus: tuple[int, int] | None) -> np.ndarray:
    """`pixels` (int [N, 2] of (y, x)) reordered: those within NEAR_RADIUS (Chebyshev) of
    `focus` nearest first by Euclidean distance (so the four neighbours, where the cursor goes
    next, come before the diagonal ones; ties in reading order), then the others
    coarse-to-fine (ties in their given order). A stable permutation: with no focus, only the
    coarse-to-fine ranks reorder."""
    if len(pixels) == 0:
        return pixels
    level = coarse_levels(pixels)
    if focus is None:
        return pixels[np.argsort(level, kind="stable")]
    offsets = pixels - np.asarray(focus)
    near = np.abs(offsets).max(axis=1) <= NEAR_RADIUS
    # Near rows rank by squared distance (0..2R^2), far rows after them by level.
    squared = (offsets**2).sum(axis=1)
    key = np.where(near, squared, 2 * NEAR_RADIUS**2 + 1 + level)
    return pixels[np.argsort(key, kind="stable")]


class FocusOrder:
    """A pass's rows, `pixels` (int [N, 2]), handed out in slices nearest the focus first.

    Behaves as the array the pass slices: len() and order[a:b]. The focus is read when a slice
    reaches past what was handed out; the remaining rows are re-sorted only when it moved."""

    def __init__(self, pixels: np.ndarray, focus: Focus):
        self._remaining = np.asarray(pixels, np.int64).reshape(-1, 2)
        self._focus = focus
        self._sorted_for: tuple[int, int] | None | str = "never"
        self._handed: list[np.ndarray] = []
        self._handed_count = 0
        self._length = len(self._remaining)

    def __len__(self) -> int:
        return self._length

    @property
    def shape(self) -> tuple[int, int]:
        return (self._length, 2)

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("a FocusOrder is read in slices order[start:stop]")
        start, stop, _ = index.indices(self._length)
        if stop > self._handed_count:
            self._hand_out(stop - self._handed_count)
        handed = np.concatenate(self._handed) if self._handed else np.empty((0, 2), np.int64)
        self._handed = [handed]
        return handed[start:stop]

    def _hand_out(self, count: int) -> None:
        focus = self._focus()
        if focus is not None:
            focus = (int(focus[0]), int(focus[1]))
        if focus != self._sorted_for:
            self._remaining = focus_first(self._remaining, focus)
            self._sorted_for = focus
        self._handed.append(self._remaining[:count])
        self._remaining = self._remaining[count:]
        self._handed_count += count
