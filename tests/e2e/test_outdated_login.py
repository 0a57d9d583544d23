"""``cf outdated`` against a registry that wants a login: a real distribution registry
over TLS with token auth (tests/support/authregistry.py). The host's own Docker login
(its ``~/.docker/config.json``) is what cf uses; without it the answer is "unknown"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.support.authregistry import AuthRegistry, auth_registry
from tests.support.cf import ok, run_cf
from tests.support.farm import Farm
from tests.support.stacks import sleep_stack

HOST = "h2"  # a shared host: nothing here breaks it
pytestmark = [
    pytest.mark.lab,
    pytest.mark.xdist_group("authregistry"),  # one writer of the host's Docker client config
    pytest.mark.farm(hosts=(HOST,)),
]


@pytest.fixture
def registry(lab: Lab, tmp_path: Path) -> Iterator[AuthRegistry]:
    """The registry, trusted by the host's engine, with its Docker logged in to it."""
    with auth_registry(tmp_path / "registry") as found:
        host_dir = lab.root / HOST
        certs = host_dir / "etc-docker" / "certs.d" / found.host
        certs.mkdir(parents=True, exist_ok=True)
        shutil.copy(found.ca_file, certs / "ca.crt")
        docker_config = host_dir / "home" / ".docker"
        docker_config.mkdir(parents=True, exist_ok=True)
        config = docker_config / "config.json"
        kept = config.read_bytes() if config.exists() else None
        config.write_text(json.dumps({"auths": found.auth_entry()}))
        try:
            yield found
        finally:
            shutil.rmtree(certs, ignore_errors=True)
            if kept is None:
                config.unlink(missing_ok=True)
            else:
                config.write_bytes(kept)


def _push(lab: Lab, registry: AuthRegistry, source: str, ref: str) -> str:
    """``source`` (pulled on the host first) pushed to the login registry as ``ref``; its digest."""
    env = {**os.environ, **lab.env(), "DOCKER_CONFIG": str(lab.root / HOST / "home" / ".docker")}
    sock = lab.host(HOST).docker_host
    for argv in (["pull", source], ["tag", source, ref], ["push", ref]):
        done = subprocess.run(
            ["docker", "-H", sock, *argv], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, (argv, done.stderr)
    listed = lab.docker(HOST, "image", "inspect", "-f", "{{json .RepoDigests}}", ref, check=True)
    digests: list[str] = json.loads(listed.stdout)
    [digest] = [d.partition("@")[2] for d in digests if d.startswith(registry.host)]
    return digest


def _outdated(farm: Farm, registry: AuthRegistry, stack: str) -> tuple[int, dict[str, str]]:
    env = {"SSL_CERT_FILE": str(registry.ca_file)}
    done = run_cf("outdated", "--json", stack, env=env, base=farm.env(), cwd=farm.folder)
    assert "Traceback" not in done.output, done
    [app] = [s for s in json.loads(done.stdout)["services"] if s["service"] == "app"]
    return done.returncode, app


def test_the_hosts_login_gets_a_token_and_a_new_image_is_seen(
    farm: Farm, lab: Lab, registry: AuthRegistry
) -> None:
    ref = f"{registry.host}/cflab/{farm.prefix}:1"
    first = _push(lab, registry, lab.push_image(f"{farm.prefix}-a:1", "one").ref, ref)
    stack = farm.stack("login", HOST, sleep_stack(ref))
    ok(farm.cf("up", stack))

    status, app = _outdated(farm, registry, stack)
    assert (status, app["status"], app["running"]) == (0, "up to date", first), app
    assert f"repository:cflab/{farm.prefix}:pull" in registry.tokens_issued

    second = _push(lab, registry, lab.push_image(f"{farm.prefix}-b:1", "two").ref, ref)
    status, app = _outdated(farm, registry, stack)
    assert (app["status"], app["latest"]) == ("update available", second), app


def test_without_the_hosts_login_it_is_unknown_and_no_secret_is_shown(
    farm: Farm, lab: Lab, registry: AuthRegistry
) -> None:
    ref = f"{registry.host}/cflab/{farm.prefix}:1"
    _push(lab, registry, lab.push_image(f"{farm.prefix}-c:1", "three").ref, ref)
    stack = farm.stack("nologin", HOST, sleep_stack(ref))
    ok(farm.cf("up", stack))
    (lab.root / HOST / "home" / ".docker" / "config.json").write_text("{}")  # logged out

    status, app = _outdated(farm, registry, stack)
    assert status == 1 and app["status"] == "unknown", app
    assert "token request answered HTTP 401" in app["reason"], app
    assert registry.password not in json.dumps(app)
