"""``cf check`` and ``cf init-network`` (``refresh`` lives with ``apply`` in reconcile.py)."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated, Any

import typer

from compose_farm.cli import completion
from compose_farm.cli.common import (
    ConfigOption,
    JsonOption,
    check_hosts,
    fail,
    load,
    print_json,
    run_async,
)
from compose_farm.status import ExitStatus


def check(
    stacks: Annotated[
        list[str] | None,
        typer.Argument(
            help="Also show which hosts could run these stacks.",
            autocompletion=completion.stacks,
        ),
    ] = None,
    local: Annotated[bool, typer.Option("--local", help="Only check the config and disk.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the config against disk, reach every host, and check what each stack needs."""
    from rich.console import Console

    from compose_farm.cli.common import select_stacks
    from compose_farm.executor import Executor
    from compose_farm.operations.check import CheckReport
    from compose_farm.operations.check import check as run_check

    cfg = load(config)
    named = select_stacks(cfg, stacks, False, None) if stacks else []
    console = Console(highlight=False, soft_wrap=True)

    async def main() -> CheckReport:
        if local:
            return await run_check(cfg, None, named, os.environ)
        async with Executor(cfg) as executor:
            return await run_check(cfg, executor, named, os.environ)

    report = run_async(main())
    if not report.disk.readable:
        console.print(f"note: {cfg.compose_dir} is not readable here; skipping the disk checks")
    problems, notes = list(report.problems), list(report.notes)
    reports, drifts, left = list(report.hosts), report.drift, report.keys
    if as_json:
        print_json(
            {
                "problems": problems,
                "notes": notes,
                "hosts": {
                    r.host: {
                        "reachable": r.error is None,
                        "error": r.error,
                        "stacks": {s: [str(m) for m in ms] for s, ms in r.missing.items()},
                    }
                    for r in reports
                },
                "move_keys": [
                    {"host": k.host, "marker": k.marker, "expiry": k.expiry, "line": k.in_file}
                    for host_keys in left
                    for k in host_keys.keys
                ],
                "drift": {
                    f"{stack}@{host}": drift if isinstance(drift, str) else drift.summary()
                    for (stack, host), drift in drifts.items()
                    if isinstance(drift, str) or drift
                },
            }
        )
    else:
        _print_check(console, reports, named, notes, problems)
    if problems:
        raise SystemExit(ExitStatus.FAILED)


def _print_check(
    console: Any, reports: list[Any], named: list[str], notes: list[str], problems: list[str]
) -> None:
    from rich.markup import escape
    from rich.table import Table

    for r in reports:
        state = "[green]reachable[/]" if r.error is None else "[red]unreachable[/]"
        console.print(f"{r.host}: {state}")
    if named and reports:
        table = Table(title="Where these stacks could run", box=None, title_justify="left")
        table.add_column("STACK", style="bold")
        for r in reports:
            table.add_column(r.host)
        for stack in named:
            cells = []
            for r in reports:
                if r.error is not None:
                    cells.append("[red]unreachable[/]")
                elif r.missing.get(stack):
                    listed = ", ".join(str(m) for m in r.missing[stack])
                    cells.append(f"[yellow]missing {escape(listed)}[/]")
                else:
                    cells.append("[green]ok[/]")
            table.add_row(stack, *cells)
        console.print(table)
    for note in notes:
        console.print(f"note: {escape(note)}", style="dim")
    for problem in problems:
        console.print(f"[red]problem:[/] {escape(problem)}")
    if not problems:
        console.print("[green]All checks passed.[/]")


INIT_NETWORK_PROGRAM = r"""
name=$1; subnet=$2; gateway=$3
format='{{range .IPAM.Config}}{{.Subnet}} {{end}}'
if current=$(docker network inspect "$name" --format "$format" 2>/dev/null); then
  printf 'exists %s\n' "$current"
  exit 0
fi
set -- docker network create --driver bridge
[ -n "$subnet" ] && set -- "$@" --subnet "$subnet"
[ -n "$gateway" ] && set -- "$@" --gateway "$gateway"
"$@" "$name" >/dev/null && printf 'created\n'
"""


def init_network(
    hosts: Annotated[
        list[str] | None,
        typer.Argument(help="Hosts (default: all).", autocompletion=completion.hosts),
    ] = None,
    network: Annotated[str, typer.Option("--network", help="Network name.")] = "mynetwork",
    subnet: Annotated[str | None, typer.Option("--subnet", help="e.g. 172.20.0.0/16")] = None,
    gateway: Annotated[str | None, typer.Option("--gateway", help="e.g. 172.20.0.1")] = None,
    config: ConfigOption = None,
) -> None:
    """Create a bridge network on the hosts that lack it (for external networks)."""

    from compose_farm.executor import Executor, Script
    from compose_farm.names import name_problem

    cfg = load(config)
    targets = check_hosts(cfg, hosts or list(cfg.hosts))
    if (why := name_problem(network)) is not None:
        fail(f"network name {network!r} {why}")
    try:
        wanted = ipaddress.ip_network(subnet) if subnet else None
        if gateway:
            ipaddress.ip_address(gateway)
    except ValueError as exc:
        fail(f"--subnet/--gateway: {exc}")
    script = Script(INIT_NETWORK_PROGRAM, (network, subnet or "", gateway or ""))

    async def main() -> list[Any]:
        import asyncio

        async with Executor(cfg) as executor:
            return list(
                await asyncio.gather(*(executor.run(h, script, capture=True) for h in targets))
            )

    failed = False
    for host, result in zip(targets, run_async(main()), strict=True):
        if not result.ok:
            failed = True
            why = result.error or result.stderr.strip() or f"exit {result.exit_status}"
            typer.echo(f"{host}: failed: {why}", err=True)
            continue
        out = result.stdout.strip()
        if out == "created":
            typer.echo(f"{host}: created {network}" + (f" ({subnet})" if subnet else ""))
            continue
        subnets = out.removeprefix("exists").split()
        if wanted is not None and str(wanted) not in subnets:
            failed = True
            has = ", ".join(subnets) or "no subnet"
            typer.echo(
                f"{host}: {network} exists with {has}, not {wanted}: left as it is", err=True
            )
        else:
            typer.echo(f"{host}: {network} already exists")
    if failed:
        raise SystemExit(ExitStatus.FAILED)


def traefik_file(
    stacks: Annotated[
        list[str] | None,
        typer.Argument(help="Stacks to include.", autocompletion=completion.stacks),
    ] = None,
    all_stacks: Annotated[bool, typer.Option("--all", "-a", help="Every deployed stack.")] = False,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write to FILE (only when it changed).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Generate Traefik file-provider YAML from the stacks' Traefik labels."""
    import sys
    from pathlib import Path

    from compose_farm.cli.common import select_stacks
    from compose_farm.state import StateStore
    from compose_farm.traefik import build, render, write_if_changed

    cfg = load(config)
    names = None if all_stacks or not stacks else select_stacks(cfg, stacks, False, None)
    result = build(cfg, StateStore(cfg.state_path).read(), names, os.environ)
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    text = render(result)
    if output is None:
        sys.stdout.write(text)
        return
    path = Path(output).expanduser()
    changed = write_if_changed(path, text)
    typer.echo(f"{path}: {'written' if changed else 'unchanged'}", err=True)


def register(app: typer.Typer) -> None:
    """Add the management commands to the root app."""
    from compose_farm.cli.reconcile import refresh

    app.command()(refresh)
    app.command()(check)
    app.command("init-network")(init_network)
    app.command("traefik-file")(traefik_file)
