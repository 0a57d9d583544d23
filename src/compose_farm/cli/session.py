"""One command's run-time parts: console, executor, state store, printer, operations."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from rich.console import Console

from compose_farm.cli.render import Printer
from compose_farm.config import Config
from compose_farm.executor import Executor
from compose_farm.operations.context import operations_for
from compose_farm.operations.lifecycle import Operations
from compose_farm.secrets import Secrets
from compose_farm.state import StateStore


@dataclass
class Session:
    """Everything a command needs to act on hosts."""

    config: Config
    console: Console
    executor: Executor
    store: StateStore
    printer: Printer
    ops: Operations


@contextlib.asynccontextmanager
async def open_session(
    config: Config,
    stacks: Sequence[str] = (),
    *,
    prune_data: bool = False,
    who: str = "cf",
    on: Executor | None = None,
) -> AsyncIterator[Session]:
    """Build the parts for ``stacks`` (on the executor ``on`` when given, else a new one);
    closes every SSH connection on the way out."""
    console = Console(highlight=False, soft_wrap=True)
    secrets = Secrets(config, os.environ)
    multi = {name for name, s in config.stacks.items() if s.multi_host}
    printer = Printer(console, multi, secrets.mask)
    async with on or Executor(config) as executor:
        ops = operations_for(config, executor, printer, os.environ, prune_data=prune_data, who=who)
        try:
            yield Session(config, console, executor, ops.store, printer, ops)
        except asyncio.CancelledError:
            _say_interrupted(console, printer, executor.cut_short())
            raise


def _say_interrupted(
    console: Console, printer: Printer, running: list[tuple[str, str | None, str]]
) -> None:
    """What Ctrl-C (or SIGTERM) cut short: the commands running on hosts at that moment."""
    from rich.text import Text

    if not running:
        console.print(Text("Interrupted between steps: no command was running on a host."))
        return
    console.print(Text("Interrupted while these ran (each is being hung up):", style="yellow"))
    for host, stack, command in running:
        line = Text.assemble("  ", printer.prefix(stack, host), " ")
        line.append(printer.mask(stack, command))
        console.print(line)
