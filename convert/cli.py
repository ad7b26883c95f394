"""`cnninterp-convert model.pth [-o OUT]`: the converter's command line.

Argument parsing and a rich summary around api.convert_checkpoint. Errors the user can fix
are printed as one clear message, never a traceback: exit 2 for bad input, 3 when the
parity check fails (nothing written), 1 for a bug in cnninterp (frontend.ExitCode).
"""

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cnninterp.convert.api import ConversionReport, convert_checkpoint
from cnninterp.convert.errors import ConversionError, ParityError
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
        description="Convert a PyTorch CustomResNet vessel checkpoint (.pth) into a verified "
        "cnninterp model file (.safetensors). Parity with PyTorch is checked on every run.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", type=Path, help="state dict saved with torch.save")
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
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        report = convert_checkpoint(
            args.checkpoint,
            args.output,
            force=args.force,
            overwrite=args.overwrite,
            check_image=args.check_image,
            allow_pickled_module=args.allow_pickled_module,
            max_pixels=args.max_pixels,
            console=err,
        )
    except ParityError as exc:
        out.print(parity_table(exc.parity))
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
    print_summary(out, report)
    return ExitCode.OK


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
    for note in report.notes:
        facts.add_row("note", _escape(note))
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in report.stage_seconds.items())
    facts.add_row("time", f"{report.seconds:.1f} s ({timing})")
    console.print(facts)
    console.print(parity_table(report.parity))
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
