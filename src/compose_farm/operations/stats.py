"""``stats``: CPU and memory of every running container, per host, in one round trip each."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass

from compose_farm.config import Config
from compose_farm.executor import ExecutorProtocol, Script
from compose_farm.facts import PS_FORMAT, assign_stacks, parse_ps

# $1: the ps format facts.py reads. The containers (to name their stacks), then their stats.
STATS_PROGRAM = r"""
docker ps --no-trunc --filter label=com.docker.compose.project --format "$1" || exit $?
echo '--- stats'
# a container that stops while stats are read is simply left out
docker stats --no-stream --no-trunc --format '{{json .}}' 2>/dev/null
exit 0
"""


@dataclass(frozen=True)
class ContainerStats:
    """One running container's use, as ``docker stats`` reports it."""

    host: str
    stack: str  # "" when it belongs to no configured stack
    container: str
    cpu: str
    memory: str
    memory_percent: str


@dataclass(frozen=True)
class Stats:
    """Every host's containers, and the hosts that could not be asked (host -> why)."""

    containers: tuple[ContainerStats, ...]
    unreachable: dict[str, str]


def parse_stats(config: Config, host: str, output: str) -> list[ContainerStats]:
    """``STATS_PROGRAM``'s output on ``host`` as rows, each named by its stack."""
    ps_part, _, stats_part = output.partition("--- stats\n")
    containers = parse_ps(host, ps_part)
    owners = assign_stacks(config, containers)
    rows: list[ContainerStats] = []
    for line in stats_part.splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(item, dict):
            continue
        short = str(item.get("ID", ""))
        container = next((c for c in containers if short and c.id.startswith(short)), None)
        rows.append(
            ContainerStats(
                host=host,
                stack=owners.get((host, container.id), "") if container else "",
                container=str(item.get("Name", "")),
                cpu=str(item.get("CPUPerc", "")),
                memory=str(item.get("MemUsage", "")),
                memory_percent=str(item.get("MemPerc", "")),
            )
        )
    return rows


async def read_stats(config: Config, executor: ExecutorProtocol, hosts: Sequence[str]) -> Stats:
    """Ask every host at once."""
    script = Script(STATS_PROGRAM, (PS_FORMAT,))
    results = await asyncio.gather(*(executor.run(h, script, capture=True) for h in hosts))
    rows: list[ContainerStats] = []
    unreachable: dict[str, str] = {}
    for host, result in zip(hosts, results, strict=True):
        if not result.ok:
            unreachable[host] = (
                result.error or result.stderr.strip() or f"exit {result.exit_status}"
            )
            continue
        rows += parse_stats(config, host, result.stdout)
    return Stats(tuple(rows), unreachable)
