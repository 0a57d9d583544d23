"""Actions: each starts a background task whose output streams to the page.

Every route here changes something, so each requires the session's CSRF
token; names from the URL are validated and looked up in the config (and,
for containers, in the facts) before anything runs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from compose_farm.config import Config
from compose_farm.executor import Command, notice
from compose_farm.operations.apply import Preview
from compose_farm.operations.apply import apply as run_apply
from compose_farm.operations.context import operations_for
from compose_farm.operations.lifecycle import Operations, Outcome
from compose_farm.operations.refresh import refresh as run_refresh
from compose_farm.web.deps import CsrfDep, FarmDep, SessionDep, checked_id, checked_name
from compose_farm.web.farm import Farm
from compose_farm.web.tasks import Sink, Task

router = APIRouter(prefix="/api")

STACK_ACTIONS = {"up", "down", "restart", "pull", "update", "stop", "rollback"}


def _started(task: Task) -> JSONResponse:
    trigger = {"cf:task": {"id": task.id, "title": task.title}}
    return JSONResponse({"task": task.id}, headers={"HX-Trigger": json.dumps(trigger)})


def _summary(outcomes: list[Outcome], verb: str) -> tuple[bool, str]:
    failed = [o for o in outcomes if not o.ok]
    if not failed:
        return True, f"{verb}: {len(outcomes)} stacks ok"
    text = "; ".join(f"{o.stack}: {o.message}" for o in failed)
    return False, f"{verb}: {len(failed)} of {len(outcomes)} failed: {text}"


def start_ops(
    farm: Farm,
    title: str,
    verb: str,
    action: Callable[[Operations, Config], Awaitable[list[Outcome]]],
) -> Task:
    """Run ``action`` with fresh Operations in the background (every changing step of
    Operations holds the farm lock, as in the CLI)."""

    async def run(sink: Sink) -> tuple[bool, str]:
        config = await farm.read_config()
        try:
            async with farm.executor_factory(config) as executor:
                ops = operations_for(config, executor, sink, farm.environ, who=f"cf web: {title}")
                outcomes = await action(ops, config)
        finally:
            farm.invalidate()
        return _summary(outcomes, verb)

    return farm.tasks.start(title, run)


async def _apply(ops: Operations, _config: Config) -> list[Outcome]:
    def show(found: Preview) -> None:
        for why in found.warnings():
            ops.sink(notice(f"warning: {why}", warning=True))
        for section in found.sections():
            ops.sink(notice(f"{section.title}:"))
            for line in section.lines:
                ops.sink(notice(f"  - {line}"))
        if found.plan.empty:
            ops.sink(notice("Nothing to do: the hosts match the config."))

    async def confirm(_found: Preview) -> bool:
        return True  # the button is the confirmation (the page shows the plan first)

    done = await run_apply(ops, show=show, confirm=confirm)
    return list(done.outcomes or ())


async def _refresh(ops: Operations, _config: Config) -> list[Outcome]:
    done = await run_refresh(ops)
    for change in done.found.changes:
        before, after = ", ".join(change.before) or "-", ", ".join(change.after) or "-"
        ops.sink(notice(f"{change.stack}: {before} -> {after}"))
    for host, why in done.unreachable.items():
        ops.sink(notice(f"{why}: its {done.kept[host]} stacks were kept in state", warning=True))
    if not done.found.changes:
        ops.sink(notice("State already matches the hosts."))
    return [Outcome(c.stack, c.after, True) for c in done.found.changes]


@router.post("/apply")
async def apply(farm: FarmDep, _csrf: CsrfDep) -> JSONResponse:
    """``cf apply --yes``."""
    return _started(start_ops(farm, "Apply", "apply", _apply))


@router.post("/refresh")
async def refresh(farm: FarmDep, _csrf: CsrfDep) -> JSONResponse:
    """``cf refresh``."""
    return _started(start_ops(farm, "Refresh", "refresh", _refresh))


@router.post("/pull-all")
async def pull_all(farm: FarmDep, _csrf: CsrfDep) -> JSONResponse:
    """``cf pull --all``."""
    return _started(
        start_ops(
            farm, "Pull all", "pull", lambda ops, cfg: ops.simple(list(cfg.stacks), ("pull",))
        )
    )


@router.post("/update-all")
async def update_all(farm: FarmDep, _csrf: CsrfDep) -> JSONResponse:
    """``cf update --all``."""
    return _started(
        start_ops(farm, "Update all", "update", lambda ops, cfg: ops.update(list(cfg.stacks)))
    )


@router.post("/outdated")
async def outdated(farm: FarmDep, _csrf: CsrfDep) -> JSONResponse:
    """``cf outdated``: every running service against its registry (nothing pulled)."""
    return _started(start_ops(farm, "Check updates", "check", _outdated))


async def _outdated(ops: Operations, config: Config) -> list[Outcome]:
    from compose_farm.operations.outdated import Status
    from compose_farm.operations.outdated import outdated as check

    checks, _facts = await check(ops, list(config.stacks))
    for c in checks:
        ops.sink(notice(c.line(), warning=c.status is Status.UNKNOWN))
    by_stack: dict[str, list[bool]] = {}
    for c in checks:
        by_stack.setdefault(c.stack, []).append(c.status is not Status.UNKNOWN)
    return [
        Outcome(stack, (), all(known), "checked" if all(known) else "some images unknown")
        for stack, known in by_stack.items()
    ]


async def _rollback(ops: Operations, name: str) -> list[Outcome]:
    from compose_farm.operations.rollback import rollback

    done = await rollback(ops, name)
    if not done:
        return [Outcome(name, (), False, "no earlier image recorded (cf update records one)")]
    for r in done:
        ops.sink(notice(r.line(), warning=not r.ok))
    return [Outcome(r.stack, (r.host,), r.ok, r.line()) for r in done]


@router.post("/stack/{name}/{action}")
async def stack_action(name: str, action: str, farm: FarmDep, _csrf: CsrfDep) -> JSONResponse:
    """Up, Down, Stop, Restart, Pull or Update one stack."""
    checked_name(name, "stack")
    if action not in STACK_ACTIONS:
        raise HTTPException(status_code=404, detail=f"unknown action {action!r}")
    if name not in (await farm.read_config()).stacks:
        raise HTTPException(status_code=404, detail=f"no stack {name!r} in the config")
    run: Callable[[Operations, Config], Awaitable[list[Outcome]]]
    if action == "up":
        run = lambda ops, _cfg: ops.up([name])  # noqa: E731
    elif action == "down":
        run = lambda ops, _cfg: ops.down([name])  # noqa: E731
    elif action == "update":
        run = lambda ops, _cfg: ops.update([name])  # noqa: E731
    elif action == "stop":
        run = lambda ops, _cfg: ops.stop([name])  # noqa: E731
    elif action == "rollback":
        run = lambda ops, _cfg: _rollback(ops, name)  # noqa: E731
    else:
        verb = ("pull", "--ignore-buildable") if action == "pull" else (action,)
        run = lambda ops, _cfg: ops.simple([name], verb)  # noqa: E731
    return _started(start_ops(farm, f"{action.capitalize()} {name}", action, run))


@router.post("/stack/{name}/container/{host}/{container}/restart")
async def restart_container(
    name: str, host: str, container: str, farm: FarmDep, _csrf: CsrfDep
) -> JSONResponse:
    """Restart one container of a stack, named by its id (it must belong to the stack, per
    the facts)."""
    checked_name(name, "stack")
    checked_name(host, "host")
    checked_id(container)
    found = await farm.container(name, host, container)
    if found is None:
        raise HTTPException(
            status_code=404, detail=f"container {container} on {host} is not part of {name}"
        )

    async def run(ops: Operations, _cfg: Config) -> list[Outcome]:
        async with ops.exclusive():
            result = await ops.executor.run(
                host, Command(argv=("docker", "restart", found.id)), stack=name, sink=ops.sink
            )
        return [Outcome(name, (host,), result.ok, result.error or "")]

    title = f"Restart {farm.mask(name, found.name)}"
    return _started(start_ops(farm, title, "restart", run))


@router.get("/tasks")
async def tasks(farm: FarmDep, _session: SessionDep) -> JSONResponse:
    """Running and recent tasks, newest last."""
    return JSONResponse([t.public() for t in farm.tasks.tasks.values()])
