"""jaxcore.images.loading under hostile input: bombs, lying shapes, random bytes and pixel types.

The contract: load_image either returns a LoadedImage or raises ImageError with one line that
names the file; it never decodes an image its header already refuses, so memory stays bounded.
"""

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cnninterp.jaxcore.images.header import MAX_PIXELS, read_image_header
from cnninterp.jaxcore.images.loading import ImageError, ImageSource, load_image

FUZZ = settings(max_examples=30)  # the rest from the suite's profile (tests/conftest.py)
RSS_GROWTH_LIMIT_MB = 100  # the bombs below decode to 243 MB (PNG) and 400 MB (TIFF)


def load(path: Path, **kwargs):
    return load_image(ImageSource(path.stem, path, None), **kwargs)


def assert_one_clear_line(exc: pytest.ExceptionInfo, path: Path) -> str:
    message = str(exc.value)
    assert "\n" not in message and str(path) in message and "Traceback" not in message
    return message


# --- decompression bombs: refused from the header, memory measured in a subprocess ------------


def png_bomb(path: Path, height: int, width: int) -> Path:
    """An all-black RGB PNG of height x width, compressed as it is written (a few KB per MB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes(3 * width)  # filter byte + RGB samples
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def tiff_bomb(path: Path, side: int) -> Path:
    """A zlib-compressed uint8 TIFF of side x side zeros, written tile by tile."""
    tile = np.zeros((1024, 1024), np.uint8)
    per_side = -(-side // 1024)  # ceiling division
    tiles = (tile for _ in range(per_side**2))
    tifffile.imwrite(
        path, tiles, shape=(side, side), dtype=np.uint8, tile=(1024, 1024), compression="zlib"
    )
    return path


PROBE = """
import json, resource, sys
from pathlib import Path
from cnninterp.jaxcore.images.loading import ImageError, ImageSource, load_image
path = Path(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_image(ImageSource(path.stem, path, None))
    error = None
except ImageError as exc:
    error = str(exc)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"error": error, "grown_mb": (after - before) / 1024}))
"""


@pytest.mark.parametrize("make", ["png", "tiff"])
def test_decompression_bombs_refused_before_decoding(tmp_path, make):
    if make == "png":
        bomb = png_bomb(tmp_path / "bomb.png", 9000, 9000)
    else:
        bomb = tiff_bomb(tmp_path / "bomb.tif", 20000)
    assert bomb.stat().st_size < 2_000_000
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(bomb)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["error"] is not None
    assert f"over the limit of {MAX_PIXELS:,} pixels" in result["error"]
    assert "--max-pixels" in result["error"]
    assert result["grown_mb"] < RSS_GROWTH_LIMIT_MB


def test_png_beyond_pillows_own_limit_says_which_limit(tmp_path):
    # Only the header matters: Pillow refuses at open, before reading any pixel data.
    path = png_bomb(tmp_path / "huge.png", 20000, 1)
    raw = bytearray(path.read_bytes())
    raw[16:24] = struct.pack(">II", 20000, 20000)  # IHDR width, height
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])))  # IHDR's CRC, recomputed
    path.write_bytes(bytes(raw))
    with pytest.raises(ImageError) as exc:
        load(path, max_pixels=10**9)
    message = assert_one_clear_line(exc, path)
    assert "refuses images over" in message and "whatever --max-pixels says" in message


def test_max_pixels_is_overridable_both_ways(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(path)
    with pytest.raises(ImageError) as exc:
        load(path, max_pixels=1000)
    assert "64x64 (4,096 pixels), over the limit of 1,000 pixels" in assert_one_clear_line(
        exc, path
    )
    assert load(path, max_pixels=4096).pixels.shape == (64, 64)
    with pytest.raises(ValueError, match="max_pixels"):
        load(path, max_pixels=0)


def test_decoded_byte_limit_counts_samples_and_their_width(tmp_path):
    # 64x64 float64 RGB = 96 KiB: within 1,000 pixels? no; within 4,096 pixels and 8 bytes
    # a pixel (32 KiB)? no, so the byte limit is what refuses it.
    path = tmp_path / "wide.tif"
    tifffile.imwrite(path, np.zeros((64, 64, 3)), photometric="rgb")
    with pytest.raises(ImageError) as exc:
        load(path, max_pixels=4096)
    message = assert_one_clear_line(exc, path)
    assert "3 samples a pixel" in message and "over the limit of 0 MiB" in message


# --- shapes that lie ----------------------------------------------------------------------------


def test_multi_page_stack_refused_naming_the_page_count(tmp_path):
    path = tmp_path / "z.tif"
    # A 3-slice grayscale z-stack: three pages, which older code mixed down "as RGB".
    tifffile.imwrite(path, np.zeros((3, 32, 32), np.uint8), photometric="minisblack")
    with pytest.raises(ImageError) as exc:
        load(path)
    assert "holds 3 pages" in assert_one_clear_line(exc, path)


def test_planar_rgb_tiff_is_one_page_and_still_converted(tmp_path):
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, np.zeros((3, 32, 32), np.uint8), photometric="rgb", planarconfig=2)
    assert read_image_header(path).pages == 1
    assert "RGB converted to gray" in load(path).notes


def test_one_bit_png_is_binary_not_rgb(tmp_path):
    path = tmp_path / "bits.png"
    bits = np.zeros((32, 32), bool)
    bits[::2] = True
    Image.fromarray(bits).convert("1").save(path)
    got = load(path)
    assert got.notes == ("1-bit image read as binary (black 0, white 1)",)
    np.testing.assert_array_equal(got.pixels, bits.astype(np.float32))


@pytest.mark.parametrize("shape", [(1, 1), (1, 64), (64, 1), (15, 16)])
def test_tiny_images_name_the_minimum_size(tmp_path, shape):
    for suffix in (".png", ".tif"):
        path = tmp_path / f"tiny{suffix}"
        array = np.zeros(shape, np.uint8)
        Image.fromarray(array).save(path) if suffix == ".png" else tifffile.imwrite(path, array)
        with pytest.raises(ImageError) as exc:
            load(path)
        message = assert_one_clear_line(exc, path)
        assert f"image is {shape[0]}x{shape[1]}; the model needs at least 16x16" in message


# --- property-based -------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=512), suffix=st.sampled_from([".png", ".tif", ".jpg"]))
def test_random_bytes_never_escape_as_anything_but_image_error(tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    try:
        load(path)
    except ImageError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)


@FUZZ
@given(
    header=st.binary(min_size=8, max_size=8), tail=st.binary(max_size=64), which=st.integers(0, 1)
)
def test_valid_files_with_random_header_bytes(tmp_path, header, tail, which):
    # A real small image whose first bytes after the signature are replaced: header parsers
    # meet random widths, heights, offsets and counts.
    path = tmp_path / ("h.png" if which == 0 else "h.tif")
    array = np.arange(32 * 32, dtype=np.uint8).reshape(32, 32)
    Image.fromarray(array).save(path) if which == 0 else tifffile.imwrite(path, array)
    raw = bytearray(path.read_bytes())
    start = 8 if which == 0 else 4
    raw[start : start + 8] = header
    path.write_bytes(bytes(raw) + tail)
    try:
        got = load(path)
        assert got.pixels.dtype == np.float32 and np.isfinite(got.pixels).all()
    except ImageError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)


@FUZZ
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    channels=st.sampled_from([None, 1, 2, 3, 4, 5]),
    dtype=st.sampled_from(["uint8", "uint16", "int16", "int32", "float32", "float64", "bool"]),
)
def test_random_shapes_and_dtypes_load_or_say_why(tmp_path, height, width, channels, dtype):
    shape = (height, width) if channels is None else (height, width, channels)
    rng = np.random.default_rng(height * 41 + width)
    array = (rng.random(shape) * (1 if dtype.startswith("float") else 200)).astype(dtype)
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, array, photometric="rgb" if channels in (3, 4) else "minisblack")
    try:
        got = load(path)
    except ImageError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert min(height, width) >= 16
    assert got.pixels.shape[0] % 16 == 0 and got.pixels.shape[1] % 16 == 0
    assert got.pixels.min() >= 0.0 and got.pixels.max() <= 1.0
