"""A farm for one lab test: unique stacks, a config in tmp_path, `cf` as a user runs it.

Every ``Farm`` names its stacks ``e2e-<8 hex>-<suffix>``, so tests running at
once on the shared hosts never see each other's containers. Outcomes are read
from the hosts' engines over their unix sockets (``on_engines``, ``where``,
``placement``, ``snapshot``), which works even while a host's cable is cut or
its sshd is stopped. ``close`` removes every container and network of the farm
from the farm's hosts, and its stack folders, whatever state the test left
them in.

A kind of farm changes where stack folders live (``compose_dir``), the
farm-wide keys it starts with (``initial_settings``) and what it sets up on the
hosts (``prepare``); the constructor is this one. ``open_farm`` makes one for a
block: it skips (fails in CI) when the lab lacks a host, holds the lock of
hosts the test breaks, and always cleans up.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tomllib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import pytest

from compose_farm.state import StateStore
from tests.lab import Lab, LabHost
from tests.support.cf import CfProcess, CfRun, run_cf, start_cf
from tests.support.config import CONFIG_NAME, config_text
from tests.support.faults import groups_of, hosts_lock
from tests.support.stacks import sleep_stack

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
OWNER_LABEL = "cf-e2e.farm"  # on helper containers a test starts by hand (see ``occupy_port``)

# One JSON array per container, as in compose_farm.facts (values are JSON-quoted).
PS_FORMAT = (
    '[{{json .ID}},{{json (.Label "com.docker.compose.project")}},'
    '{{json (.Label "com.docker.compose.service")}},{{json .Names}},{{json .State}}]'
)

Where = str | list[str]
Snapshot = dict[tuple[str, str, str], tuple[str, str]]


@dataclass(frozen=True)
class Running:
    """A container of the farm's, as its host's engine reports it."""

    host: str
    id: str
    name: str
    project: str
    service: str
    state: str


def on(*hosts: str, state: str = "running") -> dict[str, str]:
    """An expected ``Farm.on_engines()`` entry: ``state`` on each of ``hosts``."""
    return dict.fromkeys(sorted(hosts), state)


class Farm:
    """One test's farm over some lab hosts. Use as a context manager (cleans up on exit)."""

    def __init__(
        self,
        lab: Lab,
        folder: Path,
        hosts: Sequence[str],
        *,
        connect_timeout: float | None = None,
    ) -> None:
        self.lab = lab
        self.folder = folder
        self.hosts = list(hosts)
        self.prefix = f"e2e-{uuid.uuid4().hex[:8]}"
        self.stacks: dict[str, Where] = {}
        self.options: dict[str, dict[str, Any]] = {}  # a stack's own keys: data, hooks, sync
        self.settings: dict[str, Any] = self.initial_settings()  # farm-wide keys
        if connect_timeout is not None:
            self.settings["ssh"] = {"connect_timeout": connect_timeout}
        self.folders: list[str] = []  # stack folders this farm wrote, configured or not
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self.prepare()
        except BaseException:
            self.close()
            raise
        self.write_config()

    # --- what a kind of farm changes -------------------------------------------------

    def initial_settings(self) -> dict[str, Any]:
        """Farm-wide config keys the farm starts with."""
        return {}

    def prepare(self) -> None:
        """Set up what the farm needs on the hosts (undone by ``close``)."""

    @property
    def compose_dir(self) -> Path:
        """The compose folder, as cf and every host name it (the lab's: one folder for all)."""
        return self.lab.compose_dir

    # --- config ---------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.folder / CONFIG_NAME

    @property
    def state_path(self) -> Path:
        return self.folder / "compose-farm-state.yaml"

    def name(self, suffix: str) -> str:
        """The farm-unique stack (or helper) name for ``suffix``."""
        return f"{self.prefix}-{suffix}"

    def stack(
        self,
        suffix: str,
        where: Where,
        compose: str | None = None,
        env: str | None = None,
        *,
        files: Mapping[str, str | bytes] | None = None,
        **options: Any,
    ) -> str:
        """Write a stack folder (default: one sleeping ``app``; ``files`` beside it) and
        configure it on ``where`` with ``options`` (``data``, ``hooks``, ``sync``)."""
        name = self.name(suffix)
        self._write_folder(name, compose, env, files)
        self.options[name] = dict(options)
        self.place(name, where)
        return name

    def folder_only(self, suffix: str) -> str:
        """A compose folder that the config does not name."""
        name = self.name(suffix)
        self._write_folder(name, None, None, None)
        return name

    def _write_folder(
        self,
        name: str,
        compose: str | None,
        env: str | None,
        files: Mapping[str, str | bytes] | None,
    ) -> None:
        folder = self.compose_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        self.folders.append(name)
        (folder / "compose.yaml").write_text(compose or sleep_stack(self.lab.image))
        if env is not None:
            (folder / ".env").write_text(env)
        for relative, content in (files or {}).items():
            write(folder / relative, content)

    def place(self, stack: str, where: Where) -> None:
        """Configure ``stack`` on ``where`` (a host, ``all`` or a list) and rewrite the config."""
        self.stacks[stack] = where
        self.write_config()

    def configure(self, stack: str, **options: Any) -> None:
        """Set (or with ``None`` remove) keys of ``stack``'s entry and rewrite the config."""
        for key, value in options.items():
            if value is None:
                self.options[stack].pop(key, None)
            else:
                self.options[stack][key] = value
        self.write_config()

    def drop(self, stack: str) -> None:
        """Take ``stack`` out of the config (its folder stays until ``close``)."""
        del self.stacks[stack]
        self.write_config()

    def write_config(self) -> None:
        """Write the config as it stands (after changing ``settings``, say)."""
        hosts = {h: {"address": self.lab.host(h).address, "user": "root"} for h in self.hosts}
        stacks = {
            stack: {"hosts": where, **self.options[stack]} if self.options.get(stack) else where
            for stack, where in self.stacks.items()
        }
        self.config_path.write_text(
            config_text(compose_dir=self.compose_dir, hosts=hosts, stacks=stacks, **self.settings)
        )

    # --- running cf -------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The lab client's environment, pointed at this farm's config."""
        return {**self.lab.env(), "CF_CONFIG": str(self.config_path)}

    def cf(self, *args: str, timeout: float = 120) -> CfRun:
        """``cf ARGS`` to its end, in the farm's folder."""
        return run_cf(*args, base=self.env(), cwd=self.folder, timeout=timeout)

    def start(self, *args: str) -> CfProcess:
        """``cf ARGS`` in the background, its output read line by line (``CfProcess``)."""
        return start_cf(*args, base=self.env(), cwd=self.folder)

    def state(self) -> dict[str, tuple[str, ...]]:
        """The state file as cf's own reader sees it."""
        return dict(StateStore(self.state_path).read().deployed)

    def state_bytes(self) -> bytes | None:
        """The state file exactly as on disk (None: no file)."""
        try:
            return self.state_path.read_bytes()
        except FileNotFoundError:
            return None

    def digest_log(self) -> list[dict[str, Any]]:
        """The entries of ``dockerfarm-log.toml`` beside the config."""
        data = tomllib.loads((self.folder / "dockerfarm-log.toml").read_text(encoding="utf-8"))
        assert data.get("version") == 1, data
        entries = data.get("images", [])
        assert isinstance(entries, list)
        return entries

    # --- what the engines say ---------------------------------------------------------

    def containers(self, hosts: Sequence[LabHost | str] | None = None) -> list[Running]:
        """Every container of this farm's stacks on ``hosts`` (default: the farm's hosts).

        cf only ever reaches the hosts in its config, so those are where a stack
        could be; other lab hosts may be broken on purpose by fault tests.
        """
        names = hosts if hosts is not None else self.hosts
        targets = [self.lab.host(h) for h in names]
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            found = pool.map(self._containers_on, targets)
        return [c for per_host in found for c in per_host]

    def _containers_on(self, host: LabHost) -> list[Running]:
        done = self.lab.docker(
            host,
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            f"label={PROJECT_LABEL}",
            "--format",
            PS_FORMAT,
        )
        assert done.returncode == 0, f"docker ps on {host.name}: {done.stderr}"
        found = []
        for line in done.stdout.splitlines():
            cid, project, service, name, state = json.loads(line)
            if project.startswith(self.prefix + "-"):
                found.append(Running(host.name, cid, name, project, service, state))
        return found

    def on_engines(self) -> dict[str, dict[str, str]]:
        """Where the farm's stacks are, from one look at every farm host's engine.

        stack -> {host: state of its containers there}, e.g. ``{"h1": "running"}``;
        several services in different states give ``"exited/running"``. A stack
        with no container on any host is absent. Compare with ``on(...)``.
        """
        states: dict[str, dict[str, set[str]]] = {}
        for c in self.containers():
            states.setdefault(c.project, {}).setdefault(c.host, set()).add(c.state)
        return {
            stack: {host: "/".join(sorted(s)) for host, s in sorted(hosts.items())}
            for stack, hosts in states.items()
        }

    def where(self, stack: str, *, running: bool = True) -> set[str]:
        """Hosts with a (running, unless ``running=False``) container of ``stack``."""
        return {
            c.host
            for c in self.containers()
            if c.project == stack and (c.state == "running" or not running)
        }

    def placement(self, hosts: Sequence[str] | None = None) -> dict[str, set[str]]:
        """Project -> hosts where it has a running container (one sweep of the engines)."""
        placed: dict[str, set[str]] = {}
        for c in self.containers(hosts):
            if c.state == "running":
                placed.setdefault(c.project, set()).add(c.host)
        return placed

    def snapshot(self, hosts: Sequence[str] | None = None) -> Snapshot:
        """(project, host, service) -> (container id, state), for every container of the farm."""
        found: Snapshot = {}
        for c in self.containers(hosts):
            key = (c.project, c.host, c.service)
            assert key not in found, f"two containers for {key}: {found[key]} and {c}"
            found[key] = (c.id, c.state)
        return found

    def of(self, project: str, host: str) -> list[Running]:
        """The containers of ``project`` on ``host`` (any state)."""
        return [c for c in self.containers([host]) if c.project == project]

    def ids(self, stack: str) -> dict[tuple[str, str], str]:
        """(host, service) -> container ID, for ``stack``'s containers on the farm's hosts."""
        return {(c.host, c.service): c.id for c in self.containers() if c.project == stack}

    def inspect(self, host: LabHost | str, container: str, template: str) -> str:
        done = self.lab.docker(host, "inspect", "-f", template, container, check=True)
        return done.stdout.strip()

    # --- by hand, on a host's engine ----------------------------------------------

    def hand_compose(self, host: str, stack: str, *args: str, project: str | None = None) -> None:
        """``docker compose -f <stack>/compose.yaml -p PROJECT ARGS`` against ``host``'s engine."""
        compose_file = self.compose_dir / stack / "compose.yaml"
        done = self.lab.docker(
            host, "compose", "-f", str(compose_file), "-p", project or stack, *args
        )
        assert done.returncode == 0, f"compose {' '.join(args)} on {host}: {done.stderr}"

    def occupy_port(self, host: LabHost | str, port: int) -> str:
        """Start a plain container on ``host`` publishing ``port``; removed by ``close``."""
        name = self.name(f"blocker-{port}")
        self.lab.docker(
            host,
            "run",
            "-d",
            "--init",
            "--name",
            name,
            "--label",
            f"{OWNER_LABEL}={self.prefix}",
            "-p",
            f"{port}:8080",
            self.lab.image,
            "sleep",
            "3600",
            check=True,
        )
        return name

    def file_exists_anywhere(self, path: str) -> list[str]:
        """Names of the lab hosts (and ``client``) on which ``path`` exists."""
        found = ["client"] if Path(path).exists() else []
        for h in self.lab.hosts:
            if self.lab.host_exec(h, ["test", "-e", path], check=False).returncode == 0:
                found.append(h.name)
        return found

    # --- cleanup ---------------------------------------------------------------------

    def close(self) -> None:
        """Remove this farm's containers, networks and stack folders from its hosts."""
        mine = [self.lab.host(h) for h in self.hosts]
        try:
            with ThreadPoolExecutor(max_workers=len(mine)) as pool:
                list(pool.map(self._clean_host, mine))
        finally:
            for name in self.folders:
                shutil.rmtree(self.compose_dir / name, ignore_errors=True)

    def _clean_host(self, host: LabHost) -> None:
        ids = [c.id for c in self._containers_on(host)]
        owned = self.lab.docker(
            host, "ps", "-aq", "--filter", f"label={OWNER_LABEL}={self.prefix}"
        ).stdout.split()
        if ids or owned:
            self.lab.docker(host, "rm", "-f", "-v", *ids, *owned)
        networks = self.lab.docker(
            host, "network", "ls", "--filter", f"label={PROJECT_LABEL}", "--format", "{{.Name}}"
        ).stdout.split()
        mine = [n for n in networks if n.startswith(self.prefix + "-")]
        if mine:
            self.lab.docker(host, "network", "rm", *mine)

    def __enter__(self) -> Farm:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def write(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path``, making its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def expected(stacks: dict[str, Where], all_hosts: Sequence[str]) -> dict[str, set[str]]:
    """Config placement as sets of hosts (``all`` expanded)."""
    return {
        s: set(all_hosts) if w == "all" else {w} if isinstance(w, str) else set(w)
        for s, w in stacks.items()
    }


def as_sets(state: dict[str, tuple[str, ...]]) -> dict[str, set[str]]:
    return {s: set(h) for s, h in state.items()}


# --- a farm for a block -------------------------------------------------------------------


def require_hosts(lab: Lab, hosts: Sequence[str]) -> None:
    """Skip when the lab lacks one of ``hosts`` (fail in CI, as tests/conftest.py does)."""
    missing = [h for h in hosts if h not in {x.name for x in lab.hosts}]
    if missing:
        why = f"the lab has no {', '.join(missing)}: python -m tests.lab up --hosts 8"
        if os.environ.get("CI", "").lower() == "true":  # never pass silently
            pytest.fail(why, pytrace=False)
        pytest.skip(why)


F = TypeVar("F", bound=Farm)


@overload
def open_farm(
    lab: Lab,
    folder: Path,
    hosts: Sequence[str],
    *,
    connect_timeout: float | None = None,
    exclusive: bool = False,
) -> contextlib.AbstractContextManager[Farm]: ...
@overload
def open_farm(
    lab: Lab,
    folder: Path,
    hosts: Sequence[str],
    *,
    kind: type[F],
    connect_timeout: float | None = None,
    exclusive: bool = False,
) -> contextlib.AbstractContextManager[F]: ...
def open_farm(
    lab: Lab,
    folder: Path,
    hosts: Sequence[str],
    *,
    kind: type[Farm] = Farm,
    connect_timeout: float | None = None,
    exclusive: bool = False,
) -> contextlib.AbstractContextManager[Farm]:
    """A ``kind`` farm over ``hosts`` for the block, cleaned up after.

    ``exclusive``: the test breaks hosts (or counts their logins): hold the lock
    of each host group among ``hosts`` (``faults.HOST_GROUPS``) for the whole
    block, cleanup included.
    """
    return _opened(lab, folder, hosts, kind, connect_timeout, exclusive)


@contextmanager
def _opened(
    lab: Lab,
    folder: Path,
    hosts: Sequence[str],
    kind: type[Farm],
    connect_timeout: float | None,
    exclusive: bool,
) -> Iterator[Farm]:
    require_hosts(lab, hosts)
    with contextlib.ExitStack() as stack:
        if exclusive:
            for group in groups_of(hosts):
                stack.enter_context(hosts_lock(lab, group))
        farm = kind(lab, folder, hosts, connect_timeout=connect_timeout)
        stack.callback(farm.close)
        yield farm


class FarmFactory:
    """Farms for one test (the ``make_farm`` fixture): each in its own folder under
    ``root``, all cleaned up when ``stack`` closes (see ``open_farm``)."""

    def __init__(self, lab: Lab, root: Path, stack: contextlib.ExitStack) -> None:
        self.lab = lab
        self.root = root
        self.stack = stack
        self.made = 0

    @overload
    def __call__(
        self,
        hosts: Sequence[str],
        *,
        connect_timeout: float | None = None,
        exclusive: bool = False,
        folder: Path | None = None,
    ) -> Farm: ...
    @overload
    def __call__(
        self,
        hosts: Sequence[str],
        *,
        kind: type[F],
        connect_timeout: float | None = None,
        exclusive: bool = False,
        folder: Path | None = None,
    ) -> F: ...
    def __call__(
        self,
        hosts: Sequence[str],
        *,
        kind: type[Farm] = Farm,
        connect_timeout: float | None = None,
        exclusive: bool = False,
        folder: Path | None = None,
    ) -> Farm:
        """A farm over ``hosts`` in ``folder`` (default: ``farm``, ``farm-2``... under the
        test's tmp_path)."""
        self.made += 1
        if folder is None:
            folder = self.root / ("farm" if self.made == 1 else f"farm-{self.made}")
        opened = open_farm(
            self.lab,
            folder,
            hosts,
            kind=kind,
            connect_timeout=connect_timeout,
            exclusive=exclusive,
        )
        return self.stack.enter_context(opened)
