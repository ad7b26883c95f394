"""Run a slow function on the newest request only (cursor moves must not queue stale work).

Holding an arrow key submits a request per repeat; while one computation runs, newer requests
overwrite each other in a one-slot mailbox and only the last is computed next. One worker
thread drains the mailbox, so at most one computation per LatestOnly runs at a time.
"""

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Request = TypeVar("Request")


class LatestOnly(Generic[Request]):
    def __init__(
        self,
        compute: Callable[[Request], None],
        start_thread: Callable[[Callable[[], None]], None],
        on_error: Callable[[Request, BaseException], None],
    ):
        """compute(request) runs in the worker thread; start_thread(drain) starts one."""
        self._compute = compute
        self._start_thread = start_thread
        self._on_error = on_error
        self._lock = threading.Lock()
        self._pending: Request | None = None
        self._running = False
        self.computed = 0
        """How many requests were computed (tests check that stale ones were skipped)."""

    def submit(self, request: Request) -> None:
        with self._lock:
            self._pending = request
            if self._running:
                return
            self._running = True
        self._start_thread(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                request, self._pending = self._pending, None
                if request is None:
                    self._running = False
                    return
            try:
                self._compute(request)
            except Exception as exc:  # reported, and the next request still runs
                self._on_error(request, exc)
            self.computed += 1
