"""One changing command at a time per farm (``cf apply``, ``cf refresh``, the web's actions).

A second ``cf apply`` on the same config waits for the first and says so,
rather than racing it host by host; so does an action started in the web UI
while a ``cf apply`` runs, and the other way round. The lock file sits beside
the state file and records the holder's pid for the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

from compose_farm.errors import StateError

POLL = 0.1  # seconds between tries while the web waits (a coroutine cannot block on flock)


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateError(f"{path}: cannot create the farm lock: {exc.strerror}") from None


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fd: int, path: Path) -> str:
    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another cf"
    return f"waiting for {holder} to finish (it holds {path})"


def _claim(fd: int, who: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{who}\n".encode(), 0)


@contextlib.contextmanager
def farm_lock(path: Path, waiting: Callable[[str], None]) -> Iterator[None]:
    """Hold ``path`` exclusively; call ``waiting`` once if another process has it."""
    fd = _open(path)
    try:
        if not _try(fd):
            waiting(_holder(fd, path))
            fcntl.flock(fd, fcntl.LOCK_EX)
        _claim(fd, f"cf pid {os.getpid()}")
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.asynccontextmanager
async def farm_lock_async(
    path: Path, waiting: Callable[[str], None], who: str = "cf web"
) -> AsyncIterator[None]:
    """``farm_lock`` for a coroutine: waits without blocking the event loop, and can be
    cancelled while it waits (flock is per open file, so two tasks of one process
    exclude each other too)."""
    fd = _open(path)
    try:
        if not _try(fd):
            waiting(_holder(fd, path))
            while not _try(fd):
                await asyncio.sleep(POLL)
        _claim(fd, f"{who} (pid {os.getpid()})")
        yield
    finally:
        os.close(fd)


class FarmGate:
    """The farm lock for one command's ``Operations``: taken when its first changing step
    starts, held while any runs, released when the last ends.

    Re-entrant within the command (``apply`` holds it while the ups and downs it
    runs take it again), exclusive between commands and processes (a second
    ``FarmGate`` on the same path waits).
    """

    def __init__(self, path: Path, waiting: Callable[[str], None], who: str) -> None:
        self.path = path
        self.waiting = waiting
        self.who = who
        self._holders = 0
        self._guard = asyncio.Lock()  # taking and releasing are one at a time
        self._held: contextlib.AsyncExitStack | None = None

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Hold the farm lock for the block (taking it if this command does not yet)."""
        async with self._guard:
            if self._holders == 0:
                stack = contextlib.AsyncExitStack()
                await stack.enter_async_context(farm_lock_async(self.path, self.waiting, self.who))
                self._held = stack
            self._holders += 1
        try:
            yield
        finally:
            async with self._guard:
                self._holders -= 1
                if self._holders == 0 and self._held is not None:
                    held, self._held = self._held, None
                    await held.aclose()
