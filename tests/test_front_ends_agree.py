"""The TUI and cnninterp-export apply one threshold rule: on the same arrays, in every mode, the
threshold each front end computes equals one reference worked out here by hand.

Two paths: an attribution that is not a row of the Jacobian (another method, or a region's
target: its own max |A| is the scale) and a pixel's plain gradient row (the full pass's
statistics are the scale). The arrays are chosen so that every mode's reference differs from
every other's: a rule that took another mode's value would fail here.
"""

import numpy as np
import pytest

from cnninterp.export.attributions import footprint_threshold
from cnninterp.jaxcore.explain.methods import Method
from cnninterp.jaxcore.explain.targets import Target
from cnninterp.jaxcore.summaries.significance import JacobianStats, ThresholdMode
from cnninterp.tui.attribution_statistics import attribution_limit
from cnninterp.tui.cursor_statistics import current_threshold
from cnninterp.tui.state.image_results import ImageResults
from cnninterp.tui.state.threshold import Threshold

T = 3.0
"""The user's value: a percentage (global, row), the threshold itself (absolute); legacy
ignores it."""
SIZE = 4
Y, X = 1, 2  # the explained pixel


def user_threshold(mode: ThresholdMode) -> Threshold:
    """The TUI's threshold holding T in the given mode."""
    return Threshold(mode=mode, percent=T, absolute=T)


@pytest.fixture(scope="module")
def jacobian() -> np.ndarray:
    """float32 [H, W, H, W]: the rows of J; the largest |J| is negative and lies outside the
    row of (Y, X), so max |J|, max J and the row's max |G| are three different numbers."""
    rng = np.random.default_rng(20)
    rows = rng.uniform(-1.0, 1.0, (SIZE, SIZE, SIZE, SIZE)).astype(np.float32)
    rows[Y, X] *= 0.5
    rows[0, 0, 3, 3] = -4.0
    return rows


@pytest.fixture(scope="module")
def attribution() -> np.ndarray:
    """float32 [H, W]: an attribution whose largest |A| is negative (max |A| != max A)."""
    values = np.random.default_rng(21).uniform(-1.0, 1.0, (SIZE, SIZE)).astype(np.float32)
    values[2, 1] = -2.5
    return values


def attribution_reference(mode: ThresholdMode, values: np.ndarray) -> float:
    max_abs = float(np.abs(values).max())
    return {
        ThresholdMode.ABSOLUTE: T,
        ThresholdMode.GLOBAL: T / 100 * max_abs,
        ThresholdMode.ROW: T / 100 * max_abs,
        ThresholdMode.LEGACY: 0.01 * max_abs,
    }[mode]


def test_the_attribution_references_tell_the_modes_apart(attribution):
    """absolute, percent and legacy give three different thresholds on these values."""
    values = {attribution_reference(mode, attribution) for mode in ThresholdMode}
    assert len(values) == 3 and float(np.abs(attribution).max()) != float(attribution.max())


@pytest.mark.parametrize("mode", list(ThresholdMode), ids=lambda m: m.value)
@pytest.mark.parametrize(
    "target, method",
    [
        (Target("pixel", y=Y, x=X), Method("smoothgrad")),  # another method on a pixel
        (Target("pixel", y=Y, x=X), Method("ig")),
        (Target("box", box=(0, 0, 2, 2)), Method("gradient")),  # a region's plain gradient
        (Target("vessel"), Method("gradxinput")),
    ],
    ids=["smoothgrad", "ig", "box", "vessel"],
)
def test_an_attributions_threshold_is_the_same_in_the_tui_and_the_export(
    attribution, mode, target, method
):
    expected = attribution_reference(mode, attribution)
    tui = attribution_limit(user_threshold(mode), attribution)
    export = footprint_threshold(attribution, target, method, None, mode, T)
    assert tui == pytest.approx(expected, rel=1e-6)
    assert export == pytest.approx(expected, rel=1e-6)


def pass_statistics(jacobian: np.ndarray) -> JacobianStats:
    """The full pass's summaries of `jacobian`, every row done."""
    stats = JacobianStats.empty(SIZE, SIZE)
    stats.row_max_abs = np.abs(jacobian).max(axis=(2, 3))
    stats.row_max_signed = jacobian.max(axis=(2, 3))
    stats.mark_done(*np.nonzero(np.ones((SIZE, SIZE), bool)))
    stats.complete = True
    return stats


def row_reference(mode: ThresholdMode, jacobian: np.ndarray) -> float:
    return {
        ThresholdMode.ABSOLUTE: T,
        ThresholdMode.GLOBAL: T / 100 * float(np.abs(jacobian).max()),
        ThresholdMode.ROW: T / 100 * float(np.abs(jacobian[Y, X]).max()),
        ThresholdMode.LEGACY: 0.01 * float(jacobian.max()),  # the original: signed max J
    }[mode]


def test_the_row_references_tell_the_modes_apart(jacobian):
    assert len({row_reference(mode, jacobian) for mode in ThresholdMode}) == 4


@pytest.mark.parametrize("mode", list(ThresholdMode), ids=lambda m: m.value)
def test_a_pixels_gradient_threshold_is_the_same_in_the_tui_and_the_export(jacobian, mode):
    stats = pass_statistics(jacobian)
    row = jacobian[Y, X]
    view = ImageResults(token=0, index=0, stats=stats, row=row, row_yx=(Y, X))
    expected = row_reference(mode, jacobian)
    tui = current_threshold(view, user_threshold(mode), Y, X)
    export = footprint_threshold(row, Target("pixel", y=Y, x=X), Method("gradient"), stats, mode, T)
    assert tui == pytest.approx(expected, rel=1e-6)
    assert export == pytest.approx(expected, rel=1e-6)
