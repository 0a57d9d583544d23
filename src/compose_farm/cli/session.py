"""One command's run-time parts: console, executor, state store, printer, operations."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from rich.console import Console

from compose_farm.cli import early
from compose_farm.cli.render import Printer
from compose_farm.config import Config
from compose_farm.executor import Executor
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
async def open_session(config: Config, stacks: Sequence[str] = ()) -> AsyncIterator[Session]:
    """Build the parts for ``stacks``; closes every SSH connection on the way out."""
    console = Console(highlight=False, soft_wrap=True)
    secrets = Secrets(config, os.environ)
    multi = {name for name, s in config.stacks.items() if s.multi_host}
    printer = Printer(console, multi, secrets.mask)
    store = StateStore(config.state_path)
    async with early.executor(config) as executor:
        ops = Operations(config, executor, store, printer, os.environ)
        if config.traefik_file is not None:
            ops.after_change.append(lambda: _regenerate_traefik(config, store, console))
        yield Session(config, console, executor, store, printer, ops)


async def _regenerate_traefik(config: Config, store: StateStore, console: Console) -> None:
    """Rewrite ``traefik_file`` from the state after a change (only if its text changed)."""
    from rich.text import Text

    from compose_farm.traefik import regenerate

    changed, warnings = regenerate(config, store.read(), os.environ)
    for warning in warnings:
        console.print(Text(f"traefik: {warning}", style="yellow"))
    if changed:
        console.print(Text(f"traefik: updated {config.traefik_file}", style="dim"))
