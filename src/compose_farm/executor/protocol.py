"""What operations need from an executor, and nothing more.

Operations, sync, data moves and hooks are typed against ``ExecutorProtocol``:
the real executor (``farm.Executor``: local commands, or SSH through the pool)
satisfies it, and so does the scripted fake tests use (``fake.ScriptedExecutor``),
so every way out of an operation can be run in-process. Opening terminals,
checking reachability and closing connections belong to the CLI and the web
app, which hold the real executor itself.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from compose_farm.executor.command import Runnable
from compose_farm.executor.events import Result, Sink, discard
from compose_farm.executor.pipes import BytePipe


class ExecutorProtocol(Protocol):
    """Runs commands on the farm's hosts (see ``farm.Executor`` for the real one)."""

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
        """Run ``command`` on ``host``: its output to ``sink`` as it happens (and, with
        ``capture``, in the result); a host that cannot be reached is a failed ``Result``
        with ``unreachable`` set, never an exception."""
        ...

    def open_pipe(self, host: str, command: Runnable) -> AbstractAsyncContextManager[BytePipe]:
        """``command`` on ``host`` with byte stdin and stdout (tar streams); raises
        ``HostUnreachableError`` when the host cannot be reached."""
        ...

    def is_local(self, host: str) -> bool:
        """True when ``host``'s commands run on this machine (no SSH connection)."""
        ...

    async def ssh_connection(self, host: str) -> Any:
        """The remote ``host``'s SSH connection (host-to-host copies read its address and
        host key from it); raises ``HostUnreachableError``."""
        ...
