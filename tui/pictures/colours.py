"""Arrays -> colours: colormaps, the signed scale of gradients, gray images, outlines, and
the colour bar's ramp and ticks.

Pure NumPy and Rich, no widgets and no App, so every picture the TUI shows can be tested on
its own. The pipeline is: values -> [0, 1] or [-1, 1] (a scale) -> RGB uint8 (a colormap,
outlines painted on top) -> half_blocks.py (terminal cells) or terminal_picture.py (Kitty,
Sixel). Nearest, never smoothing: one image pixel must stay one sharp block.
"""

from dataclasses import dataclass
from functools import cache

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style

from cnninterp.tui.number_text import NO_DATA, format_value

# ColorBrewer anchors, low -> high. RdBu and PuOr are rated colour-blind safe; RdYlGn (the
# original app's map) is not, which is why it is an option rather than the default.
_ANCHORS: dict[str, str] = {
    "RdBu": "053061 2166ac 4393c3 92c5de d1e5f0 f7f7f7 fddbc7 f4a582 d6604d b2182b 67001f",
    "PuOr": "2d004b 542788 8073ac b2abd2 d8daeb f7f7f7 fee0b6 fdb863 e08214 b35806 7f3b08",
    "RdYlGn": "a50026 d73027 f46d43 fdae61 fee08b ffffbf d9ef8b a6d96a 66bd63 1a9850 006837",
    "viridis": "440154 482878 3e4989 31688e 26828e 1f9e89 35b779 6ece58 b5de2b fde725",
    "gray": "000000 ffffff",
}
DIVERGING = ("RdBu", "PuOr", "RdYlGn")
"""Diverging maps in the order `c` cycles them; the first is the default."""
SEQUENTIAL = "viridis"
MISSING_RGB = (48, 48, 48)
"""Colour of a value that is not computed yet (NaN)."""
CURSOR_RGB = (255, 0, 255)
PREDICTED_OUTLINE_RGB = (255, 140, 0)
LABEL_OUTLINE_RGB = (0, 255, 255)


@cache
def colormap_lut(name: str) -> np.ndarray:
    """A 256-entry RGB uint8 table interpolated linearly between the map's anchors."""
    anchors = np.array([[int(h[i : i + 2], 16) for i in (0, 2, 4)] for h in _ANCHORS[name].split()])
    positions = np.linspace(0.0, 1.0, len(anchors))
    t = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(t, positions, anchors[:, c]) for c in range(3)], axis=-1)
    lut = np.round(lut).astype(np.uint8)  # (256, 3)
    lut.flags.writeable = False
    return lut


def apply_colormap(unit: np.ndarray, name: str) -> np.ndarray:
    """Values in [0, 1] (NaN allowed) -> RGB uint8 [..., 3]; NaN becomes MISSING_RGB."""
    unit = np.asarray(unit, np.float64)
    missing = ~np.isfinite(unit)
    index = np.round(np.clip(np.nan_to_num(unit), 0.0, 1.0) * 255).astype(np.intp)
    rgb = colormap_lut(name)[index]
    rgb[missing] = MISSING_RGB
    return rgb


# ---- scales -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedScale:
    """Maps a signed value to [-1, 1], symmetric around zero.

    Linear divides by `vmax`. Signed-log keeps `decades` orders of magnitude below `vmax`
    visible: gradients of a trained model fall off by orders of magnitude within a few pixels,
    and on a linear scale only the nearest handful would show.
    """

    vmax: float
    """Largest |value| (maps to +-1); 0 means all values are zero."""
    log: bool = False
    """Signed-log instead of linear."""
    decades: float = 4.0
    """Orders of magnitude shown by the log scale; smaller values map to 0."""

    @property
    def linthresh(self) -> float:
        return self.vmax * 10.0**-self.decades

    @property
    def has_data(self) -> bool:
        """False when vmax is NaN or infinite (a broken model): nothing can be scaled."""
        return bool(np.isfinite(self.vmax))

    def forward(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, np.float64)
        if not self.has_data:
            return np.full_like(v, np.nan)  # NaN renders as MISSING_RGB: "no data"
        if self.vmax <= 0:
            return np.zeros_like(v)
        if not self.log:
            return np.clip(v / self.vmax, -1.0, 1.0)
        lt = self.linthresh
        out = np.sign(v) * np.log10(1.0 + np.abs(v) / lt) / np.log10(1.0 + self.vmax / lt)
        return np.clip(out, -1.0, 1.0)

    def inverse(self, unit: np.ndarray) -> np.ndarray:
        u = np.asarray(unit, np.float64)
        if not self.log:
            return u * self.vmax
        lt = self.linthresh
        return np.sign(u) * lt * (10.0 ** (np.abs(u) * np.log10(1.0 + self.vmax / lt)) - 1.0)

    def ticks(self) -> list[float]:
        """Values worth a label: the ends, zero, and (log) the decades in between."""
        if not self.has_data:
            return []
        if self.vmax <= 0:
            return [0.0]
        if not self.log:
            return [-self.vmax, -self.vmax / 2, 0.0, self.vmax / 2, self.vmax]
        decades = [self.vmax * 10.0**-k for k in range(1, int(self.decades))]
        return [-self.vmax, *[-d for d in decades[:2]], 0.0, *decades[:2][::-1], self.vmax]


def signed_rgb(values: np.ndarray, scale: SignedScale, cmap: str) -> np.ndarray:
    """Signed values -> RGB with a diverging map, zero at the map's centre."""
    with np.errstate(invalid="ignore"):  # NaN gradients stay NaN: MISSING_RGB
        return apply_colormap((scale.forward(values) + 1.0) / 2.0, cmap)


def sequential_rgb(values: np.ndarray, vmin: float, vmax: float, cmap: str) -> np.ndarray:
    """Values in [vmin, vmax] -> RGB with a sequential map; NaN stays MISSING_RGB."""
    span = vmax - vmin if vmax > vmin else 1.0
    with np.errstate(invalid="ignore"):
        return apply_colormap((np.asarray(values, np.float64) - vmin) / span, cmap)


def gray_rgb(pixels: np.ndarray) -> np.ndarray:
    """An image in [0, 1] as gray RGB (NaN as black: never a cast of NaN to an integer)."""
    g = np.round(np.clip(np.nan_to_num(pixels, nan=0.0), 0.0, 1.0) * 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


STRETCH_PERCENTILES = (1.0, 99.0)
"""The image panel maps these percentiles of the image to black and white."""


def contrast_stretch(pixels: np.ndarray, percentiles=STRETCH_PERCENTILES) -> np.ndarray:
    """Pixels rescaled so the low percentile is 0 and the high one 1 (clipped): dark
    microscopy images are otherwise nearly black. A flat image is left as it is."""
    lo, hi = np.percentile(pixels, percentiles)
    if not hi > lo:
        return np.clip(pixels, 0.0, 1.0)
    return np.clip((pixels - lo) / (hi - lo), 0.0, 1.0)


def outline(mask: np.ndarray) -> np.ndarray:
    """The pixels of `mask` that touch a pixel outside it (4-neighbourhood, edges count)."""
    m = np.asarray(mask, bool)
    padded = np.pad(m, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return m & ~interior


def colorbar_text(scale: SignedScale, cmap: str, width: int) -> tuple[list[Segment], str]:
    """A `width`-cell colour ramp and a label line with the scale's ticks under their cells.

    A scale without data (NaN or infinite vmax, from a broken model) gives the ramp and the
    label NO_DATA instead of ticks: never an exception."""
    width = max(width, 1)
    unit = np.linspace(-1.0, 1.0, width)
    rgb = apply_colormap((unit + 1.0) / 2.0, cmap).tolist()
    ramp = [Segment(" ", Style.from_color(None, Color.from_rgb(*c))) for c in rgb]
    if not scale.has_data:
        return ramp, NO_DATA.center(width)[:width]
    labels = [" "] * width
    # Ticks go in symmetric pairs (-t and t both, or neither), so the bar never reads as
    # lopsided; the ends and zero first, so they win when labels would collide.
    magnitudes = sorted(
        {abs(t) for t in scale.ticks()}, key=lambda m: (m not in (0.0, scale.vmax), -m)
    )
    for magnitude in magnitudes:
        placed = []
        for tick in {magnitude, -magnitude}:
            u = float(scale.forward(np.array(tick)))
            if not np.isfinite(u):
                continue
            pos = int(round((u + 1.0) / 2.0 * (width - 1)))
            text = format_value(tick, 2)
            start = min(max(0, pos - len(text) // 2), max(0, width - len(text)))
            placed.append((start, text))
        taken = list(labels)
        fits = True
        for start, text in placed:
            if not all(c == " " for c in taken[max(0, start - 1) : start + len(text) + 1]):
                fits = False
                break
            taken[start : start + len(text)] = text
        if fits:
            labels = taken
    return ramp, "".join(labels)[:width]
