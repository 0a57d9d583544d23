"""Faults a user meets, on real hosts: each test checks the hosts and the state afterwards.

All of these break lab hosts h4 and h5, so they run one at a time on one
worker (xdist group "faults"), hold those hosts' lock, and repair the hosts in
finalizers. A step is broken while it runs, never after a guessed delay: the
test reads cf's output until the line that says the step began. Stacks whose
`up` must still be running then wait for a gate (a file the test creates)
before they count as started.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from compose_farm.state import StateStore
from tests.lab import Lab
from tests.support.farm import Farm
from tests.support.faults import cut, kill_sshd_and_sessions, start_dockerd, stop_dockerd
from tests.support.waiting import eventually

HOSTS = ("h4", "h5")
pytestmark = [
    pytest.mark.xdist_group("faults"),
    pytest.mark.farm(hosts=HOSTS, connect_timeout=3.0, exclusive=True),
]

STACK = """\
services:
  app:
    image: {image}
    command: ["sleep", "86400"]
    stop_signal: SIGKILL
"""

# `up` waits, as long as the test likes, for `app` to be healthy: it is once the
# file gate/open exists in the stack's folder (``open_gate``).
GATED_UP = """\
services:
  app:
    image: {image}
    command: ["sleep", "86400"]
    stop_signal: SIGKILL
    volumes: ["./gate:/gate"]
    healthcheck:
      test: ["CMD", "test", "-e", "/gate/open"]
      interval: 1s
      timeout: 5s
      retries: 100000
  after:
    image: {image}
    command: ["sleep", "86400"]
    stop_signal: SIGKILL
    depends_on:
      app: {{condition: service_healthy}}
"""
GATE = {"gate/.keep": ""}

SLOW_DOWN = """\
services:
  app:
    image: {image}
    command: ["sh", "-c", "trap '' TERM; sleep 86400"]
    stop_grace_period: 6s
"""


@pytest.fixture(autouse=True)
def _repaired(farm: Farm, lab: Lab) -> Iterator[None]:
    """Put h4 and h5 back as the lab made them, before the farm's cleanup needs them."""
    yield
    for host in HOSTS:
        lab.restore(host)
        if lab.sshd_pid(host):
            lab.thaw_sshd(host)
        lab.start_sshd(host)
        start_dockerd(lab, host)


def running_on(farm: Farm, host: str) -> set[str]:
    """The farm's stacks with a running container on ``host`` (asks its engine)."""
    return set(farm.placement([host]))


def open_gate(farm: Farm, stack: str) -> None:
    (farm.compose_dir / stack / "gate" / "open").touch()


def waiting_line(stack: str) -> str:
    """The line of `up` that says ``stack``'s `app` is started and `after` waits for it."""
    return re.escape(f"[{stack}]") + rf".*\b{re.escape(stack)}-app-1\s+Waiting\b"


def test_sshd_killed_mid_command(farm: Farm, lab: Lab) -> None:
    slow = farm.stack("slow", "h4", GATED_UP.format(image=lab.image), files=GATE)
    quick = farm.stack("quick", "h5")
    with farm.start("up", "--all") as proc:
        proc.wait_for(waiting_line(slow))  # its `up` runs on h4, waiting at the gate
        kill_sshd_and_sessions(lab, "h4")
        done = proc.finish(timeout=60)
    assert done.returncode != 0, done
    assert "h4" in done.output and "Interrupted" not in done.output, done
    assert running_on(farm, "h5") == {quick}
    assert slow not in farm.state()  # never recorded as running where it did not finish
    assert farm.state()[quick] == ("h5",)
    lab.start_sshd("h4")
    open_gate(farm, slow)
    again = farm.cf("apply", "--yes")
    assert again.returncode == 0, again
    assert slow in running_on(farm, "h4")
    assert farm.state()[slow] == ("h4",)


def test_dockerd_stopped_on_a_host(farm: Farm, lab: Lab) -> None:
    a = farm.stack("a", "h4")
    b = farm.stack("b", "h5")
    stop_dockerd(lab, "h4")
    result = farm.cf("up", "--all")
    assert result.returncode == 1, result
    assert a in result.stdout and "daemon" in result.output.lower(), result
    assert running_on(farm, "h5") == {b}
    assert farm.state() == {b: ("h5",)}
    ps = farm.cf("ps")
    assert ps.returncode == 4 and "docker ps failed" in ps.stderr, ps
    start_dockerd(lab, "h4")
    assert farm.cf("apply", "--yes").returncode == 0
    assert running_on(farm, "h4") == {a}


def test_network_cut_during_a_migration_rolls_back(farm: Farm, lab: Lab) -> None:
    """Cut the new host after `down` began on the old one and before `up` on the new."""
    name = farm.stack("mover", "h4", SLOW_DOWN.format(image=lab.image))
    assert farm.cf("up", name).returncode == 0
    assert running_on(farm, "h4") == {name}
    farm.place(name, "h5")
    with farm.start("up", name) as proc:
        # preflight and pull on h5 are done; `down` on h4 began and takes 6 s
        proc.wait_for(re.escape(f"[{name}]") + rf".*\b{re.escape(name)}-app-1\s+Stopping\b")
        with cut(lab, "h5"):
            done = proc.finish(timeout=90)
            assert done.returncode == 1, done
            assert "rolled back" in done.output and "Interrupted" not in done.output, done
            assert running_on(farm, "h4") == {name}
            assert farm.state()[name] == ("h4",)
    again = farm.cf("apply", "--yes")
    assert again.returncode == 0, again
    assert running_on(farm, "h5") == {name} and running_on(farm, "h4") == set()
    assert farm.state()[name] == ("h5",)
    assert "Nothing to do" in farm.cf("apply", "--yes").stdout


def test_ctrl_c_during_apply_leaves_a_truthful_state(farm: Farm, lab: Lab) -> None:
    quick = [farm.stack(f"q{i}", HOSTS[i % 2]) for i in range(2)]
    gated = [
        farm.stack(f"s{i}", HOSTS[i % 2], GATED_UP.format(image=lab.image), files=GATE)
        for i in range(4)
    ]
    with farm.start("apply", "--yes") as proc:
        began = gated[0]
        proc.wait_for(waiting_line(began))  # its `up` is under way, waiting at the gate
        assert eventually(lambda: set(quick) <= set(farm.state())), proc.output
        printed = len(proc.output)
        proc.interrupt()
        done = proc.finish(timeout=30)
    assert done.returncode == 130, done
    assert "Interrupted" in done.output, done
    state = farm.state()
    assert set(quick) <= set(state), done
    for stack, hosts in state.items():  # whatever state claims is really running
        for host in hosts:
            assert stack in running_on(farm, host), (stack, host, done)

    # the remote `docker compose up` commands were hung up, not left waiting at the gate
    def left_running() -> list[str]:
        found = []
        for host in HOSTS:
            procs = lab.host_exec(host, ["ps", "-eo", "args"], check=False).stdout
            found += [f"{n} on {host}" for n in gated if n not in state and n in procs]
        return found

    assert eventually(lambda: not left_running()), left_running()

    for stack in gated:
        open_gate(farm, stack)
    finished = farm.cf("apply", "--yes")
    assert finished.returncode == 0, finished
    assert set(farm.state()) == set(quick) | set(gated)

    # cf says what it interrupted: its own lines from "Interrupted" on (not the `[stack]`
    # lines of compose's output) name the stack whose `up` was under way
    after = done.output[printed:]
    report = after[after.find("Interrupted") :].splitlines()
    said = [ln for ln in report if not ln.startswith("[")]
    assert any(began in ln for ln in said), f"the interruption does not name {began}:\n{done}"


def test_state_folder_read_only_keeps_the_old_state(farm: Farm, lab: Lab) -> None:
    first = farm.stack("first", "h4")
    assert farm.cf("up", first).returncode == 0
    before = farm.state_path.read_text()
    second = farm.stack("second", "h5")
    subprocess.run(["chattr", "+i", str(farm.folder)], check=True)
    try:
        result = farm.cf("up", second)
    finally:
        subprocess.run(["chattr", "-i", str(farm.folder)], check=True)
    assert result.returncode == 3, result
    assert "compose-farm-state.yaml" in result.stderr and "Traceback" not in result.stderr
    assert farm.state_path.read_text() == before


def test_disk_full_keeps_the_old_state(farm: Farm, lab: Lab, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        farm.folder = small  # the config and the state file live on the small disk
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
        assert result.returncode == 3, result
        assert "compose-farm-state.yaml" in result.stderr and "Traceback" not in result.stderr
        assert (small / "compose-farm-state.yaml").read_text() == before
        assert StateStore(small / "compose-farm-state.yaml").read().deployed == {first: ("h4",)}
    finally:
        farm.close()
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_one_broken_compose_file_of_thirty(farm: Farm, lab: Lab) -> None:
    names = [
        farm.stack(f"n{i:02d}", HOSTS[i % 2], STACK.format(image=lab.image)) for i in range(29)
    ]
    broken = farm.stack(
        "broken", "h4", STACK.format(image=f"{lab.registry}/cflab/does-not-exist:1")
    )
    result = farm.cf("up", "--all", timeout=300)
    assert result.returncode == 1, result
    assert f"{broken}" in result.stdout.split("failed to up")[-1]
    running = running_on(farm, "h4") | running_on(farm, "h5")
    assert running == set(names)
    assert set(farm.state()) == set(names)
