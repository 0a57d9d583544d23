"""`cf up/stop/restart/down/update/compose/logs` against real hosts (h1..h3, shared).

Every outcome is read from the hosts' engines (``Farm.on_engines``, ``lab.docker``)
and from the state file, never from what cf printed alone.
"""

from __future__ import annotations

import uuid

import pytest

from tests.support.farm import Farm, on
from tests.support.stacks import sleep_stack
from tests.support.waiting import eventually

HOSTS = ("h1", "h2", "h3")

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=HOSTS)]


def test_up_runs_a_single_host_stack_on_that_host_only(farm: Farm) -> None:
    stack = farm.stack("one", "h2")

    done = farm.cf("up", stack)

    assert done.returncode == 0, done
    assert farm.on_engines() == {stack: on("h2")}
    assert farm.state() == {stack: ("h2",)}


def test_up_all_places_every_stack_exactly_where_configured(farm: Farm) -> None:
    placed = {
        farm.stack("on-h1", "h1"): {"h1"},
        farm.stack("on-h2", "h2"): {"h2"},
        farm.stack("everywhere", "all"): {"h1", "h2", "h3"},
        farm.stack("pair", ["h1", "h3"]): {"h1", "h3"},
    }

    done = farm.cf("up", "--all")

    assert done.returncode == 0, done
    assert farm.on_engines() == {stack: on(*hosts) for stack, hosts in placed.items()}
    assert {s: set(h) for s, h in farm.state().items()} == placed

    # Run twice: the second `up` changes nothing on the hosts.
    before = farm.containers()
    again = farm.cf("up", "--all")
    assert again.returncode == 0, again
    assert farm.containers() == before


def test_restart_stop_and_down(farm: Farm) -> None:
    stack = farm.stack("cycle", ["h1", "h3"])
    assert (up := farm.cf("up", stack)).returncode == 0, up
    started = {c.host: c for c in farm.containers() if c.project == stack}
    assert set(started) == {"h1", "h3"}
    started_at = {h: farm.inspect(h, c.id, "{{.State.StartedAt}}") for h, c in started.items()}
    state = farm.state()

    restarted = farm.cf("restart", stack)
    assert restarted.returncode == 0, restarted
    after = {c.host: c for c in farm.containers() if c.project == stack}
    assert {h: c.id for h, c in after.items()} == {h: c.id for h, c in started.items()}
    assert all(c.state == "running" for c in after.values()), after
    for host, container in after.items():
        assert farm.inspect(host, container.id, "{{.State.StartedAt}}") != started_at[host]
    assert farm.state() == state

    stopped = farm.cf("stop", stack)
    assert stopped.returncode == 0, stopped
    assert farm.on_engines() == {stack: on("h1", "h3", state="exited")}
    assert farm.state() == state == {stack: ("h1", "h3")}

    gone = farm.cf("down", stack)
    assert gone.returncode == 0, gone
    assert farm.on_engines() == {}
    assert farm.state() == {}


def test_up_with_host_option_starts_an_all_stack_on_that_host_only(farm: Farm) -> None:
    stack = farm.stack("everywhere", "all")

    done = farm.cf("up", "--host", "h1", stack)

    assert done.returncode == 0, done
    assert farm.on_engines() == {stack: on("h1")}
    assert farm.state() == {stack: ("h1",)}


def test_compose_passthrough_runs_the_compose_subcommand(farm: Farm) -> None:
    stack = farm.stack("pass", "h3")
    assert (up := farm.cf("up", stack)).returncode == 0, up
    [container] = [c for c in farm.containers() if c.project == stack]

    done = farm.cf("compose", stack, "ps")

    assert done.returncode == 0, done
    assert container.name in done.stdout
    assert container.host == "h3"


@pytest.mark.parametrize(
    ("verb", "payload"),
    [
        ("up", "web;touch {marker}"),
        ("up", "$(touch {marker})"),
        ("up", "`touch {marker}`"),
        ("logs", "web && touch {marker}"),
        ("down", "web|touch {marker}"),
    ],
)
def test_service_option_with_shell_characters_is_refused(
    farm: Farm, verb: str, payload: str
) -> None:
    stack = farm.stack("svc", "h1", sleep_stack(farm.lab.image, services=("web",)))
    marker = f"/tmp/pwned-{uuid.uuid4().hex}"
    service = payload.format(marker=marker)

    done = farm.cf(verb, "--service", service, stack)

    assert done.returncode == 2, done
    assert "service name" in done.stderr, done
    assert "Traceback" not in done.output
    assert farm.file_exists_anywhere(marker) == []
    assert farm.containers() == []
    assert farm.state() == {}


def test_compose_passthrough_arguments_never_reach_a_shell(farm: Farm) -> None:
    """`cf compose` hands arguments to compose as arguments: a hostile one is just a bad name."""
    stack = farm.stack("pass", "h2")
    assert (up := farm.cf("up", stack)).returncode == 0, up
    marker = f"/tmp/pwned-{uuid.uuid4().hex}"

    done = farm.cf("compose", stack, "logs", f"app;touch {marker}")

    assert done.returncode == 1, done
    assert farm.file_exists_anywhere(marker) == []


@pytest.mark.parametrize("template", ["'web;touch {marker}'", "'$(touch {marker})'"])
def test_service_name_with_shell_characters_in_compose_file_runs_nothing(
    farm: Farm, template: str
) -> None:
    marker = f"/tmp/pwned-{uuid.uuid4().hex}"
    compose = (
        "services:\n"
        f"  {template.format(marker=marker)}:\n"
        f"    image: {farm.lab.image}\n"
        '    command: ["sleep", "3600"]\n'
        "    init: true\n"
    )
    stack = farm.stack("hostile", "h1", compose)

    done = farm.cf("up", stack)

    assert done.returncode == 1, done
    assert stack in done.output
    assert farm.file_exists_anywhere(marker) == []
    assert farm.containers() == []
    assert stack not in farm.state()


def test_a_broken_stack_fails_alone(farm: Farm) -> None:
    good = [farm.stack("good1", "h1"), farm.stack("good2", "h2")]
    missing_image = f"{farm.lab.registry}/cflab/{farm.prefix}-missing:1"
    bad = farm.stack("bad", "h3", sleep_stack(missing_image))

    done = farm.cf("up", "--all")

    assert done.returncode == 1, done
    assert "1 of 3 stacks failed to up" in done.stdout, done
    failed_lines = [line for line in done.stdout.splitlines() if line.startswith("✗")]
    assert len(failed_lines) == 1, done
    assert bad in failed_lines[0]
    assert farm.on_engines() == {good[0]: on("h1"), good[1]: on("h2")}
    assert farm.state() == {good[0]: ("h1",), good[1]: ("h2",)}


def test_update_recreates_only_the_container_whose_image_changed(farm: Farm) -> None:
    lab = farm.lab
    ref = f"{farm.prefix}-upd:live"
    first = lab.push_image(ref, f"{farm.prefix}-v1")
    compose = (
        "services:\n"
        "  app:\n"
        f"    image: {first.ref}\n"
        '    command: ["sleep", "3600"]\n'
        "    init: true\n"
        "    stop_grace_period: 1s\n"
        "  side:\n"
        f"    image: {lab.image}\n"
        '    command: ["sleep", "3600"]\n'
        "    init: true\n"
        "    stop_grace_period: 1s\n"
    )
    stack = farm.stack("upd", "h2", compose)
    assert (up := farm.cf("up", stack)).returncode == 0, up
    before = farm.ids(stack)
    assert set(before) == {("h2", "app"), ("h2", "side")}

    second = lab.push_image(ref, f"{farm.prefix}-v2")
    assert second.digest != first.digest
    done = farm.cf("update", stack)

    assert done.returncode == 0, done
    after = farm.ids(stack)
    assert set(after) == set(before)
    assert after[("h2", "side")] == before[("h2", "side")]
    assert after[("h2", "app")] != before[("h2", "app")]
    app = after[("h2", "app")]
    assert farm.inspect("h2", app, "{{.State.Status}}") == "running"
    image_id = farm.inspect("h2", app, "{{.Image}}")
    digests = farm.inspect("h2", image_id, "{{json .RepoDigests}}")
    assert f"@{second.digest}" in digests
    assert farm.inspect("h2", app, '{{index .Config.Labels "cflab.marker"}}') == f"{farm.prefix}-v2"
    assert farm.state() == {stack: ("h2",)}


SECRET = "hunter2-very-secret"
SECRET_STACK = """\
services:
  app:
    image: {image}
    init: true
    stop_grace_period: 1s
    environment:
      SECRET_TOKEN: ${{SECRET_TOKEN}}
    command: ["sh", "-c", "echo token=$$SECRET_TOKEN; exec sleep 3600"]
"""


def test_secrets_from_env_file_are_masked_in_output(farm: Farm) -> None:
    stack = farm.stack(
        "secret",
        "h1",
        SECRET_STACK.format(image=farm.lab.image),
        env=f"SECRET_TOKEN={SECRET}\n",
    )
    assert (up := farm.cf("up", stack)).returncode == 0, up
    [container] = [c for c in farm.containers() if c.project == stack]

    def raw() -> str:
        return farm.lab.docker("h1", "logs", container.id).stdout

    assert eventually(lambda: f"token={SECRET}" in raw()), f"never logged its token: {raw()!r}"

    logs = farm.cf("logs", stack)
    assert logs.returncode == 0, logs
    assert "token=" in logs.stdout, logs  # the line came through...
    assert SECRET not in logs.output  # ...with the value masked

    config = farm.cf("compose", stack, "config")
    assert config.returncode == 0, config
    assert "SECRET_TOKEN" in config.stdout, config
    assert SECRET not in config.output
    assert SECRET not in up.output


def test_secrets_are_masked_in_the_failure_summary(farm: Farm) -> None:
    """A .env value in a failure message (here a missing bind-mount path) is masked too."""
    # long syntax: Compose refuses a missing source (it creates a short-syntax one)
    volume = "    volumes:\n      - {type: bind, source: '${DATA_DIR}', target: /data}\n"
    compose = sleep_stack(farm.lab.image, extra=volume)
    secret_dir = f"/srv/{farm.prefix}-{SECRET}"
    stack = farm.stack("mount", "h1", compose, env=f"DATA_DIR={secret_dir}\n")

    done = farm.cf("up", stack)

    assert done.returncode == 1, done
    assert "missing bind-mount source" in done.stdout, done
    assert farm.on_engines() == {}
    assert SECRET not in done.output
