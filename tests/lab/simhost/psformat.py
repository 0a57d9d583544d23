"""``docker ps``: the listing, its filters, and the Go templates cf formats it with."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

from .engine import Engine, Refused, new_container

if TYPE_CHECKING:
    from typing import Any

COMPOSE_VERSION = "2.40.3"
_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def port_text(ports: list[str]) -> str:
    """``docker ps``'s PORTS column for a service's ``ports:`` entries."""
    shown: list[str] = []
    for entry in ports:
        spec, _, protocol = entry.partition("/")
        parts = spec.rsplit(":", 2)
        target = f"{parts[-1]}/{protocol or 'tcp'}"
        if len(parts) == 1:
            shown.append(target)
        elif len(parts) == 3:
            shown.append(f"{parts[0]}:{parts[1]}->{target}")
        else:
            shown += [f"0.0.0.0:{parts[0]}->{target}", f"[::]:{parts[0]}->{target}"]
    return ", ".join(shown)


def _human(seconds: float) -> str:
    """Docker's HumanDuration (go-units)."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = round(s / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"


def status_of(c: dict[str, Any], now: float) -> str:
    if c["state"] == "running":
        return "Up " + _human(now - c["started"])
    if c["state"] == "created":
        return "Created"
    return f"Exited ({c['exit_code']}) {_human(now - c['finished'])} ago"


def labels_of(c: dict[str, Any]) -> dict[str, str]:
    """The labels Compose puts on a container."""
    return {
        "com.docker.compose.config-hash": c.get("config_hash", ""),
        "com.docker.compose.container-number": "1",
        "com.docker.compose.depends_on": "",
        "com.docker.compose.image": "sha256:" + c["id"][::-1],
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.project": c["project"],
        "com.docker.compose.project.config_files": c["config_file"],
        "com.docker.compose.project.working_dir": c["working_dir"],
        "com.docker.compose.service": c["service"],
        "com.docker.compose.version": COMPOSE_VERSION,
    }


def _go_json(value: str) -> str:
    """Go's encoding/json: UTF-8 kept, ``<``, ``>`` and ``&`` escaped."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _field(c: dict[str, Any], expr: str, now: float, trunc: bool) -> str:
    label = re.fullmatch(r'\(?\s*\.Label\s+"([^"]*)"\s*\)?', expr)
    if label:
        return labels_of(c).get(label.group(1), "")
    values: dict[str, str] = {
        ".ID": c["id"][:12] if trunc else c["id"],
        ".Names": c["name"],
        ".Image": c["image"],
        ".State": c["state"],
        ".Status": status_of(c, now),
        ".Ports": port_text(c["ports"]) if c["state"] == "running" else "",
        ".Command": '"sleep 86400"',
        ".Labels": ",".join(f"{k}={v}" for k, v in labels_of(c).items()),
        ".RunningFor": _human(now - c["created"]) + " ago",
        ".Networks": f"{c['project']}_default",
    }
    if expr not in values:
        raise Refused(f"template: can't evaluate {expr!r} (not simulated)")
    return values[expr]


def render(template: str, c: dict[str, Any], now: float, trunc: bool) -> str:
    """One container through the subset of Go templates Compose Farm uses."""

    def action(match: re.Match[str]) -> str:
        expr = match.group(1)
        if expr.startswith("json "):
            return _go_json(_field(c, expr[5:].strip(), now, trunc))
        return _field(c, expr, now, trunc)

    return _ACTION.sub(action, template.replace("\\t", "\t"))


def _matches(c: dict[str, Any], filters: list[str]) -> bool:
    labels = labels_of(c)
    for spec in filters:
        kind, _, value = spec.partition("=")
        key, has_value, wanted = value.partition("=")
        passes = {
            "label": key in labels and (not has_value or labels[key] == wanted),
            "status": c["state"] == value,
            "name": value in c["name"],
            "id": c["id"].startswith(value),
        }
        if not passes[kind]:
            return False
    return True


def docker_ps(engine: Engine, args: list[str], out: list[str]) -> int:
    """``docker ps``: the number of containers listed (for its latency)."""
    everything = quiet = False
    trunc = True
    filters: list[str] = []
    template = ""
    words = iter(args)
    for word in words:
        if word in ("-a", "--all"):
            everything = True
        elif word in ("-q", "--quiet"):
            quiet = True
        elif word == "--no-trunc":
            trunc = False
        elif word in ("-f", "--filter"):
            filters.append(next(words, ""))
        elif word == "--format":
            template = next(words, "")
        else:
            raise Refused(f"docker ps {word}: not simulated")
    now = time.time()
    # Docker refuses a bad filter or template even when nothing is listed.
    if odd := [f for f in filters if f.partition("=")[0] not in ("label", "status", "name", "id")]:
        raise Refused(f"filter {odd[0]!r} is not simulated")
    if template:
        render(template, new_container("p", "s", {}, "/p/compose.yaml"), now, trunc)
    listed = [
        c
        for c in sorted(engine.read()["containers"], key=lambda c: -c["created"])
        if (everything or c["state"] == "running") and _matches(c, filters)
    ]
    for c in listed:
        if quiet:
            out.append(c["id"][:12] if trunc else c["id"])
        elif template:
            out.append(render(template, c, now, trunc))
        else:
            fields = (".ID", ".Image", ".Status", ".Ports", ".Names")
            out.append("   ".join(_field(c, f, now, trunc) for f in fields))
    return len(listed)
