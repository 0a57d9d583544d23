"""Where everything of the lab lives: names, addresses and paths, in one place.

Everything is derived from the lab root (``$CF_LAB_DIR``, default ``/tmp/cf-lab``)
and a host's number K (1..MAX_HOSTS). Nothing here touches the system.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/tmp/cf-lab")
DEFAULT_HOSTS = 8  # h1-h3 shared by tests, h4-h8 broken on purpose by fault tests
MAX_HOSTS = 8
MAX_SIM_HOSTS = 100  # sim1..sim100 at 10.251.0.101..200

BRIDGE = "cflab0"
SUBNET_PREFIX = "10.251.0"
GATEWAY = f"{SUBNET_PREFIX}.1"
REGISTRY = f"{GATEWAY}:5000"
IMAGE = f"{REGISTRY}/cflab/busybox:1"

# Every process the lab starts joins this cgroup tree (pids controller), so
# `down` finds them all, containers and SSH sessions included.
CGROUP = "cflab"
# Rules added to the root namespace's iptables carry this comment.
IPTABLES_COMMENT = "cflab"

# A PATH for the daemons: they must not inherit a test's environment.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Unix socket paths are limited to 108 bytes; containerd nests its sockets
# about 40 bytes below a host's directory.
MAX_ROOT_LENGTH = 48


def lab_root() -> Path:
    """The lab root directory: ``$CF_LAB_DIR`` or ``/tmp/cf-lab``."""
    value = os.environ.get("CF_LAB_DIR")
    return Path(value) if value else DEFAULT_ROOT


def host_name(index: int) -> str:
    return f"h{index}"


def host_address(index: int) -> str:
    return f"{SUBNET_PREFIX}.{10 + index}"


def host_netns(index: int) -> str:
    """The network namespace, which is also the name of the root-side veth."""
    return f"cflab-h{index}"


def sim_name(index: int) -> str:
    """A simulated host (sshd and a ``docker`` stand-in, no engine): ``sim1``..."""
    return f"sim{index}"


def sim_address(index: int) -> str:
    return f"{SUBNET_PREFIX}.{100 + index}"


def sim_netns(index: int) -> str:
    return f"cflab-sim{index}"


def host_bip(index: int) -> str:
    """The address of the host engine's own docker0 bridge."""
    return f"10.252.{index}.1/24"


@dataclass(frozen=True)
class Layout:
    """The files of one lab, all below ``root``."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "lab.json"

    @property
    def lock_file(self) -> Path:
        return self.root.with_name(self.root.name + ".lock")

    @property
    def cache(self) -> Path:
        """Kept across `down`: the base image layer."""
        return self.root / "cache"

    @property
    def compose_dir(self) -> Path:
        return self.root / "compose"

    @property
    def client_home(self) -> Path:
        return self.root / "client" / "home"

    @property
    def client_ssh(self) -> Path:
        return self.client_home / ".ssh"

    @property
    def registry_config(self) -> Path:
        return self.root / "registry.yml"

    @property
    def registry_data(self) -> Path:
        return self.root / "registry"

    @property
    def registry_log(self) -> Path:
        return self.root / "registry.log"

    @property
    def registry_pidfile(self) -> Path:
        return self.root / "registry.pid"

    def host_dir(self, index: int) -> Path:
        return self.root / host_name(index)

    def sim_dir(self, index: int) -> Path:
        return self.root / sim_name(index)

    @property
    def sim_bin(self) -> Path:
        """The folder first on a simulated host's PATH: its ``docker`` is the stand-in."""
        return self.root / "sim" / "bin"

    @property
    def sim_lib(self) -> Path:
        """Where the stand-in's package (tests/lab/simhost) is installed for the hosts."""
        return self.root / "sim" / "lib"

    @property
    def sim_latency(self) -> Path:
        """Seconds each stand-in command takes (JSON over tests/lab/simhost/engine.py's LATENCY)."""
        return self.root / "sim" / "latency.json"


@dataclass(frozen=True)
class HostFiles:
    """The files of one host, all below ``<root>/hK``."""

    dir: Path

    @property
    def home(self) -> Path:
        """Bind-mounted over /root inside the host."""
        return self.dir / "home"

    @property
    def etc_docker(self) -> Path:
        """Bind-mounted over /etc/docker inside the host: its own engine key and ID."""
        return self.dir / "etc-docker"

    @property
    def cgroup_aside(self) -> Path:
        """Where the cgroup tree is parked while /sys is remounted."""
        return self.dir / "cg"

    @property
    def holder_pidfile(self) -> Path:
        return self.dir / "holder.pid"

    @property
    def data_root(self) -> Path:
        return self.dir / "docker"

    @property
    def exec_root(self) -> Path:
        return self.dir / "exec"

    @property
    def docker_socket(self) -> Path:
        return self.dir / "docker.sock"

    @property
    def dockerd_pidfile(self) -> Path:
        return self.dir / "dockerd.pid"

    @property
    def dockerd_log(self) -> Path:
        return self.dir / "dockerd.log"

    @property
    def sshd_config(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def sshd_pidfile(self) -> Path:
        return self.dir / "sshd.pid"

    @property
    def sshd_log(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def engine(self) -> Path:
        """A simulated host's containers (what its ``docker`` stand-in reads and writes)."""
        return self.dir / "engine"
