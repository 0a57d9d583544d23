"""Executing a ``Plan``: stop orphans and strays, migrate, start, recreate.

Before the first step, state is corrected from the facts the plan was made
from: a host that answered and runs nothing of a stack is dropped from that
stack's entry; an unreachable host keeps its entries. Each step then writes
state as it finishes, so an interrupted apply leaves a truthful file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from compose_farm.compose import normalize_project_name
from compose_farm.config import Config
from compose_farm.executor import Command, Result
from compose_farm.facts import Facts
from compose_farm.operations.lifecycle import Operations, Outcome
from compose_farm.plan import Plan, Step, StepKind
from compose_farm.state import State

MIGRATION_CONCURRENCY = 8


def corrected_state(state: State, facts: Facts, config: Config) -> State:
    """State as the facts show it, before any step runs.

    A reachable host that runs nothing of a stack is dropped from its entry;
    a configured stack found running on a host meant for it is recorded there
    (cf never forgets a running stack, even one whose start it lost track of);
    unreachable hosts keep their entries.
    """
    unreachable = facts.unreachable()
    fixed = state
    for stack, hosts in state.deployed.items():
        live = facts.running_hosts(stack)
        keep = tuple(h for h in hosts if h in unreachable or h in live or h not in facts.hosts)
        if keep != hosts:
            fixed = fixed.with_hosts(stack, keep)
    for stack, cfg in config.stacks.items():
        found = [h for h in facts.running_hosts(stack) if h in cfg.hosts]
        missing = [h for h in found if h not in fixed.hosts_of(stack)]
        if missing:
            fixed = fixed.with_hosts(stack, [*fixed.hosts_of(stack), *missing])
    return fixed


def project_of(stack: str, host: str, facts: Facts) -> str:
    """The Compose project name a stack's containers carry on ``host``."""
    for container in facts.containers(stack):
        if container.host == host and container.project:
            return container.project
    return normalize_project_name(stack)


async def execute(ops: Operations, plan: Plan, facts: Facts) -> list[Outcome]:
    """Carry out ``plan``; returns one outcome per step."""
    ops.store.modify(lambda state: corrected_state(state, facts, ops.config))

    outcomes: list[Outcome] = []
    stops = plan.of_kind(StepKind.STOP_ORPHAN) + plan.of_kind(StepKind.STOP_STRAY)
    outcomes += await _parallel(stops, lambda s: _stop(ops, s, facts))
    outcomes += await _parallel(
        plan.of_kind(StepKind.MIGRATE),
        lambda s: ops.migrate(s.stack, s.source or "", s.hosts[0]),
        limit=MIGRATION_CONCURRENCY,
    )
    outcomes += await _parallel(plan.of_kind(StepKind.START), lambda s: _start(ops, s))
    outcomes += await _parallel(plan.of_kind(StepKind.UPDATE), lambda s: _update(ops, s))
    outcomes += await _parallel(plan.of_kind(StepKind.RECREATE), lambda s: _recreate(ops, s))
    await ops.changed()
    return outcomes


async def _parallel(
    steps: Sequence[Step], run: Callable[[Step], Awaitable[Outcome]], limit: int = 64
) -> list[Outcome]:
    gate = asyncio.Semaphore(limit)

    async def one(step: Step) -> Outcome:
        async with gate:
            return await run(step)

    return list(await asyncio.gather(*(one(s) for s in steps)))


async def _stop(ops: Operations, step: Step, facts: Facts) -> Outcome:
    """``docker compose -p PROJECT down`` works even when the compose folder is gone."""

    async def down(host: str) -> Result:
        project = project_of(step.stack, host, facts)
        ops.info(step.stack, host, f"stopping {step.stack} on {host} ({step.reason})")
        command = Command(argv=("docker", "compose", "--project-name", project, "down"))
        return await ops.executor.run(host, command, stack=step.stack, sink=ops.sink)

    results = await asyncio.gather(*(down(h) for h in step.hosts))
    stopped = {h for h, r in zip(step.hosts, results, strict=True) if r.ok}
    ops.store.modify(
        lambda state: state.with_hosts(
            step.stack, [h for h in state.hosts_of(step.stack) if h not in stopped]
        )
    )
    failed = [
        f"{h}: {r.error or f'exit {r.exit_status}'}"
        for h, r in zip(step.hosts, results, strict=True)
        if not r.ok
    ]
    return Outcome(
        step.stack, tuple(stopped), not failed, "; ".join(failed) or f"stopped ({step.reason})"
    )


async def _start(ops: Operations, step: Step) -> Outcome:
    outcome = await ops.start_on(step.stack, step.hosts, ())
    if outcome.ok:
        return Outcome(step.stack, outcome.hosts, True, f"started ({step.reason})")
    return outcome


async def _update(ops: Operations, step: Step) -> Outcome:
    """Recreate the services that differ (``up -d --force-recreate`` with their names:
    the others keep running untouched); remove containers of services gone."""
    host = step.hosts[0]
    unsynced = await ops.sync_folder(step.stack, host)
    if unsynced is not None:
        result = unsynced
    else:
        words = ["up", "-d"]
        if step.orphans:
            words.append("--remove-orphans")
        if step.services and not step.resync:
            words += ["--force-recreate", *step.services]
        # after a sync, Compose itself recreates whatever the new files change
        ops.info(step.stack, host, f"updating {step.describe()}")
        result = await ops.compose(step.stack, host, *words)
    if not result.ok:
        return Outcome(
            step.stack, (), False, f"{host}: {result.error or f'exit {result.exit_status}'}"
        )
    what = "from its synced folder" if step.resync else ", ".join(step.services) or "its services"
    return Outcome(step.stack, step.hosts, True, f"updated {what} on {host}")


async def _recreate(ops: Operations, step: Step) -> Outcome:
    async def recreate(host: str) -> Result:
        unsynced = await ops.sync_folder(step.stack, host)
        if unsynced is not None:
            return unsynced
        return await ops.compose(step.stack, host, "up", "-d", "--force-recreate")

    results = await asyncio.gather(*(recreate(h) for h in step.hosts))
    failed = [
        f"{h}: {r.error or f'exit {r.exit_status}'}"
        for h, r in zip(step.hosts, results, strict=True)
        if not r.ok
    ]
    return Outcome(step.stack, step.hosts, not failed, "; ".join(failed) or "recreated")
