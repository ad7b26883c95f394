"""OUTDIR's life: checked writable before any work, created only when an image is about to be
written, removed again when this call created it and wrote nothing into it, and swept of the
temporaries that a killed run left behind.

A bad call must cost nothing and leave nothing: an unwritable OUTDIR is found in a second,
not after an hour of computing, and a model error leaves no empty folder for the user to
wonder about.
"""

import os
import tempfile
from pathlib import Path

from cnninterp.jaxcore.files.disk import STALE_SECONDS, sweep_stale_temporaries

STALE_TEMPORARIES = ".*.tmp"
"""write_atomically's temporaries (`.NAME.*.tmp`) of any output in OUTDIR."""


class OutputFolderError(Exception):
    """OUTDIR cannot be written: bad usage (exit 2), found before any image is computed."""


def check_writable(output: Path) -> bool:
    """Raise OutputFolderError unless OUTDIR exists and can be written, or could be created;
    returns whether it has to be created."""
    if output.exists():
        if not output.is_dir():
            raise OutputFolderError(f"{output}: exists and is not a folder")
        _try_writing(output)
        return False
    parent = output.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputFolderError(f"{output}: cannot create it, {parent} is not a folder")
    _try_writing(parent)
    return True


def _try_writing(folder: Path) -> None:
    """Create and delete a file: os.access misses read-only mounts and ACLs."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".cnninterp-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputFolderError(f"{folder}: cannot write there ({reason})") from None


def create(output: Path) -> None:
    """Make OUTDIR (and its parents) just before the first file is written."""
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFolderError(f"{output}: cannot create the output folder ({exc})") from None


def sweep(output: Path) -> int:
    """Delete temporaries older than STALE_SECONDS (a writer killed with kill -9); how many."""
    return sweep_stale_temporaries(output, STALE_TEMPORARIES, float(STALE_SECONDS))


def remove_if_empty(output: Path) -> None:
    """Remove OUTDIR when it holds nothing; only called for a folder this call created."""
    try:
        output.rmdir()  # fails, harmlessly, unless empty
    except OSError:
        pass
