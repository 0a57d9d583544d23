"""Read-only commands: ``list``, ``ps``, ``logs``, ``outdated`` (``stats``: cli/stats.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from compose_farm.cli.common import (
    AllOption,
    ConfigOption,
    HostOption,
    JsonOption,
    ServiceOption,
    StacksArg,
    check_hosts,
    check_services,
    fail,
    import_modules,
    load,
    print_json,
    run_async,
    select_stacks,
)
from compose_farm.status import ExitStatus

if TYPE_CHECKING:
    from compose_farm.config import Config


def list_stacks(
    config: ConfigOption = None,
    host: HostOption = None,
    as_json: JsonOption = False,
) -> None:
    """List configured stacks, the hosts each runs on (--host also matches 'all'), and
    where one is paused (taken down on purpose: `cf apply` leaves it down until `cf up`)."""
    from compose_farm.state import StateStore

    cfg = load(config)
    check_hosts(cfg, [host] if host is not None else [])
    stacks = [s for s in cfg.stacks.values() if host is None or host in s.hosts]
    state = StateStore(cfg.state_path).read()
    if as_json:
        print_json(
            [
                {
                    "stack": s.name,
                    "hosts": list(s.hosts),
                    "all_hosts": s.all_hosts,
                    "paused": list(state.paused_on(s.name)),
                }
                for s in stacks
            ]
        )
        return
    rows = [
        (s.name, "all" if s.all_hosts else ", ".join(s.hosts), ", ".join(state.paused_on(s.name)))
        for s in stacks
    ]
    _table(("STACK", "HOSTS", "PAUSED ON"), rows)


def _table(
    headers: tuple[str, ...], rows: Sequence[tuple[str, ...]], title: str | None = None
) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, title=title, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, style="bold" if i == 0 else None, overflow="fold")
    for row in rows:
        table.add_row(*row)
    # Piped output is never wrapped to 80 columns: one row per line, like `docker ps`.
    width = None if sys.stdout.isatty() else 400
    Console(soft_wrap=True, highlight=False, width=width).print(table)


def _read_state_and_import(cfg: Config) -> Any:
    from compose_farm.state import StateStore

    import_modules(("rich.console", "rich.table", "compose_farm.operations.ps"))
    return StateStore(cfg.state_path).read()


def short_ports(ports: str) -> str:
    """``0.0.0.0:8080->80/tcp, [::]:8080->80/tcp`` -> ``8080->80/tcp``."""
    seen: dict[str, None] = {}
    for part in ports.split(", "):
        for prefix in ("0.0.0.0:", "[::]:", ":::"):
            part = part.removeprefix(prefix)
        if part:
            seen[part] = None
    return ", ".join(seen)


def _scope(cfg: Config, stacks: list[str] | None, all_stacks: bool, host: str | None) -> list[str]:
    """Stacks to show: named ones, or every stack when none are named."""
    if stacks or host is not None:
        return select_stacks(cfg, stacks, all_stacks or not stacks, host)
    return list(cfg.stacks)


def ps(
    stacks: StacksArg = None,
    all_stacks: AllOption = False,
    host: HostOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """One table of every stack's containers across all hosts (one round trip per host)."""
    import asyncio
    from dataclasses import asdict

    from compose_farm.cli.app import resume_collector
    from compose_farm.executor import Executor
    from compose_farm.facts import gather_facts

    cfg = load(config)
    wanted = _scope(cfg, stacks, all_stacks, host)
    hosts = [host] if host else list(cfg.hosts)

    async def main() -> Any:
        async with Executor(cfg) as executor:
            # the hosts answer while the state is read and the table's modules import
            import_modules(("compose_farm.ssh.pool",))  # first, see warm_up
            asking = asyncio.ensure_future(gather_facts(cfg, executor, hosts))
            state = await asyncio.to_thread(_read_state_and_import, cfg)
            resume_collector()
            return state, await asking

    state, facts = run_async(main(), warming=True)
    from compose_farm.operations.ps import ps_rows

    rows = ps_rows(cfg, state, facts, wanted, host)
    unreachable = facts.unreachable()
    if as_json:
        print_json({"containers": [asdict(r) for r in rows], "unreachable": unreachable})
    else:
        _table(
            ("STACK", "SERVICE", "HOST", "STATE", "IMAGE", "PORTS"),
            [
                (
                    r.stack,
                    r.service,
                    r.host,
                    (r.status or r.state) + (" (paused)" if r.paused and r.service else ""),
                    r.image,
                    short_ports(r.ports),
                )
                for r in rows
            ],
        )
        for why in unreachable.values():
            typer.echo(f"warning: {why}", err=True)
    if unreachable:
        raise SystemExit(ExitStatus.UNREACHABLE)


def logs(
    stacks: StacksArg = None,
    all_stacks: AllOption = False,
    host: HostOption = None,
    service: ServiceOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep following new output.")
    ] = False,
    tail: Annotated[
        str | None, typer.Option("--tail", "-n", help="Lines from the end of each log (or 'all').")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Show stacks' logs, prefixed [stack] (or [stack@host])."""
    from compose_farm.cli.lifecycle import run_on_hosts

    cfg = load(config)
    names = select_stacks(cfg, stacks, all_stacks, host)
    services = check_services(service)
    args = ["logs", "--no-color"]
    if tail is not None:
        if not (tail == "all" or tail.isdigit()):
            fail(f"--tail takes a number or 'all', not {tail!r}")
        args += ["--tail", tail]
    if follow:
        args.append("--follow")
    run_on_hosts(cfg, names, host, [*args, *services], "logs")


def outdated(
    stacks: StacksArg = None,
    all_stacks: AllOption = False,
    host: HostOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Which running services have a newer image in their registry (nothing is pulled).

    One registry request per distinct image; credentials and http/https as
    Docker on the host that runs it has them. A registry that cannot be asked
    is "unknown", never "up to date" (exit status 1). Results go to
    dockerfarm-log.toml.
    """
    from dataclasses import asdict

    from compose_farm.cli.session import open_session
    from compose_farm.operations.outdated import Status
    from compose_farm.operations.outdated import outdated as run_outdated

    cfg = load(config)
    wanted = _scope(cfg, stacks, all_stacks, host)

    async def main() -> Any:
        async with open_session(cfg, who="cf outdated") as session:
            return await run_outdated(session.ops, wanted)

    checks, facts = run_async(main())
    if host is not None:
        checks = [c for c in checks if c.host == host]
    unreachable = facts.unreachable()
    if as_json:
        print_json(
            {"services": [asdict(c) for c in checks], "unreachable": unreachable},
        )
    else:
        _table(
            ("STACK", "SERVICE", "HOST", "IMAGE", "STATUS"),
            [
                (
                    c.stack,
                    c.service,
                    c.host,
                    c.image,
                    c.status + (f": {c.reason}" if c.reason else ""),
                )
                for c in checks
            ],
        )
        for why in unreachable.values():
            typer.echo(f"warning: {why}", err=True)
    if any(c.status is Status.UNKNOWN for c in checks):
        raise SystemExit(ExitStatus.FAILED)
    if unreachable:
        raise SystemExit(ExitStatus.UNREACHABLE)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("list")(list_stacks)
    app.command()(ps)
    app.command()(outdated)
    app.command()(logs)
