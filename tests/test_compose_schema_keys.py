"""The keys cf knows (``compose/schema.py``) are exactly the keys Compose's own schema
allows: read from the JSON schema embedded in the ``docker-compose`` binary itself.

A key cf does not know is refused at save in the web editor and by every command
(``a service key Compose does not know``); a key Compose accepts that cf refused would
stop a user's working file. So both directions are checked, against the binary that
runs on the hosts (Compose is the oracle).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from compose_farm.compose.schema import (
    _NETWORK_KEYS,
    _PORT_KEYS,
    _VOLUME_KEYS,
    _VOLUME_TOP_KEYS,
    SERVICE_KEYS,
    TOP_LEVEL,
)

PLUGIN_DIRS = (
    "~/.docker/cli-plugins",
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def compose_plugin() -> Path:
    """The ``docker-compose`` CLI plugin; fails under CI when missing, skips otherwise."""
    for folder in PLUGIN_DIRS:
        path = Path(folder).expanduser() / "docker-compose"
        if path.is_file():
            return path.resolve()
    if os.environ.get("CI") or shutil.which("docker"):
        pytest.fail("the docker-compose CLI plugin is not installed (scripts/install-deps.sh)")
    pytest.skip("docker compose is not installed here")


def embedded_schema(binary: Path) -> dict[str, Any]:
    """The Compose Specification schema compiled into ``binary`` (a JSON document that
    declares ``$schema`` and has a ``service`` definition)."""
    data = binary.read_bytes()
    decoder = json.JSONDecoder()
    at = 0
    while (at := data.find(b'"$schema"', at + 1)) != -1:
        start = data.rfind(b"{", 0, at)
        try:
            found, _ = decoder.raw_decode(data[start:].decode("utf-8", "replace"))
        except json.JSONDecodeError:
            continue
        if isinstance(found, dict) and "service" in found.get("definitions", {}):
            return found
    pytest.fail(f"no Compose schema found in {binary}")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return embedded_schema(compose_plugin())


def keys(node: dict[str, Any]) -> set[str]:
    return set(node.get("properties", {}))


def test_top_level_keys_are_composes(schema: dict[str, Any]) -> None:
    assert set(TOP_LEVEL) == keys(schema)


def test_service_keys_are_composes(schema: dict[str, Any]) -> None:
    assert set(SERVICE_KEYS) == keys(schema["definitions"]["service"])


def test_port_volume_and_network_keys_are_composes(schema: dict[str, Any]) -> None:
    service = schema["definitions"]["service"]["properties"]
    long_port = next(o for o in service["ports"]["items"]["oneOf"] if o.get("type") == "object")
    long_volume = next(o for o in service["volumes"]["items"]["oneOf"] if o.get("type") == "object")
    assert set(_PORT_KEYS) == keys(long_port)
    assert set(_VOLUME_KEYS) == keys(long_volume)
    assert set(_NETWORK_KEYS) == keys(schema["definitions"]["network"])
    assert set(_VOLUME_TOP_KEYS) == keys(schema["definitions"]["volume"])
