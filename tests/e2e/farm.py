"""A farm for one end-to-end test: unique stacks, a config in tmp_path, `cf` as a user runs it.

Every ``Farm`` names its stacks ``e2e-<8 hex>-<suffix>``, so tests running at
once on the shared hosts never see each other's containers. Outcomes are read
from the hosts' engines over their unix sockets (``Farm.on_engines``, ``where``),
which works even while a host's cable is cut or its sshd is stopped. ``Farm.close`` removes
every container and network of the farm from every lab host, and its stack
folders, whatever state the test left them in.

Also here: context managers that break a host and always put it back
(``cut``, ``frozen_sshd``, ``stopped_sshd``, ``new_host_key``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from compose_farm.state import StateStore
from tests.lab import Lab, LabError, LabHost
from tests.lab.proc import run

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
OWNER_LABEL = "cf-e2e.farm"  # on helper containers a test starts by hand (see ``occupy_port``)

# One JSON array per container, as in compose_farm.facts (values are JSON-quoted).
PS_FORMAT = (
    '[{{json .ID}},{{json (.Label "com.docker.compose.project")}},'
    '{{json (.Label "com.docker.compose.service")}},{{json .Names}},{{json .State}}]'
)

Where = str | list[str]


def sleep_stack(image: str, services: Sequence[str] = ("app",), extra: str = "") -> str:
    """A compose file of ``services`` that sleep and stop at once (tini as PID 1)."""
    parts = ["services:\n"]
    for service in services:
        parts.append(
            f"  {service}:\n"
            f"    image: {image}\n"
            '    command: ["sleep", "3600"]\n'
            "    init: true\n"
            "    stop_grace_period: 1s\n"
            f"{extra}"
        )
    return "".join(parts)


@dataclass(frozen=True)
class CfRun:
    """How one `cf` invocation ended, and how long it took."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        """For assertion messages: the command, its status and everything it printed."""
        return (
            f"cf {' '.join(self.args)} -> exit {self.returncode} in {self.elapsed:.1f}s\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


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
        self.connect_timeout = connect_timeout
        self.prefix = f"e2e-{uuid.uuid4().hex[:8]}"
        self.stacks: dict[str, Where] = {}
        self.folder.mkdir(parents=True, exist_ok=True)
        self.write_config()

    # --- config ---------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.folder / "compose-farm.yaml"

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
    ) -> str:
        """Write a stack folder (default: one sleeping ``app``) and configure it on ``where``."""
        name = self.name(suffix)
        self.lab.write_stack(name, compose or sleep_stack(self.lab.image), env)
        self.place(name, where)
        return name

    def place(self, stack: str, where: Where) -> None:
        """Configure ``stack`` on ``where`` (a host, ``all`` or a list) and rewrite the config."""
        self.stacks[stack] = where
        self.write_config()

    def write_config(self) -> None:
        hosts = {h: {"address": self.lab.host(h).address, "user": "root"} for h in self.hosts}
        document: dict[str, Any] = {
            "compose_dir": str(self.lab.compose_dir),
            "hosts": hosts,
            "stacks": self.stacks,
        }
        if self.connect_timeout is not None:
            document["ssh"] = {"connect_timeout": self.connect_timeout}
        # JSON is YAML: no YAML writer needed.
        self.config_path.write_text(json.dumps(document, indent=2) + "\n")

    # --- running cf -------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The lab client's environment, pointed at this farm's config."""
        return {
            **self.lab.env(),
            "CF_CONFIG": str(self.config_path),
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }

    def cf(self, *args: str, timeout: float = 120) -> CfRun:
        """``cf ARGS`` in a subprocess (stdin not a terminal), timed from spawn to exit."""
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "compose_farm", *args],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.folder,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        elapsed = time.monotonic() - started
        return CfRun(tuple(args), done.returncode, done.stdout, done.stderr, elapsed)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """``cf ARGS`` started in the background, stdout and stderr together, no stdin."""
        return subprocess.Popen(
            [sys.executable, "-m", "compose_farm", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
        )

    def state(self) -> dict[str, tuple[str, ...]]:
        """The state file as cf's own reader sees it."""
        return dict(StateStore(self.state_path).read().deployed)

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
        """Where the farm's stacks are, from one look at every lab host's engine.

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
        """Lab hosts with a (running, unless ``running=False``) container of ``stack``."""
        return {
            c.host
            for c in self.containers()
            if c.project == stack and (c.state == "running" or not running)
        }

    def ids(self, stack: str) -> dict[tuple[str, str], str]:
        """(host, service) -> container ID, for ``stack``'s containers on every lab host."""
        return {(c.host, c.service): c.id for c in self.containers() if c.project == stack}

    def inspect(self, host: LabHost | str, container: str, template: str) -> str:
        done = self.lab.docker(host, "inspect", "-f", template, container, check=True)
        return done.stdout.strip()

    # --- helpers on hosts -------------------------------------------------------

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
        """Remove this farm's containers, networks and stack folders from every lab host."""
        mine = [self.lab.host(h) for h in self.hosts]
        with ThreadPoolExecutor(max_workers=len(mine)) as pool:
            list(pool.map(self._clean_host, mine))
        for stack in self.stacks:
            folder = self.lab.compose_dir / stack
            for child in folder.glob("*"):
                child.unlink()
            if folder.is_dir():
                folder.rmdir()

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


def require_hosts(lab: Lab, hosts: Sequence[str]) -> None:
    """Skip when the lab lacks one of ``hosts`` (fail in CI, as tests/conftest.py does)."""
    missing = [h for h in hosts if h not in {x.name for x in lab.hosts}]
    if missing:
        why = f"the lab has no {', '.join(missing)}: python -m tests.lab up --hosts 8"
        if os.environ.get("CI", "").lower() == "true":  # never pass silently
            pytest.fail(why, pytrace=False)
        pytest.skip(why)


F = TypeVar("F", bound="Farm")


@contextmanager
def farm_of(
    kind: type[F],
    lab: Lab,
    folder: Path,
    hosts: Sequence[str],
    *,
    connect_timeout: float | None = None,
    exclusive: bool = False,
    lock: str = "faults",
) -> Iterator[F]:
    """A ``kind`` farm over ``hosts``, cleaned up after; skips (fails in CI) if the lab lacks
    one. ``exclusive``: hold ``fault_hosts_lock(lab, lock)`` for the whole test, cleanup
    included."""
    require_hosts(lab, hosts)
    with contextlib.ExitStack() as stack:
        if exclusive:
            stack.enter_context(fault_hosts_lock(lab, lock))
        farm = kind(lab, folder, hosts, connect_timeout=connect_timeout)
        stack.callback(farm.close)
        yield farm


def farm_for(
    lab: Lab,
    folder: Path,
    hosts: Sequence[str],
    *,
    connect_timeout: float | None = None,
    exclusive: bool = False,
) -> contextlib.AbstractContextManager[Farm]:
    """A plain ``Farm`` (see ``farm_of``); ``exclusive`` locks the fault hosts h4..h6."""
    return farm_of(Farm, lab, folder, hosts, connect_timeout=connect_timeout, exclusive=exclusive)


@contextmanager
def fault_hosts_lock(lab: Lab, name: str = "faults") -> Iterator[None]:
    """One test at a time on the hosts a fault test breaks, across workers and pytest runs.

    Such tests also carry ``xdist_group("faults")``, which keeps them on one
    worker within a run (pytest is pinned below 9, where pytest-xdist 3.8 loses
    the group); the file lock also covers two pytest runs at once.
    """
    path = lab.root.with_name(f"{lab.root.name}.{name}.lock")
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- breaking hosts, always restored -----------------------------------------------------


@contextmanager
def cut(lab: Lab, host: str) -> Iterator[None]:
    """The host's cable unplugged for the block."""
    lab.cut(host)
    try:
        yield
    finally:
        lab.restore(host)


@contextmanager
def frozen_sshd(lab: Lab, host: str) -> Iterator[None]:
    """The host's sshd stopped with SIGSTOP for the block: TCP connects, no banner comes."""
    lab.freeze_sshd(host)
    try:
        yield
    finally:
        lab.thaw_sshd(host)


@contextmanager
def stopped_sshd(lab: Lab, host: str) -> Iterator[None]:
    """The host's sshd not running for the block: connections are refused."""
    lab.stop_sshd(host)
    try:
        yield
    finally:
        lab.start_sshd(host)


@contextmanager
def new_host_key(lab: Lab, host: str) -> Iterator[None]:
    """The host's sshd serves a freshly made host key for the block (as after a reinstall).

    The lab's sshd reads its key from ``HostFiles.host_key``: the original pair is
    saved beside it (``*.orig``), replaced, and put back (sshd restarted) after the
    block. A backup left by an earlier, killed run is restored first.
    """
    h = lab.host(host)
    key = h.files.host_key
    pub = key.with_suffix(".pub")
    saved_key, saved_pub = key.with_name(key.name + ".orig"), pub.with_name(pub.name + ".orig")
    if saved_key.exists() and saved_pub.exists():
        _restore_key(lab, h, saved_key, saved_pub)
    saved_key.write_bytes(key.read_bytes())
    saved_pub.write_bytes(pub.read_bytes())
    os.chmod(saved_key, 0o600)
    try:
        lab.stop_sshd(h)
        key.unlink()
        pub.unlink()
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{h.name}-new", "-f", str(key)])
        lab.start_sshd(h)
        yield
    finally:
        _restore_key(lab, h, saved_key, saved_pub)


def _restore_key(lab: Lab, host: LabHost, saved_key: Path, saved_pub: Path) -> None:
    if not _same_lab(lab, host):
        return  # torn down (and maybe rebuilt, with new keys) meanwhile: nothing to put back
    key = host.files.host_key
    lab.stop_sshd(host)
    key.write_bytes(saved_key.read_bytes())
    os.chmod(key, 0o600)
    key.with_suffix(".pub").write_bytes(saved_pub.read_bytes())
    lab.start_sshd(host)
    saved_key.unlink()
    saved_pub.unlink()


def _same_lab(lab: Lab, host: LabHost) -> bool:
    """True while the lab that ``host`` came from is still the one running."""
    try:
        return Lab.load(lab.root).host(host.name).pid == host.pid
    except LabError:
        return False
