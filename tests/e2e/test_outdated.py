"""``cf outdated`` against the lab's real registry: a new image pushed under the same
tag is "update available" while the host's engine never pulled it; a registry that
cannot be reached is "unknown" with exit status 1, never "up to date"."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.support.cf import ok, run_cf
from tests.support.farm import Farm

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=("h3",))]
HOST = "h3"


def _stack(farm: Farm, image: str) -> str:
    compose = (
        "services:\n"
        "  app:\n"
        f"    image: {image}\n"
        '    command: ["sleep", "3600"]\n'
        "    init: true\n"
        "    stop_grace_period: 1s\n"
        "  side:\n"
        f"    image: {farm.lab.image}\n"
        '    command: ["sleep", "3600"]\n'
        "    init: true\n"
        "    stop_grace_period: 1s\n"
    )
    stack = farm.stack("outdated", HOST, compose)
    ok(farm.cf("up", stack))
    return stack


def _services(farm: Farm, *args: str) -> dict[str, dict[str, Any]]:
    done = farm.cf("outdated", "--json", *args)
    assert "Traceback" not in done.output, done
    found = json.loads(done.stdout)["services"]
    return {s["service"]: s for s in found}


def _has_digest(farm: Farm, digest: str) -> bool:
    listed = farm.lab.docker(HOST, "images", "--digests", "--format", "{{.Digest}}", check=True)
    return digest in listed.stdout.split()


def test_a_new_image_under_the_same_tag_is_found_without_a_pull(farm: Farm) -> None:
    ref = f"{farm.prefix}-out:live"
    first = farm.lab.push_image(ref, f"{farm.prefix}-v1")
    stack = _stack(farm, first.ref)

    now = _services(farm, stack)
    assert now["app"]["status"] == "up to date", now
    assert now["app"]["running"] == first.digest
    assert now["side"]["status"] == "up to date", now

    second = farm.lab.push_image(ref, f"{farm.prefix}-v2")
    found = _services(farm, stack)
    assert found["app"]["status"] == "update available", found
    assert (found["app"]["running"], found["app"]["latest"]) == (first.digest, second.digest)
    assert found["side"]["status"] == "up to date", found
    assert not _has_digest(farm, second.digest)  # nothing was pulled

    log = tomllib.loads((farm.folder / "dockerfarm-log.toml").read_text())
    [entry] = [u for u in log["updates"] if u["service"] == "app"]
    assert entry["status"] == "update available" and entry["latest"] == second.digest
    assert entry["checked"]

    table = ok(farm.cf("outdated", stack)).output
    assert "update available" in table and first.ref in table, table


def test_a_registry_that_cannot_be_reached_is_unknown_never_up_to_date(farm: Farm) -> None:
    ref = f"{farm.prefix}-down:1"
    first = farm.lab.push_image(ref, f"{farm.prefix}-v1")
    stack = _stack(farm, first.ref)
    # cf's requests go through a proxy that is not there: the registry cannot be reached
    env = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    done = run_cf("outdated", "--json", stack, env=env, base=farm.env(), cwd=farm.folder)
    assert done.returncode == 1, done
    found = {s["service"]: s for s in json.loads(done.stdout)["services"]}
    assert {s["status"] for s in found.values()} == {"unknown"}, found
    assert "cannot connect" in found["app"]["reason"], found
    assert found["app"]["running"] == first.digest


def _image_id(farm: Farm, stack: str, service: str) -> str:
    [c] = [c for c in farm.of(stack, HOST) if c.service == service and c.state == "running"]
    return farm.inspect(HOST, c.id, "{{.Image}}")


def test_update_skips_what_is_current_then_rollback_brings_the_old_image_back(
    farm: Farm,
) -> None:
    ref = f"{farm.prefix}-back:live"
    first = farm.lab.push_image(ref, f"{farm.prefix}-v1")
    stack = _stack(farm, first.ref)
    before = farm.ids(stack)
    old_image = _image_id(farm, stack, "app")

    skipped = ok(farm.cf("update", stack))
    assert "skipped" in skipped.output, skipped
    assert farm.ids(stack) == before

    second = farm.lab.push_image(ref, f"{farm.prefix}-v2")
    updated = ok(farm.cf("update", stack))
    assert "skipped" not in updated.output, updated
    new_image = _image_id(farm, stack, "app")
    assert new_image != old_image
    assert farm.ids(stack)[(HOST, "side")] == before[(HOST, "side")]

    farm.lab.docker(HOST, "rmi", old_image, check=True)  # gone: pulled back by digest
    back = ok(farm.cf("rollback", stack))
    assert f"{stack}/app on {HOST}" in back.output and "recreated" in back.output, back
    assert _image_id(farm, stack, "app") == old_image  # the engine runs the old image again
    assert farm.ids(stack)[(HOST, "side")] == before[(HOST, "side")]  # untouched
    found = _services(farm, stack)
    assert found["app"]["status"] == "update available", found
    assert found["app"]["running"] == first.digest and found["app"]["latest"] == second.digest

    forward = ok(farm.cf("rollback", stack))  # the record is now the newer image, still here
    assert "recreated" in forward.output, forward
    assert _image_id(farm, stack, "app") == new_image


def test_rollback_without_a_record_says_so(farm: Farm) -> None:
    stack = farm.stack("norecord", HOST)
    ok(farm.cf("up", stack))
    done = farm.cf("rollback", stack)
    assert done.returncode == 1 and "no earlier image recorded" in done.output, done


def test_a_build_stack_is_built_on_its_host_and_rebuilt_by_update(farm: Farm) -> None:
    # FROM scratch: the lab's dockerd (20.10) BuildKit ignores insecure registries when
    # `build --pull` resolves a base image; a static busybox needs none
    dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\nLABEL cf.test=one\n"
    compose = (
        "services:\n"
        "  app:\n"
        "    build: ./ctx\n"
        '    command: ["/bin/busybox", "sleep", "3600"]\n'
        "    init: true\n"
        "    stop_grace_period: 1s\n"
    )
    files: dict[str, str | bytes] = {
        "ctx/Dockerfile": dockerfile,
        "ctx/busybox": Path("/bin/busybox").read_bytes(),
    }
    stack = farm.stack("built", HOST, compose, files=files)
    (farm.compose_dir / stack / "ctx" / "busybox").chmod(0o755)
    done = ok(farm.cf("up", "--build", stack))
    first = _image_id(farm, stack, "app")
    assert farm.inspect(HOST, first, '{{index .Config.Labels "cf.test"}}') == "one", done

    (farm.compose_dir / stack / "ctx" / "Dockerfile").write_text(dockerfile.replace("one", "two"))
    updated = ok(farm.cf("update", stack))
    assert "skipped" not in updated.output, updated  # a built image has no registry to ask
    second = _image_id(farm, stack, "app")
    assert second != first
    assert farm.inspect(HOST, second, '{{index .Config.Labels "cf.test"}}') == "two", updated


def test_up_refuses_a_pull_policy_compose_does_not_know(farm: Farm) -> None:
    stack = farm.stack("policy", HOST)
    done = farm.cf("up", "--pull", "sometimes", stack)
    assert done.returncode == 2 and "--pull sometimes: not a pull policy" in done.output, done
    assert farm.of(stack, HOST) == []


def test_a_multi_arch_tag_is_compared_by_its_index(farm: Farm) -> None:
    ref = f"{farm.prefix}-multi:1"
    first = farm.lab.push_index(ref, f"{farm.prefix}-v1")
    stack = _stack(farm, first.ref)
    [app] = [c for c in farm.of(stack, HOST) if c.service == "app"]
    image = farm.inspect(HOST, app.id, "{{.Image}}")
    assert first.digest in farm.inspect(HOST, image, "{{json .RepoDigests}}")  # the index's

    assert _services(farm, stack)["app"]["status"] == "up to date"
    second = farm.lab.push_index(ref, f"{farm.prefix}-v2")
    found = _services(farm, stack)["app"]
    assert (found["status"], found["latest"]) == ("update available", second.digest), found


def test_a_tag_set_in_dotenv_is_the_one_checked(farm: Farm) -> None:
    two = farm.lab.push_image(f"{farm.prefix}-tagged:two", f"{farm.prefix}-two")
    farm.lab.push_image(f"{farm.prefix}-tagged:one", f"{farm.prefix}-one")
    image = two.ref.rpartition(":")[0]
    compose = (
        "services:\n"
        "  app:\n"
        f"    image: {image}:${{APP_TAG}}\n"
        '    command: ["sleep", "3600"]\n'
        "    init: true\n"
    )
    stack = farm.stack("dotenv", HOST, compose, env="APP_TAG=two\n")
    ok(farm.cf("up", stack))

    app = _services(farm, stack)["app"]
    assert (app["image"], app["status"], app["running"]) == (two.ref, "up to date", two.digest)
    newer = farm.lab.push_image(two.ref, f"{farm.prefix}-two-b")
    app = _services(farm, stack)["app"]
    assert (app["status"], app["latest"]) == ("update available", newer.digest), app
