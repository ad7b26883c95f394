"""Save an SVG screenshot of the TUI after the significance pass, for the README.

python docs/make_screenshot.py FOLDER MODEL OUT.svg [--cursor Y X] [--image N] [--keys ...]
rsvg-convert OUT.svg -o OUT.png
"""

import argparse
import asyncio
import time
from pathlib import Path

from cnninterp.tui.app import create_app
from cnninterp.tui.options import AppOptions


async def shoot(args) -> None:
    app = create_app(AppOptions(folder=args.folder, model=args.model, cache=False))
    async with app.run_test(size=(args.width, args.height)) as pilot:
        for _ in range(args.image):
            await pilot.press("n")
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            view = app.session.view
            if view is not None and view.stats is not None and view.stats.complete:
                break
            await pilot.pause(0.2)
        app.apply(app.session.move_to(*args.cursor))
        for key in args.keys:
            await pilot.press(key)
        await pilot.pause(2.0)
        app.save_screenshot(filename=args.out.name, path=str(args.out.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--cursor", type=int, nargs=2, default=(32, 32))
    parser.add_argument("--image", type=int, default=0, help="press n this many times")
    parser.add_argument("--keys", nargs="*", default=[])
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=48)
    parser.add_argument("--timeout", type=float, default=120)
    asyncio.run(shoot(parser.parse_args()))


if __name__ == "__main__":
    main()
