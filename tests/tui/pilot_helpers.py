"""Waiting on the app under Pilot, shared by the TUI test modules."""

import time

from cnninterp.tui.options import AppOptions


async def wait_for(pilot, predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate.__doc__ or predicate}")
        await pilot.pause(0.05)


def row_shown(app) -> bool:
    """The cursor's row is painted, and its detail and statistics too (a frame later)."""
    view = app.session.view
    return (
        view is not None
        and view.row_for(*app.session.cursor) is not None
        and not app.session.details_pending
    )


def stats_done(app) -> bool:
    v = app.session.view
    return v is not None and v.stats is not None and v.stats.complete and v.significance is not None


def options(data_dir, model_file, tmp_path, **kw) -> AppOptions:
    return AppOptions(folder=data_dir, model=model_file, save_dir=tmp_path / "saves", **kw)
