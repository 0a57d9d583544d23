"""The parts of an assembled compose model that Compose Farm uses, checked as Compose does.

The input is every file merged, with ``include`` and ``extends`` applied. Services
of inactive profiles are dropped first; then each remaining service must name an
image (or a build, or a provider), only networks and volumes the file declares,
and only services that remain; its ports, mounts and devices are read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compose_farm.compose.document import Loc, error_at
from compose_farm.compose.model import ServiceInfo
from compose_farm.compose.mounts import Mount, MountError, parse_device, parse_volume
from compose_farm.compose.ports import PortError, PublishedPort, parse_port
from compose_farm.compose.yamltree import Map, Seq, scalar_text
from compose_farm.errors import ComposeFileError, Problem

_VALID_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_NOT_PROJECT_CHARS = re.compile(r"[^a-z0-9_-]")
_TRUE = frozenset({"y", "yes", "true", "on"})
_FALSE = frozenset({"n", "no", "false", "off"})


def normalize_project_name(name: str) -> str:
    """Compose's normalisation: lowercase, keep ``[a-z0-9_-]``, no leading ``_``/``-``."""
    return _NOT_PROJECT_CHARS.sub("", name.lower()).lstrip("_-")


def project_name(data: Map, path: Path, dir_name: str, variables: Mapping[str, str]) -> str:
    """The Compose project name: ``COMPOSE_PROJECT_NAME``, else ``name:``, else the folder."""
    from_env = variables.get("COMPOSE_PROJECT_NAME", "")
    if from_env:
        if not _VALID_PROJECT_NAME.fullmatch(from_env):
            raise ComposeFileError(
                f"{path}: invalid project name {from_env!r} in COMPOSE_PROJECT_NAME: use "
                "lowercase letters, digits, '-' and '_', starting with a letter or digit"
            )
        return from_env
    raw = data.get("name")
    if isinstance(raw, str) and raw:
        name = normalize_project_name(raw)
        if not name:
            raise error_at(data, ("name",), f"project name {raw!r} has no letter or digit left")
        return name
    name = normalize_project_name(dir_name)
    if not name:
        raise ComposeFileError(
            f"{path}: the folder name {dir_name!r} gives an empty project name; set 'name:'"
        )
    return name


def active_services(data: Map, profiles: frozenset[str]) -> dict[str, Map]:
    """The services Compose starts with ``profiles`` active (``*``: every profile)."""
    out: dict[str, Map] = {}
    for name, service in (data.get("services") or {}).items():
        wanted = service.get("profiles") or ()
        if not wanted or "*" in profiles or any(p in profiles for p in wanted):
            out[name] = service
    return out


def as_bool(value: Any) -> bool | None:
    """A boolean field after interpolation (``"true"``, ``yes``...); None when not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    return None


def external_networks(data: Map, used: set[str], project: str) -> tuple[dict[str, str], list[str]]:
    """Networks marked external that some service uses, mapped to their real names."""
    found: dict[str, str] = {}
    warnings: list[str] = []
    for key, config in (data.get("networks") or {}).items():
        if key not in used or not isinstance(config, Map):
            continue
        external = config.get("external")
        real = config.get("name") or key
        if isinstance(external, Map):  # the legacy ``external: {name: x}`` form
            real = external.get("name") or real
            path, line = config.where("external")
            message = "external.name is deprecated, set 'name:' and 'external: true'"
            warnings.append(str(Problem(message, path, line, f"networks.{key}")))
        elif as_bool(external) is not True:
            continue
        found[key] = scalar_text(real)
    return found, warnings


def check_inactive(data: Map, services: dict[str, Map]) -> None:
    """Compose reads the ports, devices and long-syntax mount targets of services of
    inactive profiles too."""
    for name, service in services.items():
        _ports(data, service.get("ports"), ("services", name, "ports"))
        for index, entry in enumerate(service.get("volumes") or ()):
            _mount(data, entry, ("services", name, "volumes", index))
        _devices(data, service.get("devices"), ("services", name, "devices"))


def check_references(data: Map, services: dict[str, Map]) -> None:
    """Raise what Compose raises for an invalid project: missing images, undeclared names."""
    networks = data.get("networks") or {}
    volumes = data.get("volumes") or {}
    for name, service in services.items():
        loc: Loc = ("services", name)
        if not any(service.get(k) for k in ("image", "build", "provider")):
            raise error_at(data, loc, "has neither an image nor a build context")
        joined = service.get("networks")
        if service.get("network_mode") and joined:
            raise error_at(data, (*loc, "network_mode"), "and `networks` cannot both be set")
        for network in joined or ():
            if network != "default" and network not in networks:
                raise error_at(data, (*loc, "networks"), f"refers to undefined network {network}")
        for index, entry in enumerate(service.get("volumes") or ()):
            mount = _mount(data, entry, (*loc, "volumes", index))
            if mount.type == "volume" and mount.source and mount.source not in volumes:
                raise error_at(
                    data, (*loc, "volumes", index), f"refers to undefined volume {mount.source}"
                )
        for needed, where in _depends(service):
            if needed not in services:
                raise error_at(data, (*loc, where), f"depends on undefined service {needed!r}")
        _env_files(data, service.get("env_file"), (*loc, "env_file"))
    _no_cycle(data, {name: [n for n, _ in _depends(s)] for name, s in services.items()})


def _no_cycle(data: Map, needs: dict[str, list[str]]) -> None:
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise error_at(data, ("services", name), f"dependency cycle detected: {cycle}")
        if name in done:
            return
        for needed in needs.get(name, ()):
            visit(needed, [*path, name])
        done.add(name)

    for name in needs:
        visit(name, [])


def _depends(service: Map) -> list[tuple[str, str]]:
    out = [(str(n), "depends_on") for n in service.get("depends_on") or ()]
    mode = service.get("network_mode")
    if isinstance(mode, str) and mode.startswith("service:"):
        out.append((mode.removeprefix("service:"), "network_mode"))
    for item in service.get("volumes_from") or ():
        text = str(item)
        if not text.startswith("container:"):
            out.append((text.split(":", 1)[0], "volumes_from"))
    return out


def _env_files(data: Map, value: Any, loc: Loc) -> None:
    entries = value if isinstance(value, Seq) else [value] if value is not None else []
    for entry in entries:
        path, required = entry, True
        if isinstance(entry, Map):
            path, required = entry.get("path"), as_bool(entry.get("required", True)) is not False
        if isinstance(path, str) and required and not Path(path).is_file():
            raise error_at(data, loc, f"env file {path} not found")


def service_info(data: Map, name: str, service: Map, base: Path, home: str | None) -> ServiceInfo:
    """What cf reads of one service."""
    loc: Loc = ("services", name)
    mounts = [
        _mount(data, entry, (*loc, "volumes", i), base, home)
        for i, entry in enumerate(service.get("volumes") or ())
    ]
    mounts = _last_per_target(mounts)
    devices = _devices(data, service.get("devices"), (*loc, "devices"))
    image = service.get("image")
    container = service.get("container_name")
    return ServiceInfo(
        name=name,
        image=image if isinstance(image, str) and image else None,
        container_name=container if isinstance(container, str) else None,
        labels=_labels(service.get("labels")),
        ports=_ports(data, service.get("ports"), (*loc, "ports")),
        bind_mounts=list(
            dict.fromkeys(Path(m.source) for m in mounts if m.type == "bind" and m.source)
        ),
        devices=[s for s in devices.values() if s],
        networks=_service_networks(service),
        mounts=mounts,
        profiles=tuple(str(p) for p in service.get("profiles") or ()),
        network_mode=service.get("network_mode") or None,
    )


def _devices(data: Map, value: Any, loc: Loc) -> dict[str, str | None]:
    """Container path -> host source (None for none), the last entry for a path winning."""
    devices: dict[str, str | None] = {}
    for index, entry in enumerate(value or ()):
        try:
            source, target = parse_device(entry)
        except MountError as exc:
            raise error_at(data, (*loc, index), str(exc)) from None
        devices.pop(target, None)
        devices[target] = source
    return devices


def _mount(
    data: Map, entry: Any, loc: Loc, base: Path = Path("/"), home: str | None = None
) -> Mount:
    try:
        return parse_volume(entry, base, home)
    except MountError as exc:
        raise error_at(data, loc, str(exc)) from None


def _last_per_target(mounts: list[Mount]) -> list[Mount]:
    """Compose keeps one mount per container path: the last, at the first one's place."""
    by_target: dict[str, Mount] = {}
    for mount in mounts:
        by_target[mount.target] = mount
    return list(by_target.values())


def _labels(value: Any) -> dict[str, str]:
    """Labels from the mapping form or the ``- key=value`` list form."""
    if isinstance(value, Map):
        return {key: scalar_text(item) for key, item in value.items()}
    labels: dict[str, str] = {}
    for item in value or ():
        key, _, text = str(item).partition("=")
        labels[key] = text
    return labels


def _ports(data: Map, value: Any, loc: Loc) -> list[PublishedPort]:
    seen: dict[PublishedPort, None] = {}
    for index, entry in enumerate(value or ()):
        try:
            for port in parse_port(entry):
                seen.setdefault(port, None)
        except PortError as exc:
            raise error_at(data, (*loc, index), str(exc)) from None
    return list(seen)


def _service_networks(service: Map) -> list[str]:
    """Networks the service joins; Compose's implicit ``default`` when none are named."""
    value = service.get("networks")
    if not value:
        return [] if service.get("network_mode") else ["default"]
    return [str(n) for n in value]
