"""`s`: write the current view as a PNG of the panels, the arrays (.npz) and the numbers (.json).

Each file is written to a temporary name and renamed into place, so a reader never sees half a
file; the three share one stem: IMAGE_yY_xX_TIMESTAMP.
"""

import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from cnninterp.jaxcore.model_file import write_atomically
from cnninterp.tui import render

PANEL_PIXELS = 256
"""Each panel is enlarged (nearest) to about this many pixels on its longer side."""
GAP = 8


def _enlarged(rgb: np.ndarray) -> np.ndarray:
    factor = max(1, PANEL_PIXELS // max(rgb.shape[:2]))
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def panels_picture(panels: list[np.ndarray]) -> np.ndarray:
    """Panels side by side on a dark background, top-aligned."""
    big = [_enlarged(p) for p in panels]
    height = max(p.shape[0] for p in big)
    width = sum(p.shape[1] for p in big) + GAP * (len(big) + 1)
    out = np.full((height + 2 * GAP, width, 3), 24, np.uint8)
    left = GAP
    for p in big:
        out[GAP : GAP + p.shape[0], left : left + p.shape[1]] = p
        left += p.shape[1] + GAP
    return out


def view_panels(view, cursor, log_scale: bool, cmap: str) -> tuple[list[np.ndarray], dict]:
    """RGB panels (image, p, significance, gradient row) and the arrays behind them."""
    y, x = cursor
    arrays: dict = {"image": view.loaded.pixels, "cursor_yx": np.array(cursor)}
    panels = [render.gray_rgb(render.contrast_stretch(view.loaded.pixels))]
    if view.probability is not None:
        arrays["probability"] = view.probability
        panels.append(render.gray_rgb(view.probability))
    if view.loaded.label is not None:
        arrays["label"] = view.loaded.label
    if view.significance is not None:
        counts = view.significance.counts
        arrays["significance_counts"] = counts
        top = float(np.nanmax(counts)) if np.isfinite(counts).any() else 0.0
        panels.append(render.sequential_rgb(counts, 0.0, top, render.SEQUENTIAL))
    if view.stats is not None:
        arrays["row_max_abs"] = view.stats.row_max_abs
        arrays["rows_done"] = view.stats.done
    row = view.row_for(y, x)
    if row is not None:
        arrays["gradient_row"] = row
        scale = render.SignedScale(float(np.max(np.abs(row))), log=log_scale)
        panels.append(render.signed_rgb(row, scale, cmap))
    return panels, arrays


def save_view(folder: Path, view, stats: dict, cursor, log_scale: bool, cmap: str) -> Path:
    """Write the three files; returns the PNG's path."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{view.loaded.source.name}_y{cursor[0]}_x{cursor[1]}_{time.strftime('%Y%m%d-%H%M%S')}"
    panels, arrays = view_panels(view, cursor, log_scale, cmap)
    png = folder / f"{stem}.png"

    def write_png(tmp: Path) -> None:
        Image.fromarray(panels_picture(panels)).save(tmp, format="PNG")

    def write_npz(tmp: Path) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        tmp.write_bytes(buffer.getvalue())

    record = {**stats, "colormap": cmap, "scale": "signed-log" if log_scale else "linear"}
    record["source"] = str(view.loaded.source.image_path)
    record["notes"] = list(view.loaded.notes)
    write_atomically(png, write_png)
    write_atomically(folder / f"{stem}.npz", write_npz)
    write_atomically(
        folder / f"{stem}.json",
        lambda tmp: tmp.write_text(json.dumps(record, indent=1, default=str)),
    )
    return png
