"""Find the model and the images the user pointed at, and build the Explainer.

Runs in a worker thread at start-up (conversion and compilation take seconds). Opening the
model itself (a checkpoint converted once into the cache, explainers reused) is the core's
(`jaxcore.opening`); this module finds what to open. Every failure is an OpenError with a
sentence the user can act on; notes are shown, not raised.
"""

from pathlib import Path

from cnninterp.frontend import convert_with_torch, model_notes
from cnninterp.jaxcore.images.loading import ImageError, ImageSource, find_images
from cnninterp.jaxcore.model.model_file import MODEL_SUFFIX
from cnninterp.jaxcore.opening import (
    CHECKPOINT_SUFFIXES,
    ModelOpenError,
    explainer_for,
    open_model,
    resolve_class,
)
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.tui.options import AppOptions


class OpenError(Exception):
    """Nothing to show: no images, no model, a model that cannot be read."""


def demo_paths() -> tuple[Path, Path]:
    """(folder, model) of the bundled demo, or OpenError when it is not installed."""
    try:
        from cnninterp.demo import demo_dir, demo_model_path
    except ImportError:
        raise OpenError(
            "the bundled demo is not available in this install; pass a folder"
        ) from None
    folder, model = Path(demo_dir()), Path(demo_model_path())
    if not model.exists():
        raise OpenError(f"the bundled demo model is missing ({model}); pass a folder and --model")
    return folder, model


def find_model(folder: Path) -> Path:
    """The single model file (or else the single checkpoint) in `folder`."""
    for suffixes in ((MODEL_SUFFIX,), CHECKPOINT_SUFFIXES):
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise OpenError(f"several models in {folder} ({names}): choose one with --model FILE")
    raise OpenError(
        f"no model in {folder}: pass --model FILE"
        " (a .safetensors from cnninterp-convert, or a .pth)"
    )


def open_explainer(
    model: Path,
    vessel_class: str | None,
    chunk_size: int | None,
    notes: list[str],
    devices: None | int | list[int] = None,
) -> Explainer:
    """The explainer of a model file or checkpoint (converted once, into the cache)."""
    try:
        opened = open_model(model, convert_with_torch)
        explainer = explainer_for(
            opened.path,
            vessel_class=resolve_class(opened.path, vessel_class),
            chunk_size=chunk_size,
            devices=devices,
        )
    except ModelOpenError as exc:
        raise OpenError(str(exc)) from None
    if opened.converted_now:
        notes.append(f"converted {model.name} -> {opened.path}")
    notes += model_notes(explainer.model)
    if vessel_class is None and explainer.model.classes > 2:
        notes.append(
            f"the model has {explainer.model.classes} classes; explaining class "
            f"{explainer.model.explained_class} (choose with --class N)"
        )
    return explainer


def open_data(options: AppOptions) -> tuple[Explainer, list[ImageSource], list[str]]:
    """(explainer, image sources, notes) for the options; raises OpenError."""
    notes: list[str] = []
    folder, model = options.folder, options.model
    if folder is None:
        folder, demo_model = demo_paths()
        model = model or demo_model
        notes.append(f"no folder given: showing the bundled demo ({folder})")
    try:
        images = find_images(folder)
    except ImageError as exc:
        raise OpenError(str(exc)) from None
    if model is None:
        model = find_model(folder)
    explainer = open_explainer(
        model, options.vessel_class, options.chunk_size, notes, options.devices
    )
    return explainer, images, notes
