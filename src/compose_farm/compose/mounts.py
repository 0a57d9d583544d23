"""A service's mounts and devices, read as Compose reads them (checked with ``docker compose``).

Short syntax ``SOURCE:TARGET[:OPTIONS]`` is a bind mount when SOURCE starts
with ``/``, ``.`` or ``~`` (or a drive letter, ``c:/x``, which Compose
recognises on every system); otherwise it names a volume, and a lone part is
an anonymous volume. Relative sources resolve against the project folder and
``~`` against ``HOME``, folded lexically (``..``, no symlinks followed);
absolute sources are kept as written (``/a/../b``), and targets are cleaned.
A missing short-syntax bind source is created by Compose (``create_host_path``);
a long-syntax one is not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MOUNT_TYPES = ("bind", "volume", "tmpfs", "cluster", "npipe", "image")
_DRIVE = re.compile(r"[A-Za-z]:[\\/]")  # an absolute Windows path
_DRIVE_PART = re.compile(r"[A-Za-z]:.")  # a part starting with a drive letter keeps its colon


class MountError(ValueError):
    """A volume or device entry Compose would reject."""


@dataclass(frozen=True)
class Mount:
    """One entry of a service's ``volumes:``."""

    type: str
    target: str
    source: str | None = None
    read_only: bool = False
    create_host_path: bool = False


def clean(path: str) -> str:
    """Go's ``path.Clean``: ``/a//b/../c/`` -> ``/a/c``; ``""`` -> ``.``."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        elif part == ".." and rooted:
            continue
        else:
            parts.append(part)
    body = "/".join(parts)
    return ("/" + body) if rooted else (body or ".")


def resolve_host_path(source: str, base: Path, home: str | None) -> Path:
    """A relative or ``~`` source as Compose resolves it (``~`` only when ``home`` is known)."""
    return Path(_resolve(source, str(base), home))


def _resolve(source: str, base: str, home: str | None) -> str:
    if source.startswith("~"):
        return clean(home + "/" + source[1:]) if home else source
    if source.startswith("/") or _DRIVE.match(source):
        return source
    return clean(base + "/" + source)


def is_host_path(source: str) -> bool:
    """True when a short-syntax volume source is a host path rather than a volume name."""
    return source.startswith(("/", ".", "~")) or _DRIVE_PART.match(source) is not None


def split_volume(spec: str) -> list[str]:
    """``SOURCE:TARGET:MODE`` split on colons, keeping a drive letter's colon in its part."""
    parts: list[str] = []
    rest = spec
    while True:
        skip = 2 if _DRIVE_PART.match(rest) else 0
        cut = rest.find(":", skip)
        if cut < 0:
            parts.append(rest)
            return parts
        parts.append(rest[:cut])
        rest = rest[cut + 1 :]


def parse_volume(entry: object, base: Path, home: str | None) -> Mount:
    """One ``volumes:`` entry of a service."""
    if isinstance(entry, str):
        return _short_volume(entry, str(base), home)
    if isinstance(entry, Mapping):
        return _long_volume(entry, str(base), home)
    raise MountError(f"invalid volume {entry!r}: expected a string or a mapping")


def _short_volume(spec: str, base: str, home: str | None) -> Mount:
    parts = split_volume(spec)
    if any(not part for part in parts):
        raise MountError(f"invalid volume {spec!r}: empty section between colons")
    if len(parts) > 3:
        raise MountError(f"invalid volume {spec!r}: too many colons")
    if len(parts) == 3 and _DRIVE_PART.match(parts[2]):
        parts[2] = ""  # Compose reads no option from a drive-letter-like mode
    if len(parts) == 1:
        return Mount("volume", clean(parts[0]) if parts[0].startswith("/") else parts[0])
    source, target = parts[0], clean(parts[1])
    options = parts[2].split(",") if len(parts) == 3 else []
    read_only = False
    for option in options:
        if option in ("ro", "rw"):
            read_only = option == "ro"
    if is_host_path(source):
        return Mount("bind", target, _resolve(source, base, home), read_only, True)
    return Mount("volume", target, source, read_only)


def _long_volume(entry: Mapping[str, Any], base: str, home: str | None) -> Mount:
    kind = entry.get("type")
    if kind not in MOUNT_TYPES:
        raise MountError(f"type must be one of {', '.join(MOUNT_TYPES)}")
    target = entry.get("target")
    if not isinstance(target, str) or not target:
        raise MountError("a mount needs a 'target'")
    source = entry.get("source")
    if source is not None and not isinstance(source, str):
        raise MountError("'source' must be a string")
    read_only = entry.get("read_only") in (True, "true", "True", "TRUE", "1", "t", "T")
    if kind == "bind":
        if source is None:
            raise MountError("a bind mount needs a 'source' path")
        bind = entry.get("bind")
        create = isinstance(bind, Mapping) and bind.get("create_host_path") in (True, "true")
        return Mount("bind", clean(target), _resolve(source, base, home), read_only, create)
    return Mount(str(kind), clean(target), source or None, read_only)


def volume_target(entry: object) -> str | None:
    """The container path of a ``volumes:`` entry, for merging (None if unreadable)."""
    try:
        return parse_volume(entry, Path("/"), None).target
    except MountError:
        return None


def parse_device(entry: object) -> tuple[str | None, str]:
    """A ``devices:`` entry as (host source or None, container target)."""
    if isinstance(entry, str):
        parts = entry.split(":")
        if len(parts) > 3:
            raise MountError(f"confusing device mapping {entry!r}: use the long syntax")
        source = parts[0] or None
        target = parts[1] if len(parts) > 1 and parts[1] else parts[0]
        return source, target
    if isinstance(entry, Mapping):
        source, wanted = entry.get("source"), entry.get("target")
        if not isinstance(wanted, str) or not wanted:
            raise MountError("a device needs a 'target'")
        return (source if isinstance(source, str) and source else None), wanted
    raise MountError(f"invalid device {entry!r}")


def device_target(entry: object) -> str | None:
    """The container path of a ``devices:`` entry, for merging (None if unreadable)."""
    try:
        return parse_device(entry)[1]
    except MountError:
        return None
