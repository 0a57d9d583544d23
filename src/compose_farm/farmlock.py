"""One changing command at a time per farm (``cf apply``, ``cf refresh``).

A second ``cf apply`` on the same config waits for the first and says so,
rather than racing it host by host. The lock file sits beside the state file
and records the holder's pid for the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from compose_farm.errors import StateError


@contextlib.contextmanager
def farm_lock(path: Path, waiting: Callable[[str], None]) -> Iterator[None]:
    """Hold ``path`` exclusively; call ``waiting`` once if another process has it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateError(f"{path}: cannot create the farm lock: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another cf"
            waiting(f"waiting for {holder} to finish (it holds {path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"cf pid {os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
