"""What the three command lines share: exit codes, argument types and options, the converter.

cnninterp-tui, cnninterp-export and cnninterp-convert are separate programs over the core, but
a user meets them as one tool: the same exit code means the same thing in each, and an option
both explaining front ends take (--model, --no-cache, --devices, --max-pixels) is spelled,
checked and defaulted once, here. The core (`jaxcore`) knows nothing of command lines.

Kept free of JAX, torch and the front ends at import: the TUI parses its arguments before JAX
loads (so `--help` and a usage error answer at once), and jaxcore or the converter is imported
inside the function that needs it.
"""

import argparse
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnninterp.jaxcore.passes.devices import DeviceChoice


class ExitCode(IntEnum):
    """A command's exit status: the numbers the README and each --help document."""

    OK = 0
    BUG = 1
    """cnninterp-convert: an unexpected error, a bug in cnninterp (--debug shows it)."""
    BAD_INPUT = 2
    """Bad usage or input (argparse's own code): nothing was computed or written."""
    PARITY = 3
    """cnninterp-convert: the converted model disagrees with PyTorch (nothing written)."""
    SOME_FAILED = 4
    """cnninterp-export: some images failed (each reported); the others were written."""
    INTERRUPTED = 130
    """Ctrl+C: the shell's code for SIGINT (128 + 2)."""


DEFAULT_MAX_PIXELS = 2**26
"""--max-pixels by default (8192x8192): jaxcore.images.header.MAX_PIXELS, which this module
may not import at load time (it loads JAX); a test keeps the two equal."""
MIN_MAX_PIXELS = 16 * 16
"""The smallest image the model takes is 16x16, so a lower limit would refuse every image."""


def parse_max_pixels(text: str) -> int:
    """argparse's type for --max-pixels: an integer of at least 256."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < MIN_MAX_PIXELS:
        raise argparse.ArgumentTypeError(f"must be at least 256 (16x16), got {text!r}")
    return value


def parse_devices_option(text: str) -> "DeviceChoice":
    """argparse's type for --devices: jaxcore's parse_devices ('all', a count 'N' or indices
    '0,2'), its error as argparse's. JAX loads only when the option is given."""
    from cnninterp.jaxcore.passes.devices import DeviceChoiceError, parse_devices

    try:
        return parse_devices(text)
    except DeviceChoiceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_shared_arguments(parser: argparse.ArgumentParser, *, model_required: bool) -> None:
    """The options of every front end that explains a model: --model, --class (dest
    `vessel_class`, text: opening.resolve_class reads it against the model), --no-cache (dest
    `cache`, True unless given), --devices (None: every device) and --max-pixels. Without
    `model_required` the front end looks for the model itself and says where in its help."""
    parser.add_argument(
        "--model",
        type=Path,
        required=model_required,
        help="model file (.safetensors from cnninterp-convert) or a .pth checkpoint (converted "
        "once into the cache folder)"
        + ("" if model_required else "; default: the one in the folder"),
    )
    parser.add_argument(
        "--class",
        dest="vessel_class",
        metavar="K|NAME",
        help="the output class explained, by number or by the name the model file gives it "
        "(default: the model's own choice, class 1 of a model with several)",
    )
    parser.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="neither read nor write results in the cache "
        "($CNNINTERP_CACHE_DIR or the platform's user cache folder)",
    )
    parser.add_argument(
        "--devices",
        type=parse_devices_option,
        default=None,
        metavar="all|N|0,2",
        help="devices the full pass spreads over, in this process (default all; after "
        "CUDA_VISIBLE_DEVICES)",
    )
    parser.add_argument(
        "--max-pixels",
        type=parse_max_pixels,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"largest image opened, in pixels (default {DEFAULT_MAX_PIXELS:,} = 8192x8192), "
        "checked from the file's header before decoding",
    )


def model_notes(model) -> list[str]:
    """What a front end says about a model (seam.SegmentationModel) when it opens it: how its
    images are fed to it, and why its rows cover the whole image where they do."""
    notes = []
    if model.input_channels == 3:
        notes.append(
            "the model takes 3 channels: colour images are read as RGB (a gray one is repeated "
            "over the channels); rows are with respect to brightness (the sum over channels), "
            "attributions also per channel"
        )
    elif model.input_channels > 1:  # no colour file has this many channels: gray, repeated
        notes.append(
            f"the model takes {model.input_channels} channels: each image is read as gray and "
            "repeated over them, so gradients are with respect to its brightness"
        )
    if model.receptive_radius is None:
        notes.append(
            f"whole-image field ({model.field_reason}): rows and the significance pass cover "
            "the whole image"
        )
    return notes


def convert_with_torch(checkpoint: Path, out: Path) -> dict[str, Any]:
    """The core's Converter (jaxcore.opening) for every front end: it imports the converter,
    and with it torch, only when a checkpoint must be converted (a `.pt2` or the seed's
    `.pth`: convert.into_cache tells them apart)."""
    from cnninterp.convert.into_cache import convert_into

    return convert_into(checkpoint, out)
