"""Page contexts: typed data built from a snapshot, tested without a browser.

Templates only lay out what these functions return; every decision (what is
running where, which stacks are pending, which links a stack has) is made
here, in plain functions over config, state and facts.

Text that comes from the hosts or from Compose (container names, images,
ports, statuses, errors) is masked here, with the farm's ``.env`` values,
before a template sees it; containers are keyed by id, never by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from compose_farm.compose import COMPOSE_FILE_NAMES, ComposeProject, load_compose
from compose_farm.config import Config
from compose_farm.errors import ComposeFileError
from compose_farm.facts import Container
from compose_farm.plan import Section, describe, plan_from_facts
from compose_farm.traefik.read import read as read_labels
from compose_farm.web.farm import Snapshot
from compose_farm.web.health import HealthView, trend_view

_HOST_RULE = re.compile(r"Host\(\s*`([^`]+)`\s*\)")

Mask = Callable[[str | None, str], str]  # (stack or None for every stack, text) -> text


@dataclass(frozen=True)
class HostView:
    """A host on the dashboard."""

    name: str
    address: str
    reachable: bool
    error: str | None
    running: int
    health: HealthView | None = None  # CPU, memory, disk and their sparklines (reachable only)


@dataclass(frozen=True)
class StackRow:
    """A stack in one host's card: where it should run, is recorded, and does run, and
    what it is on that host (``here``), which is what the card shows.

    ``here`` is one of ``HERE``; ``note`` says why for anything but plain running or
    stopped (the other host of a move, "not in the config").
    """

    name: str
    configured: tuple[str, ...]
    recorded: tuple[str, ...]
    running: tuple[str, ...]
    status: str  # the whole stack: running | partial | stopped | unknown
    outdated: tuple[str, ...] = ()  # hosts where a service has an update (last `cf outdated`)
    here: str = "stopped"
    note: str = ""
    orphan: bool = False  # not in the config: no actions, `cf apply` stops it


# What a stack is on one host, as its card shows it:
#   running   configured here and running here
#   stopped   configured here, not running anywhere else either
#   paused    configured here, taken down on purpose (`cf down`, `cf stop`): apply leaves it
#   unknown   the host did not answer: never shown as stopped
#   pending   configured here, not running here, running on a host it is moving from
#   leaving   running here, configured elsewhere (a move not applied yet, or one that failed)
#   orphan    running here or recorded here, and no longer in the config
HERE = ("running", "stopped", "paused", "unknown", "pending", "leaving", "orphan")


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard shows."""

    hosts: list[HostView]
    stacks_by_host: dict[str, list[StackRow]]
    plan: list[Section]
    pending: int


@dataclass(frozen=True)
class ContainerRow:
    """A container as the browser may see it: every text masked, keyed by its id."""

    host: str
    id: str
    service: str
    name: str
    image: str
    state: str
    status: str
    ports: str
    running: bool
    update: str = ""  # "update available" (or another status) from the last `cf outdated`

    @classmethod
    def of(cls, container: Container, stack: str, mask: Mask, update: str = "") -> ContainerRow:
        """``container`` of ``stack``, with the stack's secrets masked."""
        c = container
        return cls(
            host=c.host,
            id=c.id,
            service=mask(stack, c.service),
            name=mask(stack, c.name),
            image=mask(stack, c.image),
            state=mask(stack, c.state),
            status=mask(stack, c.status),
            ports=mask(stack, c.ports),
            running=c.running,
            update=update,
        )


@dataclass(frozen=True)
class StackPage:
    """Everything a stack's page shows."""

    name: str
    configured: tuple[str, ...]
    recorded: tuple[str, ...]
    containers: list[ContainerRow]
    unreachable: dict[str, str]
    links: list[str]
    files: list[str]
    services: list[str] = field(default_factory=list)
    error: str | None = None
    paused: tuple[str, ...] = ()  # hosts where it was taken down on purpose


@dataclass(frozen=True)
class PaletteContainer:
    """A container as the command palette lists it (by stack, service and host; acted on
    by id, as the stack page does)."""

    stack: str
    service: str
    host: str
    id: str
    name: str


def palette_containers(snap: Snapshot, mask: Mask) -> list[PaletteContainer]:
    """Every configured stack's containers on the reachable hosts, texts masked."""
    found = [
        PaletteContainer(stack, mask(stack, c.service), c.host, c.id, mask(stack, c.name))
        for stack in snap.config.stacks
        for c in snap.facts.containers(stack)
    ]
    return sorted(found, key=lambda c: (c.stack, c.service, c.host, c.name, c.id))


def _status(configured: tuple[str, ...], running: tuple[str, ...], unknown: bool) -> str:
    if all(h in running for h in configured):
        return "running"
    if running:
        return "partial"
    return "unknown" if unknown else "stopped"


def update_status(snap: Snapshot) -> dict[tuple[str, str, str], str]:
    """(stack, host, service) -> its status in the last ``cf outdated``, for services
    that still run there on the image that was checked (a recreated one is not judged)."""
    images = {
        (snap.facts.stack_of.get((c.host, c.id)), c.host, c.service): c.image
        for c in snap.facts.containers()
        if c.running
    }
    found: dict[tuple[str, str, str], str] = {}
    for row in snap.updates:
        key = (row.get("stack", ""), row.get("host", ""), row.get("service", ""))
        if images.get(key) == row.get("image"):
            found[key] = row.get("status", "")
    return found


def dashboard(snap: Snapshot, mask: Mask) -> Dashboard:
    """The dashboard's data from one snapshot (host errors and plan lines masked)."""
    cfg, state, facts = snap.config, snap.state, snap.facts
    down = facts.unreachable()
    hosts = [
        HostView(
            name,
            h.address,
            name not in down,
            mask(None, down[name]) if name in down else None,
            sum(1 for c in facts.hosts[name].containers if c.running) if name in facts.hosts else 0,
            None if name in down else trend_view(snap.health.get(name), mask),
        )
        for name, h in cfg.hosts.items()
    ]
    outdated: dict[str, set[str]] = {}
    for (stack_name, host, _service), status in update_status(snap).items():
        if status == "update available":
            outdated.setdefault(stack_name, set()).add(host)
    by_host: dict[str, list[StackRow]] = {name: [] for name in cfg.hosts}
    for row in placements(snap, down, outdated):
        by_host[row[0]].append(row[1])
    plan = plan_from_facts(cfg, state, facts)
    sections = [
        Section(s.title, tuple(mask(None, line) for line in s.lines)) for s in describe(plan)
    ]
    return Dashboard(hosts, by_host, sections, len(plan.steps))


def placements(
    snap: Snapshot, down: Mapping[str, str], outdated: Mapping[str, set[str]]
) -> list[tuple[str, StackRow]]:
    """(host, row) for every host a stack is configured on, runs on or is recorded on.

    A stack shows where it *runs* as well as where it is meant to: during a pending or
    failed move it is "leaving" on the old host (it serves there) and "pending" on the
    new one; an orphan (in the state or in the compose folder, not in the config) shows
    on the hosts that run or record it. A host that did not answer shows "unknown".
    """
    cfg, state, facts = snap.config, snap.state, snap.facts
    running = facts.stacks_running()
    found: list[tuple[str, StackRow]] = []
    for name, stack in cfg.stacks.items():
        live = running.get(name, ())
        recorded = state.hosts_of(name)
        whole = _status(stack.hosts, live, any(h in down for h in stack.hosts))
        elsewhere = [h for h in live if h not in stack.hosts]
        for host in dict.fromkeys((*stack.hosts, *elsewhere)):
            if host not in cfg.hosts:
                continue
            here, note = _here(host, stack.hosts, live, elsewhere, down)
            if here in ("stopped", "pending") and host in state.paused_on(name):
                here, note = "paused", f"taken down on purpose: cf up {name} starts it"
            row = StackRow(
                name,
                stack.hosts,
                recorded,
                live,
                whole,
                tuple(sorted(outdated.get(name, ()))),
                here,
                note,
            )
            found.append((host, row))
    for name, hosts in sorted(orphans(snap).items()):
        for host, up in hosts.items():
            if host not in cfg.hosts:
                continue
            if host in down:
                here, note = "unknown", "not in the config; host unreachable"
            elif up:
                here, note = "orphan", "running, not in the config: cf apply stops it"
            else:
                here, note = "orphan", "recorded here, not in the config: cf apply forgets it"
            found.append(
                (
                    host,
                    StackRow(
                        name,
                        (),
                        state.hosts_of(name),
                        tuple(h for h, runs in hosts.items() if runs),
                        "running" if any(hosts.values()) else "stopped",
                        (),
                        here,
                        note,
                        orphan=True,
                    ),
                )
            )
    return found


def _here(
    host: str,
    configured: tuple[str, ...],
    live: tuple[str, ...],
    elsewhere: list[str],
    down: Mapping[str, str],
) -> tuple[str, str]:
    """What the stack is on ``host`` (one of ``HERE``, not orphan), and why."""
    if host in down:
        return "unknown", "host unreachable"
    if host not in configured:
        return "leaving", f"runs here; configured on {', '.join(configured)}"
    if host in live:
        return "running", ""
    if elsewhere:
        return "pending", f"not started here yet; runs on {', '.join(elsewhere)}"
    return "stopped", ""


def orphans(snap: Snapshot) -> dict[str, dict[str, bool]]:
    """Stacks the state records that are no longer in the config (what ``cf apply``
    stops): name -> {host: running there}, for the hosts that record or run them.

    Only the state's: a folder of ``compose_dir`` that no config or state of this farm
    names may belong to another farm sharing the folder, and is not cf's to show.
    """
    cfg, state, facts = snap.config, snap.state, snap.facts
    gone = {name.lower(): name for name in state.deployed if name not in cfg.stacks}
    found: dict[str, dict[str, bool]] = {
        name: dict.fromkeys(hosts, False)
        for name, hosts in state.deployed.items()
        if name not in cfg.stacks
    }
    for c in facts.containers():
        owner = facts.stack_of.get((c.host, c.id))  # a folder of compose_dir, configured or not
        name = gone.get((owner or c.project).lower())
        if name is not None:
            hosts = found[name]
            hosts[c.host] = hosts.get(c.host, False) or c.running
    return found


def stack_links(project: ComposeProject) -> list[str]:
    """A link for every ``Host(`NAME`)`` in the rules of the stack's HTTP routers.

    Labels are read as Traefik reads them (``compose_farm.traefik.read``): a
    service with ``traefik.enable=false``, or one Traefik skips, has no links.
    The scheme is the router's (``_scheme``); a host several routers serve is
    linked once, as https if any of them serves it over TLS.
    """
    schemes: dict[str, str] = {}
    for service in project.services.values():
        routers = read_labels(service.labels).trees.get("http", {}).get("routers", {})
        for router in routers.values():
            rule = router.get("rule") if isinstance(router, dict) else None
            if not isinstance(rule, str):
                continue
            for host in _HOST_RULE.findall(rule):
                if schemes.get(host) != "https":
                    schemes[host] = _scheme(router)
    return [f"{scheme}://{host}" for host, scheme in schemes.items()]


# Entry point names Traefik's docs give the entry point that terminates TLS,
# often with TLS set on the entry point itself rather than on each router.
TLS_ENTRYPOINTS = frozenset({"websecure", "https"})


def _scheme(router: dict[str, object]) -> str:
    """https when the router serves TLS: its ``tls`` is set (true or any option), or it
    listens only on entry points named websecure or https; http otherwise."""
    tls = router.get("tls")
    if tls is not None and tls is not False:
        return "https"
    entrypoints = router.get("entryPoints")
    if isinstance(entrypoints, list) and entrypoints and set(entrypoints) <= TLS_ENTRYPOINTS:
        return "https"
    return "http"


def editable_files(config: Config, stack: str) -> list[str]:
    """The stack's compose file and ``.env`` (when present, or to create)."""
    folder = Path(str(config.stack_dir(stack)))
    files = [n for n in COMPOSE_FILE_NAMES if (folder / n).is_file()][:1] or [COMPOSE_FILE_NAMES[0]]
    return [*files, ".env"]


def stack_page(snap: Snapshot, stack: str, mask: Mask) -> StackPage:
    """One stack's data from a snapshot (container texts and errors masked).

    It reads and parses the stack's compose file: call it off the event loop.
    """
    cfg, state, facts = snap.config, snap.state, snap.facts
    updates = update_status(snap)
    links: list[str] = []
    services: list[str] = []
    error = None
    try:
        project = load_compose(Path(str(cfg.compose_dir)), stack, {})
        links = stack_links(project)
        services = list(project.services)
    except ComposeFileError as exc:
        error = mask(stack, exc.message)
    down = facts.unreachable()
    return StackPage(
        name=stack,
        configured=cfg.stacks[stack].hosts,
        recorded=state.hosts_of(stack),
        containers=[
            ContainerRow.of(c, stack, mask, updates.get((stack, c.host, c.service), ""))
            for c in facts.containers(stack)
        ],
        unreachable={h: mask(stack, e) for h, e in down.items() if h in cfg.stacks[stack].hosts},
        links=links,
        files=editable_files(cfg, stack),
        services=services,
        error=error,
        paused=state.paused_on(stack),
    )
