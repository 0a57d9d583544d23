"""Read-only commands: ``list``, ``ps``, ``logs``, ``stats``."""

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
    load,
    print_json,
    run_async,
    select_stacks,
)

if TYPE_CHECKING:
    from compose_farm.config import Config


def list_stacks(
    config: ConfigOption = None,
    host: HostOption = None,
    as_json: JsonOption = False,
) -> None:
    """List configured stacks and the hosts each runs on (--host also matches 'all')."""
    cfg = load(config)
    check_hosts(cfg, [host] if host is not None else [])
    stacks = [s for s in cfg.stacks.values() if host is None or host in s.hosts]
    if as_json:
        print_json(
            [{"stack": s.name, "hosts": list(s.hosts), "all_hosts": s.all_hosts} for s in stacks]
        )
        return
    rows = [(s.name, "all" if s.all_hosts else ", ".join(s.hosts)) for s in stacks]
    _table(("STACK", "HOSTS"), rows)


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
    from compose_farm.cli import early
    from compose_farm.facts import gather_facts
    from compose_farm.state import StateStore

    cfg = load(config)
    wanted = _scope(cfg, stacks, all_stacks, host)
    state = StateStore(cfg.state_path).read()
    hosts = [host] if host else list(cfg.hosts)

    async def main() -> Any:
        async with early.executor(cfg) as executor:
            return await gather_facts(cfg, executor, hosts, started=early.runs(executor))

    facts = run_async(main())
    rows: list[dict[str, str]] = []
    for stack in wanted:
        containers = facts.containers(stack)
        for c in containers:
            rows.append(
                {
                    "stack": stack,
                    "service": c.service,
                    "host": c.host,
                    "state": c.state,
                    "status": c.status,
                    "image": c.image,
                    "ports": c.ports,
                    "name": c.name,
                }
            )
        if not containers:
            expected = state.hosts_of(stack) or cfg.stacks[stack].hosts
            for h in expected:
                if host is not None and h != host:
                    continue
                why = "unreachable" if h in facts.unreachable() else "not running"
                rows.append(
                    {
                        "stack": stack,
                        "service": "",
                        "host": h,
                        "state": why,
                        "status": "",
                        "image": "",
                        "ports": "",
                        "name": "",
                    }
                )
    unreachable = facts.unreachable()
    if as_json:
        print_json({"containers": rows, "unreachable": unreachable})
    else:
        _table(
            ("STACK", "SERVICE", "HOST", "STATE", "IMAGE", "PORTS"),
            [
                (
                    r["stack"],
                    r["service"],
                    r["host"],
                    r["status"] or r["state"],
                    r["image"],
                    short_ports(r["ports"]),
                )
                for r in rows
            ],
        )
        for why in unreachable.values():
            typer.echo(f"warning: {why}", err=True)
    if unreachable:
        raise SystemExit(4)


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


STATS_PROGRAM = r"""
docker ps --no-trunc --filter label=com.docker.compose.project --format "$1" || exit $?
echo '--- stats'
# a container that stops while stats are read is simply left out
docker stats --no-stream --no-trunc --format '{{json .}}' 2>/dev/null
exit 0
"""


def stats(
    host: HostOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """CPU and memory of running containers, per host (one round trip per host)."""
    import asyncio
    import json

    from compose_farm.executor import Executor, Script
    from compose_farm.facts import PS_FORMAT, assign_stacks, parse_ps

    cfg = load(config)
    check_hosts(cfg, [host] if host is not None else [])
    hosts = [host] if host else list(cfg.hosts)
    script = Script(STATS_PROGRAM, (PS_FORMAT,))

    async def main() -> list[Any]:
        async with Executor(cfg) as executor:
            return list(
                await asyncio.gather(*(executor.run(h, script, capture=True) for h in hosts))
            )

    results = run_async(main())
    rows: list[dict[str, str]] = []
    unreachable: dict[str, str] = {}
    for h, result in zip(hosts, results, strict=True):
        if not result.ok:
            unreachable[h] = result.error or result.stderr.strip() or f"exit {result.exit_status}"
            continue
        ps_part, _, stats_part = result.stdout.partition("--- stats\n")
        containers = parse_ps(h, ps_part)
        owners = assign_stacks(cfg, containers)
        by_id = {c.id: c for c in containers}
        for line in stats_part.splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            container = next(
                (c for cid, c in by_id.items() if cid.startswith(str(item.get("ID", "")))), None
            )
            stack = owners.get((h, container.id), "") if container else ""
            rows.append(
                {
                    "host": h,
                    "stack": stack,
                    "container": str(item.get("Name", "")),
                    "cpu": str(item.get("CPUPerc", "")),
                    "memory": str(item.get("MemUsage", "")),
                    "memory_percent": str(item.get("MemPerc", "")),
                }
            )
    if as_json:
        print_json({"containers": rows, "unreachable": unreachable})
    else:
        _table(
            ("HOST", "STACK", "CONTAINER", "CPU", "MEMORY", "MEM %"),
            [
                (r["host"], r["stack"], r["container"], r["cpu"], r["memory"], r["memory_percent"])
                for r in rows
            ],
        )
        for why in unreachable.values():
            typer.echo(f"warning: {why}", err=True)
    if unreachable:
        raise SystemExit(4)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("list")(list_stacks)
    app.command()(ps)
    app.command()(logs)
    app.command()(stats)
