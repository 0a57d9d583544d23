"""Host paths a service uses: bind-mount sources and devices.

A short-syntax volume ``SOURCE:TARGET[:MODE]`` is a bind mount when SOURCE
starts with ``/``, ``.`` or ``~`` (anything else names a volume); relative
sources are resolved against the stack folder and ``~`` against ``HOME``, and
the result is normalised lexically (``..`` folded, symlinks not followed), as
Compose does. Windows paths are not recognised: hosts run Linux.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class MountError(ValueError):
    """A volume or device entry Compose would reject."""


def bind_mount_sources(volumes: object, base: Path, home: str | None) -> list[Path]:
    """Host sources of the bind mounts in a service's ``volumes:`` list, in order."""
    sources: list[Path] = []
    for entry in _entries(volumes, "volumes"):
        source = _bind_source(entry)
        if source is not None:
            resolved = resolve_host_path(source, base, home)
            if resolved not in sources:
                sources.append(resolved)
    return sources


def device_paths(devices: object) -> list[str]:
    """Host sides of a service's ``devices:`` (``/dev/x[:/dev/y[:rwm]]`` or long form)."""
    paths: list[str] = []
    for entry in _entries(devices, "devices"):
        if isinstance(entry, str):
            source = entry.split(":", 1)[0]
        elif isinstance(entry, Mapping) and isinstance(entry.get("source"), str):
            source = entry["source"]
        else:
            raise MountError(f"invalid device {entry!r}")
        if not source:
            raise MountError(f"invalid device {entry!r}: empty host path")
        paths.append(source)
    return paths


def resolve_host_path(source: str, base: Path, home: str | None) -> Path:
    """``source`` as Compose resolves it on the host (``~`` only when ``home`` is known)."""
    if source.startswith("~") and home:
        source = home + "/" + source[1:].lstrip("/")
    path = Path(source)
    if not path.is_absolute() and not source.startswith("~"):
        path = base / path
    return Path(os.path.normpath(path))


def is_host_path(source: str) -> bool:
    """True when a volume source is a host path rather than a volume name."""
    return source.startswith(("/", ".", "~"))


def _entries(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MountError(f"{what} must be a list")
    return value


def _bind_source(entry: object) -> str | None:
    if isinstance(entry, str):
        parts = entry.split(":")
        if any(not part for part in parts):
            raise MountError(f"invalid volume {entry!r}: empty section between colons")
        if len(parts) > 3:
            raise MountError(f"invalid volume {entry!r}: too many colons")
        if len(parts) == 1 or not is_host_path(parts[0]):
            return None  # an anonymous or a named volume
        return parts[0]
    if isinstance(entry, Mapping):
        if entry.get("type") != "bind":
            return None
        source = entry.get("source")
        if not isinstance(source, str) or not source:
            raise MountError("a bind mount needs a 'source' path")
        return source
    raise MountError(f"invalid volume {entry!r}: expected a string or a mapping")
