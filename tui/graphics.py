"""Choose how pictures reach the terminal, before the app starts.

textual-image probes the terminal when it is imported (and cannot once Textual owns stdin),
so the choice is made here, in the CLI, and the module is only imported when real graphics are
wanted. Multiplexers (tmux, screen) and dumb or zero-width terminals get half blocks: they
either swallow the escape sequences or textual-image crashes on them (ZeroDivisionError on a
terminal reporting 0 columns).
"""

import os
import shutil
import sys

MODES = ("auto", "kitty", "sixel", "halfblock")


def truecolor_reported(environ=os.environ) -> bool:
    return environ.get("COLORTERM", "").lower() in ("truecolor", "24bit")


def multiplexed(environ=os.environ) -> bool:
    return bool(environ.get("TMUX")) or environ.get("TERM", "").startswith(("screen", "tmux"))


def resolve_graphics(requested: str, environ=os.environ) -> tuple[str, str | None]:
    """(mode, note): the mode to use and, when it differs from the request, why."""
    if requested == "halfblock":
        return "halfblock", None
    if not sys.stdout.isatty() or shutil.get_terminal_size((0, 0)).columns <= 0:
        return "halfblock", "not a terminal (or 0 columns): using half blocks"
    if requested == "auto" and multiplexed(environ):
        return "halfblock", None
    try:
        from textual_image import renderable
    except (ImportError, ZeroDivisionError, OSError) as exc:
        return "halfblock", f"terminal graphics unavailable ({exc!r}): using half blocks"
    detected = {renderable.TGPImage: "kitty", renderable.SixelImage: "sixel"}.get(renderable.Image)
    if requested == "auto":
        return detected or "halfblock", None
    if detected != requested:
        return requested, f"the terminal did not report {requested} support; trying anyway"
    return requested, None
