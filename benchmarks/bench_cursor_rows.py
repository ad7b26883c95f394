"""Rows asked back to back while the significance pass runs, with and without the pass's wait
after a row (`StreamingEngine.interactive_grace`), in the same run; no TUI.

Full-size random model, a 256x256 synthetic image, CPU, warm: a focus-following pass runs in a
thread (as in the TUI) and the cursor walks right and down, asking for each new pixel's row as
soon as the last one is back. Alternating rounds with the wait off and at its default, so both
see the same machine; the rows alone (the pass stopped) are the floor.

    python benchmarks/bench_cursor_rows.py [--moves 16] [--rounds 2] [--width 64]
"""

import argparse
import statistics
import threading
import time

import numpy as np

from cnninterp.demo.synthetic import synthetic_vessels
from cnninterp.jaxcore.model.network import ModelConfig, random_variables
from cnninterp.jaxcore.passes.explainer import Explainer


def walk(explainer: Explainer, image: np.ndarray, cursor: list[int], moves: int) -> list[float]:
    """Seconds of each row, the cursor moving right and down alternately between rows."""
    seconds = []
    for i in range(moves):
        cursor[i % 2] += 1
        start = time.perf_counter()
        explainer.gradient_row(image, *cursor)
        seconds.append(time.perf_counter() - start)
    return seconds


def median_ms(seconds: list[float]) -> str:
    return f"median {1e3 * statistics.median(seconds):.0f} ms, max {1e3 * max(seconds):.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--width", type=int, default=64)
    args = parser.parse_args()
    config = ModelConfig(width=args.width)
    explainer = Explainer(config, random_variables(config))
    grace = explainer.engine.interactive_grace
    image = synthetic_vessels(0, 256)[0].astype(np.float32)
    explainer.warm_up(256, 256, full_pass=False)
    cursor = [40, 40]
    print(f"rows alone, before the pass: {median_ms(walk(explainer, image, cursor, args.moves))}")

    cursor, cancel, reports = [120, 120], threading.Event(), []
    thread = threading.Thread(
        target=explainer.jacobian_stats,
        args=(image,),
        kwargs=dict(cancel=cancel, focus=lambda: tuple(cursor), on_progress=reports.append),
    )
    thread.start()
    start = time.perf_counter()
    while len(reports) < 2:  # compiled and computing rows
        time.sleep(0.05)
    print(f"the pass computes rows after {time.perf_counter() - start:.1f} s")
    results: dict[float, list[float]] = {0.0: [], grace: []}
    for n in range(args.rounds):
        for i, wait in enumerate(results):
            explainer.engine.interactive_grace = wait
            time.sleep(1.0)  # the pass runs freely before each round, as after a pause
            # then the cursor starts afresh elsewhere: none of its rows kept by the pass
            cursor[:] = [30 + 50 * (2 * n + i), 150]
            results[wait] += walk(explainer, image, cursor, args.moves)
    cancel.set()
    thread.join()
    for wait, seconds in results.items():
        print(f"rows back to back during the pass, wait {wait:g} s: {median_ms(seconds)}")
    cursor = [200, 40]
    print(f"rows alone, after the pass: {median_ms(walk(explainer, image, cursor, args.moves))}")


if __name__ == "__main__":
    main()
