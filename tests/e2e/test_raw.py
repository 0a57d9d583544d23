"""Raw mode: `cf compose STACK exec ...` from a terminal goes through native `ssh -t`.

`script` gives cf a real pseudo-terminal, as a person's shell would. The
command must reach the container on the right host, and a second call must
reuse the OpenSSH ControlMaster (no new login in the host's sshd log).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from compose_farm.ssh.identity import SshIdentity
from compose_farm.ssh.raw import control_folder
from tests.lab import Lab
from tests.support.cf import CfRun, run_cf
from tests.support.farm import Farm
from tests.support.stacks import sleep_stack

# Counting logins needs a host no other test logs in to meanwhile: h7, in the
# serial group of tests that own hosts h4..h8, under its lock.
HOST = "h7"
pytestmark = [pytest.mark.xdist_group("faults"), pytest.mark.farm(hosts=(HOST,), exclusive=True)]


@pytest.fixture
def home(lab: Lab, tmp_path: Path) -> Iterator[Path]:
    """A copy of the lab client's HOME, so the ControlMaster sockets stay out of the shared one."""
    copy = tmp_path / "home"
    shutil.copytree(lab.client_home, copy, ignore=shutil.ignore_patterns("cm"))
    yield copy
    for socket in control_folder(SshIdentity(copy)).glob("*"):
        subprocess.run(
            ["ssh", "-O", "exit", "-o", f"ControlPath={socket}", "lab"],
            capture_output=True,
            check=False,
        )


def in_a_terminal(farm: Farm, home: Path, *args: str) -> CfRun:
    """Run cf under `script`, so its stdin and stdout are a terminal."""
    assert shutil.which("script"), "util-linux `script` is needed for terminal tests"
    return run_cf(
        *args, base=farm.env(), env={"HOME": str(home)}, cwd=farm.folder, timeout=60, tty=True
    )


def test_exec_from_a_terminal_uses_ssh_t_and_reuses_the_master(
    farm: Farm, lab: Lab, home: Path
) -> None:
    stack = farm.stack("raw", HOST, sleep_stack(lab.image))
    assert (up := farm.cf("up", stack)).returncode == 0, up
    container = lab.docker(
        HOST, "ps", "-q", "--filter", f"label=com.docker.compose.project={stack}"
    )
    assert container.stdout.split(), up
    short_id = container.stdout.split()[0][:12]

    first = in_a_terminal(farm, home, "compose", stack, "exec", "app", "hostname")
    assert first.returncode == 0, first
    assert short_id in first.stdout  # the container's hostname is its short id

    sockets = list(control_folder(SshIdentity(home)).glob("*"))
    assert sockets, "no ControlMaster socket was left for the next command"
    logins = lab.ssh_logins(HOST)
    second = in_a_terminal(farm, home, "compose", stack, "exec", "app", "sh", "-c", "echo $((6*7))")
    assert second.returncode == 0, second
    assert "42" in second.stdout
    assert lab.ssh_logins(HOST) == logins  # reused the master: no new login
