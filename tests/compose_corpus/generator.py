"""Seeded compose projects built from edge cases, and a shrinker for a failing one.

A ``Case`` is a set of files (compose files as a tree of ``dict``/``list``/
scalars, ``.env`` files as a list of byte lines) plus the environment
variables ``docker compose`` runs with. Trees are written as YAML here:
a ``Raw`` string goes out as a plain scalar (so ``0755`` stays a YAML
number), any other string double-quoted. The pieces are the ones where
readers disagree: ``.env`` bytes and line ends, interpolation, port and
volume syntax, profiles, ``extends``/``include``, YAML scalars.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Raw(str):
    """A scalar written plain (unquoted), so YAML types it."""

    __slots__ = ()


@dataclass
class Case:
    files: dict[str, Any] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)

    def write(self, folder: Path) -> None:
        for name, content in self.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, list) and name.endswith(".env"):
                path.write_bytes(b"".join(content))
            else:
                path.write_text(to_yaml(content), encoding="utf-8")

    def show(self) -> str:
        parts = [f"environment: {json.dumps(self.environ)}"]
        for name, content in self.files.items():
            if isinstance(content, list) and name.endswith(".env"):
                parts.append(f"--- {name} (bytes)\n{b''.join(content)!r}")
            else:
                parts.append(f"--- {name}\n{to_yaml(content)}")
        return "\n".join(parts)


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for a tree; ``Raw`` strings plain, other strings double-quoted."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        out = ""
        for key, item in value.items():
            head = f"{pad}{_scalar(key)}:"
            out += _item(head, item, indent)
        return out
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        return "".join(_item(f"{pad}-", item, indent) for item in value)
    return pad + _scalar(value) + "\n"


def _item(head: str, item: Any, indent: int) -> str:
    if isinstance(item, dict | list) and item:
        return head + "\n" + to_yaml(item, indent + 1)
    if isinstance(item, dict | list):
        return f"{head} {'{}' if isinstance(item, dict) else '[]'}\n"
    return f"{head} {_scalar(item)}\n"


def _scalar(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


# --- the pieces ---------------------------------------------------------------------

TEMPLATES = [
    "plain", "${A}", "${A:-dflt}", "${UNSET:-dflt}", "${UNSET-dflt}", "${EMPTY:-e}",
    "${EMPTY-e}", "${A:+alt}", "${UNSET:+alt}", "$$A", "$${A}", "${UNSET:-${A}}",
    "${UNSET:-${ALSO_UNSET:-deep}}", "a$A-b", "${A}${B}", "$UNSET", "${A?needed}",
    "${UNSET?needed}", "${EMPTY:?not empty}", "${A:-}", "tail$", "$ 1", "${A:-x}y}",
]  # fmt: skip
LABEL_SCALARS = [
    "0755", "1e15", ".inf", "-.inf", ".nan", "-0.0", "123456789.0", "1_000", "0x1F", "0o17",
    "08", "yes", "on", "true", "False", "null", "~", "1e400", "0.1", "1.0", "12345678901234567890",
    "-12", "+5", "3.0e0", "1.", ".5", "0b101", "00", "1__0", "2001-13-01", "2001-01-01",
    "12:30", "''", "'0755'",
]  # fmt: skip
ENV_LINES = [
    b"A=alpha\n", b"B=beta\r\n", b"EMPTY=\n", b"Q=\"a\\nb\"\n", b"CR=\"a\r\nb\"\n", b"S='x $A'\n",
    b"R=1\rT=2\r", b"export X=${A}-x\n", b"N=\xff\xfeok\n", b"Z=\"q\" # c\n", b"H=v # hash\n",
    b"K: colon\n", b"INHERIT\n", b"D=${UNSET:-d}\n", b"M='multi\nline'\n", b"   # comment\n",
    b"P=8080\n", b"COMPOSE_PROFILES=p1\n", b"COMPOSE_PROFILES=p2,p1\n",
    b"COMPOSE_PROJECT_NAME=fromenv\n", b"COMPOSE_PROJECT_NAME=Bad.Name\n", b"\r\n",
    b"COMPOSE_FILE=compose.yaml:extra.yaml\n", b"B\xc3\xa9=x\n", b"U=\xe2\x82x\n",
]  # fmt: skip
SHORT_PORTS = [
    "80", "8080:80", "127.0.0.1:8080:80", "8080:80/udp", "80/UDP", "[::1]:53:53/udp", "::1:80:80",
    ":80", "0:80", "8000-8001:8000-8001", "8080-8081:80", "9090-9091:8080-8081", "${P}:80",
    "${P:-81}:81", "70000:80", "80:80-81", "x:80", "0", "1.2.3.4::80", "80-79:80",
]  # fmt: skip
LONG_PORTS: list[dict[str, Any]] = [
    {"target": 80}, {"target": 80, "published": "8081-8080"}, {"target": 80, "published": 70000},
    {"target": 80, "protocol": "UDP"}, {"target": "81", "published": "${P}"},
    {"target": 80, "host_ip": "::1", "published": 8080}, {"target": 80, "host_ip": ""},
    {"published": 80}, {"target": 99999}, {"target": 80, "published": "abc", "mode": "host"},
]  # fmt: skip
SHORT_VOLUMES = [
    "./data:/data", "./data:/data:ro", "/a/../b:/c", "/x/:/y/", "~/cfg:/cfg", "../up:/up",
    "named:/n", "named:/n:ro", "/anon", ".:/dot", "c:/d:/win", "/x:/y:ro,z", "undeclared:/u",
    "/x::ro", "/a:/b:ro:z", "${A}:/interp", "./${UNSET}x:/ux", "/x:ro",
]  # fmt: skip
LONG_VOLUMES: list[dict[str, Any]] = [
    {"type": "bind", "source": "", "target": "/e"},
    {"type": "bind", "source": "./l", "target": "/l"},
    {"type": "bind", "source": "/abs/../x", "target": "/t//u/", "read_only": True},
    {"type": "volume", "source": "named", "target": "/v"}, {"type": "tmpfs", "target": "/tmp"},
    {"source": "/a", "target": "/b"}, {"type": "bind", "target": "/nosource"},
    {"type": "bind", "source": "/x", "target": "/y", "bind": {"create_host_path": True}},
    {"type": "volume", "target": "/anon2"}, {"type": "bind", "source": "~/h", "target": "/h"},
]  # fmt: skip
DEVICES: list[Any] = [
    "/dev/null", "/dev/a:/dev/b", "/dev/a:/dev/b:r", "", ":/dev/x", "nvidia.com/gpu=all",
    "/dev/a:/dev/b:r:x", {"source": "/dev/c", "target": "/dev/d"},
]  # fmt: skip
NETWORK_NAMES = ["default", "front", "ext", "undeclared"]
PROFILES = ["p1", "p2", "${PROFILE:-p1}"]


class Generator:
    """Draws cases from a seeded ``random.Random``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def cases(self, count: int) -> Iterator[Case]:
        for _ in range(count):
            yield self.case()

    def pick(self, items: list[Any], most: int) -> list[Any]:
        return [self.rng.choice(items) for _ in range(self.rng.randint(0, most))]

    def case(self) -> Case:
        rng = self.rng
        services = {f"s{i}": self.service() for i in range(rng.randint(1, 3))}
        top: dict[str, Any] = {"services": services}
        if rng.random() < 0.3:
            top["name"] = Raw(rng.choice(["My App", "${NAME:-named}", "123", "x"]))
        networks: dict[str, Any] = {}
        if rng.random() < 0.6:
            networks["front"] = {}
        if rng.random() < 0.6:
            networks["ext"] = rng.choice(
                [{"external": True}, {"external": True, "name": "real-${A}"},
                 {"external": {"name": "legacy"}}, {"external": Raw("yes")}]
            )  # fmt: skip
        if networks:
            top["networks"] = networks
        if rng.random() < 0.7:
            top["volumes"] = {"named": {}}
        if rng.random() < 0.1:
            top[rng.choice(["bogus", "x-ok"])] = 1
        case = Case({"compose.yaml": top})
        if rng.random() < 0.8:
            case.files[".env"] = self.pick(ENV_LINES, 6)
        if rng.random() < 0.25:
            case.files["extra.yaml"] = {"services": {"s0": self.service(partial=True)}}
        if rng.random() < 0.2:
            case.files["compose.override.yaml"] = {"services": {"s0": self.service(partial=True)}}
        if rng.random() < 0.2:
            case.files["common/base.yaml"] = {"services": {"base": self.service()}}
            services["s0"]["extends"] = {"file": "common/base.yaml", "service": "base"}
        elif rng.random() < 0.15 and len(services) > 1:
            services["s0"]["extends"] = Raw("s1")
            services["s1"].pop("extends", None)
        if rng.random() < 0.2:
            top["include"] = ["sub/compose.yaml"]
            case.files["sub/compose.yaml"] = {"services": {"inc": self.service()}}
            if rng.random() < 0.5:
                case.files["sub/.env"] = self.pick(ENV_LINES, 3)
        environ = {"A": "env-a", "PROFILE": "p2", "P": "9000", "INHERIT": "inh"}
        case.environ = {k: v for k, v in environ.items() if rng.random() < 0.5}
        if rng.random() < 0.3:
            case.environ["COMPOSE_PROFILES"] = rng.choice(["p1", "p2", "*", "p1,p2", ""])
        return case

    def service(self, *, partial: bool = False) -> dict[str, Any]:
        rng = self.rng
        service: dict[str, Any] = {}
        if not partial or rng.random() < 0.5:
            if rng.random() < 0.9:
                service["image"] = "img:" + rng.choice(TEMPLATES)
            elif rng.random() < 0.5:
                service["build"] = "."
        if rng.random() < 0.6:
            pairs = {f"l{i}": Raw(v) for i, v in enumerate(self.pick(LABEL_SCALARS, 4))}
            pairs |= {f"t{i}": v for i, v in enumerate(self.pick(TEMPLATES, 3))}
            if rng.random() < 0.3:
                service["labels"] = [f"{k}={v}" for k, v in pairs.items() if not isinstance(v, Raw)]
            else:
                service["labels"] = pairs
        if rng.random() < 0.6:
            service["ports"] = self.pick(SHORT_PORTS, 3) + self.pick(LONG_PORTS, 2)
        if rng.random() < 0.6:
            service["volumes"] = self.pick(SHORT_VOLUMES, 3) + self.pick(LONG_VOLUMES, 2)
        if rng.random() < 0.3:
            service["devices"] = self.pick(DEVICES, 2)
        if rng.random() < 0.4:
            service["networks"] = list(dict.fromkeys(self.pick(NETWORK_NAMES, 2)))
        if rng.random() < 0.3:
            service["profiles"] = self.pick(PROFILES, 2)
        if rng.random() < 0.05:
            service["network_mode"] = rng.choice(["host", "service:s0", "none"])
        if rng.random() < 0.05:
            service[rng.choice(["imgae", "x-note", "ports"])] = None
        return service


# --- shrinking ------------------------------------------------------------------------


def smaller(case: Case) -> Iterator[Case]:
    """Every case one step smaller than ``case``: a file, key, item or variable fewer."""
    for name in list(case.files):
        if name != "compose.yaml":
            yield Case({k: v for k, v in case.files.items() if k != name}, dict(case.environ))
    for key in list(case.environ):
        yield Case(dict(case.files), {k: v for k, v in case.environ.items() if k != key})
    for name, content in case.files.items():
        for reduced in _smaller_tree(content):
            yield Case({**case.files, name: reduced}, dict(case.environ))


def _smaller_tree(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key in value:
            yield {k: v for k, v in value.items() if k != key}
        for key, item in value.items():
            for reduced in _smaller_tree(item):
                yield {**value, key: reduced}
    elif isinstance(value, list):
        for index in range(len(value)):
            yield value[:index] + value[index + 1 :]
        for index, item in enumerate(value):
            for reduced in _smaller_tree(item):
                yield [*value[:index], reduced, *value[index + 1 :]]


def shrink(case: Case, fails: Callable[[Case], bool], budget: int = 300) -> Case:
    """The smallest case reached by single steps that still ``fails`` (at most ``budget`` tries)."""
    tries = 0
    progress = True
    while progress and tries < budget:
        progress = False
        for candidate in smaller(case):
            tries += 1
            if fails(candidate):
                case, progress = candidate, True
                break
            if tries >= budget:
                break
    return case
