"""Explainer: one model, compiled once, answering probability maps, gradient rows and
full-Jacobian statistics for any number of images.

This is the public front: it checks its inputs and answers interactive calls (probability,
rows) itself, on the first device and ahead of any running pass; the full passes
(full_passes.py) run on the streaming engine (streaming.py), which chunks them through every
device. The jitted functions take the image's forward results (binding.ForwardCache) and the
pixel as traced arguments; the model's variables are compile-time constants on the CPU and
arguments on GPUs (binding.py). Rows go on crops of the receptive field where those are
smaller than the image (crops.py); a pass that follows the cursor keeps the crop rows it
computes (kept_rows.py), so a cursor move onto one is a paste.
"""

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float
from numpy.typing import ArrayLike

from cnninterp.jaxcore.files.disk import file_sha256
from cnninterp.jaxcore.model.generic import graph_model
from cnninterp.jaxcore.model.graph_file import load_graph_model, model_kind
from cnninterp.jaxcore.model.model_file import ModelFileError, load_model
from cnninterp.jaxcore.model.network import ModelConfig
from cnninterp.jaxcore.model.seam import SegmentationModel
from cnninterp.jaxcore.model.seed import seed_architecture, seed_model
from cnninterp.jaxcore.passes.binding import ForwardCache, bind_model, image_key
from cnninterp.jaxcore.passes.devices import DeviceChoice, select_devices
from cnninterp.jaxcore.passes.full_passes import FullPasses
from cnninterp.jaxcore.passes.kept_rows import KeptRows
from cnninterp.jaxcore.passes.kernels import PassKernels
from cnninterp.jaxcore.passes.order import Focus
from cnninterp.jaxcore.passes.streaming import StreamingEngine
from cnninterp.jaxcore.rows import crops
from cnninterp.jaxcore.rows.kit import row_kit
from cnninterp.jaxcore.summaries.significance import JacobianStats


def check_image(pixels, size_multiple: int, channels: int = 1) -> np.ndarray:
    """float32 [H, W] (gray: any model, repeated over a model's channels), or [H, W, C] for a
    model of C > 1 input `channels`, with finite values and sides that are multiples of the
    model's `size_multiple` (16 for the seed); else ValueError."""
    pixels = np.asarray(pixels, np.float32)
    if pixels.ndim == 3 and channels > 1:
        if pixels.shape[-1] != channels:
            raise ValueError(
                f"expected an image [H, W, {channels}] (or gray [H, W]) for a model of "
                f"{channels} input channels, got shape {pixels.shape}"
            )
    elif pixels.ndim != 2:
        wanted = "a grayscale image [H, W]" if channels == 1 else f"[H, W, {channels}] or [H, W]"
        raise ValueError(f"expected {wanted}, got shape {pixels.shape}")
    if any(s % size_multiple or s == 0 for s in pixels.shape[:2]):
        raise ValueError(
            f"image size {pixels.shape[0]}x{pixels.shape[1]} is not a multiple of "
            f"{size_multiple}: pad or crop it (cnninterp.jaxcore.images.loading.load_image does)"
        )
    if not np.isfinite(pixels).all():
        raise ValueError("image has non-finite pixels (NaN or inf)")
    return pixels


@dataclass
class RowFunctions:
    """The compiled row functions of one model (binding.bind_model); tests may wrap one."""

    row: Callable
    """(probs, masks, y, x) -> the row [H, W] of one pixel, on the whole image."""
    rows_on_image: Callable
    """(probs, masks, ys, xs) -> rows [N, H, W], on the whole image, in one vmapped call."""
    rows_on_crops: Callable
    """(crop probs, crop masks, ys, xs in crop coordinates) -> crop rows [N, h, w]; compiled
    per crop size, not per image size."""
    crop_inputs: Callable
    """crops.crop_inputs: the forward results of N crops."""

    def compilations(self) -> dict[str, int]:
        """Programs each row function bound to the model has compiled so far (one per shape
        of its inputs)."""
        names = ("row", "rows_on_image", "rows_on_crops")
        # jax.jit's count; with the weights as arguments (GPUs) bind_model hands a partial of it
        jitted = {name: getattr(self, name) for name in names}
        return {name: getattr(fn, "func", fn)._cache_size() for name, fn in jitted.items()}


class Explainer:
    """One model, compiled once, explaining any number of images of any size.

    Answers, for an image float32 [H, W] (H, W multiples of the model's size multiple), or
    [H, W, C] for a model of C > 1 input channels (rows are then d p / d brightness, the sum
    of d p / d image[..., c] over the channels: rows/generic.py):
    `probability` (p of the explained class per pixel), `gradient_row` / `gradient_rows`
    (d p[y, x] / d image, exactly), `jacobian_stats` (summaries of every row of J, streamed
    coarse-to-fine with progress and cancelling) and `exact_counts` (a second pass for large
    images). It may be called from several threads at once: interactive calls (probability,
    rows) overtake a running full pass between its chunks.

    `model` comes through the seam (model/seam.py); a ModelConfig with its `variables` is the
    seed architecture (seed.seed_model). The seed's record selects its exact fast paths (the
    masked network's rows, windows, crops, columns), the only rows there are so far.

    Construction places the weights on the first device; compiling happens per image size on
    first use (or in `warm_up`). `chunk_size` pins the number of colours (columns) per chunk;
    otherwise each image size gets what fits the memory budget, halved for that size alone
    when the device runs out of memory. `full_pass` and `weights_as_constants` default to
    what was measured fastest on the device's platform (benchmarks/RESULTS.md).

    Public parts for tools, tests and benchmarks: `engine` (streaming.StreamingEngine: chunk
    sizes, interactive priority, `run`), `passes` (full_passes.FullPasses, with its bound chunk
    functions in `passes.kernels`), `rows` (RowFunctions) and `forward` (the forward cache).
    """

    def __init__(
        self,
        model: SegmentationModel | ModelConfig,
        variables: dict | None = None,
        *,
        chunk_size: int | None = None,
        weights_as_constants: bool | None = None,
        full_pass: str | None = None,
        model_sha256: str | None = None,
        devices: DeviceChoice = None,
    ):
        if isinstance(model, ModelConfig):  # the seed architecture, as its callers hold it
            if variables is None:
                raise TypeError("Explainer(config, variables): the seed needs its variables")
            model = seed_model(model, variables)
        self.config = seed_architecture(model) if model.architecture is not None else None
        """The seed's ModelConfig; None for any other model."""
        self.model_sha256 = model_sha256
        self.source: Path | None = None
        """The model file it was loaded from (from_file), to open it again for another class."""
        self.engine = StreamingEngine(
            select_devices(devices),
            row_bytes_per_pixel=model.row_bytes_per_pixel,
            chunk_size=chunk_size,
        )
        self.devices = self.engine.devices
        """Every device the full pass spreads over; interactive calls use the first."""
        self.device = self.engine.device
        self.device_name = self.engine.device_name
        self.spread = self.engine.spread
        self.variables = jax.device_put(model.params, self.device)
        self.model = replace(model, params=self.variables)
        """The model through the seam (model/seam.py), its parameters on the first device."""
        if weights_as_constants is None:  # measured: 2x faster on XLA:CPU; see RESULTS.md
            weights_as_constants = self.device.platform == "cpu"
        self.weights_as_constants = weights_as_constants
        self.kit = row_kit(self.model)
        """The functions that compute this model's rows (rows/kit.py)."""
        if full_pass is None:  # measured: columns 1.6x faster on XLA:CPU; see RESULTS.md
            full_pass = "columns" if self.device.platform == "cpu" else "rows"
        if not self.kit.columns:  # no column function for this model
            full_pass = "rows"
        if full_pass not in ("rows", "columns"):
            raise ValueError(f"full_pass must be 'rows' or 'columns', not {full_pass!r}")
        bind = bind_model(self.model, constants=weights_as_constants)
        self.rows = RowFunctions(
            row=bind(self.kit.gradient_row),
            rows_on_image=bind(self.kit.rows_on_image),
            rows_on_crops=bind(self.kit.rows_on_crops),
            crop_inputs=jax.jit(self.kit.crop_inputs, static_argnums=(4, 5)),
        )
        self.forward = ForwardCache(bind(self.kit.forward))
        self.kept_rows = KeptRows()
        """Rows computed on crops (by a focus-following pass or asked for): a cursor move onto
        one is a paste."""
        kernels = PassKernels.bound(self.model, self.spread, constants=weights_as_constants)
        self.passes = FullPasses(
            self.engine, kernels, self.forward, self.kept_rows, full_pass=full_pass
        )

    @property
    def description(self) -> dict:
        """What the model computes, JSON-ready, for cache keys and provenance: the seed's
        ModelConfig, or any other model's classes, activation and explained class."""
        if self.config is not None:
            return asdict(self.config)
        model = self.model
        return {
            "classes": model.classes,
            "explained_class": model.explained_class,
            "activation": model.activation,
            "input_channels": model.input_channels,
            "fingerprint": model.fingerprint,
        }

    @property
    def full_pass(self) -> str:
        """'rows' or 'columns': how the full pass goes at exact sizes (full_passes.py)."""
        return self.passes.full_pass

    def device_summary(self) -> str:
        """What each device is doing, for a status line: 'GPU 0 rows+pass, 1-3 pass'."""
        return self.engine.device_summary()

    @classmethod
    def from_file(cls, path: Path, *, vessel_class: int | None = None, **kwargs) -> "Explainer":
        """Load a model file, the seed's or any exported model's (model/graph_file.py);
        `vessel_class` picks the explained output channel."""
        try:
            kind = model_kind(path)
        except ModelFileError:
            kind = "seed"  # whose loader says what is wrong with the file
        if kind == "graph":
            loaded = load_graph_model(path)
            if vessel_class is not None and not 0 <= vessel_class < loaded.config.classes:
                raise ValueError(
                    f"class {vessel_class} does not exist: the model has "
                    f"{loaded.config.classes} classes"
                )
            explainer = cls(
                graph_model(loaded, vessel_class), model_sha256=file_sha256(path), **kwargs
            )
            explainer.source = Path(path)
            return explainer
        config, variables, _ = load_model(path)
        if vessel_class is not None:
            if not 0 <= vessel_class < config.classes:
                raise ValueError(
                    f"class {vessel_class} does not exist: the model has {config.classes} classes"
                )
            config = replace(config, vessel_class=vessel_class)
        explainer = cls(seed_model(config, variables), model_sha256=file_sha256(path), **kwargs)
        explainer.source = Path(path)
        return explainer

    def warm_up(self, height: int, width: int, *, full_pass: bool = True) -> None:
        """Compile for this image size: rows, and the full pass's chunks unless told not to
        (the TUI shows its first row sooner and lets the pass compile its own)."""
        blank = self.blank_image(height, width)
        self.gradient_row(blank, 0, 0)
        if full_pass:
            self.passes.warm_up(blank)

    def blank_image(self, height: int, width: int) -> np.ndarray:
        """Zeros shaped as this model's images: [H, W], or [H, W, C] for C > 1 channels (3)."""
        channels = self.model.input_channels
        shape = (height, width) if channels == 1 else (height, width, channels)
        return np.zeros(shape, np.float32)

    def check_image(self, pixels) -> np.ndarray:
        """check_image for this model's size multiple and input channels."""
        return check_image(pixels, self.model.size_multiple, self.model.input_channels)

    def linearised(self, pixels) -> tuple:
        """(class probabilities [H, W, C], ReLU masks) of an image, on the device and cached
        for the last few images: what every row, pass and attribution starts from."""
        pixels = self.check_image(pixels)
        with self.engine.priority():
            return self.forward.get(pixels)

    def probability(self, pixels: Float[np.ndarray, "H W *channels"]) -> Float[np.ndarray, "H W"]:
        """float32 [H, W]: p(vessel) of every pixel."""
        with self.engine.priority():
            probs, _ = self.forward.get(self.check_image(pixels))
            return np.asarray(probs[..., self.model.explained_class])

    def gradient_row(
        self, pixels: Float[np.ndarray, "H W *channels"], y: int, x: int
    ) -> Float[np.ndarray, "H W"]:
        """float32 [H, W]: d p[y, x] / d image, exactly (on the pixel's receptive field where
        that is smaller than the image: crops.py)."""
        pixels = self.check_image(pixels)
        _check_pixel(pixels.shape, y, x)
        if self.kit.is_cropped(*pixels.shape[:2]):
            return self.gradient_rows(pixels, [(y, x)])[0]
        with self.engine.priority(hold=True):
            probs, masks = self.forward.get(pixels)
            return np.asarray(self.rows.row(probs, masks, jnp.int32(y), jnp.int32(x)))

    def gradient_rows(
        self, pixels: Float[np.ndarray, "H W *channels"], pixels_yx: ArrayLike
    ) -> Float[np.ndarray, "N H W"]:
        """float32 [N, H, W]: the rows of the given (y, x) pairs, in order, computed in
        vmapped chunks (on crops where those are smaller than the image), or pasted from the
        rows a focus-following pass kept."""
        pixels = self.check_image(pixels)
        pixels_yx = np.asarray(pixels_yx, np.int64).reshape(-1, 2)
        for y, x in pixels_yx:
            _check_pixel(pixels.shape, y, x)
        height, width = pixels.shape[:2]
        rows = np.zeros((len(pixels_yx), height, width), np.float32)
        image = image_key(pixels)
        wanted = [
            i
            for i, (y, x) in enumerate(pixels_yx)
            if not self.kept_rows.paste(image, int(y), int(x), rows[i])
        ]
        limit = crops.ROWS_PER_CALL[self.engine.platform]
        for first in range(0, len(wanted), limit):
            indices = wanted[first : first + limit]
            part = pixels_yx[indices]
            batch = 1 << (len(part) - 1).bit_length()  # a power of two: few compilations
            padded = np.concatenate([part, np.repeat(part[-1:], batch - len(part), 0)])
            with self.engine.priority(hold=True):
                chunk = self._row_chunk(pixels, padded, image)
            rows[indices] = chunk[: len(part)]
        return rows

    def _row_chunk(self, pixels, pixels_yx, image: str) -> np.ndarray:
        """Rows [N, H, W] of one chunk of pixels, on crops (then kept: the cursor may come
        back) or on the whole image."""
        height, width = pixels.shape[:2]
        probs, masks = self.forward.get(pixels, image)
        ys, xs = pixels_yx[:, 0], pixels_yx[:, 1]
        if not self.kit.is_cropped(height, width):
            traced = jnp.asarray(ys, jnp.int32), jnp.asarray(xs, jnp.int32)
            return np.asarray(self.rows.rows_on_image(probs, masks, *traced))
        origins_y, origins_x = self.kit.crop_origins(ys, xs, height, width)
        crop_h, crop_w = self.kit.crop_shape(height, width)
        crop_probs, crop_masks = self.rows.crop_inputs(
            probs, masks, origins_y, origins_x, crop_h, crop_w
        )
        local = (jnp.asarray(ys - origins_y, jnp.int32), jnp.asarray(xs - origins_x, jnp.int32))
        crop_rows = np.asarray(self.rows.rows_on_crops(crop_probs, crop_masks, *local))
        self.kept_rows.put(image, ys, xs, crop_rows, origins_y, origins_x)
        out = np.empty((len(pixels_yx), height, width), np.float32)
        crops.paste_rows(crop_rows, origins_y, origins_x, out)
        return out

    def jacobian_stats(
        self,
        pixels,
        *,
        on_progress: Callable[[JacobianStats], None] | None = None,
        cancel: threading.Event | None = None,
        focus: Focus | None = None,
        resume: JacobianStats | None = None,
    ) -> JacobianStats:
        """Summaries of every row of J, streamed coarse-to-fine (partial if cancelled).

        focus: the pixel the user looks at, re-read between chunks: a pass pixel by pixel (on
        crops) does the rows around it first (order.py); passes by colours cover the whole
        image in every chunk, so there it changes nothing. resume: a partial result of this
        image (same model) to continue; its rows are kept and skipped, and it is filled in
        place and returned."""
        return self.passes.jacobian_stats(
            self.check_image(pixels),
            on_progress=on_progress,
            cancel=cancel,
            focus=focus,
            resume=resume,
        )

    def exact_counts(
        self, pixels, thresholds, *, rows=None, on_progress=None, cancel=None
    ) -> np.ndarray | None:
        """float32 [H, W]: exact #(|G| > thresholds[y, x]) of every row, by a second pass.

        For images whose statistics are histograms; None if cancelled. rows: bool [H, W], the
        rows to count (those a partial first pass has done); the others stay NaN and are not
        computed. Like the first pass, it goes pixel by pixel on crops where that one does,
        else by colours (a colour with no wanted member is skipped)."""
        pixels = self.check_image(pixels)
        wanted = np.ones(pixels.shape[:2], bool) if rows is None else np.asarray(rows, bool)
        if wanted.shape != pixels.shape[:2]:
            raise ValueError(f"rows: a mask of {wanted.shape}, image of {pixels.shape}")
        return self.passes.exact_counts(
            pixels, thresholds, wanted, on_progress=on_progress, cancel=cancel
        )


def _check_pixel(shape, y, x) -> None:
    if not (0 <= y < shape[0] and 0 <= x < shape[1]):
        raise ValueError(f"pixel ({y}, {x}) is outside the {shape[0]}x{shape[1]} image")
