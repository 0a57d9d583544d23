"""``refresh``: make the state file say what actually runs, from the facts (CLI and web).

A host that did not answer keeps every entry it had: unreachable is never
read as "stopped". Hosts that answered are taken at their word: a stack is
deployed where it has containers, running or stopped (``cf stop`` keeps a
stack deployed; ``cf down`` removes its containers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from compose_farm.config import Config
from compose_farm.facts import Facts, gather_facts
from compose_farm.operations.lifecycle import Operations
from compose_farm.state import State


@dataclass(frozen=True)
class Change:
    """A stack whose recorded hosts change."""

    stack: str
    before: tuple[str, ...]
    after: tuple[str, ...]


@dataclass(frozen=True)
class Refresh:
    """The new state, what changed, and what runs that cf does not manage."""

    state: State
    changes: tuple[Change, ...]
    unmanaged: dict[str, tuple[str, ...]]


def refresh_state(config: Config, state: State, facts: Facts) -> Refresh:
    """Pure: the state that matches ``facts``, keeping unreachable hosts' entries."""
    asked_ok = {h for h, f in facts.hosts.items() if f.reachable}
    running = facts.stacks_present()
    new: dict[str, tuple[str, ...]] = {}
    for stack in sorted(set(config.stacks) | set(state.deployed)):
        kept = tuple(h for h in state.hosts_of(stack) if h not in asked_ok)
        hosts = tuple(dict.fromkeys((*kept, *running.get(stack, ()))))
        if hosts:
            new[stack] = hosts
    fresh = State(new)
    changes = tuple(
        Change(stack, state.hosts_of(stack), fresh.hosts_of(stack))
        for stack in sorted(set(state.deployed) | set(fresh.deployed))
        if set(state.hosts_of(stack)) != set(fresh.hosts_of(stack))
    )
    unmanaged = {
        s: h for s, h in running.items() if s not in config.stacks and s not in state.deployed
    }
    return Refresh(fresh, changes, unmanaged)


@dataclass(frozen=True)
class Refreshed:
    """What ``refresh`` found, and whether it wrote the state and the digest log."""

    found: Refresh
    unreachable: dict[str, str]  # host -> why it could not be asked
    kept: dict[str, int]  # unreachable host -> stacks kept in state for it
    written: bool

    @property
    def held(self) -> bool:
        """Some host could not be asked."""
        return bool(self.unreachable)


async def refresh(ops: Operations, *, dry_run: bool = False) -> Refreshed:
    """Under the farm lock: read what runs (with image digests), make the state say so,
    rewrite the Traefik file, and add the digests seen to ``dockerfarm-log.toml``."""
    from compose_farm.digests import merge, read_log, sightings, write_log

    config, store = ops.config, ops.store
    async with ops.exclusive():
        facts = await gather_facts(config, ops.executor, images=True)
        before = store.read()
        found = refresh_state(config, before, facts)
        unreachable = facts.unreachable()
        kept = {h: sum(1 for hs in before.deployed.values() if h in hs) for h in unreachable}
        if dry_run:
            return Refreshed(found, unreachable, kept, written=False)
        store.replace(found.state)
        await ops.changed()
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        managed = set(config.stacks) | set(found.state.deployed)
        path = config.digest_log_path
        write_log(path, merge(read_log(path), sightings(facts, now, managed)))
        return Refreshed(found, unreachable, kept, written=True)
