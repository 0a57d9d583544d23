"""``ps``: one row per container of the stacks asked about, across every host.

A stack with no container gets a row per host it should be on, saying whether
that host could not be asked (``unreachable``), runs nothing of it, or holds it
``paused`` (taken down on purpose: ``cf down``, ``cf stop``). Rows of a host
where the stack is paused say so (``paused``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from compose_farm.config import Config
from compose_farm.facts import Facts
from compose_farm.state import State


@dataclass(frozen=True)
class PsRow:
    """A container, or the absence of a stack on a host."""

    stack: str
    host: str
    state: str
    service: str = ""
    status: str = ""
    image: str = ""
    ports: str = ""
    name: str = ""
    paused: bool = False  # the stack is paused on this host (`cf down`, `cf stop`)


def ps_rows(
    config: Config, state: State, facts: Facts, stacks: Sequence[str], host: str | None = None
) -> list[PsRow]:
    """Rows for ``stacks`` (on ``host`` only, when given), in the order of ``stacks``."""
    unreachable = facts.unreachable()
    rows: list[PsRow] = []
    for stack in stacks:
        containers = facts.containers(stack)
        paused = state.paused_on(stack)
        rows += [
            PsRow(
                stack, c.host, c.state, c.service, c.status, c.image, c.ports, c.name,
                paused=c.host in paused,
            )
            for c in containers
        ]  # fmt: skip
        if containers:
            continue
        for h in dict.fromkeys((*(state.hosts_of(stack) or config.stacks[stack].hosts), *paused)):
            if host is None or h == host:
                what = "unreachable" if h in unreachable else "paused" if h in paused else None
                rows.append(PsRow(stack, h, what or "not running", paused=h in paused))
    return rows
