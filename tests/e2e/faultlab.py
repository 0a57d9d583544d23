"""Breaking lab hosts on purpose, and a small farm to break them under.

Faults here go beyond tests/lab's cut/stop/freeze: killing sshd together with
its open sessions, and stopping and restarting a host's dockerd. Every fault
has its repair, and tests call the repair in a finalizer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from compose_farm.state import StateStore
from tests.lab import Lab
from tests.lab.proc import cgroup_dir, read_pid
from tests.lab.up import _start_dockerd, storage_driver

STACK = """\
services:
  app:
    image: {image}
    command: ["sleep", "86400"]
    stop_signal: SIGKILL
"""


def kill_sshd_and_sessions(lab: Lab, host: str) -> None:
    """SIGKILL the host's sshd listener and every session process (connections die)."""
    h = lab.host(host)
    procs = cgroup_dir(f"{h.name}/daemons") / "cgroup.procs"
    for line in procs.read_text().split():
        pid = int(line)
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm == "sshd":
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    h.files.sshd_pidfile.unlink(missing_ok=True)


def stop_dockerd(lab: Lab, host: str) -> None:
    """Stop the host's engine (its containers stay as they are on disk)."""
    h = lab.host(host)
    pid = read_pid(h.files.dockerd_pidfile)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)


def start_dockerd(lab: Lab, host: str) -> None:
    """Start the host's engine again and wait until it answers."""
    h = lab.host(host)
    if lab.docker(h, "info", "--format", "{{.ID}}", timeout=5).returncode == 0:
        return
    _start_dockerd(h, storage_driver(lab.root))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if lab.docker(h, "info", "--format", "{{.ID}}", timeout=5).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"dockerd on {host} did not come back")


@dataclass
class FaultFarm:
    """A per-test farm on some lab hosts: unique stack names, own config and state."""

    lab: Lab
    tmp: Path
    hosts: Sequence[str]
    timeout: float = 3
    prefix: str = field(default_factory=lambda: f"f{uuid.uuid4().hex[:6]}")
    stacks: dict[str, str | list[str]] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.tmp / "compose-farm.yaml"

    @property
    def state(self) -> dict[str, tuple[str, ...]]:
        return dict(StateStore(self.tmp / "compose-farm-state.yaml").read().deployed)

    def stack(self, short: str, hosts: str | list[str], text: str | None = None) -> str:
        name = f"{self.prefix}-{short}"
        self.lab.write_stack(name, text or STACK.format(image=self.lab.image))
        self.stacks[name] = hosts
        self.write()
        return name

    def write(self) -> None:
        hosts = "".join(
            f"  {h}: {{address: {self.lab.host(h).address}, user: root}}\n" for h in self.hosts
        )
        stacks = "".join(
            f"  {n}: {h if isinstance(h, str) else '[' + ', '.join(h) + ']'}\n"
            for n, h in self.stacks.items()
        )
        self.config.write_text(
            f"compose_dir: {self.lab.compose_dir}\nssh: {{connect_timeout: {self.timeout}}}\n"
            f"hosts:\n{hosts}stacks:\n{stacks}"
        )

    def cf(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "compose_farm", *args, "-c", str(self.config)],
            capture_output=True, text=True, env={**self.lab.env(), "NO_COLOR": "1"},
            timeout=timeout, check=False,
        )  # fmt: skip

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "compose_farm", *args, "-c", str(self.config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**self.lab.env(), "NO_COLOR": "1"},
        )  # fmt: skip

    def running_on(self, host: str) -> set[str]:
        """Projects of this farm with a running container on ``host`` (asks the engine)."""
        out = self.lab.docker(host, "ps", "--format", '{{.Label "com.docker.compose.project"}}')
        return {p for p in out.stdout.split() if p.startswith(self.prefix)}

    def cleanup(self) -> None:
        for host in self.hosts:
            for project in self.running_on(host) | set(self.stacks):
                self.lab.docker(host, "compose", "-p", project, "down", timeout=60)
