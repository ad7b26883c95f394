"""`s`: the view as a figure for a paper: every panel titled, with its colourbar, the cursor
marked, outlines drawn, and the statistics table beside them (PNG, and PDF or SVG on request).

Matplotlib through its object API (Figure, no pyplot): no display, no global state, safe from a
worker thread. The colours are the TUI's own lookup tables and scales, so the figure shows what
the terminal showed. Plain arrays and strings in, so it is tested without an App; NaN (not
computed yet) and inf draw as missing or clipped, never raise.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
from matplotlib.colors import FuncNorm, ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from cnninterp.jaxcore.files.disk import write_atomically
from cnninterp.tui import number_text
from cnninterp.tui.pictures import colours

FORMATS = ("png", "pdf", "svg")
DPI = 150
FIGURE_INCHES = (14.0, 8.6)
PANEL_PIXELS = 480
"""About the width in screen pixels of one picture panel at DPI."""


@dataclass(frozen=True)
class FigureInputs:
    """Everything the figure shows; arrays are (H, W), None where not computed."""

    image: np.ndarray
    """Input pixels as loaded (shown stretched to their 1st-99th percentile)."""
    cursor: tuple[int, int]
    """The explained pixel (y, x)."""
    probability: np.ndarray | None = None
    """p(vessel) of every pixel."""
    predicted_mask: np.ndarray | None = None
    """Outlined in orange; None: probability > 0.5."""
    label: np.ndarray | None = None
    """Ground truth, outlined in cyan."""
    significance: np.ndarray | None = None
    """Input pixels above the threshold per output pixel; NaN where not computed yet."""
    gradient: np.ndarray | None = None
    """d p[y, x] / d image for the cursor pixel."""
    threshold: float | None = None
    """|G| above this is significant: crops the detail panel."""
    log_scale: bool = True
    """Signed-log gradient scale (as in the TUI), else linear."""
    colormap: str = colours.DIVERGING[0]
    title: str = ""
    score_label: str = "p(vessel)"
    """What the probability panel shows (seam.SegmentationModel.score_label)."""
    statistics: tuple[tuple[str, str], ...] = ()
    """(label, value) rows as cursor_statistics.statistics_rows gives them."""


def _colormap(name: str) -> ListedColormap:
    r, g, b = (c / 255.0 for c in colours.MISSING_RGB)
    cmap = ListedColormap(colours.colormap_lut(name) / 255.0, name=name)
    return cast(ListedColormap, cmap.with_extremes(bad=(r, g, b)))


def _finite(values) -> np.ndarray:
    """float copy with inf turned to NaN (drawn as missing)."""
    values = np.array(values, np.float64)
    values[~np.isfinite(values)] = np.nan
    return values


def _interpolation(values: np.ndarray) -> str:
    # Nearest keeps every pixel a sharp square while a panel has a screen pixel or more for
    # each; a larger image is antialiased rather than thinned out by skipping.
    return "nearest" if max(values.shape[:2]) <= PANEL_PIXELS else "antialiased"


def _picture(ax, title: str) -> None:
    ax.set_title(title, fontsize=10, parse_math=False)
    ax.set_xticks([])
    ax.set_yticks([])


def _not_computed(ax, title: str) -> None:
    _picture(ax, title)
    ax.text(0.5, 0.5, "not computed", ha="center", va="center", transform=ax.transAxes)


def _mark(ax, y: int, x: int) -> None:
    """A hollow square around the pixel: a one-pixel cursor is lost in a 256x256 panel."""
    colour = np.array(colours.CURSOR_RGB) / 255.0
    ax.plot(
        [x],
        [y],
        marker="s",
        markersize=9,
        markeredgewidth=2.0,
        markerfacecolor="none",
        markeredgecolor=colour,
    )


def _outline(ax, mask: np.ndarray | None, rgb, style: str, handles: list, name: str) -> None:
    mask = None if mask is None else np.asarray(mask, bool)
    if mask is None or mask.all() or not mask.any():  # no edge to draw (and no warning)
        return
    colour = tuple(c / 255.0 for c in rgb)
    ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=1.2, linestyles=style)
    handles.append(Line2D([], [], color=colour, linestyle=style, label=name))  # type: ignore[arg-type]


def gradient_norm(gradient: np.ndarray, log_scale: bool) -> tuple[Normalize, colours.SignedScale]:
    """The TUI's symmetric scale as a matplotlib norm: zero at the colormap's centre."""
    magnitude = np.abs(gradient[np.isfinite(gradient)])
    vmax = float(magnitude.max()) if magnitude.size and magnitude.max() > 0 else 1.0
    scale = colours.SignedScale(vmax, log=log_scale)
    return FuncNorm((scale.forward, scale.inverse), vmin=-vmax, vmax=vmax), scale


def detail_crop(gradient: np.ndarray, threshold: float) -> tuple[np.ndarray, int, int] | None:
    """The gradient inside the bounding box of |G| > threshold, zero below it, and the box's
    top-left (y, x); None when nothing is above."""
    above = np.abs(np.nan_to_num(gradient)) > threshold
    if not above.any():
        return None
    ys, xs = np.nonzero(above)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    return np.where(above[box], gradient[box], 0.0), int(ys.min()), int(xs.min())


def figure(inputs: FigureInputs) -> Figure:
    """The figure: image, p(vessel), significance / gradient, detail, statistics."""
    fig = Figure(figsize=FIGURE_INCHES, layout="constrained")
    axes = fig.subplots(2, 3)
    y, x = inputs.cursor
    if inputs.title:
        fig.suptitle(inputs.title, fontsize=12, parse_math=False)

    image = _finite(inputs.image)
    finite = image[np.isfinite(image)]
    lo, hi = np.percentile(finite, colours.STRETCH_PERCENTILES) if finite.size else (0.0, 1.0)
    ax = axes[0, 0]
    if image.ndim == 3:  # RGB [H, W, 3]: stretched as the TUI's image panel does, no colour bar
        stretched = colours.contrast_stretch(np.nan_to_num(image, nan=0.0))
        ax.imshow(stretched, interpolation=_interpolation(image))
        _picture(ax, "image (RGB, stretched: 1st-99th percentile)")
    else:
        shown = ax.imshow(
            image,
            interpolation=_interpolation(image),
            cmap=_colormap("gray"),
            vmin=lo,
            vmax=hi if hi > lo else lo + 1,
        )
        _picture(ax, "image")
        label = "intensity (stretched: 1st-99th percentile)"
        fig.colorbar(shown, ax=ax, shrink=0.8).set_label(label)
    _mark(ax, y, x)

    ax = axes[0, 1]
    if inputs.probability is None:
        _not_computed(ax, inputs.score_label)
    else:
        probability = _finite(inputs.probability)
        shown = ax.imshow(
            probability,
            interpolation=_interpolation(probability),
            cmap=_colormap("gray"),
            vmin=0.0,
            vmax=1.0,
        )
        fig.colorbar(shown, ax=ax, shrink=0.8).set_label(inputs.score_label)
        predicted = inputs.predicted_mask
        predicted = np.nan_to_num(probability) > 0.5 if predicted is None else predicted
        handles: list = []
        _outline(ax, predicted, colours.PREDICTED_OUTLINE_RGB, "solid", handles, "predicted")
        # dashed, so a label that coincides with the prediction still shows both
        _outline(ax, inputs.label, colours.LABEL_OUTLINE_RGB, "dashed", handles, "label")
        if handles:
            ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.8)
        _picture(ax, f"{inputs.score_label} with outlines")
        _mark(ax, y, x)

    ax = axes[0, 2]
    if inputs.significance is None:
        _not_computed(ax, "significance")
    else:
        counts = _finite(inputs.significance)
        top = float(np.nanmax(counts)) if np.isfinite(counts).any() else 0.0
        cmap = _colormap(colours.SEQUENTIAL)
        shown = ax.imshow(
            counts, interpolation=_interpolation(counts), cmap=cmap, vmin=0.0, vmax=max(top, 1.0)
        )
        fig.colorbar(shown, ax=ax, shrink=0.8).set_label("input pixels above threshold")
        _picture(ax, "significance (grey: not computed)")
        _mark(ax, y, x)

    _gradient_panels(fig, axes[1, 0], axes[1, 1], inputs)
    _statistics(axes[1, 2], inputs.statistics)
    return fig


def _gradient_panels(fig: Figure, ax, detail_ax, inputs: FigureInputs) -> None:
    y, x = inputs.cursor
    if inputs.gradient is None:
        _not_computed(ax, f"gradient d p[{y},{x}] / d image")
        _not_computed(detail_ax, "detail")
        return
    gradient = np.array(inputs.gradient, np.float64)
    norm, scale = gradient_norm(gradient, inputs.log_scale)
    gradient = np.clip(gradient, -scale.vmax, scale.vmax)  # inf -> the ends, NaN stays missing
    cmap = _colormap(inputs.colormap)
    shown = ax.imshow(gradient, interpolation=_interpolation(gradient), cmap=cmap, norm=norm)
    kind = "signed-log" if inputs.log_scale else "linear"
    _picture(ax, f"gradient d p[{y},{x}] / d image ({kind})")
    bar = fig.colorbar(shown, ax=ax, shrink=0.8)
    bar.set_ticks(scale.ticks(), labels=[number_text.format_value(t, 2) for t in scale.ticks()])
    bar.set_label("gradient (symmetric around 0)")
    _mark(ax, y, x)
    crop = None if inputs.threshold is None else detail_crop(gradient, inputs.threshold)
    if crop is None:
        why = "threshold pending" if inputs.threshold is None else "none above threshold"
        _picture(detail_ax, "detail")
        detail_ax.text(0.5, 0.5, why, ha="center", va="center", transform=detail_ax.transAxes)
        return
    values, top, left = crop
    shown = detail_ax.imshow(values, interpolation=_interpolation(values), cmap=cmap, norm=norm)
    h, w = values.shape
    title = f"detail |G| > {number_text.format_value(inputs.threshold)}: "
    _picture(detail_ax, f"{title}y {top}..{top + h - 1}, x {left}..{left + w - 1}")
    bar = fig.colorbar(shown, ax=detail_ax, shrink=0.8)
    bar.set_ticks(scale.ticks(), labels=[number_text.format_value(t, 2) for t in scale.ticks()])
    if 0 <= y - top < h and 0 <= x - left < w:
        _mark(detail_ax, y - top, x - left)


def _statistics(ax, rows) -> None:
    ax.axis("off")
    ax.set_title("statistics", fontsize=10)
    width = max((len(label) for label, _ in rows), default=0) + 2
    text = "\n".join(f"{label:<{width}}{value}" for label, value in rows)
    ax.text(0.0, 1.0, text, va="top", ha="left", family="monospace", fontsize=9, parse_math=False)


def save_figure(
    folder: Path, stem: str, inputs: FigureInputs, formats: tuple[str, ...] = ("png",)
) -> list[Path]:
    """Write folder/stem.<format> for each format, each atomically; returns the paths."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown figure format(s) {', '.join(unknown)} (not {FORMATS})")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fig = figure(inputs)
    paths = []
    for fmt in formats:
        path = folder / f"{stem}.{fmt}"
        write_atomically(path, lambda tmp, fmt=fmt: _save(fig, tmp, fmt))
        paths.append(path)
    return paths


def _save(fig: Figure, path: Path, fmt: str) -> None:
    # zlib level 1: a third of the time of the default level for a few percent more bytes
    options: dict = {"pil_kwargs": {"compress_level": 1}} if fmt == "png" else {}
    fig.savefig(path, format=fmt, dpi=DPI, **options)
