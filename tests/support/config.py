"""The one way tests build a config: a ``compose-farm.yaml`` written as a user would, read
by cf's own loader.

``config_text`` lays a config out as a person writes one (a key per line, each
host and stack on its own line, values in flow style), so a test can point at a
line of it. ``write_config`` writes that file (and, given ``compose``, each
stack's ``compose.yaml``); ``make_config`` also loads it with ``load_config``.
Lab farms (``tests/support/farm.py``) write theirs with ``config_text`` too.

Hosts default to ``h1`` at 10.0.0.1; a list of names numbers them the same way
(``h2`` at 10.0.0.2, ...), a mapping gives each its address or its whole entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from ruamel.yaml import YAML

from compose_farm.config import Config, load_config

CONFIG_NAME = "compose-farm.yaml"
Hosts = Sequence[str] | Mapping[str, str | Mapping[str, Any]]

_PLAIN = re.compile(r"[A-Za-z0-9_./~@+][A-Za-z0-9_./~@+=-]*")


def config_text(
    *,
    compose_dir: str | PurePath = "/opt/compose",
    hosts: Hosts = ("h1",),
    stacks: Mapping[str, Any] | None = None,
    **settings: Any,
) -> str:
    """A config document: ``compose_dir``, ``hosts``, ``stacks``, then ``settings`` (``ssh``,
    ``sync``, ``hooks``, ``traefik_file``...), one line per host and per stack."""
    lines = [f"compose_dir: {_flow(str(compose_dir))}", "hosts:"]
    lines += [f"  {_flow(name)}: {_flow(entry)}" for name, entry in host_entries(hosts).items()]
    if stacks:
        lines.append("stacks:")
        lines += [f"  {_flow(name)}: {_flow(where)}" for name, where in stacks.items()]
    else:
        lines.append("stacks: {}")
    lines += [f"{key}: {_flow(value)}" for key, value in settings.items() if value is not None]
    return "\n".join(lines) + "\n"


def host_entries(hosts: Hosts) -> dict[str, Any]:
    """Each host's entry: names alone get 10.0.0.N in order, an address string becomes
    ``{address: ...}``."""
    if not isinstance(hosts, Mapping):
        return {name: {"address": f"10.0.0.{i}"} for i, name in enumerate(hosts, 1)}
    return {
        name: {"address": entry} if isinstance(entry, str) else dict(entry)
        for name, entry in hosts.items()
    }


def write_config(
    folder: Path,
    *,
    compose: Mapping[str, str] | None = None,
    compose_dir: str | PurePath | None = None,
    **fields: Any,
) -> Path:
    """Write ``folder/compose-farm.yaml`` (see ``config_text``) and return its path.

    ``compose`` (stack -> compose text) writes ``<compose_dir>/<stack>/compose.yaml``
    for each, with ``compose_dir`` defaulting to ``folder/stacks``, and configures
    each stack on the first host unless ``stacks`` says otherwise.
    """
    if compose is not None:
        root = Path(compose_dir) if compose_dir is not None else folder / "stacks"
        for name, text in compose.items():
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / "compose.yaml").write_text(text)
        root.mkdir(parents=True, exist_ok=True)
        first = next(iter(host_entries(fields.get("hosts", ("h1",)))))
        fields.setdefault("stacks", dict.fromkeys(compose, first))
        compose_dir = root
    if compose_dir is not None:
        fields["compose_dir"] = compose_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_NAME
    path.write_text(config_text(**fields))
    return path


def make_config(folder: Path, **fields: Any) -> Config:
    """``write_config``, then cf's own ``load_config`` of the file."""
    return load_config(write_config(folder, **fields))


def _flow(value: Any) -> str:
    """``value`` in YAML flow style: strings plain where YAML reads them back unchanged."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, PurePath):
        value = str(value)
    if isinstance(value, str):
        return value if _plain_is_same(value) else json.dumps(value)
    return json.dumps(value)  # numbers, booleans, null: JSON's spelling is YAML's


def _plain_is_same(text: str) -> bool:
    return _PLAIN.fullmatch(text) is not None and YAML(typ="safe").load(text) == text
