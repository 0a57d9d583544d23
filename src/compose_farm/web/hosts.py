"""Which ``Host`` a request may name: the defence against DNS rebinding.

A page on ``attacker.example`` whose name is re-pointed at 127.0.0.1 makes the
browser send requests to the UI with ``Host: attacker.example`` and a matching
``Origin``, so an origin check alone passes. The UI therefore answers only to
the names it was started for: the address it listens on, the loopback names
(all with its port) and any ``cf web --allowed-host NAME``. Anything else gets
400 (HTTP) or a closed WebSocket before any route runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from compose_farm.web.refusal import refuse

LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
WS_HOST_REFUSED = 4400

# A DNS name or IPv4 address, or a bracketed IPv6 address; an optional :port.
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]+\])(?::\d{1,5})?")


def host_problem(value: str) -> str | None:
    """Why ``value`` cannot be an allowed host (``NAME`` or ``NAME:PORT``), or ``None``."""
    if not _HOST.fullmatch(value.lower()):
        return (
            f"{value!r} is not a host name: give a DNS name or address, optionally with "
            ":PORT (no scheme, no path, IPv6 in brackets)"
        )
    return None


def url_host(address: str) -> str:
    """``address`` as it appears in a URL (IPv6 in brackets)."""
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


@dataclass(frozen=True)
class AllowedHosts:
    """``Host`` values the UI answers to.

    An entry with a port matches exactly that; an entry without one matches
    the name on any port (a proxy in front may or may not add one).
    """

    entries: frozenset[str]

    @classmethod
    def of(cls, names: Iterable[str]) -> AllowedHosts:
        """From names as a user gives them (case does not matter)."""
        return cls(frozenset(n.strip().lower() for n in names if n.strip()))

    @classmethod
    def for_server(cls, address: str, port: int, extra: Iterable[str] = ()) -> AllowedHosts:
        """What ``cf web --host ADDRESS --port PORT --allowed-host ...`` answers to."""
        names = (url_host(address), *LOOPBACK)
        bound = [f"{name}:{port}" for name in names]
        if port in (80, 443):  # browsers leave the scheme's default port out of Host
            bound += names
        return cls.of([*bound, *extra])

    @classmethod
    def loopback(cls) -> AllowedHosts:
        """The loopback names on any port (an app built without being told more)."""
        return cls.of(LOOPBACK)

    def allows(self, host: str | None) -> bool:
        """True when a request's ``Host`` header names this UI."""
        if not host:
            return False
        value = host.strip().lower()
        if host_problem(value) is not None:
            return False
        if value in self.entries:
            return True
        name, sep, port = value.rpartition(":")
        return bool(sep) and port.isdigit() and name in self.entries

    def origin_ok(self, origin: str | None, host: str | None) -> bool:
        """True when a browser's ``Origin`` is this request's own, allowed, host."""
        if not origin or not host:
            return False
        scheme, sep, rest = origin.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or "/" in rest.rstrip("/"):
            return False
        netloc = rest.rstrip("/").lower()
        return netloc == host.strip().lower() and self.allows(netloc)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class HostCheck:
    """ASGI middleware: refuse requests (and WebSockets) whose ``Host`` is not allowed."""

    def __init__(self, app: ASGIApp, allowed: AllowedHosts) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.allowed.allows(
            _header(scope, b"host")
        ):
            await self.app(scope, receive, send)
            return
        body = b"this host name is not allowed (see cf web --allowed-host)\n"
        await refuse(
            scope, receive, send, ws_code=WS_HOST_REFUSED, status=400, body=body,
            content_type=b"text/plain; charset=utf-8",
        )  # fmt: skip
