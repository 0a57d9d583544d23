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

from tests.lab import Lab
from tests.support.cf import CfRun, ok
from tests.support.farm import on
from tests.support.privatefarm import PrivateFarm

HOSTS = ("h1", "h2", "h3")
DOCUMENTED = {"CF_STACK", "CF_HOST", "CF_OLD_HOST", "CF_EVENT", "CF_STACK_DIR"}

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=HOSTS, kind=PrivateFarm)]


@pytest.fixture(autouse=True)
def _login_folders_cleaned(farm: PrivateFarm, lab: Lab) -> Iterator[None]:
    """A host hook that ran outside its stack folder wrote to the login folder: remove that."""
    yield
    for host in HOSTS:
        lab.host_exec(host, ["sh", "-c", f"rm -f /root/{env_file(farm, '*')}"], check=False)


def env_file(farm: PrivateFarm, event: str) -> str:
    """The file a host hook writes its CF_* variables to, relative to where it runs."""
    return f"cf-env.{farm.prefix}.{event}"


def env_line(farm: PrivateFarm, folder: str = "") -> str:
    """Shell that writes the hook's CF_* variables to ``env_file`` (in ``folder``)."""
    target = f"{folder}/" if folder else ""
    return f"env | grep ^CF_ | sort > {target}{env_file(farm, '$CF_EVENT')}"


def host_env(farm: PrivateFarm, host: str, stack: str, event: str) -> dict[str, str] | None:
    """What a host hook for ``event`` recorded in ``stack``'s folder on ``host`` (None: no
    file there; a file in the login folder instead fails, naming the folder it ran in)."""
    text = farm.read(host, stack, env_file(farm, event))
    if text is not None:
        return parse_env(text)
    stray = farm.lab.host_exec(host, ["cat", f"/root/{env_file(farm, event)}"], check=False)
    assert stray.returncode != 0, (
        f"the {event} hook ran on {host} in the login folder /root, not in the stack folder "
        f"{farm.host_path(stack)}:\n{stray.stdout}"
    )
    return None


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
    farm.settings["hooks"] = {"before_up": local(f'echo "farm $CF_EVENT" >> {events}')}
    hooks = {
        event: [env_line(farm), record, local(env_line(farm, str(tmp_path)))]
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
        on_host = host_env(farm, "h1", stack, event)
        assert on_host == {**want, "CF_EVENT": event}, (event, on_host)
        here = parse_env((tmp_path / env_file(farm, event)).read_text())
        assert here == {**want, "CF_EVENT": event}, (event, here)
    assert (tmp_path / "local.pwd").read_text().strip() == str(farm.local(stack))
    # Farm-wide hooks first, then the stack's own.
    assert said(events) == [["farm", "before_up"], ["before_up", "h1"], ["after_up", "h1"]]

    farm.place(stack, "h2")
    done = ok(farm.cf("apply", "--yes"))

    assert farm.on_engines() == {stack: on("h2")}, done
    moved = {**want, "CF_HOST": "h2", "CF_OLD_HOST": "h1"}
    for event in ("before_migrate", "after_migrate"):
        here = parse_env((tmp_path / env_file(farm, event)).read_text())
        assert here == {**moved, "CF_EVENT": event}, (event, here)
        # The doc does not say on which of the two hosts a migrate hook runs: one of them,
        # in the stack's folder there.
        seen = {h: e for h in ("h1", "h2") if (e := host_env(farm, h, stack, event))}
        assert len(seen) == 1, (event, seen)
        assert next(iter(seen.values())) == {**moved, "CF_EVENT": event}, (event, seen)
    # after_migrate runs where the stack now is; a move's own down/up run no *_up hooks.
    assert host_env(farm, "h2", stack, "after_migrate") is not None
    assert host_env(farm, "h2", stack, "before_up") is None
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


def test_down_hooks_run_around_the_stop_and_a_failing_one_keeps_it_up(
    farm: PrivateFarm, tmp_path: Path
) -> None:
    events = tmp_path / "events"
    record = local(f'echo "$CF_EVENT $CF_HOST" >> {events}')
    stack = farm.stack(
        "downs",
        "h2",
        hooks={"before_down": [record, "test ! -e refuse"], "after_down": record},
    )
    ok(farm.cf("up", stack))
    farm.on_host("h2", stack, "refuse").write_text("")  # the before_down check fails on h2
    ids = farm.ids(stack)

    refused = farm.cf("down", stack)

    assert refused.returncode == 1, refused
    assert farm.ids(stack) == ids, refused  # still the same running container
    assert farm.on_engines() == {stack: on("h2")}, refused
    assert farm.state() == {stack: ("h2",)}, refused
    assert failure_lines(refused, "before_down", 1), refused
    assert said(events) == [["before_down", "h2"]], refused

    farm.on_host("h2", stack, "refuse").unlink()
    done = ok(farm.cf("down", stack))

    assert farm.where(stack, running=False) == set(), done
    assert stack not in farm.state(), done
    assert said(events) == [["before_down", "h2"], ["before_down", "h2"], ["after_down", "h2"]]


def test_a_host_hook_runs_a_script_synced_with_the_stack(farm: PrivateFarm) -> None:
    """The doc's own example: a script in the stack folder, run by a hook on the host."""
    script = '#!/bin/sh\necho "announced $1 from $(hostname)"\n'
    stack = farm.stack(
        "script",
        "h3",
        files={"scripts/announce.sh": script},
        hooks={"after_up": "./scripts/announce.sh up"},
    )
    farm.local(stack, "scripts/announce.sh").chmod(0o755)

    done = ok(farm.cf("up", stack))

    assert f"[{stack}] announced up from h3" in done.output.splitlines(), done
    assert farm.on_engines() == {stack: on("h3")}, done


def test_host_hooks_of_a_stack_on_several_hosts_run_on_each(farm: PrivateFarm) -> None:
    stack = farm.stack(
        "pair", ["h1", "h3"], hooks={"before_up": [env_line(farm), "echo on-$(hostname)"]}
    )

    done = ok(farm.cf("up", stack))

    assert farm.on_engines() == {stack: on("h1", "h3")}, done
    lines = done.output.splitlines()
    for host in ("h1", "h3"):
        recorded = host_env(farm, host, stack, "before_up")
        assert recorded is not None and recorded["CF_HOST"] == host, (host, recorded)
        assert f"[{stack}@{host}] on-{host}" in lines, (host, done)
    assert host_env(farm, "h2", stack, "before_up") is None
