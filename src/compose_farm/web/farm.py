"""The web app's parts, built once by ``create_app`` and reached through ``request.app``.

Nothing here is a module-level global: a test builds an app over a temporary
config in one line, with its own sessions, tasks, executor factory and backups
folder.

YAML (the config, the state file) is parsed in a worker thread, never on the
event loop: a slow file must not freeze every other page. ``mask`` parses
nothing: it uses the config last read.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from compose_farm.backups import Backups
from compose_farm.config import Config, load_config, parse_config
from compose_farm.drift import HostDetails
from compose_farm.executor import Executor
from compose_farm.facts import Container, Facts, gather_facts
from compose_farm.secrets import Secrets
from compose_farm.state import State, StateStore
from compose_farm.web.auth import Auth
from compose_farm.web.health import HealthHistory, Trend
from compose_farm.web.hosts import AllowedHosts
from compose_farm.web.tasks import TaskManager
from compose_farm.yamlio import parse_yaml

ExecutorFactory = Callable[[Config], Executor]
SNAPSHOT_TTL = 2.0
DRIFT_TTL = 30.0  # seconds a snapshot reuses what Compose made of each stack's folder


@dataclass
class Snapshot:
    """Config, state and facts read together (facts: one round trip per host)."""

    config: Config
    state: State
    facts: Facts
    taken: float
    updates: tuple[Mapping[str, str], ...] = ()  # the last `cf outdated`, from its log
    health: Mapping[str, Trend] = field(default_factory=dict)  # host -> recent readings


@dataclass
class Farm:
    """Everything the routes need."""

    config_path: Path
    auth: Auth
    executor_factory: ExecutorFactory = Executor
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    allowed_hosts: AllowedHosts = field(default_factory=AllowedHosts.loopback)
    backups: Backups = field(default_factory=lambda: Backups.default(os.environ))
    health: HealthHistory = field(default_factory=HealthHistory)  # the host cards' history
    tasks: TaskManager = field(init=False)
    saving: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)  # one save at a time
    _snapshot: Snapshot | None = field(default=None, init=False)
    _config: Config | None = field(default=None, init=False)  # the last read that parsed
    _config_text: str | None = field(default=None, init=False)  # the text it was parsed from
    _state_reader: StateStore | None = field(default=None, init=False)
    _secrets: tuple[float, Secrets] | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _drift: tuple[float, dict[str, HostDetails]] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tasks = TaskManager(self.mask)

    def config(self) -> Config:
        """The config as it is on disk now (edits take effect at once).

        This parses YAML where it is called: from a request, ``await read_config()``.
        A file whose text has not changed since the last read that parsed is not
        parsed again (each snapshot reads it: at 1,000 stacks a parse is 0.15 s).
        """
        path = self.config_path
        try:
            text = path.read_text(encoding="utf-8")  # read once (it may be slow, or a pipe)
        except (OSError, UnicodeDecodeError):
            return self._parsed(load_config(path), None)  # which says what is wrong
        if text == self._config_text and self._config is not None:
            return self._config
        raw = parse_yaml(text, path)
        if not isinstance(raw, Mapping):  # empty, or not a mapping: load_config's message
            return self._parsed(load_config(path), None)
        return self._parsed(parse_config(raw, path), text)

    def _parsed(self, config: Config, text: str | None) -> Config:
        self._config, self._config_text = config, text
        return config

    async def read_config(self) -> Config:
        """``config()`` in a worker thread, the event loop free meanwhile."""
        return await asyncio.to_thread(self.config)

    def store(self, config: Config) -> StateStore:
        """The state file of ``config``."""
        return StateStore(config.state_path)

    def mask(self, stack: str | None, text: str) -> str:
        """Hide every ``.env`` value (and every kept backup's) before text reaches a browser.

        The stacks are those of the config last read (each request that shows a
        stack's text read it first); their ``.env`` files are read again every
        ``SNAPSHOT_TTL`` seconds. While the config cannot be read, the last one
        read still applies; with none ever read, a stack's text is hidden whole
        (farm-wide text, such as the config error itself, holds no ``.env`` value
        cf could know of).
        """
        config = self._config
        if config is None:
            return text if stack is None else "***"
        now = time.monotonic()
        cached = self._secrets
        if cached is None or cached[1].config is not config or now - cached[0] > SNAPSHOT_TTL:
            cached = (now, Secrets(config, self.environ, self.backups))
            self._secrets = cached
        return cached[1].mask(stack, text)

    async def container(self, stack: str, host: str, container_id: str) -> Container | None:
        """``stack``'s container on ``host`` with that id: from the shared snapshot, else
        from a fresh one (a container started since)."""
        for fresh in (False, True):
            snap = await self.snapshot(fresh=fresh)
            found = find_container(snap.facts, stack, host, container_id)
            if found is not None:
                return found
        return None

    async def snapshot(self, *, fresh: bool = False) -> Snapshot:
        """Config + state + facts, shared by requests within ``SNAPSHOT_TTL`` seconds."""
        async with self._lock:
            now = time.monotonic()
            if (
                not fresh
                and self._snapshot is not None
                and now - self._snapshot.taken < SNAPSHOT_TTL
            ):
                return self._snapshot
            config = await self.read_config()
            facts = await self._facts(config, now)
            state = await asyncio.to_thread(self._read_state, config)
            updates = await asyncio.to_thread(_read_updates, config)
            self._snapshot = Snapshot(
                config, state, facts, time.monotonic(), updates, self.health.trends()
            )
            return self._snapshot

    async def _facts(self, config: Config, now: float) -> Facts:
        """What runs where, every snapshot; what Compose makes of each stack's folder
        (drift: a ``docker compose config`` per stack) once every ``DRIFT_TTL`` seconds,
        the containers' own hashes compared with it every time."""
        cached = self._drift
        drift = cached is None or now - cached[0] > DRIFT_TTL
        async with self.executor_factory(config) as executor:
            # host health beside the facts, over the same connections (at most every
            # `HealthHistory.every` seconds; otherwise this returns at once)
            facts, _ = await asyncio.gather(
                gather_facts(config, executor, drift=drift),
                self.health.refresh(executor, list(config.hosts)),
            )
        if drift:
            found = {h: f.details for h, f in facts.hosts.items() if f.details is not None}
            self._drift = (now, found)
            return facts
        assert cached is not None
        hosts = {h: replace(f, details=cached[1].get(h)) for h, f in facts.hosts.items()}
        return replace(facts, hosts=hosts)

    def _read_state(self, config: Config) -> State:
        """The state, read by one store kept for reading only: it parses the file only
        when its text changed since the last snapshot."""
        reader = self._state_reader
        if reader is None or reader.path != config.state_path:
            reader = self._state_reader = StateStore(config.state_path)
        return reader.read()

    def invalidate(self) -> None:
        """Forget the cached snapshot and secrets (after an action or a save changed them)."""
        self._snapshot = None
        self._secrets = None
        self._drift = None


def _read_updates(config: Config) -> tuple[Mapping[str, str], ...]:
    """The last ``cf outdated`` results (none when the log is missing or unreadable: the
    badges are a hint, and ``cf outdated`` says what is wrong with the file)."""
    from compose_farm.digests import read_table
    from compose_farm.errors import StateError

    try:
        return tuple(read_table(config.digest_log_path, "updates"))
    except StateError:
        return ()


def find_container(facts: Facts, stack: str, host: str, container_id: str) -> Container | None:
    """``stack``'s container on ``host`` whose id starts with ``container_id`` (one match only).

    Pages send ids, never names, so the real name is looked up here.
    """
    found = [
        c
        for c in facts.containers(stack)
        if c.host == host and container_id and c.id.startswith(container_id)
    ]
    return found[0] if len(found) == 1 else None
