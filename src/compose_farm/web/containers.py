"""The containers page: every container of the farm's stacks on every host, from one snapshot.

Pure, like ``views.py``: a snapshot and the farm's masker in, the page's data
out. Only containers of configured stacks are listed (a stack taken out of the
config shows on the dashboard as an orphan, with what ``cf apply`` does to it);
a host that did not answer is named with its reason, never shown as having no
containers. Every text from a host is masked with the stack's ``.env`` values
(``views.ContainerRow``); rows are keyed by container id, never by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from compose_farm.web.farm import Snapshot
from compose_farm.web.views import ContainerRow, Mask, update_status

# Docker's ``Status`` of a running container: "Up " + a human duration (go-units'
# HumanDuration), then maybe " (healthy)" or " (Paused)".
_UP = re.compile(
    r"Up (?:(?P<less>Less than a second)|About an? (?P<about>minute|hour)"
    r"|(?P<n>\d+) (?P<unit>second|minute|hour|day|week|month|year)s?)\b"
)
_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}


def uptime_seconds(status: str) -> int | None:
    """About how long a container has been up, from Docker's status text (``Up 3 hours``
    is 10800); ``None`` when it is not up (``Exited (0) 2 minutes ago``, ``Created``).

    Docker rounds ("About an hour", "3 weeks"): this orders containers by uptime, it
    does not measure it.
    """
    found = _UP.match(status)
    if found is None:
        return None
    if found["less"]:
        return 0
    if found["about"]:
        return _SECONDS[found["about"]]
    return int(found["n"]) * _SECONDS[found["unit"]]


@dataclass(frozen=True)
class FarmContainer:
    """One row of the page: a stack's container, masked (``container``), and its uptime in
    seconds for sorting (-1 when it is not up)."""

    stack: str
    container: ContainerRow
    uptime: int


@dataclass(frozen=True)
class ContainersPage:
    """Everything the containers page shows."""

    rows: list[FarmContainer]
    unreachable: dict[str, str]  # host -> why (masked)
    hosts: list[str]  # the hosts that answered

    @property
    def running(self) -> int:
        """How many of the rows are up."""
        return sum(1 for r in self.rows if r.container.running)


def farm_containers(snap: Snapshot, mask: Mask) -> ContainersPage:
    """Every configured stack's containers on every host that answered, ordered by host,
    stack, service and name; the hosts that did not answer, with why."""
    facts = snap.facts
    updates = update_status(snap)
    rows = [
        FarmContainer(
            stack,
            ContainerRow.of(
                c, stack, mask, mask(stack, updates.get((stack, c.host, c.service), ""))
            ),
            -1 if (up := uptime_seconds(c.status)) is None or not c.running else up,
        )
        for stack in snap.config.stacks
        for c in facts.containers(stack)
    ]
    rows.sort(
        key=lambda r: (
            r.container.host,
            r.stack,
            r.container.service,
            r.container.name,
            r.container.id,
        )
    )
    down = facts.unreachable()
    return ContainersPage(
        rows=rows,
        unreachable={h: mask(None, why) for h, why in down.items()},
        hosts=[h for h in snap.config.hosts if h in facts.hosts and h not in down],
    )
