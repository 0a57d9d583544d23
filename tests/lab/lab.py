"""The running lab as a value: its hosts, and what a test can do to them.

``Lab.load()`` reads ``$CF_LAB_DIR/lab.json`` written by ``up``. A test checks
outcomes by asking a host's engine directly (``Lab.docker``), runs the plain
OpenSSH client as a lower bound (``Lab.ssh``), and breaks hosts on purpose
(``cut``, ``stop_sshd``, ``freeze_sshd``) to see how Compose Farm copes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.lab import image as images
from tests.lab.layout import (
    IMAGE,
    REGISTRY,
    HostFiles,
    Layout,
    host_netns,
    lab_root,
    sim_netns,
)
from tests.lab.proc import (
    LabError,
    daemon_env,
    pid_alive,
    process_state,
    read_pid,
    run,
    signal_pid,
    spawn,
    wait_until,
)

STATE_VERSION = 1
# Variables that would make a subprocess talk to something other than the lab.
_FOREIGN_ENV = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "SSH_AUTH_SOCK", "SSH_AGENT_PID")


@dataclass(frozen=True)
class LabHost:
    """One lab host: a network + mount + UTS namespace with its own sshd and dockerd."""

    name: str
    index: int
    address: str
    pid: int  # the process holding the host's namespaces: nsenter --target PID
    docker_socket: Path
    ssh_log: Path
    dir: Path

    @property
    def files(self) -> HostFiles:
        return HostFiles(self.dir)

    @property
    def docker_host(self) -> str:
        return f"unix://{self.docker_socket}"

    @property
    def veth(self) -> str:
        """The root-namespace end of the host's cable: ``cut`` sets it down."""
        return host_netns(self.index)

    @property
    def netns(self) -> str:
        return host_netns(self.index)


@dataclass(frozen=True)
class SimHost:
    """A simulated host: a namespace with its own sshd, no engine; its SSH sessions'
    ``docker`` is the stand-in (tests/lab/simhost/) over the files in ``engine``."""

    name: str
    index: int
    address: str
    pid: int  # the process holding the host's namespaces
    dir: Path

    @property
    def files(self) -> HostFiles:
        return HostFiles(self.dir)

    @property
    def ssh_log(self) -> Path:
        return self.files.sshd_log

    @property
    def netns(self) -> str:
        return sim_netns(self.index)

    @property
    def engine(self) -> Path:
        return self.files.engine

    def containers(self) -> list[dict[str, Any]]:
        """What the stand-in says runs here (ask this, not what cf printed)."""
        try:
            data = json.loads((self.engine / "containers.json").read_text())
        except FileNotFoundError:
            return []
        found: list[dict[str, Any]] = data["containers"]
        return found

    def calls(self) -> list[dict[str, Any]]:
        """Every ``docker`` command run here so far: argv, exit status, seconds taken."""
        try:
            lines = (self.engine / "calls.log").read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def reset(self) -> None:
        """No containers, no networks, no call log: a freshly installed engine."""
        for name in ("containers.json", "calls.log"):
            (self.engine / name).unlink(missing_ok=True)


@dataclass(frozen=True)
class PushedImage:
    """An image tag pushed to the lab registry: ``str()`` gives the reference."""

    ref: str
    digest: str

    def __str__(self) -> str:
        return self.ref


@dataclass
class Lab:
    """A running lab. Build it with ``Lab.load()`` or ``tests.lab.up()``."""

    root: Path
    hosts: list[LabHost]
    registry: str = REGISTRY
    image: str = IMAGE
    sim_hosts: list[SimHost] = field(default_factory=list)

    # --- where things are ---------------------------------------------------

    @property
    def layout(self) -> Layout:
        return Layout(self.root)

    @property
    def compose_dir(self) -> Path:
        """The stacks folder: the same path, the same files, on every host."""
        return self.layout.compose_dir

    @property
    def client_home(self) -> Path:
        """HOME for the client side: ``.ssh/`` with the key, known_hosts and config."""
        return self.layout.client_home

    @property
    def ssh_config(self) -> Path:
        return self.layout.client_ssh / "config"

    def host(self, host: LabHost | str) -> LabHost:
        """A host by name (``h1``) or address; a LabHost is returned as is."""
        if isinstance(host, LabHost):
            return host
        for candidate in self.hosts:
            if host in (candidate.name, candidate.address):
                return candidate
        raise LabError(f"no lab host {host!r}; hosts: {', '.join(h.name for h in self.hosts)}")

    def sim(self, host: SimHost | str) -> SimHost:
        """A simulated host by name (``sim1``) or address."""
        if isinstance(host, SimHost):
            return host
        for candidate in self.sim_hosts:
            if host in (candidate.name, candidate.address):
                return candidate
        raise LabError(f"no simulated host {host!r}: `python -m tests.lab up --sim-hosts N`")

    def _any(self, host: LabHost | SimHost | str) -> LabHost | SimHost:
        if isinstance(host, str) and any(host in (s.name, s.address) for s in self.sim_hosts):
            return self.sim(host)
        return host if isinstance(host, SimHost) else self.host(host)

    def env(self) -> dict[str, str]:
        """The environment for a client subprocess such as ``cf``.

        This process's environment with HOME set to the client home, nothing
        that points at another engine or SSH agent, no XDG_* overrides, and the
        running interpreter's bin folder first on PATH (so ``cf`` resolves).
        """
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in _FOREIGN_ENV and not key.startswith("XDG_")
        }
        env["HOME"] = str(self.client_home)
        env["CF_LAB_DIR"] = str(self.root)
        bin_dir = str(Path(sys.executable).parent)
        path = env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        if bin_dir not in path.split(":"):
            path = f"{bin_dir}:{path}"
        env["PATH"] = path
        return env

    # --- talking to hosts ------------------------------------------------------

    def docker(
        self, host: LabHost | str, *args: str, check: bool = False, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """The docker CLI against ``host``'s engine, straight over its unix socket."""
        return run(
            ["docker", "-H", self.host(host).docker_host, *args],
            check=check,
            timeout=timeout,
            env=self.env(),
        )

    def ssh(
        self,
        host: LabHost | SimHost | str,
        command: str,
        *,
        check: bool = False,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """``command`` on ``host`` through the plain OpenSSH client (host keys verified).

        OpenSSH takes ``~`` from the password database, not from $HOME, so the
        client config is passed with ``-F``; it names the key and known_hosts.
        """
        argv = [
            "ssh",
            "-F",
            str(self.ssh_config),
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            f"root@{self._any(host).address}",
            command,
        ]
        return run(argv, check=check, timeout=timeout, env=self.env())

    def host_exec(
        self,
        host: LabHost | str,
        argv: Sequence[str],
        *,
        check: bool = True,
        input: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside ``host`` (its mount, UTS and network namespaces), as root.

        DOCKER_HOST points at the host's engine, as in an SSH session there.
        """
        h = self.host(host)
        return run(
            [*enter_argv(h.pid), *argv],
            check=check,
            input=input,
            timeout=timeout,
            env=daemon_env(DOCKER_HOST=h.docker_host),
        )

    # --- breaking hosts on purpose ---------------------------------------------

    def cut(self, host: LabHost | str) -> None:
        """Unplug the host's cable: packets to it vanish, clients hang until they time out."""
        run(["ip", "link", "set", self.host(host).veth, "down"])

    def restore(self, host: LabHost | str) -> None:
        run(["ip", "link", "set", self.host(host).veth, "up"])

    def sshd_pid(self, host: LabHost | str) -> int | None:
        """The pid of the host's sshd listener, if it runs."""
        pid = read_pid(self.host(host).files.sshd_pidfile)
        return pid if pid_alive(pid) else None

    def stop_sshd(self, host: LabHost | str) -> None:
        """Stop the sshd listener: new connections are refused at once.

        Sessions already open keep running, as with ``systemctl stop ssh``.
        """
        h = self.host(host)
        pid = self.sshd_pid(h)
        if pid is None:
            return
        signal_pid(pid, signal.SIGTERM)
        signal_pid(pid, signal.SIGCONT)  # a frozen listener must wake to die
        wait_until(lambda: not pid_alive(pid), timeout=10, what=f"sshd on {h.name} to stop")
        h.files.sshd_pidfile.unlink(missing_ok=True)

    def start_sshd(self, host: LabHost | str) -> None:
        h = self.host(host)
        if self.sshd_pid(h) is not None:
            return
        start_sshd(h)

    def freeze_sshd(self, host: LabHost | str) -> None:
        """SIGSTOP the listener: TCP connects (kernel backlog), but no SSH banner comes."""
        h = self.host(host)
        pid = self.sshd_pid(h)
        if pid is None:
            raise LabError(f"sshd on {h.name} is not running")
        signal_pid(pid, signal.SIGSTOP)
        wait_until(lambda: process_state(pid) == "T", timeout=5, what=f"sshd on {h.name} to stop")

    def thaw_sshd(self, host: LabHost | str) -> None:
        signal_pid(self.sshd_pid(host), signal.SIGCONT)

    def ssh_logins(self, host: LabHost | SimHost | str) -> int:
        """How many logins the host's sshd accepted so far (its log's Accepted publickey)."""
        try:
            text = self._any(host).ssh_log.read_text(errors="replace")
        except FileNotFoundError:
            return 0
        return text.count("Accepted publickey")

    # --- stacks and images ------------------------------------------------------

    def write_stack(self, name: str, compose_text: str, env_text: str | None = None) -> Path:
        """Write ``<compose_dir>/<name>/compose.yaml`` (and ``.env``); return the stack folder."""
        if not name or "/" in name or name.startswith("."):
            raise LabError(f"bad stack name {name!r}")
        folder = self.compose_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "compose.yaml").write_text(compose_text)
        if env_text is not None:
            (folder / ".env").write_text(env_text)
        return folder

    def push_image(self, ref: str, marker: str) -> PushedImage:
        """Push a busybox image whose /marker (and label cflab.marker) is ``marker``.

        ``ref`` may be short (``app:2`` means ``<registry>/cflab/app:2``). Only
        the registry changes: hosts keep their copy until they pull.
        """
        reference = images.Reference.parse(ref)
        digest = images.push(reference, images.build_image(marker, self.layout.cache))
        return PushedImage(str(reference), digest)

    def push_index(self, ref: str, marker: str) -> PushedImage:
        """Push a two-platform index as ``ref``: this machine's platform runs a busybox
        whose marker is ``marker``; the other entry (s390x) is never pulled here."""
        reference = images.Reference.parse(ref)
        native = images.build_image(marker, self.layout.cache)
        foreign = images.build_image(f"{marker}-s390x", self.layout.cache)
        return PushedImage(str(reference), images.push_index(reference, native, foreign, "s390x"))

    def registry_digest(self, ref: str) -> str | None:
        """The manifest digest the registry serves for ``ref`` now (None: no such tag)."""
        return images.registry_digest(images.Reference.parse(ref))

    # --- state -------------------------------------------------------------------

    def problems(self) -> list[str]:
        """What is not running that should be (empty: healthy).

        dockerd, sshd and the cables are left out on purpose: fault tests stop
        and cut them, and a lab with one host broken for a moment is still the
        lab other workers must reuse.
        """
        found = [f"{h.name}: namespace holder {h.pid} is gone" for h in self.hosts]
        found = [line for line, h in zip(found, self.hosts, strict=True) if not pid_alive(h.pid)]
        if not pid_alive(read_pid(self.layout.registry_pidfile)):
            found.append("registry is not running")
        return found

    def sim_problems(self) -> list[str]:
        """What is not running of the simulated hosts (not part of ``problems``: the
        real hosts are healthy without them)."""
        found = []
        for h in self.sim_hosts:
            if not pid_alive(h.pid):
                found.append(f"{h.name}: namespace holder {h.pid} is gone")
            elif not pid_alive(read_pid(h.files.sshd_pidfile)):
                found.append(f"{h.name}: sshd is not running")
        return found

    def to_json(self) -> str:
        data = {
            "version": STATE_VERSION,
            "root": str(self.root),
            "registry": self.registry,
            "image": self.image,
            "hosts": [
                {
                    "name": h.name,
                    "index": h.index,
                    "address": h.address,
                    "pid": h.pid,
                    "docker_socket": str(h.docker_socket),
                    "ssh_log": str(h.ssh_log),
                    "dir": str(h.dir),
                }
                for h in self.hosts
            ],
            "sim_hosts": [
                {
                    "name": h.name,
                    "index": h.index,
                    "address": h.address,
                    "pid": h.pid,
                    "dir": str(h.dir),
                }
                for h in self.sim_hosts
            ],
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def load(cls, root: Path | None = None) -> Lab:
        """The lab described by ``<root>/lab.json``; LabError if there is none."""
        state = Layout(root or lab_root()).state_file
        try:
            data = json.loads(state.read_text())
        except FileNotFoundError:
            raise LabError(f"no lab at {state.parent}: run `python -m tests.lab up`") from None
        except ValueError as exc:
            raise LabError(f"{state}: unreadable: {exc}") from exc
        if data.get("version") != STATE_VERSION:
            raise LabError(f"{state}: version {data.get('version')!r}, expected {STATE_VERSION}")
        hosts = [
            LabHost(
                name=h["name"],
                index=h["index"],
                address=h["address"],
                pid=h["pid"],
                docker_socket=Path(h["docker_socket"]),
                ssh_log=Path(h["ssh_log"]),
                dir=Path(h["dir"]),
            )
            for h in data["hosts"]
        ]
        sims = [
            SimHost(h["name"], h["index"], h["address"], h["pid"], Path(h["dir"]))
            for h in data.get("sim_hosts", [])
        ]
        return cls(Path(data["root"]), hosts, data["registry"], data["image"], sims)


# --- helpers shared with `up` ------------------------------------------------------


def enter_argv(pid: int) -> list[str]:
    """The prefix that runs a command inside the namespaces held by ``pid``."""
    return ["nsenter", "--target", str(pid), "--mount", "--uts", "--net", "--"]


def start_sshd(host: LabHost | SimHost) -> None:
    """Start the host's sshd and wait until it listens (it writes its pidfile then)."""
    files = host.files
    files.sshd_pidfile.unlink(missing_ok=True)
    sshd = ["/usr/sbin/sshd", "-D", "-f", str(files.sshd_config), "-E", str(files.sshd_log)]
    spawn([*enter_argv(host.pid), *sshd], log=files.sshd_log, cgroup=f"{host.name}/daemons")
    wait_until(
        lambda: pid_alive(read_pid(files.sshd_pidfile)),
        timeout=10,
        what=f"sshd on {host.name} (see {files.sshd_log})",
    )
