"""Read the optional --check-image into the model's input, exactly as the TUI and
cnninterp-export would (jaxcore.images.loading), but cropped, never padded, to multiples of 16 so
every pixel compared is a real one.

Parity on a real image catches what random inputs can miss (saturated BatchNorms, the
statistics of actual vessels). Large images are centre-cropped to keep the check quick.
"""

from pathlib import Path

import numpy as np

from cnninterp.convert.errors import ConversionError
from cnninterp.jaxcore.images.header import MAX_PIXELS
from cnninterp.jaxcore.images.loading import ImageError, ImageSource, load_image

MAX_SIDE = 512  # torch gradient rows on bigger crops take many seconds on a laptop CPU


def read_check_image(path: Path, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, list[str]]:
    """(pixels float32 [H, W] in [0, 1], notes) of an image file (refused above max_pixels)."""
    path = Path(path)
    try:
        loaded = load_image(ImageSource(path.stem, path, None), fit="crop", max_pixels=max_pixels)
    except ImageError as exc:
        raise ConversionError(f"--check-image {exc}") from None
    image, notes = loaded.pixels, list(loaded.notes)
    h, w = image.shape
    if h > MAX_SIDE or w > MAX_SIDE:
        new_h, new_w = min(h, MAX_SIDE), min(w, MAX_SIDE)
        top, left = (h - new_h) // 2, (w - new_w) // 2
        image = image[top : top + new_h, left : left + new_w]
        notes.append(f"centre-cropped {h}x{w} -> {new_h}x{new_w} to keep the check quick")
    return np.ascontiguousarray(image), notes
