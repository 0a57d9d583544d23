"""The parts of an interpolated compose document that Compose Farm uses.

Only the keys read here are checked; anything else in the file (unknown keys,
``x-`` extensions) is left alone, so valid files Compose Farm does not fully
understand still load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compose_farm.compose.document import ComposeDocument, Loc, dotted, scalar_text
from compose_farm.compose.model import ServiceInfo
from compose_farm.compose.mounts import MountError, bind_mount_sources, device_paths
from compose_farm.compose.ports import PortError, PublishedPort, parse_port
from compose_farm.errors import ComposeFileError, Problem

_VALID_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_NOT_PROJECT_CHARS = re.compile(r"[^a-z0-9_-]")


def normalize_project_name(name: str) -> str:
    """Compose's normalisation: lowercase, keep ``[a-z0-9_-]``, no leading ``_``/``-``."""
    return _NOT_PROJECT_CHARS.sub("", name.lower()).lstrip("_-")


def project_name(doc: ComposeDocument, dir_name: str, variables: Mapping[str, str]) -> str:
    """The Compose project name: ``COMPOSE_PROJECT_NAME``, else ``name:``, else the folder."""
    from_env = variables.get("COMPOSE_PROJECT_NAME", "")
    if from_env:
        if not _VALID_PROJECT_NAME.fullmatch(from_env):
            raise ComposeFileError(
                f"{doc.path}: invalid project name {from_env!r} in COMPOSE_PROJECT_NAME: use "
                "lowercase letters, digits, '-' and '_', starting with a letter or digit"
            )
        return from_env
    explicit = doc.data.get("name")
    if isinstance(explicit, dict | list):
        raise doc.error(("name",), "must be a string")
    raw = scalar_text(explicit)
    if raw:
        name = normalize_project_name(raw)
        if not name:
            raise doc.error(("name",), f"project name {raw!r} has no letter or digit left")
        return name
    name = normalize_project_name(dir_name)
    if not name:
        raise ComposeFileError(
            f"{doc.path}: the folder name {dir_name!r} gives an empty project name; set 'name:'"
        )
    return name


def external_networks(doc: ComposeDocument) -> tuple[dict[str, str], list[str]]:
    """Top-level networks marked external, mapped to their real names, and warnings."""
    networks = _mapping(doc, doc.data.get("networks"), ("networks",))
    found: dict[str, str] = {}
    warnings: list[str] = []
    for key, config in networks.items():
        if not isinstance(config, dict):
            continue
        external = config.get("external")
        real = config.get("name") or key
        if isinstance(external, dict):  # the legacy ``external: {name: x}`` form
            real = external.get("name") or real
            message = "external.name is deprecated, set 'name:' and 'external: true'"
            loc: Loc = ("networks", key, "external")
            warnings.append(str(Problem(message, doc.path, doc.line(loc), dotted(loc[:2]))))
        elif external is not True:
            continue
        found[key] = scalar_text(real)
    return found, warnings


def services(doc: ComposeDocument, base: Path, home: str | None) -> dict[str, ServiceInfo]:
    """Every service of ``doc``; relative bind mounts resolve against ``base``."""
    raw = doc.data.get("services") or {}
    return {name: _service(doc, name, config, base, home) for name, config in raw.items()}


def _service(
    doc: ComposeDocument, name: str, config: dict[str, Any], base: Path, home: str | None
) -> ServiceInfo:
    loc: Loc = ("services", name)
    try:
        bind_mounts = bind_mount_sources(config.get("volumes"), base, home)
    except MountError as exc:
        raise doc.error((*loc, "volumes"), str(exc)) from None
    try:
        devices = device_paths(config.get("devices"))
    except MountError as exc:
        raise doc.error((*loc, "devices"), str(exc)) from None
    return ServiceInfo(
        name=name,
        image=_optional_text(doc, config, (*loc, "image")),
        container_name=_optional_text(doc, config, (*loc, "container_name")),
        labels=_labels(doc, config.get("labels"), (*loc, "labels")),
        ports=_ports(doc, config.get("ports"), (*loc, "ports")),
        bind_mounts=bind_mounts,
        devices=devices,
        networks=_service_networks(doc, config, loc),
    )


def _optional_text(doc: ComposeDocument, config: dict[str, Any], loc: Loc) -> str | None:
    value = config.get(str(loc[-1]))
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise doc.error(loc, "must be a string")
    return scalar_text(value)


def _labels(doc: ComposeDocument, value: object, loc: Loc) -> dict[str, str]:
    """Labels from the mapping form or the ``- key=value`` list form."""
    if value is None:
        return {}
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                raise doc.error((*loc, key), "a label value must be a string")
        return {key: scalar_text(item) for key, item in value.items()}
    if isinstance(value, list):
        labels: dict[str, str] = {}
        for index, item in enumerate(value):
            if isinstance(item, dict | list):
                raise doc.error((*loc, index), "a label must be a 'key=value' string")
            key, _, text = scalar_text(item).partition("=")
            labels[key] = text
        return labels
    raise doc.error(loc, "must be a mapping or a list of 'key=value' strings")


def _ports(doc: ComposeDocument, value: object, loc: Loc) -> list[PublishedPort]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise doc.error(loc, "must be a list")
    ports: list[PublishedPort] = []
    for index, entry in enumerate(value):
        try:
            ports.extend(p for p in parse_port(entry) if p not in ports)
        except PortError as exc:
            raise doc.error((*loc, index), str(exc)) from None
    return ports


def _service_networks(doc: ComposeDocument, config: dict[str, Any], loc: Loc) -> list[str]:
    """Networks the service joins; Compose's implicit ``default`` when none are named."""
    value = config.get("networks")
    if value is None:
        return [] if config.get("network_mode") else ["default"]
    if isinstance(value, dict):
        return list(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise doc.error((*loc, "networks"), "must be a list of names or a mapping")


def _mapping(doc: ComposeDocument, value: object, loc: Loc) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(loc, "must be a mapping")
    return value
