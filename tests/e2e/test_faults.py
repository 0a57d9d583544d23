"""Faults a user meets, on real hosts: each test checks the hosts and the state afterwards.

All of these break lab hosts h4 and h5, so they run one at a time on one
worker (xdist group "faults") and repair the hosts in finalizers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from compose_farm.state import StateStore
from tests.e2e.faultlab import (
    STACK,
    FaultFarm,
    kill_sshd_and_sessions,
    start_dockerd,
    stop_dockerd,
)
from tests.lab import Lab

pytestmark = [pytest.mark.xdist_group("faults")]
HOSTS = ("h4", "h5")

SLOW_UP = """\
services:
  app:
    image: {image}
    command: ["sleep", "86400"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "sh", "-c", "sleep 2"]
      interval: 1s
      timeout: 5s
  after:
    image: {image}
    command: ["sleep", "86400"]
    stop_signal: SIGKILL
    depends_on:
      app: {{condition: service_healthy}}
"""

SLOW_DOWN = """\
services:
  app:
    image: {image}
    command: ["sh", "-c", "trap '' TERM; sleep 86400"]
    stop_grace_period: 6s
"""


@pytest.fixture
def farm(lab: Lab, tmp_path: Path) -> Iterator[FaultFarm]:
    farm = FaultFarm(lab, tmp_path, HOSTS)
    yield farm
    for host in HOSTS:
        lab.restore(host)
        if lab.sshd_pid(host):
            lab.thaw_sshd(host)
        lab.start_sshd(host)
        start_dockerd(lab, host)
    farm.cleanup()


def test_sshd_killed_mid_command(farm: FaultFarm, lab: Lab) -> None:
    slow = farm.stack("slow", "h4", SLOW_UP.format(image=lab.image))
    quick = farm.stack("quick", "h5")
    proc = farm.popen("up", "--all")
    time.sleep(1.5)  # the slow stack is waiting for its health check on h4
    kill_sshd_and_sessions(lab, "h4")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "h4" in out and "Interrupted" not in out
    assert farm.running_on("h5") == {quick}
    assert slow not in farm.state  # never recorded as running where it did not finish
    assert farm.state[quick] == ("h5",)
    lab.start_sshd("h4")
    again = farm.cf("apply", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert slow in farm.running_on("h4")
    assert farm.state[slow] == ("h4",)


def test_dockerd_stopped_on_a_host(farm: FaultFarm, lab: Lab) -> None:
    a = farm.stack("a", "h4")
    b = farm.stack("b", "h5")
    stop_dockerd(lab, "h4")
    result = farm.cf("up", "--all")
    assert result.returncode == 1
    assert a in result.stdout and "daemon" in (result.stdout + result.stderr).lower()
    assert farm.running_on("h5") == {b}
    assert farm.state == {b: ("h5",)}
    ps = farm.cf("ps")
    assert ps.returncode == 4 and "docker ps failed" in ps.stderr
    start_dockerd(lab, "h4")
    assert farm.cf("apply", "--yes").returncode == 0
    assert farm.running_on("h4") == {a}


def test_network_cut_during_a_migration_rolls_back(farm: FaultFarm, lab: Lab) -> None:
    """Cut the new host after `down` began on the old one and before `up` on the new."""
    name = farm.stack("mover", "h4", SLOW_DOWN.format(image=lab.image))
    assert farm.cf("up", name).returncode == 0
    assert farm.running_on("h4") == {name}
    farm.stacks[name] = "h5"
    farm.write()
    proc = farm.popen("up", name)
    time.sleep(3)  # preflight + pull on h5 are done; `down` on h4 takes 6 s
    lab.cut("h5")
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 1, out
    assert "rolled back" in out and "Interrupted" not in out
    assert farm.running_on("h4") == {name}
    assert farm.state[name] == ("h4",)
    lab.restore("h5")
    done = farm.cf("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert farm.running_on("h5") == {name} and farm.running_on("h4") == set()
    assert farm.state[name] == ("h5",)
    assert "Nothing to do" in farm.cf("apply", "--yes").stdout


def test_ctrl_c_during_apply_leaves_a_truthful_state(farm: FaultFarm, lab: Lab) -> None:
    names = [farm.stack(f"s{i}", HOSTS[i % 2], SLOW_UP.format(image=lab.image)) for i in range(6)]
    proc = farm.popen("apply", "--yes")
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130, out
    assert "Interrupted" in out
    state = farm.state
    for stack, hosts in state.items():  # whatever state claims is really running
        for host in hosts:
            assert stack in farm.running_on(host), (stack, host, out)
    # the remote `docker compose up` commands were hung up, not left running
    time.sleep(2)
    for host in HOSTS:
        procs = lab.host_exec(host, ["ps", "-eo", "args"], check=False).stdout
        assert not any(n in procs for n in names if n not in state), procs
    finished = farm.cf("apply", "--yes")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert set(farm.state) == set(names)


def test_state_folder_read_only_keeps_the_old_state(farm: FaultFarm, lab: Lab) -> None:
    first = farm.stack("first", "h4")
    assert farm.cf("up", first).returncode == 0
    before = (farm.tmp / "compose-farm-state.yaml").read_text()
    second = farm.stack("second", "h5")
    subprocess.run(["chattr", "+i", str(farm.tmp)], check=True)
    try:
        result = farm.cf("up", second)
    finally:
        subprocess.run(["chattr", "-i", str(farm.tmp)], check=True)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "compose-farm-state.yaml" in result.stderr and "Traceback" not in result.stderr
    assert (farm.tmp / "compose-farm-state.yaml").read_text() == before


def test_disk_full_keeps_the_old_state(farm: FaultFarm, lab: Lab, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        farm.tmp = small
        first = farm.stack("first", "h4")
        second = farm.stack("second", "h5")
        assert farm.cf("up", first).returncode == 0
        before = (small / "compose-farm-state.yaml").read_text()
        filler = small / "filler"
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={filler}", "bs=4k", "count=64"],
            check=False,
            capture_output=True,
        )
        assert os.statvfs(small).f_bavail == 0, "could not fill the tmpfs"
        result = farm.cf("up", second)
        assert result.returncode == 3, result.stdout + result.stderr
        assert "compose-farm-state.yaml" in result.stderr and "Traceback" not in result.stderr
        assert (small / "compose-farm-state.yaml").read_text() == before
        assert StateStore(small / "compose-farm-state.yaml").read().deployed == {first: ("h4",)}
    finally:
        farm.cleanup()
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_one_broken_compose_file_of_thirty(farm: FaultFarm, lab: Lab) -> None:
    names = [farm.stack(f"n{i:02d}", HOSTS[i % 2]) for i in range(29)]
    broken = farm.stack(
        "broken", "h4", STACK.format(image=f"{lab.registry}/cflab/does-not-exist:1")
    )
    result = farm.cf("up", "--all", timeout=300)
    assert result.returncode == 1
    assert f"{broken}" in result.stdout.split("failed to up")[-1]
    running = farm.running_on("h4") | farm.running_on("h5")
    assert running == set(names)
    assert set(farm.state) == set(names)
