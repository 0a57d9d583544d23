"""The lab itself works: SSH to each host reaches that host's engine, and only it.

Outcomes are checked by asking each host's engine directly over its unix
socket, never by reading what the SSH session printed.
"""

from __future__ import annotations

import shlex
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import Lab, LabHost
from tests.lab.layout import GATEWAY
from tests.support.waiting import poll

pytestmark = pytest.mark.lab

# Busybox as PID 1 ignores SIGTERM; the trap lets `compose down` stop it at once.
SLEEP_STACK = """\
services:
  app:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"""

WEB_STACK = """\
services:
  web:
    image: {image}
    environment:
      MARK: {mark}
    command:
      - sh
      - -c
      - "echo \\"$$MARK\\" > /tmp/index.html; httpd -f -p 8080 -h /tmp & trap 'exit 0' TERM; wait"
    ports: ["{port}:8080"]
"""


def _project(lab: Lab, host: LabHost, project: str, *, all_states: bool = True) -> list[str]:
    """Names of the containers of compose project ``project`` on ``host``'s engine."""
    label = f"label=com.docker.compose.project={project}"
    args = ["ps", "--format", "{{.Names}}", "--filter", label, *(["-a"] if all_states else [])]
    done = lab.docker(host, *args, check=True)
    return done.stdout.split()


@pytest.fixture
def stack_name() -> str:
    return f"smoke-{uuid.uuid4().hex[:8]}"


def _compose(lab: Lab, host: LabHost, folder: Path, command: str) -> None:
    done = lab.ssh(host, f"cd {shlex.quote(str(folder))} && docker compose {command}")
    assert done.returncode == 0, f"{host.name}: docker compose {command}: {done.stderr}"


@pytest.fixture
def deployed(lab: Lab, stack_name: str, request: pytest.FixtureRequest) -> Iterator[LabHost]:
    """The sleep stack brought up over SSH on the host named by the test's parameter."""
    name = request.param
    if name not in {h.name for h in lab.hosts}:
        pytest.skip(f"the lab has no host {name}")
    host = lab.host(name)
    folder = lab.write_stack(stack_name, SLEEP_STACK.format(image=lab.image))
    try:
        _compose(lab, host, folder, "up -d")
        yield host
    finally:
        _compose(lab, host, folder, "down")
        assert _project(lab, host, stack_name) == []


# These look at every lab host (and the last one publishes a port), so they run
# in the same serial group as the tests that break hosts h4..h8.
@pytest.mark.xdist_group("faults")
@pytest.mark.parametrize("deployed", ["h1", "h2", "h3"], indirect=True)
def test_compose_over_ssh_runs_on_that_host_only(
    lab: Lab, deployed: LabHost, stack_name: str
) -> None:
    for host in lab.hosts:
        running = _project(lab, host, stack_name, all_states=False)
        if host == deployed:
            assert running == [f"{stack_name}-app-1"], f"expected on {host.name}"
        else:
            assert _project(lab, host, stack_name) == [], f"stray container on {host.name}"
    inspect = lab.docker(deployed, "inspect", "-f", "{{.Config.Image}}", f"{stack_name}-app-1")
    assert inspect.stdout.strip() == lab.image


@pytest.mark.xdist_group("faults")
def test_published_port_is_reachable_from_the_root_namespace(lab: Lab, stack_name: str) -> None:
    host, mark, port = lab.hosts[-1], uuid.uuid4().hex, 18080
    folder = lab.write_stack(stack_name, WEB_STACK.format(image=lab.image, mark=mark, port=port))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        _compose(lab, host, folder, "up -d")

        def page() -> str:
            with opener.open(f"http://{host.address}:{port}/index.html", timeout=2) as reply:
                return str(reply.read().decode().strip())

        assert poll(page, what="the published port", tolerate=(OSError,)) == mark
    finally:
        _compose(lab, host, folder, "down")


def test_host_keys_are_verified(lab: Lab) -> None:
    """Known hosts are on: with the lab's known_hosts SSH works, without it, it refuses."""
    host = lab.hosts[0]
    assert lab.ssh(host, "hostname", check=True).stdout.strip() == host.name
    strict = [
        *("ssh", "-F", str(lab.ssh_config), "-o", "BatchMode=yes"),
        *("-o", "UserKnownHostsFile=/dev/null", f"root@{host.address}", "true"),
    ]
    refused = subprocess.run(strict, capture_output=True, text=True, env=lab.env(), check=False)
    assert refused.returncode != 0
    assert "Host key verification failed" in refused.stderr


def test_ssh_logins_are_counted(lab: Lab) -> None:
    """One "Accepted publickey" line per connection (at least: other workers use h1 too)."""
    host = lab.hosts[0]
    before = lab.ssh_logins(host)
    lab.ssh(host, "true", check=True)
    lab.ssh(host, "true", check=True)
    assert lab.ssh_logins(host) >= before + 2
    assert f"Accepted publickey for root from {GATEWAY}" in host.ssh_log.read_text()
