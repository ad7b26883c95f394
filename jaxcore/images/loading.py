"""Images in: find the files of a data folder and load each as float32 in [0, 1], [H, W] for a
one-channel model and [H, W, 3] for a three-channel (colour) model.

The seed wants one grayscale channel scaled like `uint8 / 255` and sides that are multiples
of 16 (four stride-2 blocks), so everything else a user may bring is adapted here, once, and
every adaptation is reported as a human-readable note instead of happening silently:
colour -> gray for a one-channel model (ITU-R 601 luma, as Pillow's "L"), gray -> colour by
repetition for a three-channel one, 16-bit -> [0, 1] by 65535, odd sizes padded
at the bottom/right by reflection (so pixel (y, x) of the file stays pixel (y, x) of the
array) or cropped around the centre. Anything that cannot be adapted raises ImageError with
a message naming the file, fit to show the user as is. Nothing is decoded before its header
has passed the limits of image_header.py (size, pages), so a small file can never make the
loader allocate gigabytes.

Two folder layouts are understood: a flat folder of images, and the VessMAP layout
`images/NAME.ext` + `labels/NAME.png` (0/255 masks matched by file stem).
"""

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import tifffile
from PIL import Image

from cnninterp.jaxcore.images.header import (
    MAX_PIXELS,
    TIFF_SUFFIXES,
    ImageHeaderError,
    check_header,
    read_image_header,
)
from cnninterp.jaxcore.model.network import SIZE_MULTIPLE

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601-2, the weights of Pillow's convert("L")
PAD_MODE: Final = "reflect"


class ImageError(Exception):
    """An image or folder that cannot be used, with a message fit for the user."""


@dataclass(frozen=True)
class ImageSource:
    """Where one image (and its label, if any) lives on disk."""

    name: str
    """Display name: the file stem, e.g. '10084'."""
    image_path: Path
    """The image file."""
    label_path: Path | None
    """Its vessel mask (0/255 or 0/1), or None when the folder has no label for it."""


@dataclass(frozen=True)
class LoadedImage:
    """One image ready for the model, and what was done to get it there."""

    source: ImageSource
    """Where it came from."""
    pixels: np.ndarray
    """float32 [H, W] in [0, 1] (one channel), or [H, W, C] (C channels: RGB), H and W
    multiples of the model's size multiple (16 for the seed)."""
    label: np.ndarray | None
    """bool [H, W] vessel mask fitted like `pixels`, or None."""
    original_shape: tuple[int, int]
    """(h, w) of the file before padding or cropping."""
    notes: tuple[str, ...]
    """Human-readable adaptations, e.g. 'RGB converted to gray', 'padded 70x70 -> 80x80 ...'."""


def _natural_key(path: Path) -> list:
    # image_2 before image_10, as a person sorts them.
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def _image_files(folder: Path) -> list[Path]:
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    ]
    return sorted(files, key=_natural_key)


def _names(paths: list[Path]) -> list[str]:
    """Stems, falling back to the full file name where two files share a stem (a.png, a.tif)."""
    stems = [p.stem for p in paths]
    return [p.stem if stems.count(p.stem) == 1 else p.name for p in paths]


def _label_for(labels_dir: Path | None, stem: str) -> Path | None:
    if labels_dir is None:
        return None
    for suffix in (".png", *IMAGE_SUFFIXES):
        candidate = labels_dir / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def find_images(folder: Path) -> list[ImageSource]:
    """The images of a folder, sorted by name (numbers in natural order); raises ImageError.

    `folder` may be a flat folder of images, a folder holding `images/` (and optionally
    `labels/`), that `images/` folder itself (its sibling `labels/` is used), or one image file.
    """
    folder = Path(folder)
    if folder.is_file():
        if folder.suffix.lower() not in IMAGE_SUFFIXES:
            raise ImageError(f"{folder}: not an image ({', '.join(IMAGE_SUFFIXES)} are read)")
        return [ImageSource(folder.stem, folder, None)]
    if not folder.is_dir():
        raise ImageError(f"{folder}: no such folder")
    labels_dir = None
    if (folder / "images").is_dir():
        folder, labels_dir = folder / "images", folder / "labels"
    elif folder.name == "images":
        labels_dir = folder.parent / "labels"
    if labels_dir is not None and not labels_dir.is_dir():
        labels_dir = None
    files = _image_files(folder)
    if not files:
        raise ImageError(
            f"{folder}: no images found (looked for {', '.join(IMAGE_SUFFIXES)} files)"
        )
    return [
        ImageSource(name, path, _label_for(labels_dir, path.stem))
        for name, path in zip(_names(files), files, strict=True)
    ]


def _read_pixels(path: Path, notes: list[str], max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The raw array of an image file, as stored (uint8, uint16, float, ..., maybe channels).

    The header is checked first (limits, pages, minimum size), then the pixels decoded."""
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        check_header(path, read_image_header(path), max_pixels)
    except ImageHeaderError as exc:
        raise ImageError(str(exc)) from None
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            return np.asarray(tifffile.imread(path, key=0))  # the one page the header described
        with warnings.catch_warnings():
            # The header check above already applied our own (overridable) size limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                im: Image.Image = opened
                if im.mode == "1":
                    notes.append("1-bit image read as binary (black 0, white 1)")
                    return np.array(im, dtype=bool)
                if im.mode in ("P", "PA"):
                    notes.append("palette image expanded to colours")
                if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
                    rgba = "transparency" in im.info or im.mode == "PA"
                    im = im.convert("RGBA" if rgba else "RGB")
                return np.array(im)
    # Decoders raise many unrelated types on corrupt input (OSError, ValueError, SyntaxError,
    # struct.error, zlib.error, IndexError ...); all of them mean "this file is unreadable".
    except Exception as exc:
        raise ImageError(f"{path}: cannot read this image ({type(exc).__name__}: {exc})") from None


def _channels_last(raw: np.ndarray) -> np.ndarray:
    """[H, W], [H, W, C] or planar [C, H, W] (squeezed) -> [H, W] or [H, W, C]."""
    a = np.squeeze(raw)
    if a.ndim == 3 and a.shape[0] in (2, 3, 4) and a.shape[-1] not in (2, 3, 4):
        a = np.moveaxis(a, 0, -1)  # planar TIFF (C, H, W) -> (H, W, C)
    return a


def _not_an_image(path: Path, raw: np.ndarray) -> ImageError:
    return ImageError(
        f"{path}: expected a 2-D grayscale or RGB image, got an array of shape {raw.shape} "
        "(stacks and multi-page files are not supported)"
    )


def _to_gray(path: Path, raw: np.ndarray, notes: list[str]) -> np.ndarray:
    """[H, W] or [H, W, C] (or planar [C, H, W]) -> [H, W], same dtype family."""
    a = _channels_last(raw)
    if a.ndim == 2:
        return a
    if a.ndim == 3 and a.shape[-1] == 2:
        notes.append("alpha channel ignored")
        return a[..., 0]
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        kind = "RGB" if a.shape[-1] == 3 else "RGBA"
        notes.append(f"{kind} converted to gray" + (" (alpha ignored)" if kind == "RGBA" else ""))
        gray = a[..., :3].astype(np.float64) @ LUMA  # (H, W, 3) @ (3,) -> (H, W)
        return gray.astype(np.float32) if a.dtype.kind == "f" else np.rint(gray).astype(a.dtype)
    raise _not_an_image(path, raw)


def _to_colour(path: Path, raw: np.ndarray, notes: list[str]) -> np.ndarray:
    """[H, W] or [H, W, C] (or planar [C, H, W]) -> [H, W, 3], same dtype family: RGB kept,
    alpha ignored, gray repeated over the three channels."""
    a = _channels_last(raw)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        if a.shape[-1] == 4:
            notes.append("alpha channel ignored")
        return a[..., :3]
    if a.ndim == 3 and a.shape[-1] == 2:
        notes.append("alpha channel ignored")
        a = a[..., 0]
    if a.ndim == 2:
        notes.append("gray image repeated over the model's 3 channels")
        return np.repeat(a[..., None], 3, axis=-1)  # (H, W) -> (H, W, 3)
    raise _not_an_image(path, raw)


def _to_unit(path: Path, a: np.ndarray, notes: list[str]) -> np.ndarray:
    """Integer images scaled by their dtype's maximum, float images checked: float32 [0, 1]."""
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    wide_int = a.dtype.kind in "iu" and a.dtype.itemsize >= 2
    if wide_int and a.min() >= 0 and a.max() <= 65535:
        # Pillow may hand a 16-bit PNG over as int32 (mode "I"): still 16-bit data.
        notes.append("16-bit image scaled by 1/65535")
        return (a.astype(np.float64) / 65535.0).astype(np.float32)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise ImageError(f"{path}: the image contains NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise ImageError(
                f"{path}: floating-point pixels must lie in [0, 1], found [{lo:.4g}, {hi:.4g}]"
            )
        return a.astype(np.float32)
    raise ImageError(
        f"{path}: unsupported pixel type {a.dtype} "
        "(expected 8- or 16-bit grayscale or RGB, or float in [0, 1])"
    )


def _fit(a: np.ndarray, fit: str, m: int) -> np.ndarray:
    """Pad (bottom/right, reflect) or crop (centred) [H, W] or [H, W, C] to multiples of m."""
    h, w = a.shape[:2]
    if fit == "pad":
        channels = ((0, 0),) * (a.ndim - 2)  # channels are not padded
        return np.pad(a, ((0, -h % m), (0, -w % m), *channels), mode=PAD_MODE)
    top, left = (h % m) // 2, (w % m) // 2
    return a[top : top + h - h % m, left : left + w - w % m]


def _fit_note(shape: tuple[int, int], fitted: tuple[int, int], fit: str, m: int) -> str:
    h, w = shape
    if fit == "pad":
        return f"padded {h}x{w} -> {fitted[0]}x{fitted[1]} ({PAD_MODE}, at the bottom/right)"
    top, left = (h % m) // 2, (w % m) // 2
    return f"cropped {h}x{w} -> {fitted[0]}x{fitted[1]} (centred, from y={top}, x={left})"


def _load_label(
    path: Path,
    shape: tuple[int, int],
    notes: list[str],
    max_pixels: int,
    label_class: tuple[int, int] | None = None,
) -> np.ndarray:
    a = _to_gray(path, _read_pixels(path, [], max_pixels), [])
    if a.shape != shape:
        raise ImageError(
            f"{path}: label is {a.shape[0]}x{a.shape[1]} but its image is {shape[0]}x{shape[1]}"
        )
    if a.dtype == np.bool_:
        return a
    if label_class is not None:
        explained, classes = label_class
        if classes > 2 and a.dtype.kind in "iu" and int(a.max()) < classes:
            notes.append(f"label read as class indices 0..{classes - 1}: class {explained}")
            return a == explained
    values = a.astype(np.float64)
    top = float(values.max())
    # 0/1 masks and 0/255 masks are both common; halfway to the top of the dtype also
    # survives JPEG ringing.
    cut = 0.5 if top <= 1.0 else (np.iinfo(a.dtype).max / 2 if a.dtype.kind in "iu" else 0.5)
    if np.unique(values).size > 2:
        notes.append(f"label not two-valued: vessel where value > {cut:g}")
    return values > cut


def load_image(
    source: ImageSource,
    fit: Literal["pad", "crop"] = "pad",
    *,
    max_pixels: int = MAX_PIXELS,
    multiple: int = SIZE_MULTIPLE,
    channels: int = 1,
    label_class: tuple[int, int] | None = None,
) -> LoadedImage:
    """Read, convert to [0, 1], and pad or crop to multiples of `multiple` (the model's
    size multiple: 16 for the seed); raises ImageError.

    `channels` is the model's input channels: 1 gives gray [H, W] (colour converted, with a
    note), 3 gives RGB [H, W, 3] (a gray file repeated over the channels, with a note); any
    other count gives gray [H, W], which the model's rows repeat over its channels (noted).

    Files over `max_pixels` (default 2**26 = 8192x8192; see image_header.py), multi-page
    files and images under 16x16 are refused from their header, before decoding.

    `label_class`: (explained class, classes) of the model. A label of a model with more than
    two classes whose values are class indices (integers below the class count) marks the
    explained class's pixels; otherwise a label is a two-valued mask, as for the seed."""
    if fit not in ("pad", "crop"):
        raise ValueError(f"fit must be 'pad' or 'crop', not {fit!r}")
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, not {max_pixels}")
    if channels < 1:
        raise ValueError(f"channels must be positive, not {channels}")
    path = Path(source.image_path)
    notes: list[str] = []
    convert = _to_colour if channels == 3 else _to_gray
    image = _to_unit(path, convert(path, _read_pixels(path, notes, max_pixels), notes), notes)
    if channels not in (1, 3):  # no colour file means C channels: gray, repeated by the model
        notes.append(f"image fed as gray, repeated over the model's {channels} channels")
    h, w = image.shape[:2]
    smallest = max(SIZE_MULTIPLE, multiple)
    if h < smallest or w < smallest:
        raise ImageError(
            f"{path}: image is {h}x{w}; the model needs at least {smallest}x{smallest} pixels"
        )
    label = None
    if source.label_path is not None:
        label_path = Path(source.label_path)
        mask = _load_label(label_path, (h, w), notes, max_pixels, label_class)
        label = _fit(mask, fit, multiple)
    pixels = _fit(image, fit, multiple)
    if pixels.shape[:2] != (h, w):
        notes.append(_fit_note((h, w), pixels.shape[:2], fit, multiple))
    return LoadedImage(
        source=source,
        pixels=np.ascontiguousarray(pixels, np.float32),
        label=None if label is None else np.ascontiguousarray(label, bool),
        original_shape=(h, w),
        notes=tuple(notes),
    )
