"""``check``: config against disk, hosts' reachability, and what each stack needs.

Every host is asked once, with one program that checks all the stacks meant
for it (compose file, bind-mount sources, devices, external networks); at the
same time, each synced stack's folder is compared with the host's copy, and
each host's ``authorized_keys`` is searched for data-move keys left behind.
What counts as a problem is decided here, for every front end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from compose_farm.compose import COMPOSE_FILE_NAMES, list_stack_dirs
from compose_farm.config import Config
from compose_farm.errors import TransferError
from compose_farm.executor import ExecutorProtocol
from compose_farm.operations.movekeys import HostKeys, key_notes, key_problems, left_keys
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
    executor: ExecutorProtocol,
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
    config: Config, executor: ExecutorProtocol, hosts: Sequence[str]
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


@dataclass(frozen=True)
class CheckReport:
    """Everything ``check`` found: problems (each makes it fail), notes, and the details."""

    disk: DiskReport
    hosts: tuple[HostReport, ...] = ()
    drift: Mapping[tuple[str, str], Drift | str] = field(default_factory=dict)
    keys: tuple[HostKeys, ...] = ()
    needs: Mapping[str, Requirements] = field(default_factory=dict)  # per stack, read here
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _wanted(config: Config, named: Sequence[str]) -> dict[str, list[str]]:
    """Configured stacks on their hosts; named stacks on every host."""
    wanted = {h: [s for s in config.stacks if h in config.stacks[s].hosts] for h in config.hosts}
    for host in config.hosts:
        wanted[host] += [s for s in named if s not in wanted[host]]
    return wanted


def _problems(config: Config, report: CheckReport) -> list[str]:
    problems = [
        f"{s}: no compose file in {config.stack_dir(s)}" for s in report.disk.no_compose_file
    ]
    problems += [
        f"{s}: Compose would refuse it: {need.error}"
        for s, need in report.needs.items()
        if need.error is not None
    ]
    for r in report.hosts:
        if r.error is not None:
            problems.append(r.error)
            continue
        for stack, missing in r.missing.items():
            missing = [m for m in missing if m.kind != "created"]  # notes, see _notes
            if stack in config.stacks and config.stacks[stack].sync:
                # the folder arrives with the next sync: drift says what differs
                missing = [m for m in missing if m.kind != "compose"]
            if missing and r.host in config.stacks[stack].hosts:
                what = "; ".join(str(m) for m in missing)
                problems.append(f"{stack} on {r.host}: missing {what}")
    problems += key_problems(report.keys)
    for (stack, host), drift in report.drift.items():
        if isinstance(drift, str):
            problems.append(f"{stack} on {host}: cannot compare its folder: {drift}")
        elif drift:
            problems.append(
                f"{stack} on {host}: folder out of sync with this machine "
                f"({drift.summary()}); run `cf sync {stack}`"
            )
    return problems


async def check(
    config: Config,
    executor: ExecutorProtocol | None,
    named: Sequence[str],
    environ: Mapping[str, str],
) -> CheckReport:
    """The config against disk, every stack's compose project as Compose reads it, and,
    with an ``executor``, every host: what each stack needs there, synced folders'
    drift, data-move keys left behind. Reads only."""
    from compose_farm.operations.preflight import requirements

    disk = check_disk(config)
    readable = [s for s in config.stacks if s not in disk.no_compose_file] if disk.readable else []
    needs = {s: requirements(config, s, environ) for s in readable}
    report = CheckReport(disk, needs=needs)
    if executor is not None:
        wanted = _wanted(config, named)
        involved = {s for stacks in wanted.values() for s in stacks}
        for stack in involved - set(needs):
            needs[stack] = requirements(config, stack, environ)
        hosts = await check_hosts(config, executor, wanted, needs)
        up = [r.host for r in hosts if r.error is None]
        remote = [h for h in up if not executor.is_local(h)]
        drift, keys = await asyncio.gather(
            check_drift(config, executor, up), left_keys(executor, remote)
        )
        report = CheckReport(disk, tuple(hosts), drift, tuple(keys), needs=needs)
    return replace(report, problems=tuple(_problems(config, report)), notes=_notes(report))


def _notes(report: CheckReport) -> tuple[str, ...]:
    """What is worth knowing but does not stop anything."""
    notes = [f"{s}: a compose folder that is not in the config" for s in report.disk.not_in_config]
    notes += [f"{s}: {w}" for s, need in report.needs.items() for w in need.warnings]
    notes += [
        f"{stack} on {r.host}: {m}"
        for r in report.hosts
        for stack, missing in r.missing.items()
        for m in missing
        if m.kind == "created"
    ]
    notes += key_notes(report.keys)
    return tuple(notes)
