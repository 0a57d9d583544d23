"""``cf check``: config against disk, hosts' reachability, and what each stack needs.

Every host is asked once, with one program that checks all the stacks meant
for it (compose file, bind-mount sources, devices, external networks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from compose_farm.compose import COMPOSE_FILE_NAMES, list_stack_dirs
from compose_farm.config import Config
from compose_farm.errors import TransferError
from compose_farm.executor import Executor
from compose_farm.operations.preflight import Missing, Requirements, check_script, parse_report
from compose_farm.sync.manifest import Drift
from compose_farm.sync.stackdir import stack_drift


@dataclass(frozen=True)
class DiskReport:
    """What the config and the local compose folder disagree on."""

    readable: bool
    no_compose_file: tuple[str, ...] = ()
    not_in_config: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostReport:
    """One host: unreachable (``error``), or each checked stack's missing things."""

    host: str
    error: str | None = None
    missing: Mapping[str, list[Missing]] = field(default_factory=dict)


def check_disk(config: Config) -> DiskReport:
    """Stacks without a compose file, and compose folders the config does not name."""
    root = Path(str(config.compose_dir))
    if not root.is_dir():
        return DiskReport(readable=False)
    on_disk = set(list_stack_dirs(root))
    missing = tuple(
        s for s in config.stacks if not any((root / s / n).is_file() for n in COMPOSE_FILE_NAMES)
    )
    extra = tuple(sorted(on_disk - set(config.stacks)))
    return DiskReport(True, missing, extra)


async def check_hosts(
    config: Config,
    executor: Executor,
    wanted: Mapping[str, Sequence[str]],
    needs: Mapping[str, Requirements],
) -> list[HostReport]:
    """For each host, check the stacks ``wanted`` there, in one round trip per host."""

    async def one(host: str) -> HostReport:
        stacks = wanted[host]
        script = check_script([(config.stack_dir(s), needs[s]) for s in stacks])
        result = await executor.run(host, script, capture=True)
        if result.error is not None:
            return HostReport(host, error=result.error)
        if result.exit_status != 0:
            return HostReport(host, error=f"the check failed: {result.stderr.strip()}")
        by_dir = parse_report(result.stdout)
        return HostReport(
            host, missing={s: by_dir.get(str(config.stack_dir(s)), []) for s in stacks}
        )

    return list(await asyncio.gather(*(one(h) for h in wanted)))


async def check_drift(
    config: Config, executor: Executor, hosts: Sequence[str]
) -> dict[tuple[str, str], Drift | str]:
    """For every synced stack on each of ``hosts`` (reachable ones): how the host's copy of
    its folder differs from this machine's, or why that could not be told."""
    pairs = [
        (stack, host)
        for stack, cfg in config.stacks.items()
        if cfg.sync
        for host in cfg.hosts
        if host in hosts
    ]

    async def one(stack: str, host: str) -> Drift | str:
        try:
            return await stack_drift(executor, config, stack, host)
        except TransferError as exc:
            return exc.message

    found = await asyncio.gather(*(one(s, h) for s, h in pairs))
    return dict(zip(pairs, found, strict=True))
