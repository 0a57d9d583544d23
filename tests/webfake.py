"""An in-memory executor for web tests that need no lab.

``FakeHosts`` says what each host runs (containers as ``docker ps`` lists
them) and records every other command and every terminal the app opens;
``FakeHosts.factory`` is the ``executor_factory`` that ``create_app`` takes.
A fake terminal echoes what it is sent, so a test can tell that the session
is still alive after a message it should have ignored.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

from compose_farm.config import Config
from compose_farm.executor import Executor, OutputLine, Result, Runnable, Sink, discard
from compose_farm.executor.terminal import Terminal
from compose_farm.facts import ps_command
from compose_farm.web.farm import ExecutorFactory


@dataclass(frozen=True)
class FakeContainer:
    """One container as a host's ``docker ps`` describes it (see ``facts.PS_FORMAT``)."""

    id: str
    project: str
    service: str
    working_dir: Path
    name: str
    image: str = "busybox"
    state: str = "running"
    status: str = "Up 2 minutes"
    ports: str = ""

    def ps_line(self) -> str:
        fields = [self.id, self.project, self.service, str(self.working_dir), self.name]
        return json.dumps([*fields, self.image, self.state, self.status, self.ports])


@dataclass
class FakeTerminal:
    """A terminal that records writes and sizes and echoes writes back."""

    cols: int
    rows: int
    written: list[bytes] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    closed: bool = False
    output: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)

    async def read(self) -> bytes:
        return await self.output.get()

    def write(self, data: bytes) -> None:
        self.written.append(data)
        self.output.put_nowait(b"echo:" + data)

    def resize(self, cols: int, rows: int) -> None:
        self.sizes.append((cols, rows))

    def close(self) -> None:
        self.closed = True
        self.output.put_nowait(b"")


@dataclass
class FakeHosts:
    """What the fake hosts run, and what the app asked of them."""

    containers: dict[str, list[FakeContainer]] = field(default_factory=dict)
    say: list[str] = field(default_factory=list)  # printed by every command but `docker ps`
    ran: list[tuple[str, str]] = field(default_factory=list)  # (host, shell line)
    terminals: list[tuple[str, str | None, FakeTerminal]] = field(default_factory=list)

    def ps_output(self, host: str) -> str:
        return "".join(c.ps_line() + "\n" for c in self.containers.get(host, []))

    def factory(self) -> ExecutorFactory:
        return lambda config: FakeExecutor(config, self)


class FakeExecutor(Executor):
    """Answers ``docker ps`` from ``FakeHosts``; records and succeeds at everything else."""

    def __init__(self, config: Config, hosts: FakeHosts) -> None:
        super().__init__(config, home=Path("/nonexistent"))
        self.fake = hosts

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
        if command == ps_command():
            return Result(host, stack, 0, stdout=self.fake.ps_output(host))
        self.fake.ran.append((host, command.shell()))
        for line in self.fake.say:
            sink(OutputLine(host, stack, "stdout", line))
        return Result(host, stack, 0)

    async def open_terminal(
        self, host: str, command: Runnable | None = None, cols: int = 80, rows: int = 24
    ) -> Terminal:
        term = FakeTerminal(cols, rows)
        self.fake.terminals.append((host, command.shell() if command else None, term))
        return term

    async def close(self) -> None:
        return None
