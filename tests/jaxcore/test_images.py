"""jaxcore.images.loading: folder layouts, pixel types, fitting to multiples of 16, and errors."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from cnninterp.jaxcore.images.loading import ImageError, ImageSource, find_images, load_image

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def save_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def ramp(h: int = 32, w: int = 32) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) % 256).astype(np.uint8)


def load(path: Path, fit="pad"):
    return load_image(ImageSource(path.stem, path, None), fit=fit)


# --- finding -------------------------------------------------------------------------------


def test_flat_folder_sorted_naturally_and_ignores_other_files(tmp_path):
    for name in ["image_10.png", "image_2.png", "b.tif", "a.jpg"]:
        save_png(tmp_path / name, ramp())
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"")
    sources = find_images(tmp_path)
    assert [s.name for s in sources] == ["a", "b", "image_2", "image_10"]
    assert all(s.label_path is None for s in sources)


def test_images_labels_layout_matches_by_stem(tmp_path):
    save_png(tmp_path / "images" / "001.png", ramp())
    save_png(tmp_path / "images" / "002.png", ramp())
    save_png(tmp_path / "labels" / "001.png", np.zeros((32, 32), np.uint8))
    sources = find_images(tmp_path)
    assert [(s.name, s.label_path) for s in sources] == [
        ("001", tmp_path / "labels" / "001.png"),
        ("002", None),
    ]
    # Pointing at images/ itself still finds the sibling labels/.
    assert find_images(tmp_path / "images") == sources


def test_same_stem_keeps_names_distinct(tmp_path):
    save_png(tmp_path / "a.png", ramp())
    tifffile.imwrite(tmp_path / "a.tif", ramp())
    assert [s.name for s in find_images(tmp_path)] == ["a.png", "a.tif"]


def test_single_file_is_accepted(tmp_path):
    path = save_png(tmp_path / "one.png", ramp())
    assert find_images(path) == [ImageSource("one", path, None)]


@pytest.mark.parametrize("make", ["missing", "empty", "text"])
def test_find_errors_name_the_folder(tmp_path, make):
    folder = tmp_path / "data"
    if make != "missing":
        folder.mkdir()
    if make == "text":
        (folder / "readme.txt").write_text("no images")
    with pytest.raises(ImageError, match="data"):
        find_images(folder)


# --- pixel types ---------------------------------------------------------------------------


def test_uint8_scaled_by_255_and_kept_exact(tmp_path):
    a = ramp()
    got = load(save_png(tmp_path / "a.png", a))
    assert got.pixels.dtype == np.float32 and got.pixels.shape == (32, 32)
    np.testing.assert_array_equal(got.pixels, a.astype(np.float32) / 255)
    assert got.notes == () and got.original_shape == (32, 32) and got.label is None


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_uint16_scaled_by_65535(tmp_path, suffix):
    a = (np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16)
    path = tmp_path / f"a{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(path, a)
    else:
        Image.fromarray(a).save(path)
    got = load(path)
    np.testing.assert_allclose(got.pixels, a / 65535, rtol=1e-6)
    assert any("16-bit" in n for n in got.notes)


@pytest.mark.parametrize("channels", [3, 4])
def test_colour_converted_to_gray_with_a_note(tmp_path, channels):
    rgb = np.zeros((32, 32, channels), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    if channels == 4:
        rgb[..., 3] = 255
    got = load(save_png(tmp_path / "c.png", rgb))
    expected = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255
    np.testing.assert_allclose(got.pixels, expected, atol=1 / 255)
    assert any("converted to gray" in n for n in got.notes)


def test_jpeg_and_float_tiff(tmp_path):
    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(tmp_path / "j.jpg")
    assert abs(load(tmp_path / "j.jpg").pixels.mean() - 128 / 255) < 0.01
    f = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    tifffile.imwrite(tmp_path / "f.tiff", f)
    np.testing.assert_array_equal(load(tmp_path / "f.tiff").pixels, f)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_rejected(tmp_path, bad):
    f = np.zeros((32, 32), np.float32)
    f[3, 4] = bad
    tifffile.imwrite(tmp_path / "nan.tif", f)
    with pytest.raises(ImageError, match="nan.tif.*NaN or infinite"):
        load(tmp_path / "nan.tif")


def test_float_outside_unit_interval_rejected(tmp_path):
    tifffile.imwrite(tmp_path / "big.tif", np.full((32, 32), 3.0, np.float32))
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        load(tmp_path / "big.tif")


def test_stack_rejected(tmp_path):
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((5, 32, 32), np.uint8))
    with pytest.raises(ImageError, match="stack.tif"):
        load(tmp_path / "stack.tif")


# --- sizes ---------------------------------------------------------------------------------


def test_pad_to_multiple_of_16_keeps_coordinates(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (70, 37), dtype=np.uint8)
    got = load(save_png(tmp_path / "odd.png", a), fit="pad")
    assert got.pixels.shape == (80, 48) and got.original_shape == (70, 37)
    np.testing.assert_array_equal(got.pixels[:70, :37], a / np.float32(255))
    # Reflection: the first padded row mirrors the row before the last one.
    np.testing.assert_array_equal(got.pixels[70, :37], got.pixels[68, :37])
    assert any("padded 70x37 -> 80x48" in n and "reflect" in n for n in got.notes)


def test_crop_is_centred(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (70, 37), dtype=np.uint8)
    got = load(save_png(tmp_path / "odd.png", a), fit="crop")
    assert got.pixels.shape == (64, 32)
    np.testing.assert_array_equal(got.pixels, a[3:67, 2:34] / np.float32(255))
    assert any("cropped 70x37 -> 64x32" in n for n in got.notes)


def test_too_small_rejected(tmp_path):
    with pytest.raises(ImageError, match="tiny.png.*15x40.*at least 16x16"):
        load(save_png(tmp_path / "tiny.png", ramp(15, 40)))


# --- labels --------------------------------------------------------------------------------


@pytest.mark.parametrize("top", [1, 255])
def test_label_read_as_bool_and_fitted_like_the_image(tmp_path, top):
    mask = np.zeros((40, 40), np.uint8)
    mask[5:20, 7:9] = top
    img = save_png(tmp_path / "images" / "x.png", ramp(40, 40))
    lab = save_png(tmp_path / "labels" / "x.png", mask)
    got = load_image(ImageSource("x", img, lab))
    assert got.label.dtype == np.bool_ and got.label.shape == got.pixels.shape == (48, 48)
    np.testing.assert_array_equal(got.label[:40, :40], mask > 0)


def test_a_label_of_class_indices_marks_the_explained_class(tmp_path):
    classes = np.zeros((32, 32), np.uint8)
    classes[4:9, :] = 1  # vessel
    classes[20:24, :] = 2  # artery
    img = save_png(tmp_path / "images" / "x.png", ramp(32, 32))
    lab = save_png(tmp_path / "labels" / "x.png", classes)
    got = load_image(ImageSource("x", img, lab), label_class=(2, 3))
    np.testing.assert_array_equal(got.label, classes == 2)
    assert any("class indices 0..2: class 2" in n for n in got.notes)
    # A two-class model, or values beyond the class count: the two-valued rule, as before.
    before = load_image(ImageSource("x", img, lab)).label
    for label_class in ((1, 2), (0, 2)):
        mask = load_image(ImageSource("x", img, lab), label_class=label_class).label
        np.testing.assert_array_equal(mask, before)
    classes[0, 0] = 7  # not an index of three classes
    lab = save_png(tmp_path / "labels" / "x.png", classes)
    mask = load_image(ImageSource("x", img, lab), label_class=(2, 3)).label
    np.testing.assert_array_equal(mask, load_image(ImageSource("x", img, lab)).label)


def test_label_of_wrong_size_rejected(tmp_path):
    img = save_png(tmp_path / "x.png", ramp(32, 32))
    lab = save_png(tmp_path / "x_label.png", np.zeros((16, 16), np.uint8))
    with pytest.raises(ImageError, match="x_label.png.*16x16.*32x32"):
        load_image(ImageSource("x", img, lab))


# --- unreadable files ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.png", "junk.tif", "cut.png", "fake.jpg"])
def test_corrupt_files_raise_image_error_naming_the_file(tmp_path, name):
    path = tmp_path / name
    if name == "cut.png":
        save_png(path, np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
        path.write_bytes(path.read_bytes()[:100])
    else:
        path.write_bytes(b"" if name == "empty.png" else b"this is not an image" * 10)
    with pytest.raises(ImageError, match=name):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load(tmp_path / "gone.png")


# --- the real data, when this machine has it -----------------------------------------------


def test_vessmap_layout():
    folder = SHARED / "vessmap"
    if not folder.is_dir():
        pytest.skip(f"VessMAP not present at {folder}")
    sources = find_images(folder)
    assert len(sources) == 100 and all(s.label_path is not None for s in sources)
    got = load_image(sources[0])
    assert got.pixels.shape == (256, 256) and got.notes == ()
    assert got.label is not None and 0.02 < got.label.mean() < 0.6
    assert got.pixels[got.label].mean() > got.pixels[~got.label].mean()


def test_crops64():
    folder = SHARED / "crops64"
    if not folder.is_dir():
        pytest.skip(f"crops64 not present at {folder}")
    sources = find_images(folder)
    assert [s.name for s in sources] == [f"image_{i}" for i in range(5)]
    assert all(load_image(s).pixels.shape == (64, 64) for s in sources)
