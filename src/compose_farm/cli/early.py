"""Open the hosts' SSH connections of ``cf ps`` and ``cf apply`` while cf is still starting.

Both commands spend about as long importing Python modules (Typer, Rich, the
commands) as waiting on their hosts' SSH handshakes, and one need not wait for
the other. So for a command line of one of these two, in a form this module
knows reaches the hosts, ``main`` calls ``start`` before importing the CLI: it
loads the config and asyncssh, makes the Executor the command would make, starts
what the command would do first on its hosts (for ``apply``, connect; for ``ps``,
which only reads, its one ``docker ps`` per host), and keeps the event loop
running while another thread imports the modules the command needs. The command
then runs as always (Typer parses its arguments; it loads the config, reads the
state, checks its arguments) and its ``load``, ``run_async``, executor and
``gather_facts`` find the same config, the same loop, and that work done or
under way.

Nothing else changes: the connections are the Executor's own (same options,
same host key checks, errors kept until the command asks for that host), and a
command line this module does not recognise, a config that does not load, or
an unknown stack or host skips all this. All a host can tell is that cf comes a
little earlier: before the state file is read (if it is unreadable, the command
stops there and ``finish`` closes the connections), and for ``apply`` before the
farm lock is taken (its ``docker ps`` waits for the lock, as always).
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from compose_farm.config import Config
    from compose_farm.executor import Executor, Result

# The options of each command (flags, and options that take a value). A command
# line with anything else (--help, `--`, -aH h1, -cFILE, -v before the command...)
# is left to Typer alone.
_FLAGS = {
    "ps": frozenset({"-a", "--all", "--json"}),
    "apply": frozenset(
        {"-n", "--dry-run", "-y", "--yes", "--no-orphans", "--no-strays", "--full", "--prune-data"}
    ),
}
_VALUES = {
    "ps": {"-c": "config", "--config": "config", "-H": "host", "--host": "host"},
    "apply": {"-c": "config", "--config": "config"},
}
# What each command imports besides the CLI itself, in the order it does.
_MODULES = {
    "ps": ("compose_farm.facts", "compose_farm.state", "rich.console", "rich.table"),
    "apply": (
        "rich.prompt",
        "compose_farm.cli.render",
        "compose_farm.cli.session",
        "compose_farm.facts",
        "compose_farm.farmlock",
        "compose_farm.operations.reconcile",
        "compose_farm.plan",
    ),
}


@dataclass
class _Early:
    """The config, executor and event loop made before the command ran, until it takes them."""

    path: Path
    config: Config
    executor: Executor
    runner: asyncio.Runner
    ps_runs: dict[str, asyncio.Task[Result]] = field(default_factory=dict)
    connecting: list[asyncio.Task[None]] = field(default_factory=list)
    executor_taken: bool = False
    runner_taken: bool = False


_started: list[_Early] = []  # what ``start`` made, when it did


def _early() -> _Early | None:
    return _started[0] if _started else None


def parse(argv: list[str]) -> tuple[str, dict[str, str], list[str]] | None:
    """``(command, {"config"|"host": value}, stack names)``, or None unless the command
    line is ``ps`` or ``apply`` with only their own options, each given once."""
    if not argv or argv[0] not in _FLAGS:
        return None
    command, values, names = argv[0], dict[str, str](), list[str]()
    args = iter(argv[1:])
    for arg in args:
        option, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if option in _VALUES[command]:
            key = _VALUES[command][option]
            value = value if eq else next(args, "-")
            if key in values or value.startswith("-"):
                return None
            values[key] = value
        elif arg in _FLAGS[command]:
            continue
        elif command == "ps" and not arg.startswith("-"):
            names.append(arg)
        else:
            return None
    return command, values, names


def start(argv: list[str]) -> None:
    """For ``cf ps`` and ``cf apply``: start connecting, then import the CLI meanwhile."""
    try:
        _start(argv)
    except KeyboardInterrupt:
        # This is the command's work, and Typer ends an interrupted command
        # with status 130 and no traceback.
        raise SystemExit(130) from None


def _start(argv: list[str]) -> None:
    parsed = parse(argv)
    if parsed is None:
        return
    command, values, names = parsed
    from compose_farm.config import find_config, load_config

    try:
        path = find_config(values.get("config"), os.environ)
        cfg = load_config(path)
    except Exception:
        return  # the command meets the same problem where it always did, and reports it
    host = values.get("host")
    if (host is not None and host not in cfg.hosts) or any(n not in cfg.stacks for n in names):
        return  # the command stops with a usage error before it connects

    import asyncio

    from compose_farm.executor import Executor

    executor = Executor(cfg)
    hosts = [h for h in ([host] if host is not None else cfg.hosts) if not executor.is_local(h)]
    if not hosts:
        return
    early = _Early(path, cfg, executor, asyncio.Runner())
    try:
        early.runner.run(_connect_while_importing(early, command, hosts))
    except BaseException:
        early.runner.close()
        raise
    _started.append(early)


async def _connect_while_importing(early: _Early, command: str, hosts: list[str]) -> None:
    import asyncio

    if command == "ps":
        # ps only reads: its one `docker ps` per host can run now too.
        from compose_farm.facts import ps_command

        for host in hosts:
            run = asyncio.ensure_future(early.executor.run(host, ps_command(), capture=True))
            run.add_done_callback(_seen)
            early.ps_runs[host] = run
    else:
        # apply reads what runs only once it holds the farm lock: just connect.
        early.connecting += [asyncio.ensure_future(_connect(early.executor, h)) for h in hosts]
    await asyncio.to_thread(_import, ("compose_farm.cli.root", *_MODULES[command]))


def _seen(run: asyncio.Future[Result]) -> None:
    # The command gets any error when it awaits the run; if it stops before
    # that, the error must not be logged as never retrieved.
    if not run.cancelled():
        run.exception()


async def _connect(executor: Executor, host: str) -> None:
    # A host that cannot be reached is remembered by the executor, which gives
    # the reason to the command when it asks for the host: nothing to do here.
    with contextlib.suppress(Exception):
        await executor.reachable(host)


def _import(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(name)


def config_at(path: Path) -> Config | None:
    """The config already loaded from ``path``, if ``start`` loaded it."""
    early = _early()
    return early.config if early is not None and early.path == path else None


def executor(config: Config) -> Executor:
    """The executor ``start`` made for ``config`` (connections open or opening), else a new one."""
    early = _early()
    if early is not None and early.config is config and not early.executor_taken:
        early.executor_taken = True
        return early.executor
    from compose_farm.executor import Executor

    return Executor(config)


def runs(executor: Executor) -> dict[str, asyncio.Task[Result]]:
    """Host -> the run of ``facts.ps_command`` ``start`` began with ``executor``, for ``cf ps``."""
    early = _early()
    return early.ps_runs if early is not None and early.executor is executor else {}


@contextlib.contextmanager
def event_loop() -> Iterator[asyncio.Runner]:
    """The loop ``start`` connected on (the first time), else a new one; closed after use."""
    import asyncio

    early = _early()
    if early is None or early.runner_taken:
        with asyncio.Runner() as runner:
            yield runner
        return
    early.runner_taken = True
    with early.runner as runner:
        try:
            yield runner
        finally:
            if not early.executor_taken:
                runner.run(early.executor.close())


def finish() -> None:
    """Close the connections when the command stopped before it ran on its loop."""
    early = _early()
    if early is not None and not early.runner_taken:
        early.runner_taken = True
        with early.runner as runner:
            runner.run(early.executor.close())
