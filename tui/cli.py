"""`cnninterp-tui [DIR] [--model FILE] ...`: check the arguments, pick the graphics, run the app."""

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

from cnninterp.frontend import ExitCode, add_shared_arguments
from cnninterp.tui.graphics import MODES, resolve_graphics, truecolor_reported


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cnninterp-tui",
        description="Explain a vessel-segmentation CNN pixel by pixel through input gradients.",
    )
    parser.add_argument(
        "folder", nargs="?", type=Path, help="images (flat, or images/ + labels/); default: demo"
    )
    parser.add_argument("--graphics", choices=MODES, default="auto", help="how to draw pictures")
    parser.add_argument(
        "--truecolor", action="store_true", help="the terminal has 24-bit colour (SSH hides it)"
    )
    parser.add_argument(
        "--save-dir", type=Path, default=Path("cnninterp-saves"), help="where `s` saves the view"
    )
    parser.add_argument(
        "--demo", action="store_true", help="open the bundled demo (the default with no DIR)"
    )
    add_shared_arguments(parser, model_required=False)  # --model, --no-cache, --devices, ...
    return parser.parse_args(argv)


def force_truecolor(environ=os.environ) -> None:
    """Make Textual draw 24-bit colour: over SSH COLORTERM is not forwarded, and without it
    Textual falls back to 256 colours. Must run before the App is created (its console
    reads the environment then; Textual reads TEXTUAL_COLOR_SYSTEM when first imported)."""
    environ["COLORTERM"] = "truecolor"
    environ.setdefault("TEXTUAL_COLOR_SYSTEM", "truecolor")


def main(argv: list[str] | None = None) -> int:
    """The console script. A Ctrl+C at any moment (loading JAX, before the app is up) ends
    quietly with 130, never with a traceback. As the process's entry point (argv None) it
    ends the process itself once the app is closed: the interpreter's own teardown (JAX's
    backends, gigabytes of arrays) took 2 s after a quit, and a quit should be instant."""
    try:
        code = run(argv)
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    if argv is None:
        leave(code)
    return code


def run(argv: list[str] | None = None) -> int:
    # XLA's C++ warnings (e.g. "Constant folding an instruction is taking > 1s" while the
    # full-size model compiles) go straight to the terminal the app draws on. Set before JAX
    # loads; a value the user set is kept.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = parse_args(argv)
    if args.demo:
        args.folder = None
    for path, what in ((args.folder, "folder"), (args.model, "model file")):
        if path is not None and not path.exists():
            print(f"cnninterp-tui: no such {what}: {path}", file=sys.stderr)
            return ExitCode.BAD_INPUT
    if args.folder is not None and not args.folder.is_dir():
        print(f"cnninterp-tui: {args.folder} is not a folder", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if args.folder is not None and args.model is None:
        from cnninterp.tui.model_source import OpenError, find_model

        try:
            find_model(args.folder)  # no model (or several): say so here, not in an empty app
        except OpenError as exc:
            print(f"cnninterp-tui: {exc}", file=sys.stderr)
            return ExitCode.BAD_INPUT
    if args.truecolor:
        force_truecolor()
    graphics, note = resolve_graphics(args.graphics)
    if note:
        print(f"cnninterp-tui: {note}", file=sys.stderr)
    if graphics == "kitty":
        # Kitty placeholders carry the image id in their 24-bit foreground colour, and every
        # Kitty-protocol terminal has true colour, so kitty implies it.
        force_truecolor()
    if graphics != "halfblock":
        # Import (and so measure the cells) before Textual owns the terminal.
        import cnninterp.tui.pictures.terminal_image  # noqa: F401

    from cnninterp.jaxcore.store.compilations import enable_compilation_cache
    from cnninterp.tui.app import create_app
    from cnninterp.tui.options import AppOptions

    enable_compilation_cache()

    options = AppOptions(
        folder=args.folder,
        model=args.model,
        graphics=graphics,
        vessel_class=args.vessel_class,
        save_dir=args.save_dir,
        cache=args.cache,
        devices=args.devices,
        max_pixels=args.max_pixels,
    )
    app = create_app(options)
    try:
        app.run()
    except KeyboardInterrupt:  # a Ctrl+C that reached Python, not the app: no traceback
        app.session.cancel_all()
        return ExitCode.INTERRUPTED
    if not truecolor_reported() and not args.truecolor:
        print("tip: if pictures looked banded, your terminal may support --truecolor")
    return app.return_code or ExitCode.OK


EXIT_GRACE = 0.5
"""Seconds the cancelled workers get to stop at their next chunk before the process ends."""


def leave(code: int) -> NoReturn:
    """End the process with `code` once the worker threads have stopped, waiting at most
    EXIT_GRACE for them: a thread inside one long device call (compiling, a big chunk) is
    not waited for (results are written atomically: an abandoned write leaves no partial
    file). Skips the interpreter's teardown, so output is flushed here."""
    deadline = time.monotonic() + EXIT_GRACE
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
