"""Lifecycle hooks (docs/sync-and-data.md, "Hooks") on hosts that share no storage.

Host hooks leave files in the stack's folder as their host sees it (each host
of a ``PrivateFarm`` has its own), local hooks in the test's tmp_path; whether
a step went ahead is read from the engines and the state file. Hosts h1..h3
(shared: nothing here breaks a host).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.applyfarm import ok
from tests.e2e.farm import CfRun, on
from tests.e2e.privatelab import PrivateFarm, private_farm
from tests.lab import Lab

pytestmark = pytest.mark.lab

HOSTS = ("h1", "h2", "h3")
DOCUMENTED = {"CF_STACK", "CF_HOST", "CF_OLD_HOST", "CF_EVENT", "CF_STACK_DIR"}
ENV_LINE = "env | grep ^CF_ | sort > cf-env.$CF_EVENT"


@pytest.fixture
def farm(lab: Lab, tmp_path: Path) -> Iterator[PrivateFarm]:
    with private_farm(lab, tmp_path / "farm", HOSTS) as f:
        yield f


def local(command: str) -> dict[str, str]:
    return {"run": command, "on": "local"}


def parse_env(text: str | None) -> dict[str, str]:
    """The documented CF_* variables in ``env`` output (cf's own CF_CONFIG may be inherited)."""
    assert text is not None, "the hook left no file"
    found = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k: v for k, v in found.items() if k in DOCUMENTED}


def said(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()]


def failure_lines(done: CfRun, hook: str, status: int) -> list[str]:
    """Lines that name the failed ``hook`` and its exit ``status``."""
    return [
        line
        for line in done.output.splitlines()
        if hook in line and re.search(rf"(?<![\d.]){status}(?![\d.])", line)
    ]


def test_a_failing_before_up_hook_stops_the_start(farm: PrivateFarm) -> None:
    stack = farm.stack("guarded", "h1", hooks={"before_up": "echo checking; exit 3"})

    done = farm.cf("up", stack)

    assert done.returncode == 1, done
    assert "Traceback" not in done.output, done
    assert farm.where(stack, running=False) == set(), done  # not even created
    assert stack not in farm.state(), done
    assert failure_lines(done, "before_up", 3), done
    assert any(stack in ln for ln in failure_lines(done, "before_up", 3)), done


def test_a_failing_after_up_hook_fails_the_step_but_the_stack_stays_up(farm: PrivateFarm) -> None:
    stack = farm.stack("after", "h2", hooks={"after_up": "exit 4"})

    done = farm.cf("up", stack)

    assert done.returncode == 1, done
    assert farm.on_engines() == {stack: on("h2")}, done
    assert farm.state() == {stack: ("h2",)}, done
    assert failure_lines(done, "after_up", 4), done


def test_hooks_see_their_stack_host_and_event(farm: PrivateFarm, tmp_path: Path) -> None:
    events = tmp_path / "events"
    record = local(f'echo "$CF_EVENT $CF_HOST $CF_OLD_HOST" >> {events}')
    farm.top["hooks"] = {"before_up": local(f'echo "farm $CF_EVENT" >> {events}')}
    hooks = {
        event: [ENV_LINE, record, local(f"{ENV_LINE.replace('cf-env', str(tmp_path / 'local'))}")]
        for event in ("before_up", "after_up", "before_migrate", "after_migrate")
    }
    hooks["before_up"].append(local(f"pwd > {tmp_path / 'local.pwd'}"))
    stack = farm.stack("seen", "h1", hooks=hooks)

    done = ok(farm.cf("up", stack))

    assert farm.on_engines() == {stack: on("h1")}, done
    want = {
        "CF_STACK": stack,
        "CF_HOST": "h1",
        "CF_STACK_DIR": farm.host_path(stack),
    }
    for event in ("before_up", "after_up"):
        on_host = parse_env(farm.read("h1", stack, f"cf-env.{event}"))
        assert on_host == {**want, "CF_EVENT": event}, (event, on_host)
        here = parse_env((tmp_path / f"local.{event}").read_text())
        assert here == {**want, "CF_EVENT": event}, (event, here)
    assert (tmp_path / "local.pwd").read_text().strip() == str(farm.local(stack))
    # Farm-wide hooks first, then the stack's own.
    assert said(events) == [["farm", "before_up"], ["before_up", "h1"], ["after_up", "h1"]]

    farm.place(stack, "h2")
    done = ok(farm.cf("apply", "--yes"))

    assert farm.on_engines() == {stack: on("h2")}, done
    moved = {**want, "CF_HOST": "h2", "CF_OLD_HOST": "h1"}
    for event in ("before_migrate", "after_migrate"):
        here = parse_env((tmp_path / f"local.{event}").read_text())
        assert here == {**moved, "CF_EVENT": event}, (event, here)
        ran_on = [h for h in ("h1", "h2") if farm.exists(h, stack, f"cf-env.{event}")]
        assert len(ran_on) == 1, (event, ran_on)
        on_host = parse_env(farm.read(ran_on[0], stack, f"cf-env.{event}"))
        assert on_host == {**moved, "CF_EVENT": event}, (event, ran_on, on_host)
    # after_migrate runs where the stack now is; a move's own down/up run no *_up hooks.
    assert farm.exists("h2", stack, "cf-env.after_migrate")
    assert not farm.exists("h2", stack, "cf-env.before_up")
    assert said(events)[3:] == [["before_migrate", "h2", "h1"], ["after_migrate", "h2", "h1"]]


def test_hook_output_is_prefixed_like_compose_output(farm: PrivateFarm) -> None:
    hooks = {
        "before_up": "echo from-host-$((6*7))",
        "after_up": local("echo from-local-$((6*7)); echo to-stderr-$((6*7)) >&2"),
    }
    stack = farm.stack("talks", "h3", hooks=hooks)

    done = ok(farm.cf("up", stack))

    lines = done.output.splitlines()
    for said in ("from-host-42", "from-local-42", "to-stderr-42"):
        assert f"[{stack}] {said}" in lines, (said, done)
    assert farm.on_engines() == {stack: on("h3")}, done


def test_a_failing_before_migrate_hook_leaves_the_stack_where_it_was(farm: PrivateFarm) -> None:
    stack = farm.stack("stays", "h1", hooks={"before_migrate": "exit 5"})
    ok(farm.cf("up", stack))
    ids = farm.ids(stack)

    farm.place(stack, "h2")
    done = farm.cf("apply", "--yes")

    assert done.returncode == 1, done
    assert "Traceback" not in done.output, done
    assert farm.ids(stack) == ids, done  # the same container, never stopped
    assert farm.on_engines() == {stack: on("h1")}, done
    assert farm.state() == {stack: ("h1",)}, done
    assert failure_lines(done, "before_migrate", 5), done
