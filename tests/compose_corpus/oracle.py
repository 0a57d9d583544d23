"""Both readers of one stack folder, reduced to what cf uses, so they can be compared.

``docker compose config --format json`` runs in the stack folder with a clean
environment (``PATH``, ``HOME`` and the case's variables), as cf's hosts run
``docker compose`` there. Its answer and cf's ``ComposeProject`` are both
mapped to a ``View``: the project name, and per active service the image,
ports, bind and volume mounts, devices, networks and labels, plus the external
networks in use and the names of unset variables. Either both readers refuse
the project or both give the same view.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from compose_farm.compose import ComposeProject, load_compose
from compose_farm.errors import ComposeFileError

View = dict[str, Any]


@dataclass(frozen=True)
class Reading:
    """One reader's answer: a view, or the reason it refused the project."""

    view: View | None
    error: str | None = None

    def __str__(self) -> str:
        if self.error is not None:
            return f"refused: {self.error.strip()}"
        return json.dumps(self.view, indent=1, sort_keys=True)


def compose_binary() -> str:
    """``docker`` with the compose plugin; fails under CI when missing, skips otherwise."""
    docker = shutil.which("docker")
    if docker is not None:
        done = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if done.returncode == 0:
            return docker
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("`docker compose` is required under CI", pytrace=False)
    pytest.skip("`docker compose` is not installed here")


def environ_for(home: Path, variables: Mapping[str, str]) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **variables}


def compose_reading(docker: str, folder: Path, environ: Mapping[str, str]) -> Reading:
    done = subprocess.run(
        [docker, "compose", "config", "--format", "json"],
        cwd=folder,
        env=dict(environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        return Reading(None, done.stderr or done.stdout)
    return Reading(view_of_compose(json.loads(done.stdout), done.stderr))


def cf_reading(folder: Path, environ: Mapping[str, str]) -> Reading:
    try:
        project = load_compose(folder.parent, folder.name, environ)
    except ComposeFileError as exc:
        return Reading(None, exc.message)
    return Reading(view_of_cf(project))


def _unescape(text: str) -> str:
    return text.replace("$$", "$")


def _port(host_ip: str | None, published: str | None, target: int, protocol: str) -> str:
    ip = None if host_ip in (None, "0.0.0.0") else host_ip
    return f"{ip or ''}|{published or ''}|{target}|{protocol}"


def view_of_compose(data: dict[str, Any], stderr: str) -> View:
    services: dict[str, Any] = {}
    for name, service in (data.get("services") or {}).items():
        ports = {
            _port(
                p.get("host_ip"), p.get("published"), p.get("target", 0), p.get("protocol", "tcp")
            )
            for p in service.get("ports") or ()
        }
        mounts = [
            [m["type"], _unescape(m["source"]) if "source" in m else None, m["target"],
             bool(m.get("read_only"))]
            for m in service.get("volumes") or ()
        ]  # fmt: skip
        services[name] = {
            "image": _unescape(service["image"]) if "image" in service else None,
            "ports": sorted(ports),
            "mounts": mounts,
            "devices": [
                _unescape(d["source"]) for d in service.get("devices") or () if "source" in d
            ],
            "networks": sorted(service.get("networks") or ()),
            "labels": {k: _unescape(v) for k, v in (service.get("labels") or {}).items()},
        }
    external = {
        key: _unescape(net["name"])
        for key, net in (data.get("networks") or {}).items()
        if net.get("external")
    }
    return {"name": data["name"], "services": services, "external_networks": external}


def view_of_cf(project: ComposeProject) -> View:
    services: dict[str, Any] = {}
    for name, service in project.services.items():
        ports = {
            _port(
                p.host_ip,
                p.published_text if p.published is None else
                f"{p.published}-{p.published_end}" if p.published_end else str(p.published),
                p.target,
                p.protocol,
            )
            for p in service.ports
        }  # fmt: skip
        services[name] = {
            "image": service.image,
            "ports": sorted(ports),
            "mounts": [[m.type, m.source, m.target, m.read_only] for m in service.mounts],
            "devices": list(service.devices),
            "networks": sorted(service.networks),
            "labels": dict(service.labels),
        }
    return {
        "name": project.project_name,
        "services": services,
        "external_networks": dict(project.external_networks),
    }


def disagreement(theirs: Reading, ours: Reading) -> str | None:
    """None when the readings agree, else what differs."""
    if theirs.error is not None or ours.error is not None:
        if theirs.error is not None and ours.error is not None:
            return None
        return f"docker compose: {theirs}\ncf: {ours}"
    if theirs.view == ours.view:
        return None
    assert theirs.view is not None and ours.view is not None
    lines = []
    for key in sorted(set(theirs.view) | set(ours.view)):
        if theirs.view.get(key) != ours.view.get(key):
            lines.append(
                f"{key}:\n  docker compose: {json.dumps(theirs.view.get(key), sort_keys=True)}"
            )
            lines.append(f"  cf:             {json.dumps(ours.view.get(key), sort_keys=True)}")
    return "\n".join(lines)
