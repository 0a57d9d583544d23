"""Host health for every front end: ask each host once, all at once (``cf stats``, the web).

A round is one ``hoststats.PROGRAM`` per host over the executor's connection.
Given the previous round's readings, a host is asked for one CPU sample and its
CPU figure is computed against its previous reading (whose Docker data root it
is handed, sparing it ``docker info``); a host with no previous reading pauses
inside the program for a second sample. A host that cannot be
asked, or whose answer cannot be read, is carried with the reason: never as zeros.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from compose_farm.executor import ExecutorProtocol, Script
from compose_farm.hoststats import DEFAULT_PAUSE, PROGRAM, HealthParseError, HostHealth, parse


@dataclass(frozen=True)
class Health:
    """One round: each host's reading, or why there is none (host -> reason)."""

    readings: dict[str, HostHealth]
    unreachable: dict[str, str]


async def read_one(
    executor: ExecutorProtocol,
    host: str,
    previous: HostHealth | None = None,
    pause: float = DEFAULT_PAUSE,
) -> HostHealth | str:
    """``host``'s reading, or the reason it has none."""
    wait = "0" if previous is not None else f"{pause:g}"
    root = previous.engine.root_dir if previous is not None and previous.engine else ""
    result = await executor.run(host, Script(PROGRAM, (wait, root)), capture=True)
    if not result.ok:
        return result.error or result.stderr.strip() or f"exit {result.exit_status}"
    try:
        return parse(host, result.stdout, previous)
    except HealthParseError as exc:
        return f"{host}: {exc}"


async def read_health(
    executor: ExecutorProtocol,
    hosts: Sequence[str],
    previous: Mapping[str, HostHealth] | None = None,
    pause: float = DEFAULT_PAUSE,
) -> Health:
    """Every host in ``hosts`` at once (a reading in ``previous`` spares that host the pause)."""
    before = previous or {}
    answers = await asyncio.gather(
        *(read_one(executor, h, before.get(h), pause) for h in hosts),
    )
    readings: dict[str, HostHealth] = {}
    unreachable: dict[str, str] = {}
    for host, answer in zip(hosts, answers, strict=True):
        if isinstance(answer, str):
            unreachable[host] = answer
        else:
            readings[host] = answer
    return Health(readings, unreachable)


def reading_json(reading: HostHealth) -> dict[str, Any]:
    """One reading as the JSON ``cf stats --json`` prints (sizes in bytes)."""
    engine = reading.engine
    docker: dict[str, Any] | None = None
    if engine is not None:
        disk = engine.disk
        docker = {
            "root_dir": engine.root_dir,
            "containers": {"running": engine.running, "total": engine.total},
            "disk": None
            if disk is None
            else {
                "filesystem": disk.filesystem,
                "mount": disk.mount,
                "total": disk.total,
                "used": disk.used,
                "available": disk.available,
                "percent": disk.percent,
            },
            "disk_error": engine.disk_error,
        }
    return {
        "host": reading.host,
        "reachable": True,
        "cpus": reading.cpus,
        "cpu_percent": reading.cpu_percent,
        "load": list(reading.load),
        "uptime": reading.uptime,
        "memory": {
            "total": reading.mem_total,
            "available": reading.mem_available,
            "used": reading.mem_used,
            "percent": reading.mem_percent,
        },
        "swap": {"total": reading.swap_total, "free": reading.swap_free},
        "docker": docker,
        "docker_error": reading.engine_error,
    }


def health_json(health: Health, hosts: Sequence[str]) -> dict[str, Any]:
    """The round, in ``hosts`` order: readings, and unreachable hosts as such."""
    rows: list[dict[str, Any]] = []
    for host in hosts:
        if host in health.readings:
            rows.append(reading_json(health.readings[host]))
        else:
            rows.append({"host": host, "reachable": False, "error": health.unreachable[host]})
    return {"hosts": rows, "unreachable": health.unreachable}
