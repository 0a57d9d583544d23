"""Writing files so that a crash or a full disk never leaves a half-written one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, text: str, *, default_mode: int = 0o644) -> None:
    """Write ``text`` to a temp file beside ``path``, fsync it, rename it over ``path``.

    The old file keeps its permissions and stays intact if anything fails;
    ``OSError`` propagates for the caller to explain.
    """
    folder = path.parent
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = default_mode
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
