"""The app's workers: each kind of request (requests.py) to its thread worker (bodies in
jobs.py), which posts its answer as a message (messages.py).

Rows, counts and attributions go through latest-only runners (latest.py): keys held down
compute only the newest request. Any exception that escapes a worker becomes a WorkFailed
message (CnnInterpApp.on_worker_state_changed): the user is told, and the app keeps running.
"""

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

from textual.app import App

from cnninterp.jaxcore.explain.attribution import Attributor
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.store.results import StatsCache, stats_key
from cnninterp.tui import jobs, messages, saving
from cnninterp.tui.latest import LatestOnly
from cnninterp.tui.options import AppOptions
from cnninterp.tui.requests import (
    AttributionRequest,
    ClassRequest,
    CountsRequest,
    ExactCountsRequest,
    ImageRequest,
    RowRequest,
    SaveRequest,
)
from cnninterp.tui.state.session import Session


class Workers:
    def __init__(self, app: App, session: Session, options: AppOptions):
        self.app, self.session, self.options = app, session, options
        self.post = app.post_message
        self.cache = StatsCache(enabled=options.cache)
        """The disk cache of significance passes (store/results.py)."""
        self.rows = LatestOnly(self._row, self._start("rows"), self._failed)
        self.counts = LatestOnly(self._counts, self._start("counts"), self._failed)
        self.attributions = LatestOnly(self._attribute, self._start("attribution"), self._failed)
        """Latest-only runners: `computed` counts the requests each really computed."""
        self._attributor: Attributor | None = None
        self._warmed: set[tuple[int, int]] = set()
        self._warmed_for: Explainer | None = None  # sizes compiled for this explainer
        self._pass_locks: dict[int, threading.Lock] = {}

    def submit(self, request: object) -> None:
        if isinstance(request, RowRequest):
            self.rows.submit(request)
        elif isinstance(request, CountsRequest):
            self.counts.submit(request)
        elif isinstance(request, AttributionRequest):
            self.attributions.submit(request)
        elif isinstance(request, ImageRequest):
            self._thread(partial(self._analyse_image, request), "image", exclusive=True)
        elif isinstance(request, ExactCountsRequest):
            self._thread(partial(self._count_exactly, request), "exact", exclusive=True)
        elif isinstance(request, SaveRequest):
            self._thread(partial(self._save, request), "save")
        elif isinstance(request, ClassRequest):
            explainer = self.session.explainer
            assert explainer is not None
            work = partial(jobs.open_class, self.post, explainer, request.explained_class)
            # its own group: a failure is a notification, not the fatal failure of "open"
            self._thread(partial(work, self.options), "class", exclusive=True)
        else:
            raise TypeError(f"no worker for {request!r}")

    def keep_unfinished_pass(self) -> None:
        """Write the current image's unfinished pass to the cache now, on quitting: its worker
        writes it too once the chunk in flight is in, but at full size on a CPU that chunk
        takes seconds, longer than the exit waits (cli.EXIT_GRACE). Safe while the pass runs:
        rows are marked done only once filed, and stats.done is swapped, never edited."""
        unfinished, explainer = self.session.unfinished_pass(), self.session.explainer
        if unfinished is not None and explainer is not None:
            pixels, stats = unfinished
            self.cache.store_partial(stats_key(explainer, pixels), stats)

    def open_everything(self) -> None:
        """The model and the image list (ModelReady), in a worker."""
        self._thread(partial(jobs.open_everything, self.post, self.options), "open", exclusive=True)

    def _thread(self, work: Callable[[], None], group: str, exclusive: bool = False) -> None:
        """Run `work` in a thread worker (a failure: WorkFailed, fatal in the group 'open')."""
        self.app.run_worker(
            work, thread=True, group=group, exclusive=exclusive, exit_on_error=False
        )

    def _start(self, group: str) -> Callable[[jobs.Drain], None]:
        def start(drain: jobs.Drain) -> None:
            self.app.run_worker(drain, thread=True, group=group, exit_on_error=False)

        return start

    def _failed(self, request: object, exc: BaseException) -> None:
        if isinstance(request, RowRequest):
            what = f"gradient row ({request.y}, {request.x})"
        elif isinstance(request, AttributionRequest):
            self.session.attribution.forget(request)  # asking again may succeed
            what = request.key
        else:
            what = "significance counts"
        self.post(messages.WorkFailed(f"{what} failed: {exc}"))

    # ---- the bodies, in worker threads ----------------------------------------------------

    def _row(self, request: RowRequest) -> None:
        assert self.session.explainer is not None
        jobs.gradient_row(self.post, self.session.explainer, request)

    def _counts(self, request: CountsRequest) -> None:
        jobs.significance(self.post, request)

    def _attribute(self, request: AttributionRequest) -> None:
        explainer = self.session.explainer
        if request.cancel.is_set() or explainer is None:
            return
        if self._attributor is None or self._attributor.explainer is not explainer:
            self._attributor = Attributor(explainer)
        jobs.attribution(self.post, self._attributor, request)

    def _analyse_image(self, request: ImageRequest) -> None:
        session = self.session
        assert session.explainer is not None
        if self._warmed_for is not session.explainer:  # another class: compiled anew
            self._warmed, self._warmed_for = set(), session.explainer
        jobs.analyse_image(
            self.post,
            session.explainer,
            request.token,
            request.source,
            request.cancel,
            self._warmed,
            self.cache,
            focus=lambda: session.cursor,  # read between chunks: the pass follows the user's eyes
            resume=session.passes.get(request.index),
            lock=self._pass_locks.setdefault(request.index, threading.Lock()),
            max_pixels=self.options.max_pixels,
        )

    def _count_exactly(self, request: ExactCountsRequest) -> None:
        assert self.session.explainer is not None and request.cancel is not None
        jobs.exact_counts(self.post, self.session.explainer, request, request.cancel)

    def _save(self, request: SaveRequest) -> None:
        explainer = self.session.explainer
        origin = saving.provenance(explainer, self.options.model) if explainer else None
        try:
            folder = saving.save_view(
                Path(self.options.save_dir),
                request.view,
                request.record,
                request.cursor,
                request.log_scale,
                request.cmap,
                request.rows,
                origin,
                request.explained,
                explainer.model.score_label if explainer else "p(vessel)",
            )
        except OSError as exc:
            self.post(messages.WorkFailed(f"could not save: {exc}"))
            return
        self.post(messages.Notice(f"saved the view to {folder}"))
