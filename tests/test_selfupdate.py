"""cf's own stack (operations/selfupdate.py): which commands run detached, and how.

The pure part is table-driven (command -> attached check + detached command); the
guard runs in-process over the scripted executor through ``operations_for``, as
the CLI and the web build it; the detaching program itself runs for real in a
local ``sh`` and must return before the command it started ends.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest

from compose_farm.executor import Command, Event, OutputLine, Result, Script, compose, docker
from compose_farm.executor.fake import ScriptedExecutor
from compose_farm.operations import preflight
from compose_farm.operations.context import operations_for
from compose_farm.operations.lifecycle import Operations
from compose_farm.operations.selfupdate import (
    DETACH,
    Myself,
    SelfGuard,
    detach_script,
    guarded,
    split,
)
from tests.support.config import make_config
from tests.support.waiting import poll

STACK_DIR = PurePosixPath("/opt/stacks/cf-web")
NEEDS = preflight.Requirements(mounts=("/srv/conf",))
UP = ("docker", "compose", "up", "-d")

DETACHED = [
    compose(STACK_DIR, "up", "-d"),
    compose(STACK_DIR, "down"),
    compose(STACK_DIR, "restart"),
    compose(STACK_DIR, "stop", "cf"),
    compose(STACK_DIR, "-f", "up.yaml", "-p", "ps", "up", "-d"),  # values are not verbs
    compose(STACK_DIR, "--profile=x", "rm", "-f"),
    docker("restart", "0123abcd"),
    docker("rm", "-f", "0123abcd"),
]
ATTACHED = [
    compose(STACK_DIR, "pull", "--ignore-buildable"),
    compose(STACK_DIR, "ps"),
    compose(STACK_DIR, "-f", "restart", "logs"),  # "restart" is a file name here
    compose(STACK_DIR, "build", "--pull"),
    docker("inspect", "0123abcd"),
    Command(argv=("sh", "-c", "docker compose down")),  # a user's hook: theirs to run
    preflight.preflight_script(STACK_DIR, NEEDS),  # a check alone changes nothing
    preflight.preflight_script(STACK_DIR, NEEDS, ("docker", "compose", "ps")),
    Script("exec docker compose up -d"),
]


@pytest.mark.parametrize("command", DETACHED, ids=lambda c: c.display())
def test_commands_that_may_stop_a_container_run_detached_as_they_are(command: Command) -> None:
    parts = split(command)
    assert parts is not None
    assert parts.check is None
    assert parts.detached == command


@pytest.mark.parametrize("command", ATTACHED, ids=lambda c: c.display())
def test_commands_that_change_no_container_run_as_they_are(command: Command | Script) -> None:
    assert split(command) is None


def test_a_start_keeps_its_preflight_attached_and_detaches_only_the_up() -> None:
    script = preflight.preflight_script(STACK_DIR, NEEDS, (*UP, "cf"))
    parts = split(script)
    assert parts is not None
    assert parts.check == preflight.preflight_script(STACK_DIR, NEEDS)
    assert parts.detached == Command(argv=(*UP, "cf"), cwd=STACK_DIR)


def test_the_detaching_line_quotes_every_value() -> None:
    hostile = Command(argv=("docker", "compose", "up", "-d", "$(touch x); y"), env={"A": "b c"})
    script = detach_script("cf-web", hostile)
    assert script.program == DETACH
    assert script.args == (
        "cf-web",
        ".",
        "env",
        "A=b c",
        "docker",
        "compose",
        "up",
        "-d",
        "$(touch x); y",
    )
    assert "'$(touch x); y'" in script.shell()


def test_myself_from_the_environment_and_from_dockers_mounts(tmp_path: Path) -> None:
    cid = "ab" * 32
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        f"600 590 0:52 /var/lib/docker/containers/{cid}/hostname /etc/hostname rw - ext4 x rw\n"
    )
    nothing = tmp_path / "none"
    nothing.write_text("22 1 0:21 / /proc rw - proc proc rw\n")

    named = Myself.of({"CF_SELF_STACK": "cf-web", "CF_SELF_HOST": "h1"}, mountinfo)
    assert named == Myself("cf-web", "h1", None)
    assert Myself.of({}, mountinfo) == Myself(None, None, cid)
    assert not Myself.of({}, nothing).known
    assert not Myself.of({}, tmp_path / "missing").known
    fake = ScriptedExecutor()
    assert isinstance(guarded(fake, {"CF_SELF_STACK": "cf-web"}), SelfGuard)


def _farm(tmp_path: Path) -> tuple[ScriptedExecutor, list[Event], Operations]:
    config = make_config(
        tmp_path,
        compose={"cf-web": "services: {cf: {image: cf}}\n", "other": "services: {a: {image: a}}\n"},
        hosts=("h1", "h2"),
    )
    fake = ScriptedExecutor(names={DETACH: "detach", preflight.PROGRAM: "preflight"})
    events: list[Event] = []
    ops = operations_for(config, fake, events.append, {"CF_SELF_STACK": "cf-web"})
    return fake, events, ops


def test_restart_of_its_own_stack_is_detached_and_others_are_not(tmp_path: Path) -> None:
    fake, events, ops = _farm(tmp_path)
    fake.on("h1", program=DETACH, out="4242\n")
    fake.on("h1", argv=("docker", "compose", "restart"))
    outcomes = asyncio.run(ops.simple(["cf-web", "other"], ("restart",)))

    assert [o.ok for o in outcomes] == [True, True]
    root = tmp_path / "stacks"
    assert sorted(fake.ran("h1")) == sorted(
        [
            f"detach cf-web {root}/cf-web docker compose restart",
            f"(in {root}/other) docker compose restart",
        ]
    )
    said = [e.line for e in events if isinstance(e, OutputLine) and e.stack == "cf-web"]
    assert any("cf is restarting itself" in line for line in said), said


def test_up_of_its_own_stack_checks_first_and_a_missing_mount_stops_it(tmp_path: Path) -> None:
    fake, _events, ops = _farm(tmp_path)
    fake.on("h1", program=preflight.PROGRAM, status=preflight.MISSING_EXIT, out="stack x\n")
    outcomes = asyncio.run(ops.up(["cf-web"]))
    assert not outcomes[0].ok
    assert [r for r in fake.ran("h1") if r.startswith("detach")] == []

    fake2, events2, ops2 = _farm(tmp_path / "two")
    fake2.on("h1", program=preflight.PROGRAM)
    fake2.on("h1", program=DETACH, out="4242\n")
    outcomes = asyncio.run(ops2.up(["cf-web"]))
    assert outcomes[0].ok, outcomes
    root = tmp_path / "two" / "stacks"
    assert fake2.ran("h1") == [
        f"preflight s:{root}/cf-web",
        f"detach cf-web {root}/cf-web docker compose up -d",
    ]
    results = [e for e in events2 if isinstance(e, Result)]
    assert [r.ok for r in results] == [True]  # one result per start, as without the guard


def test_by_container_id_the_host_is_asked_once_which_project_holds_it() -> None:
    cid = "cd" * 32
    fake = ScriptedExecutor(names={DETACH: "detach"})
    fake.on("h1", argv=("docker", "ps"), out="cf-web\n")
    fake.on("h2", argv=("docker", "ps"), out="\n")
    fake.on(program=DETACH)
    fake.on(argv=("docker", "compose"))
    guard = SelfGuard(fake, Myself(container=cid))

    async def go() -> list[Result]:
        return [
            await guard.run("h1", compose(STACK_DIR, "up", "-d"), stack="cf-web"),
            await guard.run("h1", compose(STACK_DIR, "restart"), stack="cf-web"),
            await guard.run("h2", compose(STACK_DIR, "restart"), stack="cf-web"),
        ]

    assert all(r.ok for r in asyncio.run(go()))
    shown = fake.ran()
    assert sum(1 for s in shown if s.startswith("docker ps")) == 2  # once per host
    assert f"id={cid}" in shown[0]
    assert [s.split(" ", 1)[0] for s in shown if not s.startswith("docker ps")] == [
        "detach",
        "detach",
        "(in",
    ]


def test_the_detached_command_outlives_the_shell_that_started_it(tmp_path: Path) -> None:
    """Run for real: the program returns while the command still runs, in a session of
    its own (it says which), its output landing in the log under $HOME."""
    gate = tmp_path / "gate"
    program = (
        'echo "sid $(cut -d " " -f 6 /proc/$$/stat)"; '
        'while [ ! -e "$0" ]; do sleep 0.05; done; echo end'
    )
    script = detach_script(
        "cf-web",
        Command(argv=("sh", "-c", program, str(gate)), cwd=PurePosixPath(str(tmp_path))),
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    done = subprocess.run(
        ["sh", "-c", script.shell()],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr  # back while the command waits for the gate
    assert done.stdout.strip().isdigit()  # its pid
    log = tmp_path / ".cache/compose-farm/self-update/cf-web.log"
    try:
        said = re.compile(r"^sid (\d+)$", re.MULTILINE)
        _wait_for(lambda: log.is_file() and said.search(log.read_text()) is not None)
        found = said.search(log.read_text())
        assert found is not None
        sid = int(found.group(1))
        assert sid != os.getsid(0)  # not the session of the shell that started it
        assert "end" not in log.read_text().splitlines()  # still waiting for the gate
    finally:
        gate.touch()
    _wait_for(lambda: "end" in log.read_text().splitlines())
    assert log.read_text().startswith("== ")


def _wait_for(check: Callable[[], bool]) -> None:
    poll(lambda: True if check() else None, what="the detached command's output", timeout=30)
