"""What each picture panel shows for the app's state: pure functions from the current image's
results to an RGB picture (or a message) and the panel's subtitle.

`colours` turns arrays into colours; this module decides which arrays, with which scale and
overlays, so the app only routes the answers to its panels, and every picture can be tested
without an App.
"""

import numpy as np

from cnninterp.jaxcore.images.loading import LoadedImage
from cnninterp.jaxcore.summaries.footprint import crop_to_footprint, footprint
from cnninterp.jaxcore.summaries.significance import fill_coarse
from cnninterp.tui import number_text
from cnninterp.tui.cursor_statistics import cursor_footprint
from cnninterp.tui.pictures import colours
from cnninterp.tui.pictures.picture_panel import Layer, Picture
from cnninterp.tui.state.image_results import ImageResults
from cnninterp.tui.state.threshold import Threshold


def image_picture(loaded: LoadedImage) -> np.ndarray:
    """The image, contrast-stretched (uint8 [H, W, 3]): gray, or in colour for an RGB image
    (one stretch for all three channels, so hues are kept)."""
    stretched = colours.contrast_stretch(loaded.pixels)
    if stretched.ndim == 3:  # RGB [H, W, 3]
        return np.round(np.nan_to_num(stretched, nan=0.0) * 255).astype(np.uint8)
    return colours.gray_rgb(stretched)


def image_title(loaded: LoadedImage, index: int, count: int) -> str:
    low, high = colours.STRETCH_PERCENTILES
    kind = " · RGB" if loaded.pixels.ndim == 3 else ""
    return f"{loaded.source.name} ({index + 1}/{count}){kind} · stretch p{low:g}-p{high:g}"


def probability_picture(view: ImageResults, overlays: bool) -> Picture | None:
    """p(vessel) in gray, with the predicted mask's and the label's outlines as layers when
    asked (painted after zooming out, by block maxima)."""
    if view.probability is None:
        return None
    rgb = colours.gray_rgb(view.probability)
    mask = view.predicted_mask
    layers: list[Layer] = []
    if overlays and mask is not None:
        layers.append((colours.outline(mask), colours.PREDICTED_OUTLINE_RGB))
        if view.loaded is not None and view.loaded.label is not None:
            layers.append((colours.outline(view.loaded.label), colours.LABEL_OUTLINE_RGB))
    return Picture(rgb, layers=tuple(layers))


def significance_picture(view: ImageResults, threshold: Threshold) -> Picture | None:
    """The counts (exact ones when computed for this threshold), None before any."""
    sig = view.significance
    if sig is None:
        return None
    exact = view.exact_for(threshold)
    counts = sig.counts if exact is None else exact
    if view.stats is not None and not view.stats.complete:
        # While the pass runs, undone pixels borrow their coarse-grid neighbour's value.
        counts = fill_coarse(counts, np.isfinite(counts))  # the rows these counts saw
    top = float(np.nanmax(counts)) if np.isfinite(counts).any() else 0.0
    rgb = colours.sequential_rgb(counts, 0.0, top, colours.SEQUENTIAL)
    estimate = "≈ " if exact is None and sig.error is not None else ""
    return Picture(rgb, subtitle=f"{estimate}0…{number_text.format_value(top)}")


def attribution_channel(attribution, channel: int | None) -> tuple[np.ndarray, str]:
    """(the map the gradient panels show of an attribution, the words its title adds): its
    values, or for an image with channels their sum (channel None) or one channel alone."""
    channels = attribution.channels
    if channels is None:
        return attribution.values, ""
    names = "RGB" if len(channels) == 3 else [f"channel {c}" for c in range(len(channels))]
    if channel is None or not 0 <= channel < len(channels):
        return attribution.values, f" · sum over {'+'.join(names)}"
    return channels[channel], f" · {names[channel]} only"


def row_scale(row: np.ndarray, log_scale: bool) -> colours.SignedScale:
    """The symmetric scale a gradient row and its detail crop are drawn with."""
    return colours.SignedScale(float(np.max(np.abs(row))), log=log_scale)


def gradient_picture(row: np.ndarray, scale: colours.SignedScale, cmap: str) -> Picture:
    kind = "log" if scale.log else "linear"
    return Picture(colours.signed_rgb(row, scale, cmap), subtitle=f"{kind} {cmap}")


def detail_picture(
    view: ImageResults,
    threshold: Threshold,
    cursor: tuple[int, int],
    row: np.ndarray,
    scale: colours.SignedScale,
    cmap: str,
) -> Picture:
    """The row cropped to its footprint, values at or below the threshold blanked."""
    y, x = cursor
    fp = cursor_footprint(view, threshold, y, x)
    if fp is None:
        return Picture(None, "threshold pending")
    crop = crop_to_footprint(row, fp)
    if crop.size == 0:
        return Picture(None, "none above threshold", subtitle="")
    shown = np.where(np.abs(crop) > fp.threshold, crop, 0.0)
    subtitle = f"y {fp.y_min}..{fp.y_max} x {fp.x_min}..{fp.x_max}"
    return Picture(colours.signed_rgb(shown, scale, cmap), subtitle=subtitle)


def attribution_detail(
    values: np.ndarray, limit: float, y: int, x: int, scale: colours.SignedScale, cmap: str
) -> Picture:
    """The attribution cropped to its footprint (|A| > limit), the rest blanked."""
    fp = footprint(values, limit, y, x)
    crop = crop_to_footprint(values, fp)
    if crop.size == 0:
        return Picture(None, "none above threshold", subtitle="")
    shown = np.where(np.abs(crop) > limit, crop, 0.0)
    subtitle = f"y {fp.y_min}..{fp.y_max} x {fp.x_min}..{fp.x_max}"
    return Picture(colours.signed_rgb(shown, scale, cmap), subtitle=subtitle)
