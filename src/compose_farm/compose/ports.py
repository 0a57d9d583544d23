"""Published ports: Compose's short (``"127.0.0.1:8080:80/udp"``) and long syntax.

Short syntax is ``[[IP:]HOST:]CONTAINER[/PROTO]``; the IP may be bracketed
(``[::1]``) or bare (``::1:8080:80``: everything before the last two parts);
HOST may be empty (``:80``: not published); HOST and CONTAINER may be ranges,
and a container port is never 0. The long syntax takes ``host_ip`` bare
(``::1``, not ``[::1]``), as Compose does. Equal-length ranges pair up
(``9090-9091:8080-8081``); a host range for one container port
(``8080-8081:80``) lets the engine pick one free host port, kept here as
``published``..``published_end``. The long syntax keeps ``protocol`` as
written (``UDP``) and any ``published`` text, as Compose does. Checked against
``docker compose config``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROTOCOLS = frozenset({"tcp", "udp", "sctp"})
_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


class PortError(ValueError):
    """A port entry Compose would reject."""


@dataclass(frozen=True)
class PublishedPort:
    """One container port and where (if anywhere) it is published on the host."""

    target: int
    published: int | None = None
    host_ip: str | None = None
    protocol: str = "tcp"
    mode: str = "ingress"
    published_end: int | None = None
    # a long-syntax ``published`` that names no port or range (Compose keeps it as
    # written; the engine refuses it at ``up``): ``published`` is then None
    published_text: str | None = None

    @property
    def host_ports(self) -> range:
        """Every host port this entry may take (empty when not published)."""
        if self.published is None:
            return range(0)
        return range(self.published, (self.published_end or self.published) + 1)


def parse_port(entry: object) -> list[PublishedPort]:
    """All the ports one ``ports:`` entry stands for (ranges are expanded)."""
    if isinstance(entry, bool):
        raise PortError(f"invalid port {entry!r}")
    if isinstance(entry, int):
        return _parse_short(str(entry))
    if isinstance(entry, str):
        return _parse_short(entry)
    if isinstance(entry, Mapping):
        return [_parse_long(entry)]
    raise PortError(f"invalid port {entry!r}: expected a string, a number or a mapping")


def _parse_short(spec: str) -> list[PublishedPort]:
    body, _, protocol = spec.partition("/")
    protocol = _protocol(protocol or "tcp")
    parts = body.split(":")
    container = parts[-1]
    host = parts[-2] if len(parts) >= 2 else ""
    raw_ip = ":".join(parts[:-2])
    host_ip = _host_ip(raw_ip, brackets=True) if raw_ip else None
    # An empty host part (":80", "::80") publishes nothing, as in Compose.
    c_start, c_end = _port_range(container, "container port")
    if c_start == 0:
        raise PortError(f"invalid port {spec!r}: container port 0 (Compose: missing a target port)")
    if not host:
        return [
            PublishedPort(target=port, host_ip=host_ip, protocol=protocol)
            for port in range(c_start, c_end + 1)
        ]
    h_start, h_end = _port_range(host, "host port")
    if c_end - c_start == h_end - h_start:
        return [
            PublishedPort(target=c, published=h, host_ip=host_ip, protocol=protocol)
            for c, h in zip(range(c_start, c_end + 1), range(h_start, h_end + 1), strict=True)
        ]
    if c_start == c_end:
        return [
            PublishedPort(
                target=c_start,
                published=h_start,
                published_end=h_end,
                host_ip=host_ip,
                protocol=protocol,
            )
        ]
    raise PortError(
        f"invalid port {spec!r}: container range {container} and host range {host} differ in size"
    )


def _parse_long(entry: Mapping[Any, Any]) -> PublishedPort:
    """The long syntax, as loosely as Compose reads it: ``published`` and ``protocol`` are
    kept as written (a value that is no port or range is ``published_text`` only),
    ``target`` is any whole number, ``host_ip`` a bare address."""
    target = entry.get("target")
    if target is None:
        raise PortError("a long-syntax port needs a 'target' port number")
    if isinstance(target, bool) or not isinstance(target, int | str):
        raise PortError(f"invalid target port {target!r}")
    text = str(target).strip()
    if not re.fullmatch(r"[+-]?\d+", text) or int(text) < 0 or int(text) >= 1 << 32:
        raise PortError(f"invalid target port {target!r}: expected a whole number")
    published = entry.get("published")
    if isinstance(published, bool) or not isinstance(published, int | str | None):
        raise PortError(f"invalid published port {published!r}")
    raw = None if published is None or str(published) == "" else str(published)
    start: int | None = None
    end: int | None = None
    if raw is not None:
        try:
            start, end = _port_range(raw, "published port")
        except PortError:
            start = end = None
    host_ip = entry.get("host_ip")
    if host_ip is not None and not isinstance(host_ip, str):
        raise PortError(f"invalid host_ip {host_ip!r}")
    mode = entry.get("mode") or "ingress"
    return PublishedPort(
        target=int(text),
        published=start,
        published_end=end if end != start else None,
        host_ip=_host_ip(host_ip, brackets=False) if host_ip is not None else None,
        protocol=str(entry.get("protocol") or "tcp"),
        mode=str(mode),
        published_text=raw if raw is not None and start is None else None,
    )


def _protocol(text: str) -> str:
    protocol = text.lower()
    if protocol not in PROTOCOLS:
        raise PortError(f"invalid protocol {text!r}: expected tcp, udp or sctp")
    return protocol


def _host_ip(text: str, *, brackets: bool) -> str:
    """An IP address; ``[::1]`` only in the short syntax (the long one takes it bare)."""
    bracketed = text.startswith("[") and text.endswith("]")
    bare = text[1:-1] if brackets and bracketed else text
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        raise PortError(f"invalid IP address {text!r}") from None
    return bare


def _port_range(text: str, what: str) -> tuple[int, int]:
    match = _RANGE.fullmatch(text)
    if match is None:
        raise PortError(f"invalid {what} {text!r}")
    start = _port_number(match[1], what)
    end = _port_number(match[2], what) if match[2] else start
    if end < start:
        raise PortError(f"invalid {what} range {text!r}: the end is below the start")
    return start, end


def _port_number(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise PortError(f"invalid {what} {text!r}: expected a number from 0 to 65535")
    return int(text)
