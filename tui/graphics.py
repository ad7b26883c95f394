"""Choose how pictures reach the terminal, before the app starts.

textual-image probes the terminal when it is imported (and cannot once Textual owns stdin),
so the choice is made here, in the CLI, and the module is only imported when real graphics are
wanted. `choose_graphics` is the pure decision; `resolve_graphics` feeds it the facts of this
process. Multiplexers (tmux, screen) and mosh swallow or mangle the escape sequences, a
missing TTY cannot answer the probe, and textual-image 0.12 divides by the column count
(ZeroDivisionError on a terminal reporting 0 columns): all of these get half blocks.
"""

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

MODES = ("auto", "kitty", "sixel", "halfblock")
MULTIPLEXERS = ("tmux", "screen", "mosh-server")
"""Process names that, found among our ancestors, mean escape sequences may not get through."""


def truecolor_reported(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("COLORTERM", "").lower() in ("truecolor", "24bit")


def multiplexer(environ: Mapping[str, str] = os.environ, ancestors: tuple[str, ...] = ()) -> str:
    """The multiplexer between us and the terminal ('' for none)."""
    if environ.get("TMUX") or environ.get("TERM", "").startswith("tmux"):
        return "tmux"
    if environ.get("STY") or environ.get("TERM", "").startswith("screen"):
        return "screen"
    for name in ancestors:
        if name in MULTIPLEXERS:
            return name.removesuffix("-server")
    return ""


def ancestor_names(limit: int = 12) -> tuple[str, ...]:
    """Names of our parent processes, nearest first (Linux /proc; empty elsewhere)."""
    names, pid = [], os.getppid()
    for _ in range(limit):
        try:
            names.append(Path(f"/proc/{pid}/comm").read_text().strip())
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        if pid <= 1:
            break
    return tuple(names)


def choose_graphics(
    requested: str,
    *,
    is_tty: bool,
    columns: int,
    multiplexed: str,
    detect: Callable[[], str | None],
) -> tuple[str, str | None]:
    """(mode, note): the mode to use and, when it differs from the request, why.

    `detect` imports textual-image (which probes the terminal) and returns 'kitty', 'sixel'
    or None; it is only called when a graphics mode is still possible.
    """
    if requested == "halfblock":
        return "halfblock", None
    if not is_tty or columns <= 0:
        why = "not a terminal" if not is_tty else "the terminal reports 0 columns"
        return "halfblock", f"{why}: drawing with half blocks"
    if multiplexed and requested == "auto":
        return "halfblock", None
    try:
        detected = detect()
    except (ImportError, ZeroDivisionError, OSError) as exc:
        return "halfblock", f"terminal graphics unavailable ({exc!r}): drawing with half blocks"
    if requested == "auto":
        return detected or "halfblock", None
    if multiplexed:
        return requested, f"{requested} inside {multiplexed} may not show; try --graphics halfblock"
    if detected != requested:
        return requested, f"the terminal did not report {requested} support; trying anyway"
    return requested, None


def detect_protocol() -> str | None:
    """Import textual-image (its import probes the terminal) and say what it found."""
    from textual_image import renderable

    return {renderable.TGPImage: "kitty", renderable.SixelImage: "sixel"}.get(renderable.Image)


def resolve_graphics(requested: str, environ: Mapping[str, str] = os.environ):
    """choose_graphics for this process's terminal."""
    stream = sys.__stdout__
    is_tty = bool(stream and stream.isatty())
    try:  # what textual-image divides by: the TTY's own answer, not $COLUMNS
        columns = os.get_terminal_size(stream.fileno()).columns if is_tty and stream else 0
    except (OSError, ValueError):
        columns = 0
    return choose_graphics(
        requested,
        is_tty=is_tty,
        columns=columns,
        multiplexed=multiplexer(environ, ancestor_names()),
        detect=detect_protocol,
    )
