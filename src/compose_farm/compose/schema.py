"""The shape Compose requires of each file, checked before anything is read from it.

Compose validates every file against the Compose Specification's schema and
stops at the first mismatch. This is the part of that schema the mistakes
people make run into, written from what ``docker compose config`` v2.40
answers: unknown keys (``x-`` extensions allowed everywhere), and the types
of the keys cf reads and of the common scalar keys. A key not listed here is
allowed with any value (Compose may still reject it on the host).
"""

from __future__ import annotations

import re
from typing import Any

from compose_farm.compose.document import Loc, error_at, kind
from compose_farm.compose.mounts import MOUNT_TYPES
from compose_farm.compose.yamltree import Map, Seq, Timestamp, scalar_text

TOP_LEVEL = frozenset(
    {"version", "name", "include", "services", "networks", "volumes", "secrets", "configs"}
    | {"models"}
)
_STRING = "a string"
_ARRAY = "a list"
_MAPPING = "a mapping"
_BOOL_OR_STRING = "a boolean or a string"
_LIST_OR_MAPPING = "a list or a mapping"
_NUMBER_OR_STRING = "a number or a string"


def _words(text: str) -> list[str]:
    return text.split()


# key -> what it must be; None: any value
SERVICE_KEYS: dict[str, str | None] = {
    **dict.fromkeys(
        _words(
            "cgroup cgroup_parent container_name cpuset domainname hostname image ipc "
            "isolation mac_address network_mode platform pull_policy restart runtime "
            "stop_grace_period stop_signal user userns_mode uts working_dir "
            "pull_refresh_after"
        ),
        _STRING,
    ),
    **dict.fromkeys(
        _words(
            "cap_add cap_drop configs device_cgroup_rules devices dns_opt expose "
            "external_links group_add links ports post_start pre_stop profiles secrets "
            "security_opt volumes volumes_from"
        ),
        _ARRAY,
    ),
    **dict.fromkeys(
        _words("attach init oom_kill_disable privileged read_only stdin_open tty"),
        _BOOL_OR_STRING,
    ),
    **dict.fromkeys(
        _words("labels environment networks depends_on annotations sysctls extra_hosts"),
        _LIST_OR_MAPPING,
    ),
    **dict.fromkeys(
        _words(
            "cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares cpus mem_limit "
            "memswap_limit pids_limit shm_size"
        ),
        _NUMBER_OR_STRING,
    ),
    **dict.fromkeys(
        _words(
            "blkio_config build command cpu_count cpu_percent credential_spec deploy "
            "develop dns dns_search entrypoint env_file extends gpus healthcheck "
            "label_file logging mem_reservation mem_swappiness models oom_score_adj pid "
            "provider scale storage_opt tmpfs ulimits use_api_socket"
        ),
        None,
    ),
}
_PORT_KEYS = frozenset(
    {"name", "mode", "host_ip", "target", "published", "protocol", "app_protocol"}
)
_VOLUME_KEYS = frozenset(
    {"type", "source", "target", "read_only", "consistency", "bind", "volume", "tmpfs", "image"}
)
_NETWORK_KEYS = frozenset(
    {"name", "driver", "driver_opts", "ipam", "external", "internal", "enable_ipv4"}
    | {"enable_ipv6", "attachable", "labels"}
)
_VOLUME_TOP_KEYS = frozenset({"name", "driver", "driver_opts", "external", "labels"})
_SERVICE_NAME = re.compile(r"[a-zA-Z0-9._-]+")
_CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


def validate_file(data: Map) -> None:
    """Raise ``ComposeFileError`` at the first place ``data`` breaks Compose's schema."""
    _check(data, ())


def _fail(data: Map, loc: Loc, message: str) -> Exception:
    return error_at(data, loc, message)


def _check(data: Map, loc: Loc) -> None:
    _only(data, data, loc, TOP_LEVEL, "a top-level key")
    for key in ("version", "name"):
        if key in data and not isinstance(data[key], str):
            raise _fail(data, (key,), "must be a string")
    if "include" in data and not isinstance(data["include"], Seq):
        raise _fail(data, ("include",), "must be a list")
    for section in ("services", "networks", "volumes", "secrets", "configs", "models"):
        if section in data and not isinstance(data[section], Map):
            raise _fail(data, (section,), f"must be a mapping, not {kind(data[section])}")
    for name, service in (data.get("services") or {}).items():
        if not _SERVICE_NAME.fullmatch(name):
            raise _fail(data, ("services", name), "is not a valid service name")
        if not isinstance(service, Map):
            raise _fail(data, ("services", name), f"must be a mapping, not {kind(service)}")
        _service(data, service, ("services", name))
    for section, allowed in (("networks", _NETWORK_KEYS), ("volumes", _VOLUME_TOP_KEYS)):
        for name, entry in (data.get(section) or {}).items():
            if entry is None:
                continue
            if not isinstance(entry, Map):
                raise _fail(data, (section, name), "must be a mapping or empty")
            _only(data, entry, (section, name), allowed, "a key")


def _only(data: Map, value: Map, loc: Loc, allowed: frozenset[str], what: str) -> None:
    for key in value:
        if key not in allowed and not key.startswith("x-"):
            raise _fail(data, (*loc, key), f"{what} Compose does not know ({key!r})")


def _service(data: Map, service: Map, loc: Loc) -> None:
    for key, value in service.items():
        if key.startswith("x-"):
            continue
        if key not in SERVICE_KEYS:
            raise _fail(data, (*loc, key), f"a service key Compose does not know ({key!r})")
        wanted = SERVICE_KEYS[key]
        if wanted is not None and not _is(value, wanted):
            raise _fail(data, (*loc, key), f"must be {wanted}, not {kind(value)}")
    name = service.get("container_name")
    if isinstance(name, str) and not _CONTAINER_NAME.fullmatch(name):
        raise _fail(data, (*loc, "container_name"), f"{name!r} is not a valid container name")
    _labels(data, service, loc, "labels")
    _labels(data, service, loc, "environment")
    _ports(data, service.get("ports"), (*loc, "ports"))
    _volumes(data, service.get("volumes"), (*loc, "volumes"))
    _networks(data, service.get("networks"), (*loc, "networks"))
    for index, item in enumerate(service.get("profiles") or ()):
        if not isinstance(item, str):
            raise _fail(data, (*loc, "profiles", index), "must be a string")


def _is(value: Any, wanted: str) -> bool:
    if wanted == _STRING:
        return isinstance(value, str)
    if wanted == _ARRAY:
        return isinstance(value, Seq)
    if wanted == _BOOL_OR_STRING:
        return isinstance(value, bool | str)
    if wanted == _LIST_OR_MAPPING:
        return isinstance(value, Seq | Map)
    if wanted == _NUMBER_OR_STRING:
        return isinstance(value, int | float | str) and not isinstance(value, bool)
    return True


def _labels(data: Map, service: Map, loc: Loc, key: str) -> None:
    value = service.get(key)
    if isinstance(value, Map):
        for name, item in value.items():
            if key == "labels" and not name:
                raise _fail(data, (*loc, key), "a label needs a name")
            if isinstance(item, Map | Seq | Timestamp):
                raise _fail(
                    data, (*loc, key, name), f"must be a string or a number, not {_of(item)}"
                )
    elif isinstance(value, Seq):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise _fail(
                    data, (*loc, key, index), f"must be a 'KEY=VALUE' string, not {_of(item)}"
                )


def _of(value: Any) -> str:
    if isinstance(value, Timestamp):
        return f"a date ({value.text}): quote it"
    return kind(value)


def _ports(data: Map, ports: Any, loc: Loc) -> None:
    for index, entry in enumerate(ports or ()):
        where = (*loc, index)
        if isinstance(entry, Map):
            for key, value in entry.items():
                if key not in _PORT_KEYS and not key.startswith("x-"):
                    raise _fail(data, (*where, key), f"a port key Compose does not know ({key!r})")
                if key in ("target", "published") and (
                    isinstance(value, bool) or not isinstance(value, int | str)
                ):
                    raise _fail(
                        data, (*where, key), f"must be a whole number or a string, not {_of(value)}"
                    )
        elif isinstance(entry, bool) or not isinstance(entry, int | str):
            raise _fail(data, where, f"must be a number, a string or a mapping, not {_of(entry)}")


def _volumes(data: Map, volumes: Any, loc: Loc) -> None:
    for index, entry in enumerate(volumes or ()):
        where = (*loc, index)
        if isinstance(entry, Map):
            for key in entry:
                if key not in _VOLUME_KEYS and not key.startswith("x-"):
                    raise _fail(
                        data, (*where, key), f"a volume key Compose does not know ({key!r})"
                    )
            if "type" not in entry:
                raise _fail(data, where, "a long-syntax volume needs a 'type'")
            if entry["type"] not in MOUNT_TYPES:
                shown = scalar_text(entry["type"])
                raise _fail(
                    data, (*where, "type"), f"{shown!r}: must be one of {', '.join(MOUNT_TYPES)}"
                )
        elif not isinstance(entry, str):
            raise _fail(data, where, f"must be a string or a mapping, not {_of(entry)}")


def _networks(data: Map, networks: Any, loc: Loc) -> None:
    if isinstance(networks, Seq):
        seen: set[Any] = set()
        for index, item in enumerate(networks):
            if not isinstance(item, str):
                raise _fail(data, (*loc, index), f"must be a network name, not {_of(item)}")
            if item in seen:
                raise _fail(data, (*loc, index), f"network {item!r} is listed twice")
            seen.add(item)
    elif isinstance(networks, Map):
        for name, value in networks.items():
            if value is not None and not isinstance(value, Map):
                raise _fail(data, (*loc, name), f"must be a mapping or empty, not {_of(value)}")
