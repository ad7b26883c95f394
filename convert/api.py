"""Checkpoint in, verified model file out: the converter as one function.

    read (torch_state) -> infer and check (key_map) -> lay out (variables) -> prove (parity)
    -> write (jaxcore.model.model_file.save_model, atomic)

Weights that are not finite (or BatchNorm variances below zero) are refused before parity, as
the cause they are; a model whose outputs are not finite is never written, force or not.
Every way this can fail raises ConversionError with a message for the user, before anything
is written; the model file appears whole or not at all. The CLI is a thin shell around
convert_checkpoint, and the TUI or a notebook can call it the same way.
"""

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from cnninterp.convert.check_image import read_check_image
from cnninterp.convert.errors import ConversionError, ParityError
from cnninterp.convert.key_map import check_state, infer_config
from cnninterp.convert.parity import Parity, measure_parity, random_images
from cnninterp.convert.torch_state import read_checkpoint
from cnninterp.convert.variables import flax_variables, parameter_count
from cnninterp.jaxcore.files.disk import file_sha256
from cnninterp.jaxcore.images.header import MAX_PIXELS
from cnninterp.jaxcore.model.model_file import MODEL_SUFFIX, save_model
from cnninterp.jaxcore.model.network import DEPTH, ModelConfig
from cnninterp.jaxcore.model.provenance import versions
from cnninterp.jaxcore.model.weights_check import WEIGHTS_ADVICE, summarise, value_problems

__all__ = ["ConversionError", "ConversionReport", "ParityError", "convert_checkpoint"]

ARCHITECTURE = "CustomResNet"
INPUT_NORMALISATION = "uint8 / 255"


@dataclass(frozen=True)
class ConversionReport:
    """What convert_checkpoint wrote and how well it agrees with PyTorch."""

    out_path: Path
    config: ModelConfig
    parity: Parity
    seconds: float
    """Wall time of the whole conversion, parity check included."""
    source: Path = Path()
    source_sha256: str = ""
    parameters: int = 0
    """Trainable parameters (BatchNorm running statistics excluded)."""
    widths: tuple[int, ...] = ()
    """Channels after the stem and after each encoder block."""
    forced: bool = False
    """Written although parity failed (force=True)."""
    notes: tuple[str, ...] = ()
    stage_seconds: dict[str, float] = field(default_factory=dict)


def convert_checkpoint(
    pth_path,
    out_path=None,
    *,
    force: bool = False,
    overwrite: bool = False,
    check_image=None,
    allow_pickled_module: bool = False,
    max_pixels: int = MAX_PIXELS,
    console=None,
) -> ConversionReport:
    """Convert a CustomResNet checkpoint to a cnninterp model file, verifying it first.

        out_path defaults to pth_path with the suffix .safetensors. An existing output is only
        replaced with overwrite=True. Raises ParityError (nothing written) when probabilities
        differ from PyTorch's by more than the tolerance, unless force=True; ConversionError for
        every other problem. `max_pixels` limits check_image (jaxcore.images.header). `console` (a
    rich Console) receives progress and warnings.
    """
    start = time.perf_counter()
    stages: dict[str, float] = {}
    say = _printer(console)
    source = Path(pth_path)
    out = Path(out_path) if out_path is not None else source.with_suffix(MODEL_SUFFIX)
    if not source.exists():
        raise ConversionError(f"{source}: no such file")
    _check_output(out, source, overwrite)
    images = random_images()
    notes: list[str] = []
    if check_image is not None:
        pixels, image_notes = read_check_image(Path(check_image), max_pixels)
        images.append((Path(check_image).name, pixels))
        notes += [f"check image: {n}" for n in image_notes]

    say(f"Reading {source} ...")
    warn = (
        (lambda m: console.print(m, style="bold red", markup=False, soft_wrap=True))
        if console
        else None
    )
    checkpoint = read_checkpoint(source, allow_pickled_module=allow_pickled_module, warn=warn)
    notes = checkpoint.notes + notes
    config = infer_config(checkpoint.state, source.name)
    if checkpoint.bn_eps is not None:
        config = replace(config, bn_eps=float(checkpoint.bn_eps))
    check_state(checkpoint.state, config, source.name)
    broken = value_problems(checkpoint.state)
    if broken:  # the cause is the weights: no parity figure, and no --force, can help
        raise ConversionError(f"{source}: {summarise(broken)}; {WEIGHTS_ADVICE}.")
    variables = flax_variables(checkpoint.state, config)
    stages["read and check"] = time.perf_counter() - start

    say(f"Checking parity with PyTorch on {len(images)} inputs ...")
    t = time.perf_counter()
    parity = measure_parity(checkpoint.state, config, variables, images)
    stages["parity"] = time.perf_counter() - t
    if not parity.outputs_finite:  # finite weights can still overflow float32
        raise ConversionError(
            f"{source}: the model's outputs are not finite (NaN or infinite logits on "
            f"{', '.join(parity.non_finite_inputs)}) although every weight is; the weights "
            "overflow float32. Nothing was written, and --force does not change this."
        )
    if not parity.passed and not force:
        raise ParityError(
            f"Parity check failed: probabilities differ from PyTorch by up to "
            f"{parity.probability_max_abs:.3g} (tolerance {parity.tolerance:g}). "
            f"Nothing was written. Pass --force to write {out.name} anyway.",
            parity,
        )

    t = time.perf_counter()
    sha = file_sha256(source)
    parameters = parameter_count(checkpoint.state)
    info = {
        "architecture": ARCHITECTURE,
        "input_normalisation": INPUT_NORMALISATION,
        "source_file": source.name,
        "source_sha256": sha,
        "parameters": parameters,
        "versions": _versions(),
        "parity": {**parity.as_dict(), "forced": not parity.passed},
        "conversion_notes": notes,
    }
    try:
        save_model(out, config, variables, info)
    except OSError as exc:
        raise ConversionError(
            f"{out}: cannot write the model file ({exc.strerror or exc})"
        ) from None
    stages["write"] = time.perf_counter() - t
    return ConversionReport(
        out_path=out,
        config=config,
        parity=parity,
        seconds=time.perf_counter() - start,
        source=source,
        source_sha256=sha,
        parameters=parameters,
        widths=tuple(config.width * 2**n for n in range(DEPTH + 1)),
        forced=not parity.passed,
        notes=tuple(notes),
        stage_seconds=stages,
    )


def _check_output(out: Path, source: Path, overwrite: bool) -> None:
    """Refuse early an output we could not or should not write, before the slow work."""
    if out.resolve() == source.resolve():
        raise ConversionError(f"{out}: the output would replace the checkpoint; choose -o OUT")
    if out.is_dir():
        raise ConversionError(f"{out}: is a directory; give a file name with -o")
    if (out.exists() or out.is_symlink()) and not overwrite:  # a dangling link is there too
        raise ConversionError(f"{out} already exists; pass --overwrite to replace it")
    parent = out.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise ConversionError(f"{out}: cannot write there, {parent} {what}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConversionError(f"{out}: cannot write there, {parent} is not writable")


def _versions() -> dict[str, str]:
    return versions() | {"torch": torch.__version__}


def _printer(console):
    if console is None:
        return lambda message: None
    return lambda message: console.print(message, style="dim", markup=False)
