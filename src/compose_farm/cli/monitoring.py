"""Read-only commands: ``list`` (and, with the executor, ``ps``, ``logs``, ``stats``)."""

from __future__ import annotations

from typing import Annotated

import typer

from compose_farm.cli.common import ConfigOption, JsonOption, fail, load, print_json


def list_stacks(
    config: ConfigOption = None,
    host: Annotated[
        str | None,
        typer.Option("--host", "-H", help="Only stacks configured for this host (incl. 'all')."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List configured stacks and the hosts each runs on."""
    cfg = load(config)
    if host is not None and host not in cfg.hosts:
        fail(
            f"unknown host {host!r} in {cfg.path}",
            hint=f"known hosts: {', '.join(cfg.hosts)}",
        )
    stacks = [s for s in cfg.stacks.values() if host is None or host in s.hosts]
    if as_json:
        print_json(
            [{"stack": s.name, "hosts": list(s.hosts), "all_hosts": s.all_hosts} for s in stacks]
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    table.add_column("STACK", style="bold")
    table.add_column("HOSTS")
    for s in stacks:
        table.add_row(s.name, "all" if s.all_hosts else ", ".join(s.hosts))
    Console(soft_wrap=True).print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("list")(list_stacks)
