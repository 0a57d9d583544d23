"""Run commands on this machine, without SSH, for hosts whose address is local.

Output is read as ``stream.py`` reads it: a line of any length (or output with
no newline at all) arrives split into events of at most ``stream.MAX_PIECE``
bytes, and captured output keeps it whole. The command never outlives its run:
when reading fails (a sink raises) or the caller is cancelled, its whole
session (``sh`` and what it started) gets TERM, then KILL after ``grace``
seconds, and is reaped before the error goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
from functools import cache

from compose_farm.executor.command import Runnable
from compose_farm.executor.events import Result, Sink
from compose_farm.executor.stream import joined, pump_output

GRACE = 5.0  # seconds between TERM and KILL when a run is abandoned

LOCAL_NAMES = frozenset({"localhost", "local", "127.0.0.1", "::1"})


@cache
def is_local_address(address: str) -> bool:
    """True for loopback names and for any IP address bound on this machine.

    Binding a socket to an address succeeds only when the address belongs to
    one of this machine's interfaces, which answers the question without
    parsing interface lists. Host names are not resolved here: a name that is
    not obviously local is treated as remote.
    """
    if address in LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


class LocalRunner:
    """Runs a command with ``sh -c`` on this machine, streaming its output."""

    def __init__(self, host: str, *, grace: float = GRACE) -> None:
        self.host = host
        self.grace = grace

    async def run(
        self,
        command: Runnable,
        *,
        stack: str | None,
        sink: Sink,
        capture: bool,
        stdin: str | None = None,
    ) -> Result:
        """Run ``command`` locally and wait for it."""
        proc = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            command.shell(),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        out: list[str] | None = [] if capture else None
        err: list[str] | None = [] if capture else None
        assert proc.stdout is not None and proc.stderr is not None
        feed = None
        if stdin is not None and proc.stdin is not None:
            feed = _feed(proc.stdin, stdin.encode())
        try:
            await pump_output(
                proc.stdout.read,
                proc.stderr.read,
                host=self.host,
                stack=stack,
                sink=sink,
                keep=(out, err),
                beside=feed,
            )
            status = await proc.wait()
        except BaseException:
            await self._stop(proc)
            raise
        result = Result(
            host=self.host,
            stack=stack,
            exit_status=status if status >= 0 else 128 - status,
            stdout=joined(out),
            stderr=joined(err),
        )
        sink(result)
        return result

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        """TERM the command's session, KILL what is left after ``grace``, reap ``sh``."""
        try:
            _signal_session(proc, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), self.grace)
        finally:
            # Also what ignored TERM, or outlived the shell (even when cancelled again).
            _signal_session(proc, signal.SIGKILL)
        await proc.wait()

    async def close(self) -> None:
        """Nothing to release for local commands."""


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    """Write ``data`` to the command's stdin, then close it (beside reading its output, so a
    command that writes before it reads cannot wait on us while we wait on it)."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(data)
        await stdin.drain()
    stdin.close()


def _signal_session(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """Send ``sig`` to the session ``proc`` leads (it started with ``start_new_session``)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
