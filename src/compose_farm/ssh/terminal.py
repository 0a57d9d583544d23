"""Interactive terminals for the web console: a PTY on a host, bridged as bytes.

Remote hosts get a PTY session on their pooled asyncssh connection (no new
login); local hosts get a local PTY. Either way the caller reads output bytes,
writes keystrokes and resizes, and closing hangs the session up.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import struct
import termios
from typing import Protocol

from compose_farm.executor.command import Runnable
from compose_farm.ssh.lib import asyncssh


class Terminal(Protocol):
    """A running interactive session."""

    async def read(self) -> bytes:
        """Next output bytes; ``b""`` when the session ended."""
        ...

    def write(self, data: bytes) -> None:
        """Send keystrokes."""

    def resize(self, cols: int, rows: int) -> None:
        """Tell the session the terminal size changed."""

    def close(self) -> None:
        """Hang up."""


class SshTerminal:
    """A PTY session over an existing asyncssh connection."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self.process = process

    async def read(self) -> bytes:
        """Output from the remote PTY."""
        data = await self.process.stdout.read(65536)
        return bytes(data)

    def write(self, data: bytes) -> None:
        """Keystrokes to the remote PTY."""
        self.process.stdin.write(data)

    def resize(self, cols: int, rows: int) -> None:
        """Forward a window size change."""
        self.process.change_terminal_size(cols, rows)

    def close(self) -> None:
        """Close the channel (the remote shell gets a hangup)."""
        self.process.close()


async def open_ssh_terminal(
    conn: asyncssh.SSHClientConnection, command: Runnable | None, cols: int, rows: int
) -> SshTerminal:
    """Start a login shell (``command=None``) or ``command`` with a PTY."""
    process = await conn.create_process(
        command.shell() if command is not None else None,
        term_type="xterm-256color",
        term_size=(cols, rows),
        encoding=None,
    )
    return SshTerminal(process)


class LocalTerminal:
    """A PTY on this machine running a shell or a command."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int) -> None:
        self.proc = proc
        self.master = master
        self.loop = asyncio.get_running_loop()

    async def read(self) -> bytes:
        """Output from the local PTY (``b""`` once the program exits)."""
        future: asyncio.Future[bytes] = self.loop.create_future()

        def ready() -> None:
            self.loop.remove_reader(self.master)
            try:
                future.set_result(os.read(self.master, 65536))
            except OSError:
                future.set_result(b"")

        self.loop.add_reader(self.master, ready)
        try:
            return await future
        finally:
            self.loop.remove_reader(self.master)

    def write(self, data: bytes) -> None:
        """Keystrokes to the local PTY."""
        with contextlib.suppress(OSError):
            os.write(self.master, data)

    def resize(self, cols: int, rows: int) -> None:
        """Set the PTY's window size."""
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def close(self) -> None:
        """Stop the program and release the PTY."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        with contextlib.suppress(OSError):
            os.close(self.master)


async def open_local_terminal(command: Runnable | None, cols: int, rows: int) -> LocalTerminal:
    """A local PTY running the user's shell or ``command``."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    argv = ["sh", "-c", command.shell()] if command is not None else [os.environ.get("SHELL", "sh")]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    os.close(slave)
    return LocalTerminal(proc, master)
