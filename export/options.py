"""cnninterp-export's request options: what to compute (--outputs), which pixels
(--pixels-from), how to explain them (--method and its parameters, --target).

Each option is parsed and checked here, before any image is computed, so a bad call exits 2
with one line naming the problem. cli.py adds these arguments with `add_request_arguments`
and turns them into a `Request` with `request_from_args`.
"""

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnninterp.jaxcore.explain.methods import (
    BASELINES,
    MAX_SIGMA,
    MAX_STEPS,
    METHODS,
    Method,
    MethodError,
)
from cnninterp.jaxcore.explain.targets import KINDS, Target, TargetError

OUTPUTS = ("probability", "gradients", "significance")
"""What an export can hold, in the order the .npz lists them."""
MAX_PIXELS_FROM = 1_000_000
"""Rows a --pixels-from file may ask for (each row is an [H, W] float32 array in the .npz)."""
PIXEL_TARGETS = ("pixel", "segment")
"""Targets anchored on each --pixel: one entry per pixel. The others are one entry of their own."""


class OptionError(Exception):
    """A bad option value, found before any image is computed (exit 2)."""


@dataclass(frozen=True)
class Request:
    """The request options of one call, checked."""

    outputs: tuple[str, ...]
    method: Method
    target: str
    """The --target text: pixel | box:Y0,X0,Y1,X1 | segment | vessel | border."""
    pixels: np.ndarray
    """int64 [N, 2]: --pixel then --pixels-from, in order."""


def parse_outputs(text: str) -> tuple[str, ...]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in OUTPUTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(OUTPUTS)}, got {text!r}"
        )
    return tuple(name for name in OUTPUTS if name in names)


def parse_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 1 <= value <= MAX_STEPS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_STEPS}, got {text!r}")
    return value


def parse_sigma(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= MAX_SIGMA:  # also refuses NaN
        raise argparse.ArgumentTypeError(
            f"must be from 0 to {MAX_SIGMA:g} (a share of the image's range), got {text!r}"
        )
    return value


def parse_seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be from 0 to 2**63 - 1, got {text!r}")
    return value


def parse_target(text: str) -> str:
    try:
        Target.parse(text, 0, 0)  # the syntax; the box against each image in the cli
    except TargetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--outputs",
        type=parse_outputs,
        default=OUTPUTS,
        metavar="LIST",
        help="what to compute, comma-separated from probability,gradients,significance "
        "(default all); without significance no full-Jacobian pass runs",
    )
    parser.add_argument(
        "--pixels-from",
        type=Path,
        metavar="FILE",
        help="more pixels to explain: a CSV of y,x lines (a header line is allowed) or a .npy "
        f"of integers [N, 2]; at most {MAX_PIXELS_FROM:,}, after any --pixel",
    )
    parser.add_argument(
        "--method",
        choices=METHODS,
        default="gradient",
        help="attribution method (default gradient): gradient, gradxinput (gradient x input), "
        "smoothgrad, ig (integrated gradients)",
    )
    parser.add_argument(
        "--steps",
        type=parse_count,
        metavar="M",
        help=f"ig: points on the path (default 32, 1..{MAX_STEPS})",
    )
    parser.add_argument(
        "--samples",
        type=parse_count,
        metavar="N",
        help=f"smoothgrad: noisy copies (default 16, 1..{MAX_STEPS})",
    )
    parser.add_argument(
        "--sigma",
        type=parse_sigma,
        metavar="S",
        help="smoothgrad: noise sd as a share of the image's range "
        f"(default 0.15, 0..{MAX_SIGMA:g})",
    )
    parser.add_argument("--baseline", choices=BASELINES, help="ig: starting image (default zeros)")
    parser.add_argument(
        "--seed", type=parse_seed, metavar="K", help="smoothgrad: noise seed (default 0)"
    )
    parser.add_argument(
        "--target",
        type=parse_target,
        default="pixel",
        metavar="|".join(k if k != "box" else "box:Y0,X0,Y1,X1" for k in KINDS),
        help="what is explained (default pixel: each --pixel); segment: the predicted vessel "
        "segment of each --pixel; box, vessel, border: one region, entry 0 of the gradients, "
        "before each --pixel's own",
    )


def method_from_args(args: argparse.Namespace) -> Method:
    """The Method; parameters that the chosen method does not use are refused, not ignored."""
    given = {
        name: getattr(args, name)
        for name in ("steps", "samples", "sigma", "baseline", "seed")
        if getattr(args, name) is not None
    }
    uses = {"ig": {"steps", "baseline"}, "smoothgrad": {"samples", "sigma", "seed"}}
    unused = sorted(set(given) - uses.get(args.method, set()))
    if unused:
        flags = ", ".join(f"--{name}" for name in unused)
        raise OptionError(f"{flags} does not apply to --method {args.method}")
    try:
        return Method(args.method, **given)
    except MethodError as exc:
        raise OptionError(str(exc)) from None


def read_pixels_file(path: Path) -> np.ndarray:
    """int64 [N, 2] (y, x) from a CSV of y,x lines (an optional header) or a .npy [N, 2]."""
    if path.suffix.lower() == ".npy":
        return _pixels_from_npy(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError(f"--pixels-from {path}: cannot read it ({exc})") from None
    pixels = []
    for number, fields in enumerate(csv.reader(text.splitlines()), start=1):
        fields = [field.strip() for field in fields]
        if not any(fields):
            continue
        try:
            y, x = (int(field) for field in fields)
        except ValueError:
            if number == 1 and len(fields) == 2 and not any(map(_is_integer, fields)):
                continue  # a header such as y,x
            raise OptionError(
                f"--pixels-from {path}: line {number} is {','.join(fields)!r}, expected y,x "
                "(two integers)"
            ) from None
        if y < 0 or x < 0:
            raise OptionError(f"--pixels-from {path}: line {number} has a negative coordinate")
        pixels.append((y, x))
        if len(pixels) > MAX_PIXELS_FROM:
            raise OptionError(f"--pixels-from {path}: more than {MAX_PIXELS_FROM:,} pixels")
    if not pixels:
        raise OptionError(f"--pixels-from {path}: no pixels in it")
    return np.asarray(pixels, np.int64).reshape(-1, 2)


def _is_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _pixels_from_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise OptionError(f"--pixels-from {path}: not a readable .npy file ({exc})") from None
    if array.ndim != 2 or array.shape[1] != 2 or not np.issubdtype(array.dtype, np.integer):
        raise OptionError(
            f"--pixels-from {path}: expected integers of shape [N, 2], got {array.dtype} "
            f"{list(array.shape)}"
        )
    if not 1 <= len(array) <= MAX_PIXELS_FROM:
        raise OptionError(
            f"--pixels-from {path}: holds {len(array):,} pixels, 1..{MAX_PIXELS_FROM:,} allowed"
        )
    pixels = np.asarray(array, np.int64)
    negative = np.flatnonzero((pixels < 0).any(axis=1))
    if len(negative):
        raise OptionError(f"--pixels-from {path}: row {negative[0]} has a negative coordinate")
    return pixels


def request_from_args(args: argparse.Namespace) -> Request:
    """Every request option checked together (OptionError on the first problem)."""
    method = method_from_args(args)
    if any(not isinstance(pixel, tuple) for pixel in args.pixel):  # argparse: --pixel=-- is []
        raise OptionError("--pixel: expected Y,X (two integers), got '--'")
    pixels = np.asarray(args.pixel, np.int64).reshape(-1, 2)  # (N, 2)
    if args.pixels_from is not None:
        pixels = np.concatenate([pixels, read_pixels_file(args.pixels_from)])
    kind = args.target.partition(":")[0]
    if kind == "segment" and not len(pixels):
        raise OptionError("--target segment needs --pixel Y,X (the segment's pixel)")
    if "gradients" not in args.outputs and (len(pixels) or kind not in PIXEL_TARGETS):
        raise OptionError("pixels and targets are explained in the gradients: add it to --outputs")
    return Request(args.outputs, method, args.target, pixels)


def box_outside(target: str, height: int, width: int) -> str | None:
    """Why a box target does not fit an image of this (original) size, or None."""
    parsed = Target.parse(target, 0, 0)
    if parsed.kind != "box" or parsed.box is None:
        return None
    y0, x0, y1, x1 = parsed.box
    if min(y0, x0) < 0 or y1 >= height or x1 >= width:
        return f"--target {target} is not inside a {height}x{width} image"
    return None
