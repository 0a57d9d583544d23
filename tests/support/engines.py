"""Asking a lab host's engine directly: networks a test makes, and the digests of images."""

from __future__ import annotations

import ipaddress
import json
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tests.lab import Lab

# Bridge subnets for `init-network`: outside Docker's default address pools
# (172.17-31.0.0/16, 192.168.0.0/16), which Compose networks of tests running
# at the same time claim whole /16s from, and outside the lab's own 10.251/10.252.
SUBNET_BASE = "10.199"


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
