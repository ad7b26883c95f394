"""Responsiveness of the TUI under Pilot: key press -> the panel repainted with the answer.

Full-size random model (width 64) on synthetic images (64x64, or --size), CPU, warm.
Measures cursor moves while the significance pass runs (back to back, as fast as the app
answers, and at a researcher's pace: --dwell seconds looking at each row before the next key;
a pass that follows the cursor keeps the rows around it, jaxcore/passes/kept_rows.py) and after it,
and threshold changes after it. At sizes whose pass takes hours on a CPU (256x256) it
measures instead how long the pass, following the cursor, takes to complete the 16x16
neighbourhood of a pixel the cursor jumped to (and skips the "after the pass" part).

    python benchmarks/bench_tui.py [--width 64] [--moves 20] [--size 256] [--dwell 1]
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from cnninterp.demo.synthetic import synthetic_vessels
from cnninterp.jaxcore.model.model_file import save_model
from cnninterp.jaxcore.model.network import ModelConfig, random_variables
from cnninterp.tui.app import create_app
from cnninterp.tui.options import AppOptions
from cnninterp.tui.state.effects import Paint

NEIGHBOURHOOD = 16
"""The square around the cursor whose rows the focus-first pass should finish first."""


def make_data(folder: Path, width: int, size: int = 64) -> Path:
    for seed in range(2):
        image, _ = synthetic_vessels(seed, size)
        Image.fromarray((image * 255).astype(np.uint8)).save(folder / f"synthetic_{seed}.png")
    config = ModelConfig(width=width)
    path = folder / "model.safetensors"
    save_model(path, config, random_variables(config))
    return path


class Painted:
    """Timestamps of the app's repaints of the gradient row of the cursor's pixel (the pass's
    progress repaints the panel too, still showing the previous pixel's row: not counted), of
    its detail and statistics (painted after the row has been drawn) and of the significance
    map."""

    def __init__(self, app):
        self.row, self.significance, self.details = [], [], []
        self.handled: list[float] = []
        """Key -> handler painted the answer, per latency() call (on screen comes later)."""
        self.details_seconds: list[float] = []
        """Key -> the row's detail and statistics on screen, per latency(details=True) call."""
        self.logged = asyncio.Event()
        """Set at each entry logged: latency() waits on it instead of polling (a 2 ms polling
        loop woke the app's event loop 500 times a second and slowed the rows it timed)."""

        def cursor_row_shown():  # the pixel whose row is on screen, if it is the cursor's
            view, cursor = app.session.view, app.session.cursor
            shown = view is not None and view.row is not None and view.row_yx == tuple(cursor)
            return view.row_yx if shown else None

        rows = (Paint.ROW, Paint.ROW_PICTURE, Paint.DETAIL)

        def painted(what: Paint) -> None:  # app.paint_listeners: each paint once it is drawn
            if what is Paint.SIGNIFICANCE:
                self.significance.append((time.perf_counter(), "map"))
            elif what in rows and (shown := cursor_row_shown()) is not None:
                self.row.append((time.perf_counter(), shown))
                if what is Paint.DETAIL:
                    self.details.append((time.perf_counter(), shown))
            else:
                return
            self.logged.set()

        app.paint_listeners.append(painted)

        self.displayed: list[float] = []
        """Times the screen's updates were handed to the terminal driver: a row painted in a
        handler reaches the screen only with the next of these (Textual renders on idle)."""

        def displayed() -> None:  # app.frame_listeners
            self.displayed.append(time.perf_counter())
            self.logged.set()

        app.frame_listeners.append(displayed)

    async def on_screen(self, painted_at: float, timeout: float = 10.0) -> float:
        """The time of the first screen update after `painted_at`."""
        start = time.perf_counter()
        while not self.displayed or self.displayed[-1] < painted_at:
            self.logged.clear()
            try:
                await asyncio.wait_for(self.logged.wait(), timeout - (time.perf_counter() - start))
            except TimeoutError:
                return float("inf")
        return next(t for t in self.displayed if t >= painted_at)


async def latency(
    app, key: str, painted: Painted, log: list, timeout: float = 30.0, details: bool = False
) -> float:
    """Seconds from a key event to the screen update showing what it asked for (for a cursor
    move, a row of another pixel than before the key); the time to the handler that painted
    it is appended to `painted.handled`, and with `details`, the time to the row's detail and
    statistics on screen to `painted.details_seconds`. The key is posted as a terminal would
    send it: Pilot.press also waits for the app to go idle, which it never does while the pass
    posts progress, and would time that wait instead."""
    before, old_cursor = len(log), tuple(app.session.cursor)
    details_before = len(painted.details)
    start = time.perf_counter()
    app.simulate_key(key)
    while not any(what != old_cursor for _, what in log[before:]):
        painted.logged.clear()
        try:
            await asyncio.wait_for(painted.logged.wait(), timeout - (time.perf_counter() - start))
        except TimeoutError:
            return float("inf")
    painted_at = next(t for t, what in log[before:] if what != old_cursor)
    painted.handled.append(painted_at - start)
    shown = await painted.on_screen(painted_at) - start
    if details:
        while not any(what != old_cursor for _, what in painted.details[details_before:]):
            painted.logged.clear()
            await asyncio.wait_for(painted.logged.wait(), timeout)
        at = next(t for t, what in painted.details[details_before:] if what != old_cursor)
        painted.details_seconds.append(await painted.on_screen(at) - start)
    return shown


def summarise(what: str, seconds: list[float], handled: list[float] | None = None) -> None:
    """On-screen latencies, and the handler's (the same moves) beside them."""
    median, worst = 1e3 * statistics.median(seconds), 1e3 * max(seconds)
    line = f"{what}: on screen median {median:.0f} ms, max {worst:.0f} ms"
    if handled:
        painted = 1e3 * statistics.median(handled[-len(seconds) :])
        line += f" (painted by the handler: median {painted:.0f} ms)"
    print(line, flush=True)


async def run(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = make_data(Path(tmp), args.width, args.size)
        app = create_app(AppOptions(folder=Path(tmp), model=model, cache=False))
        async with app.run_test(size=(160, 48)) as pilot:
            painted = Painted(app)
            await pilot.pause()
            start = time.perf_counter()
            while app.session.view is None or app.session.view.row_for(*app.session.cursor) is None:
                await pilot.pause(0.05)
            first = time.perf_counter() - start
            print(f"first gradient row shown after {first:.1f} s (compilation included)")
            moves = ["right", "down"] * (args.moves // 2)
            if args.size > 64:  # the pass compiles for seconds first, on one of the cores
                compiling = [await latency(app, k, painted, painted.row) for k in moves]
                what = "cursor move -> row shown, back to back, while the pass compiles"
                summarise(what, compiling, painted.handled)
                while app.session.view.stats is None or not app.session.view.stats.done.any():
                    await pilot.pause(0.05)
                print(f"the pass computes rows after {time.perf_counter() - start:.1f} s")
            during = [await latency(app, k, painted, painted.row) for k in moves]
            summarise(
                "cursor move -> row shown, back to back, during the pass", during, painted.handled
            )
            if args.dwell > 0:
                paced = []
                for k in moves:
                    await pilot.pause(args.dwell)  # the researcher looks at the row
                    paced.append(await latency(app, k, painted, painted.row, details=True))
                what = f"the same, {args.dwell:g} s looking at each row before the next key"
                summarise(what, paced, painted.handled)
                if painted.details_seconds:
                    summarise("  its detail and statistics", painted.details_seconds)
            if args.size > 64:
                if args.neighbourhood:
                    await neighbourhood(app, pilot, args.size)
                return
            while not (app.session.view.stats is not None and app.session.view.stats.complete):
                await pilot.pause(0.2)
            print(f"significance pass done after {time.perf_counter() - start:.1f} s")
            await pilot.pause(1.0)
            after = [
                await latency(app, k, painted, painted.row)
                for k in ["right", "down"] * (args.moves // 2)
            ]
            summarise("cursor move -> row shown, after the pass", after, painted.handled)
            threshold = [
                await latency(app, k, painted, painted.significance)
                for k in ["right_square_bracket", "left_square_bracket"] * (args.moves // 2)
            ]
            summarise("threshold key -> significance redrawn", threshold, painted.handled)


async def neighbourhood(app, pilot, size: int) -> None:
    """Jump the cursor far from where the pass has been; time until the rows of the 16x16
    square around it are all done."""
    target = (size - size // 5, size // 5)
    app.apply(app.session.move_to(*target))
    start = time.perf_counter()
    y, x, half = *target, NEIGHBOURHOOD // 2
    while True:
        stats = app.session.view.stats
        if stats is not None and stats.done[y - half : y + half, x - half : x + half].all():
            break
        if time.perf_counter() - start > 1800:
            print("the 16x16 neighbourhood was not complete after 30 min")
            return
        await pilot.pause(0.1)
    done = time.perf_counter() - start
    print(f"16x16 neighbourhood of the cursor {target} complete after {done:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument(
        "--dwell", type=float, default=1.0, help="seconds between paced moves (0: none)"
    )
    parser.add_argument(
        "--no-neighbourhood",
        dest="neighbourhood",
        action="store_false",
        help="above 64x64: skip timing the 16x16 neighbourhood after a jump",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
