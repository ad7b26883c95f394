"""cnninterp-export: the headless front end for scripts and clusters.

For every image it runs the full-Jacobian pass (answered from the result cache when the
same model and image were seen before), the requested gradient rows and their footprints,
and writes two files named after the image: arrays in OUTDIR/<stem>.npz, numbers and
provenance in OUTDIR/<stem>.json, each written atomically.

Everything a script could get wrong (model, images, pixels, threshold, names) is checked
before the first image is computed, so a bad call fails in a second with exit 2 instead of
after an hour. rich is imported only for a terminal; torch only when a .pth must be converted.
"""

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import numpy as np

from cnninterp.export import outdir
from cnninterp.export.cluster import ClusterError, export_on_cluster, import_ray
from cnninterp.export.cluster_progress import ClusterProgress
from cnninterp.export.image import Job, export_image
from cnninterp.export.options import (
    OptionError,
    Request,
    add_request_arguments,
    box_outside,
    request_from_args,
)
from cnninterp.export.progress import Progress
from cnninterp.export.resume import plan_resume
from cnninterp.export.summary import write_summary
from cnninterp.frontend import ExitCode, add_shared_arguments, convert_with_torch, model_notes
from cnninterp.jaxcore.files.disk import file_sha256
from cnninterp.jaxcore.images.header import MAX_PIXELS, ImageHeaderError, read_image_header
from cnninterp.jaxcore.images.loading import ImageError, ImageSource, find_images, load_image
from cnninterp.jaxcore.model.model_file import ModelFileError
from cnninterp.jaxcore.model.provenance import versions
from cnninterp.jaxcore.opening import (
    ModelOpenError,
    check_model_file,
    explainer_for,
    models_folder,
    open_model,
    resolve_class,
)
from cnninterp.jaxcore.passes.explainer import Explainer
from cnninterp.jaxcore.passes.memory import check_pass_memory
from cnninterp.jaxcore.store.compilations import enable_compilation_cache
from cnninterp.jaxcore.store.results import StatsCache
from cnninterp.jaxcore.summaries.significance import DEFAULT_THRESHOLD_PERCENT, ThresholdMode

EPILOG = f"""\
outputs, per image (stem = file name without extension), those named in --outputs:
  OUTDIR/<stem>.npz   probability [H, W] float32, pixels [N, 2] int (y, x as given: --pixel,
                      then --pixels-from), gradients [E, H, W] float32 (the attribution of
                      each entry: with --target pixel, d p[y, x] / d image of each pixel in
                      order; segment: each pixel's segment; box, vessel, border: the region
                      is entry 0, each pixel's own follow), significance [H, W] float32
                      (counts for --threshold and --mode; legacy: the original's normalised map)
  OUTDIR/<stem>.json  what was computed, method and parameters, footprint statistics of each
                      entry (IG: completeness error; with labels: ground-truth figures, IoU),
                      threshold, count accuracy, image notes (padding to a multiple of 16) and
                      provenance
  H, W are the image's size padded (bottom/right) to multiples of 16. stdout lists each
  .npz written; progress and errors go to stderr.
  OUTDIR/summary.csv  one line per image: size, device, seconds, model, threshold, mean and
                      median significance over predicted (and labelled) vessel/background
  A rerun into OUTDIR skips images whose outputs are complete and were made from the same
  model, image content and options.

threshold modes (default global, T = {DEFAULT_THRESHOLD_PERCENT}):
  global    T percent of max |J| over the whole Jacobian of the image
  row       T percent of each row's own max |G|
  absolute  |G| > T (--threshold required)
  legacy    the original tool: 1 % of signed max J, min-max normalised, times p > 0.5

exit codes:
  {ExitCode.OK:<3d}every image written
  {ExitCode.BAD_INPUT:<3d}bad usage or input: unreadable model, no images, bad --pixel,
     --pixels-from (the line is named), --threshold, --outputs or method parameter, a pixel
     or box outside an image, two images with the same stem, an OUTDIR that
     cannot be written, a pass that would not fit in memory (nothing computed, no OUTDIR
     created)
  {ExitCode.SOME_FAILED:<3d}some images failed (each reported on stderr, e.g. a segment
     target on background); the others were written
  {ExitCode.INTERRUPTED}  interrupted (Ctrl+C); finished images are kept, rerun to resume

limits: images up to --max-pixels (default 2**26 = 8192x8192), checked from the header
before decoding; --steps and --samples 1..1024; --sigma 0..10; --pixels-from up to 1,000,000
pixels. Temporaries older than an hour (a killed run's) are swept from OUTDIR.

The result cache ($CNNINTERP_CACHE_DIR, else the user cache folder) makes a rerun on the same
model and images cost a file read; --no-cache neither reads nor writes it.
"""


class UsageError(Exception):
    """Bad input found before any image was computed: ExitCode.BAD_INPUT."""


def parse_pixel(text: str) -> tuple[int, int]:
    try:
        y, x = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected Y,X (two integers), got {text!r}") from None
    if y < 0 or x < 0:
        raise argparse.ArgumentTypeError(f"pixel {text!r} has a negative coordinate")
    return y, x


def parse_threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text!r}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (the usage of 20 options would bury it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="cnninterp-export",
        description="Write probability maps, gradient rows, significance maps and footprint "
        "statistics of images, for scripts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_shared_arguments(parser, model_required=True)  # --model, --no-cache, --devices, ...
    parser.add_argument(
        "--pixel",
        type=parse_pixel,
        action="append",
        default=[],
        metavar="Y,X",
        help="explain this output pixel (repeatable)",
    )
    parser.add_argument(
        "--threshold",
        type=parse_threshold,
        metavar="T",
        help=f"threshold value (default {DEFAULT_THRESHOLD_PERCENT})",
    )
    parser.add_argument(
        "--mode",
        choices=[m.value for m in ThresholdMode],
        default=ThresholdMode.GLOBAL.value,
        help="threshold mode (default global)",
    )
    # --- cluster (cnninterp.export.cluster) ---
    parser.add_argument(
        "--cluster",
        metavar="local|auto|ADDRESS",
        help="one Ray task per image: local starts Ray here, auto or ADDRESS joins a cluster "
        "started with `ray start` (default: compute in this process)",
    )
    parser.add_argument(
        "--gpus-per-task",
        type=parse_threshold,
        metavar="G",
        help="GPUs each cluster task asks for (default 1 where the cluster has GPUs, else 0)",
    )
    # --- end cluster ---
    add_request_arguments(parser)  # cnninterp.export.options
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    parser.add_argument("inputs", type=Path, nargs="+", metavar="IMAGE_OR_FOLDER")
    return parser


def collect_images(
    inputs: list[Path], pixels, *, max_pixels: int = MAX_PIXELS, target: str = "pixel"
) -> list[ImageSource]:
    """Every image named or found, each once; pixels and output names checked against them."""
    sources: dict[Path, ImageSource] = {}
    for item in inputs:
        try:
            found = find_images(item)
        except ImageError as exc:
            raise UsageError(str(exc)) from None
        for source in found:
            sources.setdefault(source.image_path.resolve(), source)
    by_name: dict[str, Path] = {}
    for source in sources.values():
        if source.name in by_name:
            raise UsageError(
                f"{by_name[source.name]} and {source.image_path} would both be written as "
                f"{source.name}.npz; export them to separate folders"
            )
        by_name[source.name] = source.image_path
        try:
            h, w = load_image(source, max_pixels=max_pixels).original_shape
        except ImageError:
            continue  # reported, and counted as failed, when its turn comes
        yx = np.asarray(pixels, np.int64).reshape(-1, 2)  # (N, 2)
        outside = np.flatnonzero((yx[:, 0] >= h) | (yx[:, 1] >= w))
        if len(outside):
            y, x = yx[outside[0]]
            raise UsageError(f"--pixel {y},{x} is outside {source.image_path} ({h}x{w})")
        why = box_outside(target, h, w)
        if why is not None:
            raise UsageError(f"{why} ({source.image_path})")
    return list(sources.values())


def resolve_model(
    model: Path, cache: StatsCache, scratch: Path, say: Callable[[str], None]
) -> tuple[Path, dict[str, str]]:
    """(model file, provenance); a checkpoint is converted once into the cache folder (into
    `scratch` when the cache is off)."""
    folder = models_folder() if cache.enabled else scratch
    try:
        opened = open_model(model, convert_with_torch, folder=folder, say=say)
    except ModelOpenError as exc:
        raise UsageError(str(exc)) from None
    return opened.path, opened.provenance


def export_in_process(
    explainer: Explainer, todo: list[ImageSource], job: Job, cache: StatsCache, progress: Progress
) -> int:
    """Export each image in this process; returns how many failed (each reported)."""
    failures = 0
    for source in todo:
        progress.begin(source.name)
        started = time.perf_counter()
        try:
            answered = export_image(explainer, source, job, cache, progress.on_stats)
        except (ImageError, ValueError, OSError) as exc:
            failures += 1
            progress.end(f"FAILED: {exc}")
            continue
        except Exception as exc:  # one bad image must not cost the others
            failures += 1
            progress.end(f"FAILED: {type(exc).__name__}: {exc}")
            continue
        seconds = time.perf_counter() - started
        how = "no full pass" if answered == "not run" else f"result cache {answered}"
        progress.end(f"written ({seconds:.1f} s, {how})")
        progress.output(str(job.output / f"{source.name}.npz"))
    return failures


def check_request(args: argparse.Namespace) -> Request:
    """The request options (export.options), or UsageError."""
    try:
        return request_from_args(args)
    except OptionError as exc:
        raise UsageError(str(exc)) from None


def check_output_folder(output: Path) -> bool:
    """Before any work: OUTDIR writable (or creatable); returns whether this call creates it."""
    try:
        return outdir.check_writable(output)
    except outdir.OutputFolderError as exc:
        raise UsageError(str(exc)) from None


def check_memory(explainer: Explainer, sources: list[ImageSource]) -> None:
    """Refuse (exit 2) a significance pass that would not fit in this machine's memory now,
    naming the image, before any image is computed (jaxcore.passes.memory's formula)."""
    for source in sources:
        try:
            header = read_image_header(source.image_path)
        except ImageHeaderError:
            continue  # reported, and counted as failed, when its turn comes
        multiple = explainer.model.size_multiple
        height, width = (-(-side // multiple) * multiple for side in (header.height, header.width))
        crop = explainer.kit.crop_shape(height, width)
        on_crops = explainer.kit.crops and explainer.kit.is_cropped(height, width)  # the pass
        try:
            check_pass_memory(
                height,
                width,
                explainer.model,
                by_columns=explainer.full_pass == "columns",
                crop_pixels=crop[0] * crop[1] if on_crops else None,
            )
        except ValueError as exc:
            raise UsageError(
                f"{source.image_path}: {exc} (or leave significance out of --outputs)"
            ) from None


def run(args: argparse.Namespace) -> int:
    mode = ThresholdMode(args.mode)
    if mode is ThresholdMode.ABSOLUTE and args.threshold is None:
        raise UsageError("--mode absolute needs --threshold T (the |G| value itself)")
    if args.gpus_per_task is not None and args.cluster is None:
        raise UsageError("--gpus-per-task is for cluster tasks: give --cluster too")
    request = check_request(args)
    creates_output = check_output_folder(args.output)  # before any work
    ray = import_ray() if args.cluster is not None else None  # exit 2 before any work
    sources = collect_images(
        args.inputs, request.pixels, max_pixels=args.max_pixels, target=request.target
    )
    cache = StatsCache(enabled=args.cache)
    progress = ClusterProgress(len(sources)) if ray is not None else Progress(len(sources))
    failures = 0
    job = None
    try:
        if mode is ThresholdMode.LEGACY and args.threshold is not None:
            progress.say("note: legacy mode uses 1 % of signed max J; --threshold is ignored")
        with tempfile.TemporaryDirectory(prefix="cnninterp-export-") as scratch:
            model_path, model = resolve_model(args.model, cache, Path(scratch), progress.say)
            try:
                explained = resolve_class(model_path, args.vessel_class)
                if ray is None:
                    explainer = explainer_for(
                        model_path, vessel_class=explained, devices=args.devices
                    )
                    for note in model_notes(explainer.model):
                        progress.say(f"note: {note}")
                    # Hashed when it was loaded, and reused while the file is unchanged:
                    # hashing a full-size model again costs 0.3 s of a 3 s export.
                    model_sha256 = explainer.model_sha256 or file_sha256(model_path)
                else:  # the tasks open it; validate it here so a bad file fails once, early
                    model_sha256 = file_sha256(model_path)
                    check_model_file(model_path)
            except (ModelOpenError, ModelFileError, OSError) as exc:
                raise UsageError(str(exc)) from None
            job = Job(
                output=args.output,
                pixels=request.pixels,
                mode=mode,
                t_value=DEFAULT_THRESHOLD_PERCENT if args.threshold is None else args.threshold,
                provenance={"model": model | {"sha256": model_sha256}, "versions": versions()},
                outputs=request.outputs,
                method=request.method,
                target=request.target,
                max_pixels=args.max_pixels,
                explained_class=explained,
            )
            plan = plan_resume(sources, job, model_sha256)
            if ray is None and "significance" in job.outputs:
                check_memory(explainer, plan.todo)
            try:
                outdir.create(args.output)  # about to write: not before
            except outdir.OutputFolderError as exc:
                raise UsageError(str(exc)) from None
            outdir.sweep(args.output)
            if plan.done:
                progress.skip(len(plan.done))
                progress.say(
                    f"skipped {len(plan.done)} of {len(sources)} images: their outputs in "
                    f"{args.output} are complete and made from the same model, image and options"
                )
            if isinstance(progress, ClusterProgress):  # cnninterp.export.cluster
                if plan.todo:
                    failures = export_on_cluster(ray, args, plan.todo, job, model_path, progress)
            else:
                failures = export_in_process(explainer, plan.todo, job, cache, progress)
        write_summary(args.output, plan_resume(sources, job, model_sha256).done)
        written = len(plan.todo) - failures
        progress.say(
            f"{written} of {len(plan.todo)} images written to {args.output}"
            + (f" ({len(plan.done)} already there)" if plan.done else "")
        )
    except KeyboardInterrupt:
        if job is not None and args.output.is_dir():
            write_summary(args.output, plan_resume(sources, job, model_sha256).done)
        progress.say("interrupted: finished images are kept; run the same command to resume")
        return ExitCode.INTERRUPTED
    finally:
        progress.close()
        if creates_output:
            outdir.remove_if_empty(args.output)
    return ExitCode.SOME_FAILED if failures else ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    """The console script; returns the exit code (see EPILOG)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error already printed (2)
        return exc.code if isinstance(exc.code, int) else ExitCode.BAD_INPUT
    try:
        enable_compilation_cache()
        return run(args)
    except KeyboardInterrupt:  # before the export loop (which handles its own): nothing kept
        print("cnninterp-export: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except ClusterError as exc:  # no ray, no cluster to join, no GPUs for --gpus-per-task
        print(f"cnninterp-export: error: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except UsageError as exc:
        print(f"cnninterp-export: error: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
