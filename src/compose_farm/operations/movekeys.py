"""Data-move keys left in hosts' ``authorized_keys``: find them, remove them.

A host-to-host data move removes its one-copy key when the copy ends; when
that could not happen (the old host went away at that moment, cf was killed),
the key stays until its ``expiry-time``. ``cf check`` lists such keys and
``cf ssh revoke`` removes them, byte-exactly (``ssh/authkeys.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from compose_farm.executor import ExecutorProtocol, Script
from compose_farm.ssh.authkeys import LIST_PROGRAM, LeftKey, parse_left
from compose_farm.sync.direct import revoke
from compose_farm.sync.inflight import running


@dataclass(frozen=True)
class HostKeys:
    """The move keys found (or removed) on one host, or why it could not be asked."""

    host: str
    keys: tuple[LeftKey, ...] = ()
    error: str | None = None
    removed: tuple[str, ...] = field(default=())
    in_use: tuple[str, ...] = field(default=())  # markers of moves running on this machine


async def left_keys(executor: ExecutorProtocol, hosts: Sequence[str]) -> list[HostKeys]:
    """Every move key (or its folder) on ``hosts``, one read-only round trip per host."""

    async def one(host: str) -> HostKeys:
        done = await executor.run(host, Script(LIST_PROGRAM), capture=True)
        if not done.ok:
            why = done.error or done.stderr.strip() or f"exit status {done.exit_status}"
            return HostKeys(host, error=why)
        keys = tuple(parse_left(host, done.stdout))
        return HostKeys(host, keys, in_use=tuple(k.marker for k in keys if running(k.marker)))

    return list(await asyncio.gather(*(one(h) for h in hosts)))


async def revoke_left(executor: ExecutorProtocol, hosts: Sequence[str]) -> list[HostKeys]:
    """Remove every move key (and its folder) from ``hosts`` but those of moves running
    on this machine now; what was removed where."""
    found = await left_keys(executor, hosts)

    async def one(report: HostKeys) -> HostKeys:
        if report.error is not None:
            return report
        removed: list[str] = []
        for key in report.keys:
            if key.marker in report.in_use:
                continue
            why = await revoke(executor, report.host, key.marker)
            if why is not None:
                return replace(report, error=why, removed=tuple(removed))
            removed.append(key.marker)
        return replace(report, removed=tuple(removed))

    return list(await asyncio.gather(*(one(r) for r in found)))


def key_problems(reports: Sequence[HostKeys]) -> list[str]:
    """``cf check``'s problems: each key left, with the command that removes it."""
    problems: list[str] = []
    for report in reports:
        if report.error is not None:
            problems.append(f"{report.host}: cannot list data-move keys: {report.error}")
        problems += [
            f"{key.describe()}; remove it with `cf ssh revoke {report.host}`"
            for key in report.keys
            if key.marker not in report.in_use
        ]
    return problems


def key_notes(reports: Sequence[HostKeys]) -> list[str]:
    """``cf check``'s notes: keys of moves running on this machine now (removed when
    each copy ends)."""
    return [
        f"{key.describe()}, in use by a data move running now"
        for report in reports
        for key in report.keys
        if key.marker in report.in_use
    ]
