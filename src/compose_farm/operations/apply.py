"""``apply``: make the hosts match the config. The one workflow the CLI and the web call.

Under the farm lock: ask every host what runs (facts), compute the plan (pure,
``plan.py``), estimate the data each move will copy, show all that (the front
end's ``show``), and, unless this is a dry run or the front end declines
(``confirm``), carry the plan out (``reconcile.execute``). A plan with nothing
to do still corrects the state from the facts and rewrites the Traefik file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from compose_farm.errors import TransferError
from compose_farm.facts import Facts, gather_facts
from compose_farm.operations.check import check_drift
from compose_farm.operations.lifecycle import Operations, Outcome
from compose_farm.operations.reconcile import corrected_state, execute
from compose_farm.plan import Plan, PlanOptions, Section, StepKind, describe, plan_from_facts
from compose_farm.sync.datamove import FolderEstimate, estimate


@dataclass(frozen=True)
class DataEstimate:
    """What one move of a stack with data folders will copy (or why that is unknown)."""

    stack: str
    old: str
    new: str
    folders: tuple[FolderEstimate, ...] = ()
    error: str | None = None

    def lines(self) -> list[str]:
        """``db (h1 -> h2): /opt/db/data: 120 files, 52.4 MB (52.4 MB to copy)``."""
        if self.error is not None:
            return [f"{self.stack}: {self.error}"]
        head = f"{self.stack} ({self.old} -> {self.new})"
        return [f"{head}: {folder.describe()}" for folder in self.folders]


@dataclass(frozen=True)
class Preview:
    """What ``apply`` found and would do."""

    facts: Facts
    plan: Plan
    data: tuple[DataEstimate, ...] = ()

    @property
    def held(self) -> bool:
        """Some host did not answer, or a step waits for one."""
        return bool(self.plan.blocked or self.facts.unreachable())

    def sections(self) -> list[Section]:
        """The plan by kind, then ``Data to copy`` (the CLI and the web show the same)."""
        sections = describe(self.plan)
        lines = tuple(line for estimate in self.data for line in estimate.lines())
        return [*sections, Section("Data to copy", lines)] if lines else sections

    def warnings(self) -> list[str]:
        """Why hosts could not be asked."""
        return list(self.facts.unreachable().values())


@dataclass(frozen=True)
class Applied:
    """How ``apply`` ended: the preview, and the outcomes when it acted."""

    preview: Preview
    outcomes: tuple[Outcome, ...] | None = None  # None: nothing was carried out

    @property
    def ok(self) -> bool:
        """Every step that ran succeeded."""
        return all(o.ok for o in self.outcomes or ())


EVERYTHING = PlanOptions()  # orphans and strays stopped, no --full
Show = Callable[[Preview], None]
Confirm = Callable[[Preview], Awaitable[bool]]


async def preview(ops: Operations, options: PlanOptions = EVERYTHING) -> Preview:
    """Facts, plan and data estimates; reads only."""
    facts, folders = await asyncio.gather(
        gather_facts(ops.config, ops.executor, drift=True),
        check_drift(ops.config, ops.executor, list(ops.config.hosts)),  # beside, not after
    )
    plan = plan_from_facts(ops.config, ops.store.read(), facts, options, folders)
    return Preview(facts, plan, tuple(await _estimates(ops, plan)))


async def _estimates(ops: Operations, plan: Plan) -> list[DataEstimate]:
    state = ops.store.read()
    found: list[DataEstimate] = []
    for step in plan.of_kind(StepKind.MIGRATE):
        if not ops.config.stacks[step.stack].data:
            continue
        old, new = step.source or "", step.hosts[0]
        reuse = new in state.data_left_on(step.stack)
        try:
            folders = await estimate(ops.executor, ops.config, step.stack, old, new, reuse=reuse)
        except TransferError as exc:
            found.append(DataEstimate(step.stack, old, new, error=exc.message))
            continue
        found.append(DataEstimate(step.stack, old, new, tuple(folders)))
    return found


async def apply(
    ops: Operations,
    options: PlanOptions = EVERYTHING,
    *,
    show: Show,
    confirm: Confirm,
    dry_run: bool = False,
) -> Applied:
    """Make the hosts match the config (see the module's docstring)."""
    async with ops.exclusive():
        found = await preview(ops, options)
        show(found)
        if dry_run:
            return Applied(found)
        if found.plan.empty:
            ops.store.modify(lambda state: corrected_state(state, found.facts, ops.config))
            await ops.changed()
            return Applied(found)
        if not await confirm(found):
            return Applied(found)
        return Applied(found, tuple(await execute(ops, found.plan, found.facts)))
