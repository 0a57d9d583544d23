"""Helpers for the `cf apply` / `cf refresh` / `cf check` end-to-end tests.

Built on ``tests/e2e/farm.py`` (one test's farm: unique stack names, a config in
tmp_path, cleanup of every container on every lab host). Added here: taking a
stack out of the config while still cleaning its folder, a whole-farm
snapshot of what each engine runs (one ``docker ps`` per lab host), starting
or stopping a stack by hand on a host's engine (as a person at that host
would), external networks that are always removed, and the digest log.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import random
import shutil
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.e2e.farm import (
    CfRun,
    Farm,
    Running,
    Where,
    farm_of,
    fault_hosts_lock,
    sleep_stack,
)
from tests.lab import Lab

# Bridge subnets for `init-network`: outside Docker's default address pools
# (172.17-31.0.0/16, 192.168.0.0/16), which Compose networks of tests running
# at the same time claim whole /16s from, and outside the lab's own 10.251/10.252.
SUBNET_BASE = "10.199"

Snapshot = dict[tuple[str, str, str], tuple[str, str]]


class ApplyFarm(Farm):
    """A ``Farm`` whose config can also lose stacks, with engine snapshots."""

    def __init__(
        self,
        lab: Lab,
        folder: Path,
        hosts: Sequence[str],
        *,
        connect_timeout: float | None = None,
    ) -> None:
        super().__init__(lab, folder, hosts, connect_timeout=connect_timeout)
        self.extra_folders: list[str] = []

    # --- config ----------------------------------------------------------------

    def drop(self, stack: str) -> None:
        """Take ``stack`` out of the config (its folder stays until ``close``)."""
        del self.stacks[stack]
        self.extra_folders.append(stack)
        self.write_config()

    def folder_only(self, suffix: str) -> str:
        """A compose folder that the config does not name."""
        name = self.name(suffix)
        self.lab.write_stack(name, sleep_stack(self.lab.image))
        self.extra_folders.append(name)
        return name

    def state_bytes(self) -> bytes | None:
        """The state file exactly as on disk (None: no file)."""
        try:
            return self.state_path.read_bytes()
        except FileNotFoundError:
            return None

    # --- what the engines say ---------------------------------------------------

    def snapshot(self, hosts: Sequence[str] | None = None) -> Snapshot:
        """(project, host, service) -> (container id, state), for every container of the farm."""
        found: Snapshot = {}
        for c in self.containers(hosts):
            key = (c.project, c.host, c.service)
            assert key not in found, f"two containers for {key}: {found[key]} and {c}"
            found[key] = (c.id, c.state)
        return found

    def placement(self, hosts: Sequence[str] | None = None) -> dict[str, set[str]]:
        """Project -> hosts where it has a running container (one sweep of the engines)."""
        placed: dict[str, set[str]] = {}
        for c in self.containers(hosts):
            if c.state == "running":
                placed.setdefault(c.project, set()).add(c.host)
        return placed

    def of(self, project: str, host: str) -> list[Running]:
        """The containers of ``project`` on ``host`` (any state)."""
        return [c for c in self.containers([host]) if c.project == project]

    # --- by hand, on a host's engine --------------------------------------------

    def hand_compose(self, host: str, stack: str, *args: str, project: str | None = None) -> None:
        """``docker compose -f <stack>/compose.yaml -p PROJECT ARGS`` against ``host``'s engine."""
        compose_file = self.lab.compose_dir / stack / "compose.yaml"
        done = self.lab.docker(
            host, "compose", "-f", str(compose_file), "-p", project or stack, *args
        )
        assert done.returncode == 0, f"compose {' '.join(args)} on {host}: {done.stderr}"

    # --- cleanup -----------------------------------------------------------------

    def close(self) -> None:
        try:
            super().close()
        finally:
            for name in self.extra_folders:
                shutil.rmtree(self.lab.compose_dir / name, ignore_errors=True)


def apply_farm(
    lab: Lab,
    folder: Path,
    hosts: Sequence[str],
    *,
    connect_timeout: float | None = None,
    exclusive: bool = False,
) -> contextlib.AbstractContextManager[ApplyFarm]:
    """An ``ApplyFarm`` over ``hosts``, cleaned up after; ``exclusive`` locks h7 and h8."""
    return farm_of(
        ApplyFarm,
        lab,
        folder,
        hosts,
        connect_timeout=connect_timeout,
        exclusive=exclusive,
        lock="h7h8",
    )


def h7_h8_lock(lab: Lab) -> contextlib.AbstractContextManager[None]:
    """One test at a time on h7 and h8 (cut, or counted logins), across workers and runs."""
    return fault_hosts_lock(lab, "h7h8")


def ok(done: CfRun) -> CfRun:
    """``done`` after asserting that it exited 0 and printed no traceback."""
    assert done.returncode == 0, done
    assert "Traceback" not in done.output, done
    return done


def expected(stacks: dict[str, Where], all_hosts: Sequence[str]) -> dict[str, set[str]]:
    """Config placement as sets of hosts (``all`` expanded)."""
    return {
        s: set(all_hosts) if w == "all" else {w} if isinstance(w, str) else set(w)
        for s, w in stacks.items()
    }


def as_sets(state: dict[str, tuple[str, ...]]) -> dict[str, set[str]]:
    return {s: set(h) for s, h in state.items()}


# --- compose files --------------------------------------------------------------


def needy_stack(image: str, *, mount: str | None = None, network: str | None = None) -> str:
    """A sleeping ``app`` that needs a bind-mount source and/or an external network."""
    extra = ""
    if mount is not None:
        extra += f"    volumes:\n      - {mount}:/data\n"
    if network is not None:
        extra += "    networks: [ext]\n"
    text = sleep_stack(image, extra=extra)
    if network is not None:
        text += f"networks:\n  ext:\n    external: true\n    name: {network}\n"
    return text


# --- networks ----------------------------------------------------------------------


def random_subnet(avoid: Sequence[str] = ()) -> str:
    """A /24 under ``SUBNET_BASE`` not in ``avoid``."""
    while True:
        subnet = f"{SUBNET_BASE}.{random.randrange(256)}.0/24"
        if subnet not in avoid:
            return subnet


def subnets_of(lab: Lab, host: str, network: str) -> list[str] | None:
    """The network's subnets on ``host``'s engine (None: no such network)."""
    done = lab.docker(
        host, "network", "inspect", network, "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"
    )
    if done.returncode != 0:
        return None
    return [str(ipaddress.ip_network(s)) for s in done.stdout.split()]


@contextmanager
def removed_networks(lab: Lab, network: str, hosts: Sequence[str]) -> Iterator[str]:
    """Yield ``network``; afterwards remove it from ``hosts`` whoever created it.

    Containers still attached (the test's own: the name is unique) are removed
    first, or the engine would refuse to remove the network.
    """
    failed: list[str] = []
    try:
        yield network
    finally:
        for host in hosts:
            if subnets_of(lab, host, network) is None:
                continue
            attached = lab.docker(host, "ps", "-aq", "--filter", f"network={network}").stdout
            if attached.split():
                lab.docker(host, "rm", "-f", *attached.split())
            done = lab.docker(host, "network", "rm", network)
            if done.returncode != 0:
                failed.append(f"{host}: {done.stderr.strip()}")
    # Reached only when the test itself passed: its own failure matters more.
    assert not failed, f"network {network} left behind: {failed}"


# --- the digest log --------------------------------------------------------------------


def digest_log(farm: Farm) -> list[dict[str, Any]]:
    """The entries of ``dockerfarm-log.toml`` beside the farm's config."""
    path = farm.folder / "dockerfarm-log.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data.get("version") == 1, data
    entries = data.get("images", [])
    assert isinstance(entries, list)
    return entries


def repo_digest(lab: Lab, host: str, image: str) -> str:
    """The ``sha256:...`` registry digest ``host``'s engine records for ``image``."""
    done = lab.docker(host, "image", "inspect", "--format", "{{json .RepoDigests}}", image)
    assert done.returncode == 0, f"image inspect {image} on {host}: {done.stderr}"
    repo = image.rpartition(":")[0]
    for entry in json.loads(done.stdout) or []:
        name, _, digest = str(entry).partition("@")
        if name == repo:
            return digest
    raise AssertionError(f"{host}: {image} has no repo digest for {repo}: {done.stdout}")
