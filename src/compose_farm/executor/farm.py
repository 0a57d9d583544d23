"""The executor handed to operations, the CLI and the web app.

It sends each command to the right runner for its host: local hosts run
through ``sh -c``; remote hosts share one pooled SSH connection each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from compose_farm.config import Config
from compose_farm.executor.command import Runnable
from compose_farm.executor.events import Result, Sink, discard
from compose_farm.executor.local import LocalRunner, is_local_address
from compose_farm.executor.pipes import BytePipe, LocalPipe
from compose_farm.ssh.identity import SshIdentity

if TYPE_CHECKING:  # ssh/pool.py imports this package's command and event values
    from compose_farm.ssh.pool import SshPool
    from compose_farm.ssh.terminal import Terminal

T = TypeVar("T")


class Executor:
    """Runs commands on the farm's hosts; use as ``async with Executor(cfg) as ex``."""

    def __init__(self, config: Config, *, home: Path | None = None) -> None:
        self.config = config
        self.identity = SshIdentity.of(config, home)
        self._ssh: SshPool | None = None
        self._local: dict[str, LocalRunner] = {}
        self._cut: list[tuple[str, str | None, str]] = []  # runs a cancellation ended

    def cut_short(self) -> list[tuple[str, str | None, str]]:
        """``(host, stack, command)`` of every command that was running when the run
        was cancelled (Ctrl-C), to say what the interruption cut short."""
        return list(self._cut)

    def is_local(self, host: str) -> bool:
        """True when ``host``'s commands run on this machine."""
        cfg = self.config.hosts[host]
        return cfg.is_local or is_local_address(cfg.address)

    @property
    def connections_opened(self) -> int:
        """SSH connections opened so far in this run (one per remote host at most)."""
        return self._ssh.connections_opened if self._ssh else 0

    def _pool(self) -> SshPool:
        if self._ssh is None:
            from compose_farm.ssh.pool import SshPool

            self._ssh = SshPool(self.config.hosts, self.config.ssh, self.identity)
        return self._ssh

    async def run(
        self,
        host: str,
        command: Runnable,
        *,
        stack: str | None = None,
        sink: Sink = discard,
        capture: bool = False,
        stdin: str | None = None,
    ) -> Result:
        """Run ``command`` on ``host``; output goes to ``sink`` as it happens."""
        try:
            if self.is_local(host):
                runner = self._local.setdefault(host, LocalRunner(host))
                return await runner.run(
                    command, stack=stack, sink=sink, capture=capture, stdin=stdin
                )
            return await self._pool().run(
                host, command, stack=stack, sink=sink, capture=capture, stdin=stdin
            )
        except asyncio.CancelledError:
            self._cut.append((host, stack, command.display()))
            raise

    @contextlib.asynccontextmanager
    async def open_pipe(self, host: str, command: Runnable) -> AsyncIterator[BytePipe]:
        """``command`` on ``host`` with byte stdin/stdout (tar streams); see ``pipes``.

        Raises ``HostUnreachableError`` when the host cannot be reached.
        """
        if self.is_local(host):
            async with LocalPipe.open(host, command.shell()) as local:
                yield local
        else:
            async with self._pool().open_pipe(host, command) as remote:
                yield remote

    async def open_terminal(
        self, host: str, command: Runnable | None = None, cols: int = 80, rows: int = 24
    ) -> Terminal:
        """An interactive PTY on ``host`` (a shell, or ``command``); raises if unreachable."""
        from compose_farm.ssh.terminal import open_local_terminal, open_ssh_terminal

        if self.is_local(host):
            return await open_local_terminal(command, cols, rows)
        conn = await self._pool().connection(host)
        return await open_ssh_terminal(conn, command, cols, rows)

    async def ssh_connection(self, host: str) -> Any:
        """The remote ``host``'s asyncssh connection (opened if need be); raises
        ``HostUnreachableError``."""
        return await self._pool().connection(host)

    async def reachable(self, host: str) -> str | None:
        """``None`` when ``host`` can be reached, else why not (opens its connection)."""
        if self.is_local(host):
            return None
        from compose_farm.errors import HostUnreachableError

        try:
            await self._pool().connection(host)
        except HostUnreachableError as exc:
            return exc.message
        return None

    async def close(self) -> None:
        """Close every connection."""
        if self._ssh is not None:
            await self._ssh.close()

    async def __aenter__(self) -> Executor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def gather_bounded(jobs: Iterable[Callable[[], Awaitable[T]]], limit: int = 32) -> list[T]:
    """Run ``jobs`` concurrently, at most ``limit`` at once, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))
