"""cnninterp-export's progress on stderr: a rich bar on a terminal, plain lines in logs."""

import sys
import time


def rich_bar(console):
    """A started rich bar (description, bar, percent, time) on `console` (stderr); stdout is
    left alone: it is the list of files written, for scripts."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeElapsedColumn

    bar = Progress(
        "{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    bar.start()
    return bar


class Progress:
    """Progress on stderr: a rich bar on a terminal, plain lines in logs and pipes."""

    PLAIN_EVERY_S = 10.0  # plain mode: at most one "rows" line per this many seconds

    def __init__(self, total: int):
        self.total, self.index, self.name = total, 0, ""
        self.bar = None
        self.last_line = 0.0
        if sys.stderr.isatty():
            from rich.console import Console

            self.bar = rich_bar(Console(stderr=True))
            self.images = self.bar.add_task("images", total=total)
            self.rows = self.bar.add_task("rows", total=1.0)

    def say(self, message: str) -> None:
        if self.bar is not None:
            self.bar.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=sys.stderr, flush=True)

    def output(self, line: str) -> None:
        """A line of the stdout listing; through the bar's console when both share a terminal."""
        if self.bar is not None and sys.stdout.isatty():
            self.bar.console.print(line, markup=False, highlight=False)
        else:
            print(line, flush=True)

    def skip(self, count: int) -> None:
        """Images skipped on resume: no longer part of the bar."""
        self.total -= count
        if self.bar is not None:
            self.bar.update(self.images, total=self.total)

    def begin(self, name: str) -> None:
        self.index, self.name = self.index + 1, name
        self.last_line = time.monotonic()
        if self.bar is not None:
            self.bar.update(self.rows, completed=0.0, description=f"{name}: Jacobian")

    def on_stats(self, stats) -> None:
        fraction = stats.fraction_done
        if self.bar is not None:
            self.bar.update(self.rows, completed=fraction)
        elif time.monotonic() - self.last_line >= self.PLAIN_EVERY_S:
            self.last_line = time.monotonic()
            self.say(f"[{self.index}/{self.total}] {self.name}: {fraction:.0%} of the Jacobian")

    def end(self, message: str) -> None:
        self.say(f"[{self.index}/{self.total}] {self.name}: {message}")
        if self.bar is not None:
            self.bar.advance(self.images)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
