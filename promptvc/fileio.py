"""Writing a small file so that a kill at any moment leaves the old file or the new one.

``write_atomic`` writes a temporary file in the same folder, flushes it to disk, renames it
over the target and flushes the folder; ``fsync_dir`` is the last step alone. The config
file, the credentials file and the working-tree journal are written with them (working
files have their own writer, `WorkTree.write_work_file`, which checks paths first).

Layer: the bottom: the standard library only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Flush FOLDER's entries (a rename in it) to disk, where the file system allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace PATH with DATA atomically. MODE: the new file's permissions (default: those
    of the file it replaces, else what the umask gives). A failed write leaves no temporary
    file behind."""
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
