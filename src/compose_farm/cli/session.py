"""One command's run-time parts: console, executor, state store, printer, operations."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from rich.console import Console

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
    async with Executor(config) as executor:
        ops = Operations(config, executor, store, printer, os.environ)
        yield Session(config, console, executor, store, printer, ops)
