"""Options and helpers shared by every command group, and the one place errors become messages."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from compose_farm.cli import completion
from compose_farm.status import ExitStatus

if TYPE_CHECKING:
    import asyncio

    from compose_farm.config import Config
    from compose_farm.errors import FarmError
    from compose_farm.executor import Executor

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
    from compose_farm.config import find_config, load_config

    return load_config(find_config(config, os.environ))


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
    typer.Argument(help="Stacks to act on.", show_default=False, autocompletion=completion.stacks),
]
StackArg = Annotated[
    str, typer.Argument(help="The stack.", show_default=False, autocompletion=completion.stacks)
]
AllOption = Annotated[bool, typer.Option("--all", "-a", help="Every stack in the config.")]
HostOption = Annotated[
    str | None,
    typer.Option(
        "--host",
        "-H",
        help="Only this host (for stacks on several hosts: only here).",
        autocompletion=completion.hosts,
    ),
]
ServiceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--service",
        "-s",
        help="Only this compose service (repeatable).",
        show_default=False,
        autocompletion=completion.services,
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


def run_async(main: Coroutine[Any, Any, T], *, warming: bool = False) -> T:
    """Run the command's coroutine; Ctrl-C hangs up remote commands and says so.

    ``warming``: the command ends start-up itself (``warm_up``, which resumes the
    cycle collector once its imports are done); otherwise start-up ends here."""
    import asyncio

    # SIGTERM (``kill``, ``timeout``, systemd) ends the command as Ctrl-C does: the
    # running steps are cancelled and their clean-ups run (a data move removes its
    # key), instead of the process vanishing mid-step. Ctrl-C is the event loop's
    # own while it runs (it cancels the command), not ``app.main``'s.
    from compose_farm.cli.app import resume_collector

    previous = signal.signal(signal.SIGTERM, _as_interrupt)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    if not warming:
        resume_collector()
    try:
        with asyncio.Runner() as runner:
            return runner.run(main)
    except KeyboardInterrupt:
        sys.stderr.write(
            "\nInterrupted: remote commands were hung up; the state file records what finished.\n"
        )
        raise SystemExit(ExitStatus.INTERRUPTED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, before)


async def warm_up(executor: Executor, modules: Sequence[str]) -> list[asyncio.Task[object]]:
    """Start connecting to every remote host, and import ``modules`` meanwhile.

    The handshakes wait on the network and on the hosts' sshd, while the imports
    keep this process busy: done side by side, a command that asks every host
    (``ps``, ``apply``) is ready to read their answers about when it has what it
    needs to show them. The connections are the executor's own, reused by the
    command's first command on each host; a host that cannot be reached tells the
    command so when it asks."""
    import asyncio

    remote = [h for h in executor.config.hosts if not executor.is_local(h)]
    if remote:
        # asyncssh first, here: imported beside the other thread's imports, both
        # would only take turns on the interpreter, and the handshakes start later
        import_modules(("compose_farm.ssh.pool",))
    connecting: list[asyncio.Task[object]] = [
        asyncio.ensure_future(executor.reachable(host)) for host in remote
    ]
    await asyncio.to_thread(import_modules, modules)
    from compose_farm.cli.app import resume_collector

    resume_collector()  # start-up is over: the connections are open or opening
    return connecting


def import_modules(modules: Sequence[str]) -> None:
    """Import ``modules`` (on a worker thread while the event loop waits on hosts)."""
    import importlib

    for name in modules:
        importlib.import_module(name)


def _as_interrupt(_signum: int, _frame: object) -> None:
    """Deliver SIGINT instead, which the event loop turns into cancelling the command."""
    signal.raise_signal(signal.SIGINT)
