"""Cross-check against the real ``docker compose config`` (no daemon needed).

One fixture exercises every non-error interpolation case of
``data/compose_interpolation.yaml``, a ``.env`` using the dotenv rules, the port
forms of ``data/compose_ports.yaml``, bind mounts, external networks and the
project name. Skipped when ``docker compose`` is missing, except under CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from compose_farm.compose import ComposeProject, PublishedPort, load_compose

DATA = Path(__file__).parent / "data"

DOTENV = """\
# the stack's .env
export PLAIN=plain
SPACED = spaced value   # comment
HASH=a#b
SINGLE='lit $PLAIN \\n'
DOUBLE="line1\\nline2 \\"q\\" ${PLAIN} \\$PLAIN"
MULTI="first
second"
REF=${PLAIN}-${SHELL_ONLY}
OVERRIDDEN=from-file
INHERITED
YAMLISH: yes
SET=value
EMPTY=
OTHER=other
"""
ENVIRON_EXTRA = {"SHELL_ONLY": "shell", "OVERRIDDEN": "from-shell", "INHERITED": "inh"}
VOLUMES = ["./data:/a", "/srv/x:/b:ro", "~/cfg:/c", "named:/d", "../shared/y:/e", "/anon"]
VOLUMES_LONG = [{"type": "bind", "source": "./long", "target": "/f"}]


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is not None:
        return [docker, "compose"]
    for candidate in (
        shutil.which("docker-compose"),
        str(Path(sys.executable).parent / "docker-compose"),
        "/usr/local/lib/docker/cli-plugins/docker-compose",
    ):
        if candidate and Path(candidate).is_file():
            return [candidate]
    return None


def load_data(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = YAML(typ="safe").load((DATA / name).read_text("utf-8"))
    return cases


def compose_port(port: PublishedPort) -> dict[str, Any]:
    """Our port in the shape of ``docker compose config --format json``."""
    out: dict[str, Any] = {"mode": port.mode, "target": port.target, "protocol": port.protocol}
    if port.host_ip is not None:
        out["host_ip"] = port.host_ip
    if port.published is not None:
        end = f"-{port.published_end}" if port.published_end else ""
        out["published"] = f"{port.published}{end}"
    return out


def port_key(port: dict[str, Any]) -> tuple[Any, ...]:
    """A port for comparing as a set; Compose merges "0.0.0.0:80:80" into "80:80"."""
    host_ip = None if port.get("host_ip") == "0.0.0.0" else port.get("host_ip")
    return (host_ip, *(port.get(k) for k in ("published", "target", "protocol", "mode")))


def test_matches_docker_compose_config(tmp_path: Path) -> None:
    command = compose_command()
    if command is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker compose is required under CI")
        pytest.skip("docker compose not installed")

    templates = [c["template"] for c in load_data("compose_interpolation.yaml") if "value" in c]
    ports = [c["entry"] for c in load_data("compose_ports.yaml") if "ports" in c]
    env_keys = re.findall(r"^(?:export )?(\w+)", DOTENV, re.MULTILINE)
    labels = {f"t{i}": t for i, t in enumerate(templates)}
    labels |= {f"env.{key}": f"${{{key}-<unset>}}" for key in env_keys}
    compose = {
        "services": {
            "app": {
                "image": "nginx:${TAG:-latest}",
                "labels": labels,
                "ports": ports,
                "volumes": VOLUMES + VOLUMES_LONG,
                "networks": ["front", "proxy", "legacy"],
            }
        },
        "networks": {
            "front": {},
            "proxy": {"external": True, "name": "real-${SET}"},
            "legacy": {"external": {"name": "legacy-real"}},
        },
        "volumes": {"named": {}},
    }
    stack = tmp_path / "stacks" / "My.Stack"
    stack.mkdir(parents=True)
    (stack / "compose.yaml").write_text(json.dumps(compose), encoding="utf-8")
    (stack / ".env").write_text(DOTENV, encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), **ENVIRON_EXTRA}

    run = subprocess.run(
        [*command, "-f", str(stack / "compose.yaml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    theirs = json.loads(run.stdout)
    ours: ComposeProject = load_compose(tmp_path / "stacks", "My.Stack", environ)

    their_app = theirs["services"]["app"]
    app = ours.services["app"]
    # `config` writes a literal "$" as "$$" so its output stays a valid compose file
    their_labels = {k: v.replace("$$", "$") for k, v in their_app["labels"].items()}
    assert app.labels == their_labels
    assert app.image == their_app["image"]
    # Compose merges identical entries (the fixture repeats some), so compare as sets
    assert {port_key(compose_port(p)) for p in app.ports} == {
        port_key(p) for p in their_app["ports"]
    }
    their_binds = [Path(v["source"]) for v in their_app["volumes"] if v["type"] == "bind"]
    assert app.bind_mounts == their_binds
    assert sorted(app.networks) == sorted(their_app["networks"])
    assert ours.project_name == theirs["name"]
    their_external = {
        key: net["name"] for key, net in theirs["networks"].items() if net.get("external")
    }
    assert ours.external_networks == their_external
    their_unset = set(re.findall(r'The \\?"(\w+)\\?" variable is not set', run.stderr))
    our_unset = {m for w in ours.warnings for m in re.findall(r'The "(\w+)" variable', w)}
    assert our_unset == their_unset
