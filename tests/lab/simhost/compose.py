"""``docker compose``: the project read from the folder's compose file, its verbs."""

from __future__ import annotations

import json
import os
import re
import time
from typing import TYPE_CHECKING

from .engine import Engine, Refused, config_hash, new_container
from .psformat import COMPOSE_VERSION, port_text, status_of

if TYPE_CHECKING:
    from typing import Any

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")


def _scalar(text: str) -> str:
    text = text.split(" #", 1)[0].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def read_compose(text: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """``name:`` and each service's ``image``, ``container_name`` and ``ports``.

    A small reader for block-style compose files (flow lists allowed for
    ``ports``); other keys are skipped, as they do not show in ``docker ps``.
    """
    name = ""
    services: dict[str, dict[str, Any]] = {}
    section = ""
    service: dict[str, Any] | None = None
    service_indent = key_indent = -1
    key = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if indent == 0:
            section, _, value = stripped.partition(":")
            if section == "name":
                name = _scalar(value)
            service = None
            continue
        if section != "services":
            continue
        if service_indent < 0 or indent == service_indent:
            service_indent, key_indent = indent, -1
            service = services.setdefault(stripped.rstrip(":").strip("'\""), {"ports": []})
            continue
        if service is None or indent < service_indent:
            continue
        if key_indent < 0 or indent == key_indent:
            key_indent = indent
            key, _, value = stripped.partition(":")
            value = value.strip()
            if key in ("image", "container_name"):
                service[key] = _scalar(value)
            elif key == "ports" and value.startswith("["):
                service["ports"] += [_scalar(p) for p in value.strip("[]").split(",") if p.strip()]
            continue
        if key == "ports" and stripped.startswith("- "):
            service["ports"].append(_scalar(stripped[2:]))
    return name, services


def project_name(name: str) -> str:
    """Compose's normalisation: lowercase, keep ``[a-z0-9_-]``, no leading ``_``/``-``."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


def _project(cwd: str, given: str) -> tuple[str, dict[str, dict[str, Any]], str | None]:
    """Project name, services and compose file of the folder (``-p`` wins for the name)."""
    for candidate in COMPOSE_FILES:
        path = os.path.join(cwd, candidate)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                name, services = read_compose(handle.read())
            return project_name(given or name or os.path.basename(cwd)), services, path
    if given:
        return project_name(given), {}, None
    raise Refused("no configuration file provided: not found", 1)


def compose(engine: Engine, args: list[str], cwd: str, out: list[str], err: list[str]) -> str:
    """Run one compose command; the latency key it costs."""
    given = ""
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag in ("-p", "--project-name") and args:
            given = args.pop(0)
        elif flag.startswith("--project-name="):
            given = flag.partition("=")[2]
        else:
            raise Refused(f"docker compose {flag}: not simulated")
    if not args:
        raise Refused("docker compose: no command")
    verb, rest = args[0], args[1:]
    if verb == "version":
        err.append(f"Docker Compose version v{COMPOSE_VERSION}")
        return "other"
    if verb == "config":
        return _config(cwd, given, rest, out)
    options = [a for a in rest if a.startswith("-")]
    wanted = [a for a in rest if not a.startswith("-")]
    known = {"-d", "--detach", "--force-recreate", "--remove-orphans", "--ignore-buildable",
             "-q", "--quiet", "--no-color", "-a", "--all", "--follow", "-f"}  # fmt: skip
    if unknown := [o for o in options if o not in known]:
        raise Refused(f"docker compose {verb} {' '.join(unknown)}: not simulated")
    if verb == "up" and not ({"-d", "--detach"} & set(options)):
        raise Refused("docker compose up without -d: not simulated")
    project, services, file = _project(cwd, given)
    if unknown_services := [s for s in wanted if file is not None and s not in services]:
        raise Refused(f"no such service: {unknown_services[0]}", 1)
    if verb == "pull":
        for service in wanted or list(services):
            err += [f" {service} Pulling ", f" {service} Pulled "]
        return "pull"
    if verb == "logs":
        return "other"
    if verb == "ps":
        containers = engine.read()["containers"]
        now = time.time()
        err.clear()
        for c in sorted(containers, key=lambda c: c["service"]):
            if c["project"] == project and (c["state"] == "running" or options):
                line = f"{c['name']}   {c['image']}   {c['service']}   {status_of(c, now)}"
                out.append(f"{line}   {port_text(c['ports'])}".rstrip())
        return "other"
    if verb == "up" and file is not None:
        recreate = "--force-recreate" in options
        return engine.change(lambda d: _up(d, project, services, wanted, file, recreate, err))
    if verb == "down":
        return engine.change(lambda d: _down(d, project, wanted, err))
    if verb in ("stop", "start", "restart"):
        return engine.change(lambda d: _stop_start(d, project, wanted, verb, err))
    raise Refused(f"docker compose {verb}: not simulated")


def _config(cwd: str, given: str, rest: list[str], out: list[str]) -> str:
    """``config --hash '*'`` (each service's hash, as ``up`` stamps it) and
    ``config --format json`` (name, and each service's image and ports)."""
    project, services, _file = _project(cwd, given)
    if rest == ["--hash", "*"]:
        out += [f"{name} {config_hash(spec)}" for name, spec in sorted(services.items())]
        return "config"
    if rest == ["--format", "json"]:
        out.append(json.dumps({"name": project, "services": services}, indent=2))
        return "config"
    raise Refused(f"docker compose config {' '.join(rest)}: not simulated")


def _up(
    data: dict[str, Any],
    project: str,
    services: dict[str, dict[str, Any]],
    wanted: list[str],
    file: str,
    recreate: bool,
    err: list[str],
) -> str:
    network = f"{project}_default"
    cost = "up_noop"
    if network not in data["networks"]:
        data["networks"].append(network)
        err += [f" Network {network}  Creating", f" Network {network}  Created"]
    for service in wanted or list(services):
        key = (project, service)
        found = next((c for c in data["containers"] if (c["project"], c["service"]) == key), None)
        if found is not None and found["state"] == "running" and not recreate:
            err.append(f" Container {found['name']}  Running")
            continue
        cost = "up"
        if found is not None and not recreate:
            found.update(state="running", started=time.time())
            err += [f" Container {found['name']}  {v}" for v in ("Starting", "Started")]
            continue
        fresh = new_container(project, service, services[service], file)
        steps = ("Recreate", "Recreated") if found is not None else ("Creating", "Created")
        if found is not None:
            data["containers"].remove(found)
        data["containers"].append(fresh)
        err += [f" Container {fresh['name']}  {v}" for v in (*steps, "Starting", "Started")]
    return cost


def _down(data: dict[str, Any], project: str, wanted: list[str], err: list[str]) -> str:
    gone = [
        c
        for c in data["containers"]
        if c["project"] == project and (not wanted or c["service"] in wanted)
    ]
    for c in gone:
        data["containers"].remove(c)
        steps = ("Stopping", "Stopped") if c["state"] == "running" else ()
        err += [f" Container {c['name']}  {v}" for v in (*steps, "Removing", "Removed")]
    network = f"{project}_default"
    if not wanted and network in data["networks"]:
        data["networks"].remove(network)
        err += [f" Network {network}  Removing", f" Network {network}  Removed"]
    return "down" if gone else "down_noop"


def _stop_start(
    data: dict[str, Any], project: str, wanted: list[str], verb: str, err: list[str]
) -> str:
    now = time.time()
    for c in data["containers"]:
        if c["project"] != project or (wanted and c["service"] not in wanted):
            continue
        if verb in ("stop", "restart") and c["state"] == "running":
            c.update(state="exited", exit_code=137, finished=now)
            err += [f" Container {c['name']}  Stopping", f" Container {c['name']}  Stopped"]
        if verb in ("start", "restart"):
            c.update(state="running", started=now)
            err += [f" Container {c['name']}  Starting", f" Container {c['name']}  Started"]
    return verb
