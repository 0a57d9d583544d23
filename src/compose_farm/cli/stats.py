"""``cf stats``: each host's health (CPU, load, memory, Docker's disk, containers), once
or ``--live``; ``--containers``: CPU and memory of every running container instead."""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import TYPE_CHECKING, Annotated, Any

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

if TYPE_CHECKING:
    from rich.console import RenderableType

    from compose_farm.config import Config
    from compose_farm.operations.health import Health

HostsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Hosts to ask (default: every host).",
        show_default=False,
        autocompletion=completion.hosts,
    ),
]
MIN_INTERVAL = 0.5


def stats(
    hosts: HostsArg = None,
    as_json: JsonOption = False,
    live: Annotated[
        bool, typer.Option("--live", "-l", help="Keep refreshing in place until Ctrl-C.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", "-i", help="Seconds between refreshes (--live).")
    ] = 2.0,
    containers: Annotated[
        bool,
        typer.Option("--containers", help="CPU and memory of each running container instead."),
    ] = False,
    count: Annotated[
        int, typer.Option("--count", hidden=True, help="Stop --live after N refreshes.")
    ] = 0,
    host: Annotated[str | None, typer.Option("--host", "-H", hidden=True)] = None,
    config: ConfigOption = None,
) -> None:
    """Host health: CPU, load, memory, disk of Docker's data root, containers (one round
    trip per host); --live refreshes in place, --json for scripts (with --live: a line
    per refresh)."""
    cfg = load(config)
    names = list(dict.fromkeys([*(hosts or []), *([host] if host else [])]))
    chosen = check_hosts(cfg, names) or list(cfg.hosts)
    if containers:
        if live:
            fail("--containers cannot be combined with --live")
        _containers(cfg, chosen, as_json)
        return
    if interval < MIN_INTERVAL:
        fail(f"--interval must be at least {MIN_INTERVAL:g} seconds")
    if live:
        _until_interrupted(_live(cfg, chosen, interval, count, as_json))
        return
    health = run_async(_once(cfg, chosen))
    if as_json:
        from compose_farm.operations.health import health_json

        print_json(health_json(health, chosen))
    else:
        _console().print(health_table(health, chosen))
        for why in health.unreachable.values():
            typer.echo(f"warning: {why}", err=True)
    if health.unreachable:
        raise SystemExit(ExitStatus.UNREACHABLE)


async def _once(cfg: Config, hosts: Sequence[str]) -> Health:
    from compose_farm.executor import Executor
    from compose_farm.operations.health import read_health

    async with Executor(cfg) as executor:
        return await read_health(executor, hosts)


async def _rounds(
    cfg: Config, hosts: Sequence[str], interval: float, count: int
) -> AsyncIterator[Health]:
    """A round every ``interval`` seconds (start to start) over one connection per host;
    CPU from the previous round (the first round takes two samples).

    A connection that failed stays failed for its executor (one verdict per host per
    run), so while a host is down a spare executor tries it in the background, one
    try at a time, never holding up a round; once it answers, the rounds continue over
    fresh connections to every host."""
    import asyncio

    from compose_farm.executor import Executor
    from compose_farm.hoststats import HostHealth
    from compose_farm.operations.health import read_health

    loop = asyncio.get_running_loop()
    previous: dict[str, HostHealth] = {}
    executor = Executor(cfg)
    probe: asyncio.Task[bool] | None = None
    try:
        done = 0
        while True:
            started = loop.time()
            if probe is not None and probe.done():
                if probe.result():  # a host that was down answers again
                    await executor.close()
                    executor = Executor(cfg)
                probe = None
            health = await read_health(executor, hosts, previous)
            previous.update(health.readings)
            for host in health.unreachable:  # back later: two samples again, not a long average
                previous.pop(host, None)
            yield health
            if probe is None:
                down = [h for h in health.unreachable if await executor.reachable(h)]
                if down:
                    probe = asyncio.ensure_future(_answers_again(cfg, down))
            done += 1
            if count and done >= count:
                return
            await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
    finally:
        if probe is not None:
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)
        await executor.close()


async def _answers_again(cfg: Config, hosts: Sequence[str]) -> bool:
    """Whether any of ``hosts`` can be reached now (over connections of its own)."""
    import asyncio

    from compose_farm.executor import Executor

    async with Executor(cfg) as spare:
        answers = await asyncio.gather(*(spare.reachable(h) for h in hosts))
    return any(why is None for why in answers)


async def _live(
    cfg: Config, hosts: Sequence[str], interval: float, count: int, as_json: bool
) -> None:
    """The table redrawn in place each round (``as_json``: a JSON line per round)."""
    import json

    from rich.live import Live
    from rich.text import Text

    from compose_farm.operations.health import health_json

    rounds = _rounds(cfg, hosts, interval, count)
    if as_json:
        async for health in rounds:
            sys.stdout.write(json.dumps(health_json(health, hosts)) + "\n")
            sys.stdout.flush()
        return
    title = f"every {interval:g} s, Ctrl-C to stop"
    waiting = Text(f"asking {len(hosts)} host(s)...", style="dim")
    with Live(waiting, console=_console(), auto_refresh=False) as screen:
        async for health in rounds:
            screen.update(health_table(health, hosts, title, reasons=True), refresh=True)


def _until_interrupted(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` until it returns or Ctrl-C (or SIGTERM) ends it: a normal end, status 0."""
    import asyncio

    from compose_farm.cli.app import resume_collector

    def as_interrupt(_signum: int, _frame: object) -> None:
        signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGTERM, as_interrupt)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    resume_collector()
    try:
        with asyncio.Runner() as runner:
            runner.run(main)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, before)


def _console() -> Any:
    from rich.console import Console

    # Piped output is never wrapped to 80 columns: one row per line.
    width = None if sys.stdout.isatty() else 400
    return Console(soft_wrap=False, highlight=False, width=width)


def health_table(
    health: Health, hosts: Sequence[str], title: str | None = None, *, reasons: bool = False
) -> RenderableType:
    """One row per host; an unreachable host says so in its row (with ``reasons``: why,
    in a line under the table)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from compose_farm.hoststats import human_bytes

    table = Table(box=None, pad_edge=False, title=title, title_justify="left")
    for header in ("HOST", "CPU", "LOAD", "MEMORY", "DOCKER DISK", "CONTAINERS"):
        table.add_column(header, style="bold" if header == "HOST" else None, no_wrap=True)
    for host in hosts:
        r = health.readings.get(host)
        if r is None:
            table.add_row(host, Text("unreachable", style="red"), "", "", "", "")
            continue
        cpu = "..." if r.cpu_percent is None else f"{r.cpu_percent:.1f}%"
        memory = f"{human_bytes(r.mem_used)}/{human_bytes(r.mem_total)} {r.mem_percent:.0f}%"
        disk: Text | str = ""
        if r.engine is None:
            count: Text | str = Text(f"docker: {r.engine_error}", style="red")
        else:
            d = r.engine.disk
            disk = (
                f"{human_bytes(d.used)}/{human_bytes(d.used + d.available)} {d.percent:.0f}%"
                if d is not None
                else Text(r.engine.disk_error or "df failed", style="red")
            )
            count = f"{r.engine.running} up / {r.engine.total}"
        load = " ".join(f"{v:.2f}" for v in r.load)
        table.add_row(host, f"{cpu} of {r.cpus}", load, memory, disk, count)
    if not reasons or not health.unreachable:
        return table
    why = [Text(f"{h}: {e}", style="red") for h, e in health.unreachable.items()]
    return Group(table, *why)


def _containers(cfg: Config, hosts: list[str], as_json: bool) -> None:
    """The per-container table (``docker stats`` on each host, one round trip each)."""
    from dataclasses import asdict

    from compose_farm.cli.monitoring import _table
    from compose_farm.executor import Executor
    from compose_farm.operations.stats import Stats, read_stats

    async def main() -> Stats:
        async with Executor(cfg) as executor:
            return await read_stats(cfg, executor, hosts)

    found = run_async(main())
    if as_json:
        print_json(
            {"containers": [asdict(r) for r in found.containers], "unreachable": found.unreachable}
        )
    else:
        _table(
            ("HOST", "STACK", "CONTAINER", "CPU", "MEMORY", "MEM %"),
            [
                (r.host, r.stack, r.container, r.cpu, r.memory, r.memory_percent)
                for r in found.containers
            ],
        )
        for why in found.unreachable.values():
            typer.echo(f"warning: {why}", err=True)
    if found.unreachable:
        raise SystemExit(ExitStatus.UNREACHABLE)


def register(app: typer.Typer) -> None:
    """Add ``stats`` to the root app."""
    app.command()(stats)
