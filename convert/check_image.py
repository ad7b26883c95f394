"""Read the optional --check-image into the model's input: float32 [H, W] = uint8 / 255.

Parity on a real image catches what random inputs can miss (saturated BatchNorms, the
statistics of actual vessels). The image is cropped, never padded, to multiples of 16 so
every pixel compared is a real one; large images are centre-cropped to keep the check quick.
"""

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnninterp.convert.errors import ConversionError
from cnninterp.jaxcore.model import SIZE_MULTIPLE

MAX_SIDE = 512  # torch gradient rows on bigger crops take many seconds on a laptop CPU


def read_check_image(path: Path) -> tuple[np.ndarray, list[str]]:
    """(pixels float32 [H, W] in [0, 1], notes) of a grayscale or colour image file."""
    path = Path(path)
    notes: list[str] = []
    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "I;16", "I;16B", "I", "F"):
                notes.append(f"converted {img.mode} to grayscale")
                img = img.convert("L")
            pixels = np.asarray(img)
    except FileNotFoundError:
        raise ConversionError(f"--check-image {path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ConversionError(f"--check-image {path}: not a readable image ({exc})") from None
    if pixels.ndim != 2:
        raise ConversionError(f"--check-image {path}: expected one channel, got {pixels.shape}")
    if pixels.dtype == np.uint8:
        image = pixels.astype(np.float32) / 255.0
    elif pixels.dtype in (np.uint16, np.dtype(">u2")):
        notes.append("16-bit image scaled by 1/65535")
        image = pixels.astype(np.float32) / 65535.0
    else:
        notes.append(f"{pixels.dtype} image min-max scaled to [0, 1]")
        image = pixels.astype(np.float32)
        image = (image - image.min()) / max(float(image.max() - image.min()), 1e-12)
    h, w = image.shape
    new_h = min(h - h % SIZE_MULTIPLE, MAX_SIDE)
    new_w = min(w - w % SIZE_MULTIPLE, MAX_SIDE)
    if new_h == 0 or new_w == 0:
        raise ConversionError(f"--check-image {path}: {h}x{w} is smaller than 16x16")
    if (new_h, new_w) != (h, w):
        top, left = (h - new_h) // 2, (w - new_w) // 2
        image = image[top : top + new_h, left : left + new_w]
        notes.append(f"centre-cropped {h}x{w} -> {new_h}x{new_w}")
    return np.ascontiguousarray(image), notes
