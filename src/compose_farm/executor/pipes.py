"""Byte streams to and from commands on hosts: what sync and data moves send through.

A ``BytePipe`` is one running command whose stdin and stdout carry raw bytes
(a tar stream), on a channel of the host's existing SSH connection or as a
local process. ``relay`` joins two of them: the source's stdout flows into
the destination's stdin through this process, a chunk at a time, never to disk.
Of a pipe's stderr only the last ``STDERR_KEPT`` bytes are kept (for messages):
a tar that complains about every file of a big folder costs no more.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

CHUNK = 256 * 1024
STDERR_KEPT = 64 * 1024


async def tail(read: Callable[[int], Awaitable[bytes]], limit: int = STDERR_KEPT) -> bytes:
    """Read a stream to its end (``read(n)`` gives ``b""`` there); its last ``limit`` bytes."""
    kept = bytearray()
    while chunk := await read(CHUNK):
        kept += chunk
        if len(kept) > limit:
            del kept[:-limit]
    return bytes(kept)


@dataclass(frozen=True)
class PipeEnd:
    """How one side of a transfer ended."""

    host: str
    exit_status: int | None  # None: the channel or process went away without a status
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_status == 0

    def why(self) -> str:
        """A short reason for a failure, for messages."""
        text = self.stderr.strip().splitlines()
        detail = f": {text[-1]}" if text else ""
        if self.exit_status is None:
            return f"the connection to {self.host} was lost{detail}"
        return f"exit status {self.exit_status} on {self.host}{detail}"


class BytePipe(Protocol):
    """A running command with byte stdin/stdout (see ``Executor.open_pipe``)."""

    host: str

    async def write(self, data: bytes) -> None:
        """Send ``data`` to the command's stdin (waits while the other end is slow)."""

    async def close_input(self) -> None:
        """End of stdin."""

    async def read(self) -> bytes:
        """The next chunk of stdout; ``b""`` at the end."""

    async def finish(self) -> PipeEnd:
        """Wait for the command to exit; its status and stderr."""

    def abort(self) -> None:
        """Stop the command now (its output is no longer wanted)."""


class LocalPipe:
    """A ``BytePipe`` for a command run on this machine."""

    def __init__(self, host: str, proc: asyncio.subprocess.Process) -> None:
        self.host = host
        self._proc = proc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self._stdin = proc.stdin
        self._stdout = proc.stdout
        self._stderr_task = asyncio.ensure_future(tail(proc.stderr.read))

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, host: str, shell_line: str) -> AsyncIterator[LocalPipe]:
        """Start ``sh -c shell_line``; kill it if the block is left before it ended."""
        proc = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            shell_line,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        pipe = cls(host, proc)
        try:
            yield pipe
        finally:
            if proc.returncode is None:
                pipe.abort()
                await proc.wait()
            pipe._stderr_task.cancel()

    async def write(self, data: bytes) -> None:
        self._stdin.write(data)
        await self._stdin.drain()

    async def close_input(self) -> None:
        # Not ``wait_closed``: for a process that already exited, Python 3.11 can leave
        # that waiting forever.
        if not self._stdin.is_closing():
            self._stdin.close()

    async def read(self) -> bytes:
        return await self._stdout.read(CHUNK)

    def abort(self) -> None:
        # The whole session: ``sh -c`` may have children that hold the pipes open.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)

    async def finish(self) -> PipeEnd:
        # asyncio reports the exit only once every pipe is closed, and a paused reader
        # never sees its end: close stdin, read what is left of stdout (and drop it).
        await self.close_input()
        while await self._stdout.read(CHUNK):
            pass
        status = await self._proc.wait()
        stderr = (await self._stderr_task).decode("utf-8", "replace")
        return PipeEnd(self.host, status if status >= 0 else 128 - status, stderr)


async def relay(
    source: BytePipe, destination: BytePipe, source_input: bytes = b""
) -> tuple[PipeEnd, PipeEnd, int]:
    """Copy ``source``'s stdout into ``destination``'s stdin; both ends and the byte count.

    ``source_input`` is written to the source's stdin (then closed) while its
    output is already flowing, so neither side can wait on the other. When
    either side fails, the other is still waited for, so both report how they
    ended.
    """

    async def feed() -> None:
        with contextlib.suppress(OSError, ConnectionError):
            if source_input:
                await source.write(source_input)
            await source.close_input()

    feeding = asyncio.ensure_future(feed())
    sent = 0
    try:
        while chunk := await source.read():
            await destination.write(chunk)
            sent += len(chunk)
    except (OSError, EOFError, ConnectionError):
        # A side went away (its status, or lack of one, says why): nobody reads the
        # source's output any more, so stop it rather than wait for it forever.
        source.abort()
    finally:
        feeding.cancel()
    with contextlib.suppress(OSError, ConnectionError):
        # The feeder may not have run at all (the first read can return at once).
        await source.close_input()
        await destination.close_input()
    src_end, dst_end = await asyncio.gather(source.finish(), destination.finish())
    return src_end, dst_end, sent
