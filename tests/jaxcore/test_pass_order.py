"""The pass follows the focus: rows around it first, re-read between chunks, resumed later."""

import threading
import time

import numpy as np
import pytest

from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.passes.full_passes import coarse_to_fine
from cnninterp.jaxcore.passes.order import NEAR_RADIUS, FocusOrder, focus_first


def test_without_focus_the_order_is_coarse_to_fine():
    pixels = coarse_to_fine(24, 24)
    np.testing.assert_array_equal(focus_first(pixels, None), pixels)  # already in order
    shuffled = focus_first(pixels[::-1].copy(), None)
    for stride, count in ((8, 9), (4, 36), (2, 144)):
        assert (shuffled[:count] % stride == 0).all()


def test_rows_near_the_focus_come_first_nearest_first():
    pixels = np.indices((64, 64)).reshape(2, -1).T
    ordered = focus_first(pixels, (60, 3))
    assert sorted(map(tuple, ordered)) == sorted(map(tuple, pixels))  # a permutation
    assert tuple(ordered[0]) == (60, 3)
    distance = np.abs(ordered - [60, 3]).max(axis=1)
    near = int((distance <= NEAR_RADIUS).sum())
    assert (np.diff(((ordered[:near] - [60, 3]) ** 2).sum(axis=1)) >= 0).all()
    assert (distance[:near] <= NEAR_RADIUS).all() and (distance[near:] > NEAR_RADIUS).all()
    # Where the cursor goes next: its four neighbours before the diagonal ones.
    assert {tuple(p) for p in ordered[1:5]} == {(59, 3), (61, 3), (60, 2), (60, 4)}
    assert (ordered[near] % 8 == 0).all()  # then coarse-to-fine elsewhere


def test_slices_re_read_the_focus_and_repeat_what_was_handed_out():
    focus = [(0, 0)]
    order = FocusOrder(coarse_to_fine(64, 64), lambda: focus[0])
    first = order[0:4]
    assert np.abs(first - [0, 0]).max() <= 1
    focus[0] = (63, 63)
    second = order[4:8]
    assert np.abs(second - [63, 63]).max() <= 1
    np.testing.assert_array_equal(order[0:8], np.concatenate([first, second]))  # a redo
    rest = order[8 : len(order)]
    handed = np.concatenate([first, second, rest])
    assert len(order) == 64 * 64 and len({tuple(p) for p in handed}) == 64 * 64


@pytest.fixture(scope="module")
def explainer256(small_pair):
    return Explainer(small_pair.config, small_pair.variables, full_pass="rows")


def test_a_cursor_in_a_corner_gets_its_rows_before_far_rows(explainer256):
    """256x256 (a pass on crops, pixel by pixel): after the cursor moves to the bottom-right
    corner, the next rows done are around it, none far away."""
    image = np.random.default_rng(1).random((256, 256), dtype=np.float32)
    cursor, cancel, reports = [(0, 0)], threading.Event(), []

    def progress(stats):
        reports.append(stats.done.copy())
        if len(reports) == 2:
            cursor[0] = (250, 5)  # the user moves to a corner
        if len(reports) == 6:
            cancel.set()

    stats = explainer256.jacobian_stats(
        image, on_progress=progress, cancel=cancel, focus=lambda: cursor[0]
    )
    assert not stats.complete
    before = np.argwhere(reports[0])
    assert np.abs(before - [0, 0]).max() <= NEAR_RADIUS  # the first chunk: around (0, 0)
    after = np.argwhere(reports[-1] & ~reports[2])  # chunks once the new focus was read
    assert len(after) > 0
    assert np.abs(after - [250, 5]).max() <= NEAR_RADIUS
    assert not stats.done[100:200, 100:200].any()  # far rows wait


def test_a_resumed_pass_skips_the_rows_it_has(explainer256):
    image = np.random.default_rng(2).random((256, 256), dtype=np.float32)
    cancel = threading.Event()
    counted = []

    def stop_after_two(stats):
        counted.append(int(stats.done.sum()))
        if len(counted) == 2:
            cancel.set()

    partial = explainer256.jacobian_stats(image, on_progress=stop_after_two, cancel=cancel)
    kept = partial.done.copy()
    max_abs = partial.row_max_abs.copy()
    first_report = []
    cancel2 = threading.Event()

    def stop_at_once(stats):
        first_report.append((int(stats.done.sum()), stats.progress))
        cancel2.set()

    resumed = explainer256.jacobian_stats(
        image, on_progress=stop_at_once, cancel=cancel2, resume=partial
    )
    assert resumed is partial and kept.sum() == counted[-1]
    done, progress = first_report[0]
    assert done > kept.sum()  # new rows were added, the old ones kept
    assert progress == pytest.approx(done / (256 * 256))
    np.testing.assert_array_equal(resumed.row_max_abs[kept], max_abs[kept])
    fresh = explainer256.gradient_rows(image, np.argwhere(resumed.done & ~kept)[:2])
    for row, (y, x) in zip(fresh, np.argwhere(resumed.done & ~kept)[:2], strict=True):
        assert resumed.row_max_abs[y, x] == pytest.approx(np.abs(row).max(), rel=1e-5)


def test_after_a_row_the_pass_waits_the_grace_before_its_next_chunk(small_pair):
    """Keys pressed back to back get the device to themselves: after a row the pass waits
    interactive_grace seconds between chunks; after the probability map it does not."""
    explainer = Explainer(small_pair.config, small_pair.variables)
    assert explainer.engine.interactive_grace > 0  # the CPU's default: the pass shares the cores
    explainer.engine.interactive_grace = 1.0
    image = np.random.default_rng(2).random((32, 32), dtype=np.float32)
    explainer.probability(image)
    start = time.monotonic()
    explainer.engine.yield_to_interactive()
    assert time.monotonic() - start < 0.5
    explainer.gradient_row(image, 3, 4)
    start = time.monotonic()
    explainer.engine.yield_to_interactive()
    assert time.monotonic() - start > 0.9
