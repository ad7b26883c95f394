"""Progress of a cluster run on stderr: one bar over the images with the nodes and how many
tasks each is running, then a table of the time per image and per node."""

import sys
from collections import Counter, defaultdict

from rich.console import Console
from rich.table import Table

from cnninterp.export.progress import rich_bar


class ClusterProgress:
    """The cluster run's progress: a rich bar on a terminal, plain lines in logs and pipes."""

    def __init__(self, total: int):
        self.total, self.done = total, 0
        self.console = Console(stderr=True, highlight=False)
        self.results: list = []
        self.bar = None
        if sys.stderr.isatty():
            self.bar = rich_bar(self.console)
            self.images = self.bar.add_task("images", total=total)

    def say(self, message: str) -> None:
        if self.bar is not None:
            self.console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:  # logs: one line per message, never wrapped at rich's 80 columns
            print(message, file=sys.stderr, flush=True)

    def output(self, line: str) -> None:
        """A line of the stdout listing; through the bar's console when both share a terminal."""
        if self.bar is not None and sys.stdout.isatty():
            self.say(line)
        else:
            print(line, flush=True)

    def skip(self, count: int) -> None:
        """Images skipped on resume: no longer part of the bar."""
        self.total -= count
        if self.bar is not None:
            self.bar.update(self.images, total=self.total)

    def running(self, where: dict[str, tuple[str, int]]) -> None:
        """The tasks running now, image name -> (node, pid)."""
        per_node = Counter(node for node, _ in where.values())
        nodes = ", ".join(f"{node} {count}" for node, count in sorted(per_node.items()))
        if self.bar is not None:
            self.bar.update(self.images, description=f"images (running: {nodes or 'none'})")

    def finished(self, result) -> None:
        self.done += 1
        self.results.append(result)
        status = (
            f"FAILED: {result.error}"
            if result.export is None
            else f"written on {result.node} ({result.seconds:.1f} s)"
        )
        self.say(f"[{self.done}/{self.total}] {result.name}: {status}")
        if self.bar is not None:
            self.bar.advance(self.images)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
        if self.results:
            self.console.print(time_per_image(self.results))
            self.console.print(time_per_node(self.results))


def time_per_image(results) -> Table:
    table = Table("image", "node", "seconds", "result", title="time per image")
    for r in results:
        table.add_row(r.name, r.node, f"{r.seconds:.2f}", "written" if r.export else "FAILED")
    return table


def time_per_node(results) -> Table:
    seconds: defaultdict[str, float] = defaultdict(float)
    images: Counter[str] = Counter()
    for r in results:
        seconds[r.node] += r.seconds
        images[r.node] += 1
    table = Table("node", "images", "seconds", "seconds per image", title="time per node")
    for node in sorted(images):
        table.add_row(
            node, str(images[node]), f"{seconds[node]:.2f}", f"{seconds[node] / images[node]:.2f}"
        )
    return table
