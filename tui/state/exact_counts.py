"""`E`: exact counts for the threshold in force, by a second pass over the rows done.

Images past 128x128 keep histograms, so their counts are estimates with an error bound; `E`
counts exactly every row of a complete pass, or the rows a partial one has done so far (the
threshold then relative to the max over them).
"""

from cnninterp.jaxcore.summaries.significance import ThresholdMode, row_thresholds
from cnninterp.tui.requests import ExactCountsRequest, ThresholdKey
from cnninterp.tui.state.effects import Effects, Paint
from cnninterp.tui.state.session import Session


def request_exact_counts(session: Session) -> Effects:
    """`E`: count exactly for the threshold in force: every row of a complete pass, or
    the rows a partial one has done so far (its threshold relative to their max)."""
    view = session.view
    stats = view.stats if view else None
    if view is None or view.loaded is None or stats is None or session.explainer is None:
        return Effects().note("no significance computed yet", "warning")
    if stats.exact:
        return Effects().note("the counts of this image are exact already", timeout=4)
    if not stats.done.any():
        return Effects().note("no rows done yet: exact counts count the rows the pass has done")
    if view.exact_for(session.threshold) is not None and (
        view.exact_rows is None or int(view.exact_rows.sum()) >= int(stats.done.sum())
    ):
        return Effects().note("the exact counts are up to date", timeout=4)
    rows = None if stats.complete else stats.done  # mark_done swaps: a snapshot
    mode, t = session.threshold.mode, session.threshold.t_value
    thresholds = row_thresholds(stats, mode, t)
    pixels, mask = view.loaded.pixels, view.predicted_mask
    request = ExactCountsRequest(
        view.token, ThresholdKey(mode, t), pixels, thresholds, mask, rows, session.image_cancel
    )
    if rows is None:
        status = "exact counts: starting a second pass"
    else:
        status = f"exact counts: a second pass over the {int(rows.sum()):,} rows done so far"
    return Effects(requests=[request], status=status)


def exact_counts_ready(
    session: Session, token: int, key: ThresholdKey, counts, seconds: float, rows, thresholds
) -> Effects:
    """Exact counts `counts` of `rows` (None: every row) for the threshold `key`."""
    if (view := session.current(token)) is None:
        return Effects()
    view.exact_counts, view.exact_key = counts, key
    view.exact_rows, view.exact_thresholds = rows, thresholds
    effects = Effects(paints=[Paint.SIGNIFICANCE, Paint.STATISTICS])
    if rows is None:
        effects.status = f"exact counts done in {seconds:.1f} s"
        return effects
    covered, total = int(rows.sum()), rows.size
    relative = key.mode in (ThresholdMode.GLOBAL, ThresholdMode.LEGACY)
    whose = "; threshold relative to the max over them" if relative else ""
    effects.status = (
        f"exact for {covered:,} of {total:,} rows (those done so far{whose}), in {seconds:.1f} s"
    )
    return effects.note(effects.status, timeout=8)  # the pass's next report takes the line
