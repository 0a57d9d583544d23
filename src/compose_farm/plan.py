"""The planner: config + state + facts in, a ``Plan`` out. Pure: no I/O, no clock.

The plan says what ``cf apply`` will do, in the order it will do it:

1. stop orphans: stacks in state that are no longer in the config;
2. stop strays: configured stacks running on a host they are not meant for
   (a stack left behind, started by hand, or a host removed from its list);
3. migrate: a single-host stack whose state or facts say another host;
4. start: configured stacks not running on a host they are meant for (never
   started, crashed, or the host rebooted);
5. update: services whose running containers no longer match their compose
   project (``drift.py``: Compose's config hash, and what it does not cover),
   recreated alone, where the stack already runs and stays;
6. recreate (``--full`` only): everything else, where it already runs.

Hosts that could not be asked are never read as "nothing runs there": a step
that needs such a host is held back and listed under ``blocked``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from compose_farm.config import Config
from compose_farm.drift import StackDrift
from compose_farm.facts import Facts
from compose_farm.state import State
from compose_farm.sync.manifest import Drift


class StepKind(StrEnum):
    """What a step does, in execution order."""

    STOP_ORPHAN = "stop-orphan"
    STOP_STRAY = "stop-stray"
    MIGRATE = "migrate"
    START = "start"
    UPDATE = "update"
    RECREATE = "recreate"


@dataclass(frozen=True)
class Step:
    """One change: ``stack`` on ``hosts`` (for a move, ``source`` is the old host)."""

    kind: StepKind
    stack: str
    hosts: tuple[str, ...]
    source: str | None = None
    reason: str = ""
    services: tuple[str, ...] = ()  # UPDATE: the services to recreate (all others stay)
    changes: tuple[str, ...] = ()  # UPDATE: what differs, one line per service
    orphans: bool = False  # UPDATE: containers of services the project no longer has
    resync: bool = False  # UPDATE: this machine's copy of the folder differs (sync stacks)

    def describe(self) -> str:
        """``stack: old -> new`` for moves, ``stack on h1, h2`` otherwise."""
        if self.kind is StepKind.MIGRATE:
            return f"{self.stack}: {self.source} -> {self.hosts[0]}"
        if self.kind is StepKind.UPDATE:
            return f"{self.stack} on {self.hosts[0]}: {' | '.join(self.changes)}"
        return f"{self.stack} on {', '.join(self.hosts)}"


@dataclass(frozen=True)
class Blocked:
    """A change that cannot be made now, and why."""

    stack: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """Ordered steps plus what was held back."""

    steps: tuple[Step, ...] = ()
    blocked: tuple[Blocked, ...] = ()
    unreachable: Mapping[str, str] = field(default_factory=dict)
    unread: tuple[str, ...] = ()  # stacks whose compose project a host could not read
    paused: tuple[Blocked, ...] = ()  # left down on purpose (`cf down`, `cf stop`)

    @property
    def empty(self) -> bool:
        """True when there is nothing to do."""
        return not self.steps

    def of_kind(self, kind: StepKind) -> list[Step]:
        """The steps of one kind, in plan order."""
        return [s for s in self.steps if s.kind is kind]


@dataclass(frozen=True)
class PlanOptions:
    """``cf apply`` flags that shape the plan."""

    orphans: bool = True
    strays: bool = True
    full: bool = False


def make_plan(
    config: Config,
    state: State,
    running: Mapping[str, tuple[str, ...]],
    unreachable: Mapping[str, str],
    options: PlanOptions = PlanOptions(),
    degraded: Mapping[str, tuple[str, ...]] | None = None,
    drift: Mapping[tuple[str, str], StackDrift] | None = None,
    folders: Mapping[tuple[str, str], Drift | str] | None = None,
) -> Plan:
    """Compute the plan.

    ``running`` maps each stack to the reachable hosts where it has a running
    container (from facts); ``unreachable`` maps hosts that did not answer to
    why; ``degraded`` maps stacks to hosts where some of their containers
    crashed while others run (they are started again there); ``drift`` maps
    (stack, host) to how its containers there differ from its compose project;
    ``folders``, for synced stacks, how the host's copy of the folder differs from
    this machine's (or why that could not be told).
    """
    down = set(unreachable)
    out = _Draft(degraded=dict(degraded or {}))
    if options.orphans:
        for stack in sorted(set(state.deployed) - set(config.stacks)):
            _plan_orphan(out, config, stack, state, running, down)
    for stack in config.stacks:
        _plan_stack(out, config, stack, state, running, down, options)
    if not options.full:  # --full recreates everything anyway
        _plan_updates(out, config, running, drift or {}, folders or {})
    steps = out.orphans + out.strays + out.moves + out.starts + out.updates + out.recreates
    return Plan(
        tuple(steps), tuple(out.blocked), dict(unreachable), tuple(out.unread), tuple(out.paused)
    )


@dataclass
class _Draft:
    """Steps collected per kind while planning, joined in order at the end."""

    orphans: list[Step] = field(default_factory=list)
    strays: list[Step] = field(default_factory=list)
    moves: list[Step] = field(default_factory=list)
    starts: list[Step] = field(default_factory=list)
    updates: list[Step] = field(default_factory=list)
    recreates: list[Step] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)
    paused: list[Blocked] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    degraded: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _plan_orphan(
    out: _Draft,
    config: Config,
    stack: str,
    state: State,
    running: Mapping[str, tuple[str, ...]],
    down: set[str],
) -> None:
    hosts = _union(state.hosts_of(stack), running.get(stack, ()))
    for h in hosts:
        if h in down:
            out.blocked.append(Blocked(stack, f"orphan on {h}, which is unreachable"))
        elif h not in config.hosts:
            out.blocked.append(Blocked(stack, f"orphan on {h}, which is no longer in the config"))
    reachable = tuple(h for h in hosts if h not in down and h in config.hosts)
    if reachable:
        out.orphans.append(Step(StepKind.STOP_ORPHAN, stack, reachable, reason="not in the config"))


def _plan_stack(
    out: _Draft,
    config: Config,
    stack: str,
    state: State,
    running: Mapping[str, tuple[str, ...]],
    down: set[str],
    options: PlanOptions,
) -> None:
    cfg = config.stacks[stack]
    wanted = cfg.hosts
    recorded = state.hosts_of(stack)
    live = running.get(stack, ())
    paused = state.paused_on(stack)
    if paused and not cfg.multi_host and not live:
        # taken down on purpose: not started, not moved, until `cf up`
        out.paused.append(Blocked(stack, f"paused on {', '.join(paused)}: `cf up {stack}`"))
        return
    # Where it may be running: facts for reachable hosts, state for the others.
    present = _union(live, tuple(h for h in recorded if h in down))
    extra = tuple(h for h in present if h not in wanted)
    moving_to: set[str] = set()
    held = False

    if not cfg.multi_host:
        target = wanted[0]
        source = _move_source(recorded, live, extra, target)
        if source is not None:
            blocker = source if source in down else target if target in down else None
            if blocker is not None:
                held = True
                out.blocked.append(
                    Blocked(stack, f"move {source} -> {target} waits: {blocker} is unreachable")
                )
            else:
                out.moves.append(Step(StepKind.MIGRATE, stack, (target,), source=source))
                moving_to.add(target)
            extra = tuple(h for h in extra if h != source)

    stray_hosts = tuple(h for h in extra if h not in down)
    if stray_hosts and options.strays:
        reason = "host removed from its list" if cfg.multi_host else "not its host"
        out.strays.append(Step(StepKind.STOP_STRAY, stack, stray_hosts, reason=reason))

    # A held-back move must not start a second copy elsewhere.
    broken = out.degraded.get(stack, ())
    missing = (
        ()
        if held
        else tuple(h for h in wanted if (h not in live or h in broken) and h not in moving_to)
    )
    if cfg.multi_host:
        left = tuple(h for h in missing if h in paused and h not in live)
        if left:
            note = f"paused on {', '.join(left)}: `cf up {stack} --host HOST`"
            out.paused.append(Blocked(stack, note))
            missing = tuple(h for h in missing if h not in left)
    for h in missing:
        if h in down:
            out.blocked.append(Blocked(stack, f"{h} is unreachable: cannot check or start it"))
    startable = tuple(h for h in missing if h not in down)
    if startable:
        was = "never started" if not recorded else "not running (crashed or host rebooted)"
        if all(h in broken for h in startable):
            was = "some of its containers crashed"
        out.starts.append(Step(StepKind.START, stack, startable, reason=was))
    if options.full:
        again = tuple(h for h in wanted if h in live)
        if again:
            out.recreates.append(Step(StepKind.RECREATE, stack, again, reason="--full"))


def _plan_updates(
    out: _Draft,
    config: Config,
    running: Mapping[str, tuple[str, ...]],
    drift: Mapping[tuple[str, str], StackDrift],
    folders: Mapping[tuple[str, str], Drift | str],
) -> None:
    """Where a stack runs and stays, the services that differ from its project (and,
    for a synced stack, a folder that differs from this machine's). A host the stack
    is started on, moved to or stopped on gets that step alone."""
    touched = {(s.stack, h) for s in out.starts + out.moves + out.strays for h in s.hosts}
    pairs = sorted(
        (stack, host)
        for stack, host in set(drift) | set(folders)
        if stack in config.stacks
        and host in config.stacks[stack].hosts
        and host in running.get(stack, ())
        and (stack, host) not in touched
    )
    for stack, host in pairs:
        found = drift.get((stack, host))
        folder = folders.get((stack, host))
        if isinstance(folder, str):
            out.unread.append(f"{stack} on {host}: cannot compare its folder: {folder}")
            folder = None
        resync = folder is not None and bool(folder.changed or folder.missing)
        if found is not None and found.error is not None and not resync:
            out.unread.append(f"{stack} on {host}: {found.error}")
            continue
        usable = found if found is not None and found.error is None else StackDrift(stack, host)
        changes = tuple(s.describe() for s in usable.services)
        if resync and folder is not None:
            changes = (f"folder differs from this machine's ({_changed(folder)})", *changes)
        if not changes:
            continue
        out.updates.append(
            Step(
                StepKind.UPDATE,
                stack,
                (host,),
                reason="differs from its compose project",
                services=usable.recreate,
                changes=changes,
                orphans=usable.orphans,
                resync=resync,
            )
        )


def _changed(folder: Drift) -> str:
    """The folder's changed and missing files (files only on the host are left alone)."""
    return Drift(folder.changed, folder.missing).summary()


def _move_source(
    recorded: tuple[str, ...], live: tuple[str, ...], extra: tuple[str, ...], target: str
) -> str | None:
    """The old host of a single-host stack that should move to ``target``, if any.

    State names the host cf put it on; facts catch a stack that runs elsewhere
    without state knowing. A stack already up on the target has nothing to move.
    """
    if target in live:
        return None
    for host in recorded:
        if host != target and host in extra:
            return host
    return extra[0] if extra else None


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*a, *b)))


SECTION_TITLES = {
    StepKind.STOP_ORPHAN: "Stop orphans (no longer in the config)",
    StepKind.STOP_STRAY: "Stop strays (running where the config does not put them)",
    StepKind.MIGRATE: "Migrate",
    StepKind.START: "Start",
    StepKind.UPDATE: "Update (running containers differ from the compose project)",
    StepKind.RECREATE: "Recreate (--full)",
}


@dataclass(frozen=True)
class Section:
    """A titled group of plan lines, for the CLI and the web UI alike."""

    title: str
    lines: tuple[str, ...]


def describe(plan: Plan) -> list[Section]:
    """The plan grouped by kind, each line naming the stack and its hosts."""
    sections = []
    for kind, title in SECTION_TITLES.items():
        steps = plan.of_kind(kind)
        if steps:
            lines = tuple(
                s.describe() + (f"  ({s.reason})" if s.reason and kind is StepKind.START else "")
                for s in steps
            )
            sections.append(Section(title, lines))
    if plan.blocked:
        sections.append(Section("Held back", tuple(f"{b.stack}: {b.reason}" for b in plan.blocked)))
    if plan.paused:
        lines = tuple(f"{b.stack}: {b.reason}" for b in plan.paused)
        sections.append(Section("Paused (left down)", lines))
    if plan.unread:
        sections.append(Section("Could not compare with the compose project", plan.unread))
    return sections


def plan_from_facts(
    config: Config,
    state: State,
    facts: Facts,
    options: PlanOptions = PlanOptions(),
    folders: Mapping[tuple[str, str], Drift | str] | None = None,
) -> Plan:
    """``make_plan`` over what ``gather_facts`` found (the CLI and the web UI both use this);
    ``folders``: how synced stacks' folders on hosts differ from this machine's."""
    return make_plan(
        config,
        state,
        facts.stacks_running(),
        facts.unreachable(),
        options,
        facts.degraded(),
        facts.drift(),
        folders,
    )
