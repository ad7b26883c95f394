"""`s`: write the current view as a figure (figure.py: every panel titled, with colourbar,
cursor mark and outlines, the statistics beside), the arrays (.npz) and the numbers with their
provenance (.json: the model's sha256 and the versions, as cnninterp-export records them).

Each file is written to a temporary name and renamed into place, so a reader never sees half a
file; the three share one stem: IMAGE_yY_xX_TIMESTAMP.
"""

import io
import json
import time
from pathlib import Path

import numpy as np

from cnninterp.jaxcore.files.disk import write_atomically
from cnninterp.jaxcore.files.json_record import json_text
from cnninterp.jaxcore.model.provenance import model_provenance, versions
from cnninterp.tui.figure import FigureInputs, save_figure


def provenance(explainer, model_file: Path | None) -> dict:
    """What produced the view, in cnninterp-export's form: {"model": ..., "versions": ...}."""
    model: dict = {"sha256": explainer.model_sha256} | model_provenance(explainer.model)
    if model_file is not None:
        model["path"] = str(Path(model_file).resolve())
    return {"model": model, "versions": versions()}


def view_arrays(view, cursor) -> dict:
    """The arrays behind the view, by name (the .npz)."""
    y, x = cursor
    arrays: dict = {"image": view.loaded.pixels, "cursor_yx": np.array(cursor)}
    if view.probability is not None:
        arrays["probability"] = view.probability
    if view.loaded.label is not None:
        arrays["label"] = view.loaded.label
    if view.significance is not None:
        arrays["significance_counts"] = view.significance.counts
    if view.stats is not None:
        arrays["row_max_abs"] = view.stats.row_max_abs
        arrays["rows_done"] = view.stats.done
    row = view.row_for(y, x)
    if row is not None:
        arrays["gradient_row"] = row
    return arrays


def save_view(
    folder: Path,
    view,
    stats: dict,
    cursor,
    log_scale: bool,
    cmap: str,
    rows: list[tuple[str, str]] | None = None,
    origin: dict | None = None,
    explained: tuple[np.ndarray, str] | None = None,
    score_label: str = "p(vessel)",
) -> Path:
    """Write the figure (PNG), .npz and .json; returns the PNG's path. `rows`: the statistics
    panel's lines, drawn beside the panels; `origin`: provenance() of the model; `explained`:
    (values, title) of the attribution the gradient panel shows, when it is not the row."""
    folder.mkdir(parents=True, exist_ok=True)
    name = view.loaded.source.name
    stem = f"{name}_y{cursor[0]}_x{cursor[1]}_{time.strftime('%Y%m%d-%H%M%S')}"
    arrays = view_arrays(view, cursor)
    shown, what = arrays.get("gradient_row"), f"pixel (y {cursor[0]}, x {cursor[1]})"
    if explained is not None:
        shown, what = explained
        arrays["attribution"] = shown
    inputs = FigureInputs(
        image=view.loaded.pixels,
        cursor=(int(cursor[0]), int(cursor[1])),
        probability=view.probability,
        predicted_mask=view.predicted_mask,
        label=view.loaded.label,
        significance=arrays.get("significance_counts"),
        gradient=shown,
        threshold=stats.get("threshold"),
        log_scale=log_scale,
        colormap=cmap,
        title=f"{name} · {what}",
        score_label=score_label,
        statistics=tuple(rows or ()),
    )
    (png,) = save_figure(folder, stem, inputs)

    def write_npz(tmp: Path) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        tmp.write_bytes(buffer.getvalue())

    record = {**stats, "colormap": cmap, "scale": "signed-log" if log_scale else "linear"}
    record["source"] = str(view.loaded.source.image_path)
    record["notes"] = list(view.loaded.notes)
    record["explained"] = what
    if origin is not None:
        record["provenance"] = origin
    write_atomically(folder / f"{stem}.npz", write_npz)
    write_atomically(
        folder / f"{stem}.json",
        # default=str for paths and the like; json_text then writes NaN as null (strict JSON)
        lambda tmp: tmp.write_text(json_text(json.loads(json.dumps(record, default=str)))),
    )
    return png
