"""Page contexts: typed data built from a snapshot, tested without a browser.

Templates only lay out what these functions return; every decision (what is
running where, which stacks are pending, which links a stack has) is made
here, in plain functions over config, state and facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from compose_farm.compose import COMPOSE_FILE_NAMES, ComposeProject, load_compose
from compose_farm.config import Config
from compose_farm.errors import ComposeFileError
from compose_farm.facts import Container
from compose_farm.plan import Section, describe, plan_from_facts
from compose_farm.web.farm import Snapshot

_HOST_RULE = re.compile(r"Host\(\s*`([^`]+)`\s*\)")


@dataclass(frozen=True)
class HostView:
    """A host on the dashboard."""

    name: str
    address: str
    reachable: bool
    error: str | None
    running: int


@dataclass(frozen=True)
class StackRow:
    """A stack on the dashboard: where it should run, is recorded, and does run."""

    name: str
    configured: tuple[str, ...]
    recorded: tuple[str, ...]
    running: tuple[str, ...]
    status: str  # running | partial | stopped | unknown


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard shows."""

    hosts: list[HostView]
    stacks_by_host: dict[str, list[StackRow]]
    plan: list[Section]
    pending: int


@dataclass(frozen=True)
class StackPage:
    """Everything a stack's page shows."""

    name: str
    configured: tuple[str, ...]
    recorded: tuple[str, ...]
    containers: list[Container]
    unreachable: dict[str, str]
    links: list[str]
    files: list[str]
    services: list[str] = field(default_factory=list)
    error: str | None = None


def _status(configured: tuple[str, ...], running: tuple[str, ...], unknown: bool) -> str:
    if all(h in running for h in configured):
        return "running"
    if running:
        return "partial"
    return "unknown" if unknown else "stopped"


def dashboard(snap: Snapshot) -> Dashboard:
    """The dashboard's data from one snapshot."""
    cfg, state, facts = snap.config, snap.state, snap.facts
    down = facts.unreachable()
    hosts = [
        HostView(
            name,
            h.address,
            name not in down,
            down.get(name),
            sum(1 for c in facts.hosts[name].containers if c.running) if name in facts.hosts else 0,
        )
        for name, h in cfg.hosts.items()
    ]
    running = facts.stacks_running()
    by_host: dict[str, list[StackRow]] = {name: [] for name in cfg.hosts}
    for name, stack in cfg.stacks.items():
        live = running.get(name, ())
        row = StackRow(
            name,
            stack.hosts,
            state.hosts_of(name),
            live,
            _status(stack.hosts, live, any(h in down for h in stack.hosts)),
        )
        for host in stack.hosts:
            by_host[host].append(row)
    plan = plan_from_facts(cfg, state, facts)
    return Dashboard(hosts, by_host, describe(plan), len(plan.steps))


def stack_links(project: ComposeProject) -> list[str]:
    """``https://NAME`` for every ``Host(`NAME`)`` in the stack's Traefik router rules."""
    links: list[str] = []
    for service in project.services.values():
        for key, value in service.labels.items():
            lowered = key.lower()
            if lowered.startswith("traefik.http.routers.") and lowered.endswith(".rule"):
                for host in _HOST_RULE.findall(value):
                    url = f"https://{host}"
                    if url not in links:
                        links.append(url)
    return links


def editable_files(config: Config, stack: str) -> list[str]:
    """The stack's compose file and ``.env`` (when present, or to create)."""
    folder = Path(str(config.stack_dir(stack)))
    files = [n for n in COMPOSE_FILE_NAMES if (folder / n).is_file()][:1] or [COMPOSE_FILE_NAMES[0]]
    return [*files, ".env"]


def stack_page(snap: Snapshot, stack: str) -> StackPage:
    """One stack's data from a snapshot."""
    cfg, state, facts = snap.config, snap.state, snap.facts
    links: list[str] = []
    services: list[str] = []
    error = None
    try:
        project = load_compose(Path(str(cfg.compose_dir)), stack, {})
        links = stack_links(project)
        services = list(project.services)
    except ComposeFileError as exc:
        error = exc.message
    return StackPage(
        name=stack,
        configured=cfg.stacks[stack].hosts,
        recorded=state.hosts_of(stack),
        containers=facts.containers(stack),
        unreachable={h: e for h, e in facts.unreachable().items() if h in cfg.stacks[stack].hosts},
        links=links,
        files=editable_files(cfg, stack),
        services=services,
        error=error,
    )
