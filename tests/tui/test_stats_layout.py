"""The statistics panel fits its width at every size: short labels and values wrapped at
their fields when narrow (80x24), related rows paired when short, nothing cut on the right,
and the essentials (pixel, probability, above-threshold count, bbox) on screen."""

from rich.cells import cell_len

from cnninterp.jaxcore.summaries import significance
from cnninterp.tui.app import create_app
from cnninterp.tui.attribution_statistics import explained_rows
from cnninterp.tui.number_text import format_count, format_value
from cnninterp.tui.widgets.stats_panel import (
    LABEL_WIDTH,
    SHORT_LABEL_WIDTH,
    SHORT_LABELS,
    StatsPanel,
    lay_out,
    wrapped,
)
from tests.tui.pilot_helpers import options, row_shown, stats_done, wait_for

ROWS = [
    ("pixel", "y 120  x 131"),
    ("p(y,x)", "0.583"),
    ("G(y,x)", "0.103"),
    ("row max", "0.185"),
    ("threshold", "6.63e-5 (so far)"),
    ("mode", "0.01 % of max |G|"),
    ("above", "3472"),
    ("y min..max", "0..255"),
    ("x min..max", "12..99"),
    ("area", "1.28e4"),
    ("centre", "dy +14.1  dx -3.2"),
    ("signific.", "≈ 3474 ± 54 (E: exact)"),
]


def test_long_values_wrap_between_fields_then_between_words():
    assert wrapped("dy +14.1  dx -3.2", 12) == ["dy +14.1", "dx -3.2"]
    assert wrapped("y 120  x 131  p 0.5", 14) == ["y 120  x 131", "p 0.5"]
    assert wrapped("≈ 3474 ± 54 (E: exact)", 16) == ["≈ 3474 ± 54 (E:", "exact)"]
    assert wrapped("short", 16) == ["short"]


def test_a_narrow_panel_shortens_labels_and_every_line_fits():
    layout = lay_out(ROWS, 23, 40)
    assert layout.label_width == SHORT_LABEL_WIDTH
    assert all(len(label) <= SHORT_LABEL_WIDTH for label in SHORT_LABELS.values())
    for label, text in layout.lines:
        assert len(label) <= SHORT_LABEL_WIDTH and cell_len(text) <= 23 - SHORT_LABEL_WIDTH - 1
    joined = " ".join(text for _, text in layout.lines)
    for _, value in ROWS:  # every word of every value is still there, in order
        assert " ".join(value.split()) in " ".join(joined.split())
    assert layout.rows == ROWS  # tall enough: nothing paired


def test_a_short_panel_pairs_related_rows_only_where_the_pair_fits():
    wide = lay_out(ROWS, 60, 8)
    assert ("pixel", "y 120  x 131  p(y,x) 0.583") in wide.rows
    assert ("y min..max", "0..255  x 12..99") in wide.rows
    narrow = lay_out(ROWS, 23, 8)
    assert ("pixel", "y 120  x 131") in narrow.rows  # with p it would be 25 columns
    assert ("y min..max", "0..255  x 12..99") in narrow.rows  # 16 columns: fits
    assert lay_out([*ROWS[:7], ("y min..max", "0..255"), ("x min..max", "12..240")], 23, 8).rows[
        -2:
    ] == [("y min..max", "0..255"), ("x min..max", "12..240")]  # 17 would not
    assert all(cell_len(text) <= 16 for _, text in narrow.lines)
    assert lay_out(ROWS, 60, 40).label_width == LABEL_WIDTH


def visible_lines(panel: StatsPanel) -> list[str]:
    return panel.lines()[: panel.content_region.height]


async def test_at_80x24_every_statistics_line_fits_and_the_essentials_show(
    data_dir, model_file, tmp_path, monkeypatch
):
    # estimated counts (as on 256x256 images) make the longest value: `≈ n ± e (E: exact)`
    monkeypatch.setattr(significance, "EXACT_MAX_PIXELS", 16)
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: stats_done(app) and row_shown(app), timeout=60)
        await pilot.press("down", "down", "right")
        await wait_for(pilot, lambda: row_shown(app))
        await pilot.pause(0.2)
        panel = app.query_one(StatsPanel)
        width = panel.content_region.width
        assert 0 < width < 30  # the compact layout's third column
        lines = panel.lines()
        assert all(cell_len(line.rstrip()) <= width for line in lines), lines
        record = app.session.cursor_statistics(app.session.view)
        shown = "\n".join(visible_lines(panel))
        y, x = app.session.cursor
        assert f"pixel  y {y}  x {x}" in shown
        assert f"p(y,x) {format_value(record['p'])}" in shown
        assert f"above  {format_count(record['above'])}" in shown
        assert f"bbox y {record['y_min']}..{record['y_max']}" in shown
        assert f"x {record['x_min']}..{record['x_max']}" in shown
        # the long estimate is wrapped onto an indented line, not cut
        assert any(line.startswith(" " * (SHORT_LABEL_WIDTH + 1) + "exact)") for line in lines)


async def test_at_160x48_the_statistics_keep_their_full_labels_one_row_a_line(
    data_dir, model_file, tmp_path
):
    app = create_app(options(data_dir, model_file, tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: stats_done(app) and row_shown(app), timeout=60)
        await pilot.pause(0.2)
        panel = app.query_one(StatsPanel)
        full = explained_rows(
            app.session.cursor_statistics(app.session.view), app.session.threshold
        )
        assert panel.rows == full
        lines = panel.lines()
        assert len(lines) == len(full)  # nothing wrapped, nothing paired
        for line, (label, value) in zip(lines, full, strict=True):
            assert line == f"{label:<{LABEL_WIDTH}} {value}"
            assert cell_len(line) <= panel.content_region.width
