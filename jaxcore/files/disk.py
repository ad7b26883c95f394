"""Bytes on disk, safely: atomic writes, content hashes and the sweep of temporaries that a
killed writer left behind. Every module that writes a file the next run trusts goes through here."""

import contextlib
import glob
import hashlib
import os
import tempfile
import time
from pathlib import Path

STALE_SECONDS = 3600
"""A temporary older than this was left by a killed writer (kill -9, power loss)."""


def sweep_stale_temporaries(folder: Path, pattern: str, older_than: float = STALE_SECONDS) -> int:
    """Delete `folder/pattern` files not modified for `older_than` seconds; how many went.

    Only ever given patterns of our own temporaries ('.NAME.*.tmp'). A sweep is housekeeping:
    a file that vanished meanwhile or a folder we may not write to is simply left."""
    removed = 0
    now = time.time()
    try:
        candidates = list(Path(folder).glob(pattern))
    except OSError:
        return 0
    for candidate in candidates:
        try:
            if candidate.is_file() and now - candidate.stat().st_mtime > older_than:
                candidate.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def write_atomically(path: Path, write) -> None:
    """Call write(tmp_path) then rename onto path, so readers never see half a file.

    Temporaries of earlier writers of the same path that were killed mid-write are swept."""
    path = Path(path)
    sweep_stale_temporaries(path.parent, f".{glob.escape(path.name)}.*.tmp")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared like any file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # never hide the real failure behind a cleanup one
            Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
