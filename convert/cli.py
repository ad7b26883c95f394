"""`cnninterp-convert model.pth [-o OUT]`: the converter's command line.

    cnninterp-convert model.pth                         the seed architecture's checkpoint
    cnninterp-convert model.pt2                         any model saved with torch.export.save
    cnninterp-convert --from MODULE:CALLABLE --weights state.pth    your own code, exported here

Argument parsing and a rich summary around api.convert_checkpoint and
exported_model.convert_exported. Errors the user can fix
are printed as one clear message, never a traceback: exit 2 for bad input, 3 when the
parity check fails (nothing written), 1 for a bug in cnninterp (frontend.ExitCode).
"""

import argparse
import math
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cnninterp.convert.api import ConversionReport, convert_checkpoint
from cnninterp.convert.errors import ConversionError, ParityError
from cnninterp.convert.exported_model import IMAGENET, GraphConversionReport, convert_exported
from cnninterp.convert.from_code import export_from_code
from cnninterp.convert.graph_parity import GraphParity
from cnninterp.convert.parity import GRADIENT_ROWS, Parity
from cnninterp.frontend import ExitCode
from cnninterp.jaxcore.images.header import MAX_PIXELS
from cnninterp.jaxcore.model.model_file import ModelFileError

EPILOG = f"""\
refused, whatever the flags (nothing is written or run):
  a pickle that would call code (anything but tensors, containers and nn.Module classes),
  a zip checkpoint failing its CRC-32 check, non-finite weights or negative BatchNorm
  variances, a model whose outputs are not finite (even with --force), an existing output
  (also a dangling symlink) without --overwrite, an output folder that is not writable.

limits:
  --check-image: at most {MAX_PIXELS:,} pixels (8192x8192) and 8 decoded bytes per allowed
  pixel by default (--max-pixels raises both), one page, at least 16x16.

exit codes:
  {ExitCode.OK} written, {ExitCode.BAD_INPUT} bad input, {ExitCode.PARITY} parity failed (both: \
nothing written),
  {ExitCode.BUG} a bug in cnninterp (--debug shows it), {ExitCode.INTERRUPTED} interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnninterp-convert",
        description="Convert a PyTorch segmentation model into a verified cnninterp model file "
        "(.safetensors): the seed's CustomResNet checkpoint (.pth), any model saved with "
        "torch.export.save (.pt2; nothing in it runs), or your own code with --from. Parity "
        "with PyTorch is checked on every run.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "checkpoint",
        type=Path,
        nargs="?",
        help="CustomResNet state dict saved with torch.save (.pth), or a torch.export program "
        "saved with torch.export.save (.pt2)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, help="model file to write (default: CHECKPOINT.safetensors)"
    )
    parser.add_argument(
        "--check-image", type=Path, metavar="IMG", help="also check parity on this image"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the output file if it exists"
    )
    parser.add_argument(
        "--force", action="store_true", help="write the model file even if parity fails"
    )
    parser.add_argument(
        "--allow-pickled-module",
        action="store_true",
        help="load a whole pickled nn.Module with weights_only=False. This RUNS CODE from "
        "the file: only for files you trust. Prefer re-saving model.state_dict().",
    )
    parser.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=MAX_PIXELS,
        metavar="N",
        help=f"largest --check-image in pixels (default {MAX_PIXELS:,} = 8192x8192)",
    )
    generic = parser.add_argument_group("any segmentation model (.pt2 or --from)")
    generic.add_argument(
        "--from",
        dest="from_code",
        metavar="MODULE:CALLABLE",
        help="import MODULE (from the current folder) and call CALLABLE() for your nn.Module; "
        "it is exported with torch.export here. Runs your code: name only code you trust",
    )
    generic.add_argument(
        "--weights", type=Path, metavar="STATE", help="with --from: state dict to load (strict)"
    )
    generic.add_argument(
        "--channels", type=_positive_int, metavar="C", help="input channels (default: inferred)"
    )
    generic.add_argument(
        "--normalize",
        type=parse_normalize,
        metavar="imagenet|MEAN,STD|M1/M2/M3,S1/S2/S3",
        help="normalisation the model expects of an image in [0, 1] (stored in the file; "
        "gradients stay with respect to the image in [0, 1])",
    )
    generic.add_argument(
        "--activation",
        choices=("softmax", "sigmoid", "logits"),
        help="what the explainer applies to the logits (default: the model's own final "
        "softmax or sigmoid, else softmax for 2+ classes and sigmoid for 1)",
    )
    generic.add_argument(
        "--class-names", type=parse_class_names, metavar="A,B,C", help="one name per class"
    )
    generic.add_argument(
        "--size", type=_positive_int, metavar="N", help="side of the parity test images"
    )
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser


def parse_normalize(text: str) -> dict[str, list[float]]:
    """'imagenet', 'MEAN,STD' (every channel) or 'M1/M2/M3,S1/S2/S3' -> {'mean', 'std'}."""
    if text.strip().lower() == "imagenet":
        return {k: list(v) for k, v in IMAGENET.items()}
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(
            f"expected imagenet, MEAN,STD or M1/M2/M3,S1/S2/S3, not {text!r}"
        )
    try:
        mean, std = ([float(v) for v in part.split("/")] for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not numbers: {text!r}") from None
    if len(mean) != len(std):
        raise argparse.ArgumentTypeError(f"{len(mean)} means but {len(std)} stds in {text!r}")
    if not all(math.isfinite(v) for v in mean + std) or any(v <= 0 for v in std):
        raise argparse.ArgumentTypeError(f"means must be finite, stds positive: {text!r}")
    return {"mean": mean, "std": std}


def parse_class_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"an empty class name in {text!r}")
    return names


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


GENERIC_OPTIONS = ("weights", "channels", "normalize", "activation", "class_names", "size")
SEED_OPTIONS = ("check_image", "allow_pickled_module")


def is_generic(args: argparse.Namespace) -> bool:
    return args.from_code is not None or (
        args.checkpoint is not None and args.checkpoint.suffix.lower() == ".pt2"
    )


def check_combination(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors (exit 2): a source missing or given twice, options of the other path."""
    if (args.checkpoint is None) == (args.from_code is None):
        parser.error("give a checkpoint (.pth or .pt2) or --from MODULE:CALLABLE, not both")

    def given(names):
        return [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) not in (None, False)]

    if is_generic(args):
        wrong = given(SEED_OPTIONS)
        if wrong:
            parser.error(f"{', '.join(wrong)} only apply to a CustomResNet .pth checkpoint")
        if args.weights is not None and args.from_code is None:
            parser.error("--weights goes with --from MODULE:CALLABLE")
    else:
        wrong = given(GENERIC_OPTIONS)
        if wrong:
            parser.error(f"{', '.join(wrong)} apply to a .pt2 file or --from, not a .pth")


def convert(args: argparse.Namespace, console: Console):
    """The report of the conversion the arguments ask for."""
    if not is_generic(args):
        return convert_checkpoint(
            args.checkpoint,
            args.output,
            force=args.force,
            overwrite=args.overwrite,
            check_image=args.check_image,
            allow_pickled_module=args.allow_pickled_module,
            max_pixels=args.max_pixels,
            console=console,
        )
    source = args.checkpoint
    if args.from_code is not None:
        console.print(f"Exporting {args.from_code} ...", style="dim", markup=False)
        source = export_from_code(args.from_code, args.weights, args.channels, args.size)
    return convert_exported(
        source,
        args.output,
        channels=args.channels,
        normalize=args.normalize,
        activation=args.activation,
        class_names=args.class_names,
        size=args.size,
        force=args.force,
        overwrite=args.overwrite,
        console=console,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_combination(parser, args)
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        report = convert(args, err)
    except ParityError as exc:
        table = (
            graph_parity_table(exc.parity)
            if isinstance(exc.parity, GraphParity)
            else parity_table(exc.parity)
        )
        out.print(table)
        err.print(f"error: {exc}", style="bold red", markup=False, soft_wrap=True)
        return ExitCode.PARITY
    except (ConversionError, ModelFileError) as exc:
        err.print(f"error: {exc}", style="bold red", markup=False, soft_wrap=True)
        return ExitCode.BAD_INPUT
    except KeyboardInterrupt:
        err.print("interrupted; nothing was written", style="red")
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug: say so plainly, show the traceback only with --debug
        if args.debug:
            raise
        err.print(
            f"internal error ({type(exc).__name__}: {exc}). Nothing was written. This is a bug "
            "in cnninterp; rerun with --debug for the traceback and report it.",
            style="bold red",
            markup=False,
            soft_wrap=True,
        )
        return ExitCode.BUG
    if isinstance(report, GraphConversionReport):
        print_graph_summary(out, report)
    else:
        print_summary(out, report)
    return ExitCode.OK


def print_graph_summary(console: Console, report: GraphConversionReport) -> None:
    cfg = report.config
    console.print(
        f"[bold green]Wrote[/] {_escape(report.out_path)} "
        f"from {_escape(report.source)} in {report.seconds:.1f} s"
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    names = f" ({', '.join(cfg.class_names)})" if cfg.class_names else ""
    facts.add_row(
        "model",
        f"{cfg.input_channels} input channels, {cfg.classes} classes{_escape(names)}, "
        f"{cfg.activation} (explained class {cfg.explained_class})",
    )
    facts.add_row("ops", ", ".join(f"{op} {n}" for op, n in report.ops.items()))
    facts.add_row("parameters", f"{report.parameters / 1e6:.2f} M ({report.parameters:,})")
    if cfg.receptive_radius is not None:
        field = f"local, radius {cfg.receptive_radius} px"
    else:
        field = f"whole image: {cfg.receptive_reason}"
    facts.add_row("receptive field", _escape(field))
    facts.add_row("input", f"H and W multiples of {cfg.size_multiple}" + _normalised(cfg))
    facts.add_row("source sha256", report.source_sha256)
    _print_facts_and_parity(console, facts, report, graph_parity_table(report.parity))


def _normalised(cfg) -> str:
    if cfg.normalize is None:
        return ", values in [0, 1] as loaded"
    mean = "/".join(f"{v:g}" for v in cfg.normalize["mean"])
    std = "/".join(f"{v:g}" for v in cfg.normalize["std"])
    return f", normalised (x - {mean}) / {std} inside the model"


def graph_parity_table(parity: GraphParity) -> Table:
    verdict = "[green]passed[/]" if parity.passed else "[bold red]FAILED[/]"
    table = Table(
        title=f"Parity with PyTorch in float64: {verdict} (tolerance {parity.tolerance:g} "
        f"relative); float32 logits within {parity.float32_max_abs:.1e}",
        title_justify="left",
    )
    table.add_column("input")
    table.add_column("size", justify="right")
    table.add_column("logits, relative", justify="right")
    table.add_column("gradient rows, relative", justify="right")
    table.add_column("float32 logits |Δ|", justify="right")
    for row in parity.rows:
        worst = max(row.logits_max_rel, row.gradient_max_rel)
        bad = not worst <= parity.tolerance  # NaN is bad too
        style = "[bold red]{}[/]" if bad else "{}"
        table.add_row(
            _escape(row.input),
            f"{row.height}x{row.width}",
            style.format(f"{row.logits_max_rel:.1e}"),
            style.format(f"{row.gradient_max_rel:.1e}"),
            f"{row.float32_logits_max_abs:.1e}",
        )
    return table


def print_summary(console: Console, report: ConversionReport) -> None:
    cfg = report.config
    console.print(
        f"[bold green]Wrote[/] {_escape(report.out_path)} "
        f"from {_escape(report.source.name)} in {report.seconds:.1f} s"
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row(
        "architecture", f"CustomResNet, {cfg.classes} classes (vessel = class {cfg.vessel_class})"
    )
    facts.add_row("widths", " → ".join(str(w) for w in report.widths))
    facts.add_row("parameters", f"{report.parameters / 1e6:.2f} M ({report.parameters:,})")
    facts.add_row("input", "grayscale float32 = uint8 / 255, H and W multiples of 16")
    facts.add_row("source sha256", report.source_sha256)
    _print_facts_and_parity(console, facts, report, parity_table(report.parity))


def _print_facts_and_parity(console, facts, report, parity) -> None:
    """The report's notes and times after its facts, then the parity table, and a warning
    when a failed parity was forced: the same for both kinds of model."""
    for note in report.notes:
        facts.add_row("note", _escape(note))
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in report.stage_seconds.items())
    facts.add_row("time", f"{report.seconds:.1f} s ({timing})")
    console.print(facts)
    console.print(parity)
    if report.forced:
        console.print(
            "[bold red]WARNING: parity FAILED and the file was written anyway (--force). "
            "Gradients computed from it may be wrong.[/]"
        )


def parity_table(parity: Parity) -> Table:
    verdict = "[green]passed[/]" if parity.passed else "[bold red]FAILED[/]"
    table = Table(
        title=f"Parity with PyTorch, max |Δ|: {verdict} (tolerance {parity.tolerance:g} on p)",
        title_justify="left",
    )
    table.add_column("input")
    table.add_column("size", justify="right")
    table.add_column("logits", justify="right")
    table.add_column("probability", justify="right")
    table.add_column(f"{GRADIENT_ROWS} gradient rows", justify="right")
    table.add_column("rows, relative", justify="right")
    for row in parity.rows:
        bad = not row.probability_max_abs <= parity.tolerance  # NaN is bad too
        table.add_row(
            _escape(row.input),
            f"{row.height}x{row.width}",
            f"{row.logits_max_abs:.2e}",
            f"[bold red]{row.probability_max_abs:.2e}[/]"
            if bad
            else f"{row.probability_max_abs:.2e}",
            f"{row.gradient_max_abs:.2e}",
            f"{row.gradient_max_rel:.2e}",
        )
    return table


def _escape(value) -> str:
    return escape(str(value))


if __name__ == "__main__":
    sys.exit(main())
