"""`E`: exact counts for the threshold in force, by a second pass over the rows done.

Images past 128x128 keep histograms, so their counts are estimates with an error bound; `E`
counts exactly every row of a complete pass, or the rows a partial one has done so far (the
threshold then relative to the max over them). Between Explaining and CnnInterpApp, which
provides `current` (the view of a result's token) and `paint_significance`.
"""

import threading

from textual import work

from cnninterp.jaxcore.summaries.significance import JacobianStats, ThresholdMode, row_thresholds
from cnninterp.tui import jobs, messages
from cnninterp.tui.explaining import Explaining
from cnninterp.tui.requests import ExactCountsRequest, ThresholdKey
from cnninterp.tui.view import ImageView


class Counting(Explaining):
    _cancel: threading.Event  # the image's cancel event: set when the user leaves it

    def current(self, token: int) -> ImageView | None:
        raise NotImplementedError

    def paint_significance(self) -> None:
        raise NotImplementedError

    @work(thread=True, exclusive=True, group="exact", exit_on_error=False)
    def count_exactly(self, request: ExactCountsRequest, cancel: threading.Event) -> None:
        assert self.explainer is not None
        jobs.exact_counts(self.post_message, self.explainer, request, cancel)

    def action_exact_counts(self) -> None:
        """Count exactly for the threshold in force: every row of a complete pass, or the rows
        a partial one has done so far (its threshold relative to their max)."""
        view = self.view
        stats = view.stats if view else None
        if view is None or view.loaded is None or stats is None or self.explainer is None:
            self.notify("no significance computed yet", severity="warning")
        elif stats.exact:
            self.notify("the counts of this image are exact already", timeout=4)
        elif not stats.done.any():
            self.notify("no rows done yet: exact counts count the rows the pass has done")
        elif self._exact_counts_due(view, stats):
            rows = None if stats.complete else stats.done  # mark_done swaps: a snapshot
            mode, t = self.threshold.mode, self.threshold.t_value
            thresholds = row_thresholds(stats, mode, t)
            pixels, mask = view.loaded.pixels, view.predicted_mask
            key = ThresholdKey(mode, t)
            request = ExactCountsRequest(view.token, key, pixels, thresholds, mask, rows)
            if rows is None:
                self.panels.status("exact counts: starting a second pass")
            else:
                self.panels.status(
                    f"exact counts: a second pass over the {int(rows.sum()):,} rows done so far"
                )
            self.count_exactly(request, self._cancel)

    def _exact_counts_due(self, view: ImageView, stats: JacobianStats) -> bool:
        """Whether `E` has work: no valid exact counts for this threshold, or ones that cover
        fewer rows than the pass has done now."""
        if view.exact_for(self.threshold) is None:
            return True
        if view.exact_rows is None or int(view.exact_rows.sum()) >= int(stats.done.sum()):
            self.notify("the exact counts are up to date", timeout=4)
            return False
        return True

    def on_exact_counts_ready(self, message: messages.ExactCountsReady) -> None:
        if (view := self.current(message.token)) is None:
            return
        view.exact_counts, view.exact_key = message.counts, message.key
        view.exact_rows, view.exact_thresholds = message.rows, message.thresholds
        if message.rows is None:
            self.panels.status(f"exact counts done in {message.seconds:.1f} s")
        else:
            covered, total = int(message.rows.sum()), message.rows.size
            relative = message.key.mode in (ThresholdMode.GLOBAL, ThresholdMode.LEGACY)
            whose = "; threshold relative to the max over them" if relative else ""
            text = (
                f"exact for {covered:,} of {total:,} rows (those done so far{whose}), "
                f"in {message.seconds:.1f} s"
            )
            self.panels.status(text)
            self.notify(text, timeout=8)  # the running pass's next report takes the status line
        self.paint_significance()
        self.paint_statistics()
