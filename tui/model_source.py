"""Find the model and the images the user pointed at, and build the Explainer.

Runs in a worker thread at start-up (conversion and compilation take seconds). Every failure
is an OpenError with a sentence the user can act on; notes are shown, not raised.
"""

from pathlib import Path

from cnninterp.jaxcore.images import ImageError, ImageSource, find_images
from cnninterp.jaxcore.model_file import MODEL_SUFFIX, ModelFileError
from cnninterp.tui.options import AppOptions

CHECKPOINT_SUFFIXES = (".pth", ".pt")


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


def convert(checkpoint: Path, notes: list[str]) -> Path:
    """A .pth converted (with its parity check) to a cached model file."""
    try:
        from cnninterp.convert.api import ConversionError, convert_checkpoint
    except ImportError:
        raise OpenError("the converter is not available; run cnninterp-convert first") from None
    try:
        report = convert_checkpoint(checkpoint)
    except ConversionError as exc:
        raise OpenError(str(exc)) from None
    notes.append(f"converted {checkpoint.name} -> {report.out_path} ({report.seconds:.1f} s)")
    return Path(report.out_path)


_EXPLAINERS: dict[tuple, object] = {}
"""Explainers already built in this process, by model file identity and options: compiling
is the slow part of opening, and an app reopened in the same process (tests) can skip it."""


def open_explainer(model_path: Path, vessel_class: int | None, chunk_size: int | None, notes):
    from cnninterp.jaxcore.explainer import Explainer

    stat = model_path.stat()
    key = (str(model_path.resolve()), stat.st_mtime_ns, stat.st_size, vessel_class, chunk_size)
    if key in _EXPLAINERS:
        return _EXPLAINERS[key]
    try:
        explainer = Explainer.from_file(
            model_path, vessel_class=vessel_class, chunk_size=chunk_size
        )
    except ModelFileError as exc:
        raise OpenError(str(exc)) from None
    except ValueError as exc:  # a --class the model does not have
        raise OpenError(f"--class {vessel_class}: {exc}") from None
    if vessel_class is None and explainer.config.classes != 2:
        notes.append(
            f"the model has {explainer.config.classes} classes; explaining class "
            f"{explainer.config.vessel_class} (choose with --class N)"
        )
    _EXPLAINERS[key] = explainer
    return explainer


def open_data(options: AppOptions) -> tuple[object, list[ImageSource], list[str]]:
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
    if not model.exists():
        raise OpenError(f"{model}: no such model file")
    if model.suffix.lower() in CHECKPOINT_SUFFIXES:
        model = convert(model, notes)
    return open_explainer(model, options.vessel_class, options.chunk_size, notes), images, notes
