"""Config drift on the lab: an edited compose file, ``.env`` or ``env_file`` shows in
``cf apply``'s plan by stack and service; applying recreates only those services
(container ids on the host's engine say so); the next apply has nothing to do."""

from __future__ import annotations

import pytest

from tests.support.cf import ok
from tests.support.farm import Farm
from tests.support.stacks import sleep_stack

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=("h2", "h3"))]
HOST = "h2"
NOTHING = "Nothing to do"


def _plan(farm: Farm) -> str:
    return ok(farm.cf("apply", "--dry-run")).output


def _two_services(farm: Farm, suffix: str, app_extra: str, *, env: str | None = None) -> str:
    image = farm.lab.image
    compose = sleep_stack(image, ("app",), app_extra) + sleep_stack(image, ("db",)).removeprefix(
        "services:\n"
    )
    name = farm.stack(suffix, HOST, compose, env)
    ok(farm.cf("up", name))
    assert NOTHING in _plan(farm)
    return name


def _edit(farm: Farm, stack: str, old: str, new: str, file: str = "compose.yaml") -> None:
    path = farm.compose_dir / stack / file
    text = path.read_text()
    assert old in text, text
    path.write_text(text.replace(old, new))


def _env_of(farm: Farm, container: str) -> dict[str, str]:
    listed = farm.inspect(HOST, container, "{{range .Config.Env}}{{println .}}{{end}}")
    return dict(line.split("=", 1) for line in listed.splitlines() if "=" in line)


def test_an_edited_compose_file_updates_only_the_service_that_changed(farm: Farm) -> None:
    stack = _two_services(farm, "edited", "    environment:\n      MODE: one\n")
    before = farm.ids(stack)

    _edit(farm, stack, "MODE: one", "MODE: two")
    plan = _plan(farm)
    assert "Update" in plan and f"{stack} on {HOST}: app:" in plan, plan
    assert "db:" not in plan, plan

    # the dry run kept Compose's hashes on the host; apply finds them differing from the
    # containers' and asks Compose again for the line's details
    applied = ok(farm.cf("apply", "--yes"))
    assert "app: environment: MODE changed" in applied.output, applied
    after = farm.ids(stack)
    assert after[(HOST, "db")] == before[(HOST, "db")]  # untouched
    assert after[(HOST, "app")] != before[(HOST, "app")]  # recreated
    assert _env_of(farm, after[(HOST, "app")])["MODE"] == "two"
    assert NOTHING in _plan(farm)


def test_an_env_file_edit_that_compose_does_not_hash_is_seen_and_applied(farm: Farm) -> None:
    extra = "    env_file: app.env\n"
    image = farm.lab.image
    compose = sleep_stack(image, ("app",), extra) + sleep_stack(image, ("db",)).removeprefix(
        "services:\n"
    )
    stack = farm.stack("envfile", HOST, compose, files={"app.env": "TOKEN=first-secret\n"})
    ok(farm.cf("up", stack))
    before = farm.ids(stack)
    # Compose's plain `config --hash` is not what `up` stamped when env_file is used;
    # cf's (the resolved project, hashed) is: it sees nothing to do
    label = '{{index .Config.Labels "com.docker.compose.config-hash"}}'
    stamped = farm.inspect(HOST, before[(HOST, "app")], label)
    plain = farm.lab.docker(
        HOST, "compose", "--project-directory", str(farm.compose_dir / stack),
        "config", "--hash", "app", check=True,
    ).stdout.split()[-1]  # fmt: skip
    assert plain != stamped
    assert NOTHING in _plan(farm)

    (farm.compose_dir / stack / "app.env").write_text("TOKEN=second-secret\n")
    plan = _plan(farm)
    assert "app: environment: TOKEN changed" in plan, plan
    assert "secret" not in plan, plan  # names, never values

    ok(farm.cf("apply", "--yes"))
    after = farm.ids(stack)
    assert after[(HOST, "db")] == before[(HOST, "db")]
    assert _env_of(farm, after[(HOST, "app")])["TOKEN"] == "second-secret"
    assert NOTHING in _plan(farm)


def test_a_dotenv_value_interpolated_into_the_file_is_drift(farm: Farm) -> None:
    extra = "    environment:\n      LEVEL: ${LEVEL}\n"
    stack = _two_services(farm, "dotenv", extra, env="LEVEL=low\n")
    (farm.compose_dir / stack / ".env").write_text("LEVEL=high\n")
    plan = _plan(farm)
    assert f"{stack} on {HOST}: app: environment: LEVEL changed" in plan, plan
    ok(farm.cf("apply", "--yes"))
    [app] = [c for c in farm.of(stack, HOST) if c.service == "app"]
    assert _env_of(farm, app.id)["LEVEL"] == "high"
    assert NOTHING in _plan(farm)


def test_services_added_and_removed(farm: Farm) -> None:
    stack = _two_services(farm, "reshaped", "")
    image = farm.lab.image
    compose = sleep_stack(image, ("app",)) + sleep_stack(image, ("cache",)).removeprefix(
        "services:\n"
    )
    (farm.compose_dir / stack / "compose.yaml").write_text(compose)
    plan = _plan(farm)
    assert "cache: not created" in plan and "db: no longer in the compose project" in plan, plan
    ok(farm.cf("apply", "--yes"))
    assert sorted(c.service for c in farm.of(stack, HOST) if c.state == "running") == [
        "app",
        "cache",
    ]
    assert NOTHING in _plan(farm)


def test_a_file_compose_cannot_read_is_named_and_nothing_is_touched(farm: Farm) -> None:
    stack = _two_services(farm, "unreadable", "")
    before = farm.ids(stack)
    (farm.compose_dir / stack / "compose.yaml").write_text("services:\n  app: [unclosed\n")
    done = farm.cf("apply", "--yes")
    assert "Could not compare with the compose project" in done.output, done
    assert f"{stack} on {HOST}:" in done.output, done
    assert farm.ids(stack) == before
