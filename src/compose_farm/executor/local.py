"""Run commands on this machine, without SSH, for hosts whose address is local."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from functools import cache

from compose_farm.executor.command import Runnable
from compose_farm.executor.events import Result, Sink
from compose_farm.executor.stream import decoded_lines, joined, pump

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

    def __init__(self, host: str) -> None:
        self.host = host

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
        try:
            if stdin is not None and proc.stdin is not None:
                proc.stdin.write(stdin.encode())
                await proc.stdin.drain()
                proc.stdin.close()
            await asyncio.gather(
                pump(
                    decoded_lines(proc.stdout),
                    host=self.host,
                    stack=stack,
                    stream="stdout",
                    sink=sink,
                    keep=out,
                ),
                pump(
                    decoded_lines(proc.stderr),
                    host=self.host,
                    stack=stack,
                    stream="stderr",
                    sink=sink,
                    keep=err,
                ),
            )
            status = await proc.wait()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
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

    async def close(self) -> None:
        """Nothing to release for local commands."""
