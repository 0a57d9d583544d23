"""Data moves running on this machine, so a key in use is not taken for one left behind.

While a host-to-host copy holds its one-copy key, the process that made the key
holds ``flock`` on ``$XDG_CACHE_HOME/compose-farm/moving/<marker>.lock``
(default ``~/.cache``). The kernel drops the lock when that process ends, however
it ends, so a held lock means the move is running now; a free or missing one
means nobody on this machine will remove the key. ``cf check`` reports the first
kind as a note and the second as a problem; ``cf ssh revoke`` leaves the first
alone. A move run from another machine cannot be seen from here: its key counts
as left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

_MARKER = re.compile(r"cf-move-[0-9a-f]{16}")


def folder(environ: Mapping[str, str] | None = None) -> Path:
    """Where the locks live: ``$XDG_CACHE_HOME`` when absolute, else ``~/.cache``."""
    env = os.environ if environ is None else environ
    xdg = Path(env.get("XDG_CACHE_HOME", ""))
    base = xdg if xdg.is_absolute() else Path.home() / ".cache"
    return base / "compose-farm" / "moving"


def _path(marker: str, environ: Mapping[str, str] | None) -> Path:
    if not _MARKER.fullmatch(marker):  # names come from hosts' files: never a path
        raise ValueError(f"not a data-move marker: {marker!r}")
    return folder(environ) / f"{marker}.lock"


@contextlib.contextmanager
def holding(marker: str, environ: Mapping[str, str] | None = None) -> Iterator[None]:
    """Mark the move ``marker`` as running until the block ends. Best effort: a cache
    folder that cannot be written only costs ``cf check`` its note."""
    path = _path(marker, environ)
    fd = -1
    with contextlib.suppress(OSError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{os.getpid()}\n".encode())
    try:
        yield
    finally:
        if fd >= 0:
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)


def running(marker: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a process on this machine holds the move ``marker`` now."""
    try:
        path = _path(marker, environ)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (OSError, ValueError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False
