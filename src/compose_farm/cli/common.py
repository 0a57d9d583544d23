"""Options and helpers shared by every command group, and the one place errors become messages."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from compose_farm.status import ExitStatus

if TYPE_CHECKING:
    from compose_farm.config import Config
    from compose_farm.errors import FarmError

T = TypeVar("T")

ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $CF_CONFIG, ./compose-farm.yaml, "
        "$XDG_CONFIG_HOME/compose-farm/compose-farm.yaml).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", "-n", help="Show the changes, make none.")]


def load(config: str | None) -> Config:
    """Find and load the config named by ``-c`` or the search order."""
    from compose_farm.cli import early
    from compose_farm.config import find_config, load_config

    path = find_config(config, os.environ)
    loaded = early.config_at(path)
    return loaded if loaded is not None else load_config(path)


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout (one document, for scripts)."""
    import json

    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def report(error: FarmError) -> NoReturn:
    """Print a user error (never a traceback) and exit with its code."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(f"[bold red]Error:[/] {escape(error.message)}")
    if error.hint:
        console.print(f"[dim]Hint:[/] {escape(error.hint)}")
    raise SystemExit(error.exit_code)


def finish(status: ExitStatus) -> None:
    """End the command with ``status`` (nothing to do for ``OK``)."""
    if status is not ExitStatus.OK:
        raise SystemExit(status)


def fail(message: str, *, hint: str | None = None, code: ExitStatus = ExitStatus.USAGE) -> NoReturn:
    """Stop the command with a user error (``USAGE`` unless ``code`` says otherwise)."""
    from compose_farm.errors import UsageError

    report(UsageError(message, hint=hint, exit_code=code))


StacksArg = Annotated[
    list[str] | None,
    typer.Argument(help="Stacks to act on.", show_default=False),
]
AllOption = Annotated[bool, typer.Option("--all", "-a", help="Every stack in the config.")]
HostOption = Annotated[
    str | None,
    typer.Option("--host", "-H", help="Only this host (for stacks on several hosts: only here)."),
]
ServiceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--service", "-s", help="Only this compose service (repeatable).", show_default=False
    ),
]


def check_hosts(cfg: Config, hosts: list[str]) -> list[str]:
    """Fail clearly unless every name in ``hosts`` is a configured host."""
    for host in hosts:
        if host not in cfg.hosts:
            fail(
                f"unknown host {host!r} (config: {cfg.path})",
                hint=f"known hosts: {', '.join(cfg.hosts)}",
            )
    return hosts


def select_stacks(
    cfg: Config, names: list[str] | None, all_stacks: bool, host: str | None
) -> list[str]:
    """Resolve stack names / ``--all`` / ``--host`` to configured stacks, or fail clearly."""
    from compose_farm.names import name_problem

    check_hosts(cfg, [host] if host is not None else [])
    if names:
        for name in names:
            if (why := name_problem(name)) is not None:
                fail(f"stack name {name!r} {why}")
            if name not in cfg.stacks:
                known = ", ".join(sorted(cfg.stacks)) or "none"
                fail(
                    f"unknown stack {name!r}: it is not in {cfg.path}",
                    hint=f"configured stacks: {known}",
                )
        return list(dict.fromkeys(names))
    if all_stacks:
        return [s for s in cfg.stacks if host is None or host in cfg.stacks[s].hosts]
    if host is not None:
        return cfg.stacks_on(host)
    fail("name one or more stacks, or pass --all (or --host HOST)", hint="see `cf list`")


def check_services(services: list[str] | None) -> list[str]:
    """Validate ``--service`` values before anything runs."""
    from compose_farm.names import name_problem

    for service in services or []:
        if (why := name_problem(service)) is not None:
            fail(f"service name {service!r} {why}")
    return list(services or [])


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run the command's coroutine; Ctrl-C hangs up remote commands and says so.

    It runs as ``asyncio.run`` would, on the loop ``cli/early.py`` opened the
    command's connections on, if it did.
    """
    from compose_farm.cli import early

    # SIGTERM (``kill``, ``timeout``, systemd) ends the command as Ctrl-C does: the
    # running steps are cancelled and their clean-ups run (a data move removes its
    # key), instead of the process vanishing mid-step.
    previous = signal.signal(signal.SIGTERM, _as_interrupt)
    try:
        with early.event_loop() as loop:
            return loop.run(main)
    except KeyboardInterrupt:
        sys.stderr.write(
            "\nInterrupted: remote commands were hung up; the state file records what finished.\n"
        )
        raise SystemExit(ExitStatus.INTERRUPTED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _as_interrupt(_signum: int, _frame: object) -> None:
    """Deliver SIGINT instead, which the event loop turns into cancelling the command."""
    signal.raise_signal(signal.SIGINT)
