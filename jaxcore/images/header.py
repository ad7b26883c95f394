"""What an image file says it holds, read from its header before a single pixel is decoded.

A 79 KB PNG can decode to 9000x9000 and a 389 KB zlib TIFF to 20000x20000: the size of the
file says nothing about the memory its pixels need. So every file is first opened lazily
(Pillow reads only the header on open; tifffile reads tags, not strips) and its shape, sample
type and page count are checked against the limits here; only a file that passes is decoded.

Limits (each message names it and how to raise it):
- pixels: MAX_PIXELS = 2**26 by default (8192x8192). The model's input is 256 MiB of float32
  at that size and the loader's temporaries (RGB -> gray in float64) stay under ~2 GiB; the
  largest microscopy tiles we know of in this field are well below it. Pillow's own bomb
  warning starts at 89 M pixels, so our default is the stricter one. `max_pixels=` raises it.
- decoded bytes: BYTES_PER_PIXEL_LIMIT * max_pixels (8 bytes a pixel: RGBA 16-bit, or gray
  float64), so raising the pixel limit raises this one with it.
- at least SIZE_MULTIPLE pixels each way: the model halves the image four times.
- one page: a multi-page TIFF (a z-stack, a time series) is refused, naming the page count.
"""

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import tifffile
from PIL import Image

from cnninterp.jaxcore.model.network import SIZE_MULTIPLE

MAX_PIXELS = 2**26
"""Default largest image, in pixels (8192x8192)."""
BYTES_PER_PIXEL_LIMIT = 8
"""Decoded bytes allowed per allowed pixel: the byte limit is this times max_pixels."""
TIFF_SUFFIXES = (".tif", ".tiff")
PAGES_INSPECTED = 64
RAISE_HINT = "raise it with --max-pixels N (max_pixels=N in Python)"
# Bytes per sample of Pillow modes that are not 8-bit; palette images become RGB(A) on load.
_PIL_SAMPLE_BYTES = {"I": 4, "F": 4, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}


class ImageHeaderError(Exception):
    """A file whose header refuses it (too large, too small, several pages, unreadable)."""


@dataclass(frozen=True)
class ImageHeader:
    """Shape and sample type of an image file, as its header declares them."""

    height: int
    width: int
    samples: int
    """Samples per pixel once decoded (1 gray, 3 RGB, 4 RGBA ...)."""
    sample_bytes: int
    """Bytes per sample once decoded."""
    pages: int
    """Full-resolution pages (TIFF); 1 for PNG and JPEG."""
    kind: str
    """What the file is, in words: 'PNG L', 'TIFF uint16', ..."""

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def decoded_bytes(self) -> int:
        return self.pixels * self.samples * self.sample_bytes


def read_image_header(path: Path) -> ImageHeader:
    """The header of a PNG/JPEG/TIFF file, without decoding pixels; raises ImageHeaderError."""
    path = Path(path)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            return _tiff_header(path)
        return _pillow_header(path)
    except ImageHeaderError:
        raise
    # Header parsers raise many unrelated types on corrupt input; all mean "unreadable".
    except Exception as exc:
        raise ImageHeaderError(
            f"{path}: cannot read this image ({type(exc).__name__}: {exc})"
        ) from None


def _tiff_header(path: Path) -> ImageHeader:
    with tifffile.TiffFile(path) as tif:
        count = len(tif.pages)
        if count == 0:
            raise ImageHeaderError(f"{path}: the TIFF holds no image")
        # Reduced-resolution pages (thumbnails, pyramid levels) are not separate images; only
        # the first few are inspected, so a file of a million pages costs no more.
        looked_at = tif.pages[: min(count, PAGES_INSPECTED)]
        reduced = sum(1 for p in looked_at if getattr(p, "is_reduced", False))
        page = cast(tifffile.TiffPage, tif.pages[0])  # the first page is never a TiffFrame
        dtype = page.dtype
        shape = tuple(int(s) for s in page.shape)
        if dtype is None:
            raise ImageHeaderError(f"{path}: unsupported TIFF sample format")
        height, width = int(page.imagelength), int(page.imagewidth)
        samples = max(1, math.prod(shape) // max(1, height * width))
        return ImageHeader(
            height=height,
            width=width,
            samples=samples,
            sample_bytes=np.dtype(dtype).itemsize,
            pages=count - reduced,
            kind=f"TIFF {np.dtype(dtype).name}",
        )


def _pillow_header(path: Path) -> ImageHeader:
    with warnings.catch_warnings():
        # Our own limit decides (and says how to raise it); Pillow's bomb warning would
        # otherwise fire (as an error under strict warning filters) between the two limits.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as exc:
            # Pillow's hard limit (2 * MAX_IMAGE_PIXELS) sits above ours; changing it would
            # change a process-wide global, so say it plainly instead.
            raise ImageHeaderError(
                f"{path}: {exc} Pillow, which reads PNG and JPEG, refuses images over "
                f"{2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels whatever --max-pixels says; save it "
                "as TIFF to go beyond"
            ) from None
    with im:
        width, height = im.size
        mode = im.mode
        samples = 4 if mode in ("P", "PA") else len(im.getbands())
        frames = int(getattr(im, "n_frames", 1))
        return ImageHeader(
            height=int(height),
            width=int(width),
            samples=samples,
            sample_bytes=_PIL_SAMPLE_BYTES.get(mode, 1),
            pages=frames,
            kind=f"{im.format} {mode}",
        )


def check_header(path: Path, header: ImageHeader, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse, with the limit in the message, what load_image must not decode."""
    if header.pages > 1:
        raise ImageHeaderError(
            f"{path}: holds {header.pages} pages (a stack or a series); cnninterp reads "
            "single 2-D images: save the page you want as its own file"
        )
    h, w = header.height, header.width
    if h < SIZE_MULTIPLE or w < SIZE_MULTIPLE:
        raise ImageHeaderError(
            f"{path}: image is {h}x{w}; the model needs at least "
            f"{SIZE_MULTIPLE}x{SIZE_MULTIPLE} pixels"
        )
    if header.pixels > max_pixels:
        raise ImageHeaderError(
            f"{path}: image is {h}x{w} ({header.pixels:,} pixels), over the limit of "
            f"{max_pixels:,} pixels; {RAISE_HINT}"
        )
    byte_limit = BYTES_PER_PIXEL_LIMIT * max_pixels
    if header.decoded_bytes > byte_limit:
        raise ImageHeaderError(
            f"{path}: {h}x{w} {header.kind} with {header.samples} samples a pixel decodes "
            f"to {header.decoded_bytes / 2**20:,.0f} MiB, over the limit of "
            f"{byte_limit / 2**20:,.0f} MiB ({BYTES_PER_PIXEL_LIMIT} bytes x max_pixels); "
            f"{RAISE_HINT}"
        )
