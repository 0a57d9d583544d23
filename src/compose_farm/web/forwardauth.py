"""Forward auth: a reverse proxy that logged the user in names them in a header.

A proxy such as Traefik with Authelia, Authentik or oauth2-proxy behind its
``forwardAuth`` middleware asks its auth service about every request and, when
the service says yes, passes the request on with the user's name in a header
(``Remote-User`` by default; ``web.forward_auth`` in the config). Whoever can
send that header to cf is whoever they claim to be, so it is believed only on a
connection whose TCP peer is one of the configured proxies. A request from any
other peer that carries it is refused (403, or a WebSocket closed with 4403)
and logged, whatever else it carries (a valid session too): it is an attacker,
or a proxy that is not in the list. A value that is empty, sent twice, longer
than ``MAX_USER_BYTES``, not UTF-8, or holds a control, invisible or separator
character, or a comma (two values joined), is refused the same way.

The peer is the address the connection came from. ``X-Forwarded-For`` is not
it: the client writes that header, and uvicorn's proxy-header handling would
put a trusted forwarder's entry in ``scope["client"]``. So ``ProxyGate`` runs
outermost, instead of uvicorn's (``cf web`` turns uvicorn's off): it judges the
header by the real peer first, then applies ``X-Forwarded-For`` as uvicorn
would (``FORWARDED_ALLOW_IPS``) for the login throttle and the scheme.

The log line names the peer, the header, the method and path, and the user
claimed when it is a well-formed name (a user name is not a secret and tells
the owner whom someone tried to be); a malformed value is described, never
shown. Values a proxy vouches for are not logged.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from compose_farm.config import ForwardAuthOptions
from compose_farm.web.refusal import refuse

log = logging.getLogger("compose_farm.web")

MAX_USER_BYTES = 256
PROXY_USER = "compose_farm.proxy_user"  # the scope key ``ProxyGate`` sets; nothing else may
WS_REFUSED = 4403
DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1,::1"  # uvicorn's default, which cf keeps

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def peer_address(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The peer as an address (an IPv4-mapped IPv6 one as IPv4); ``None`` if it is none."""
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # no zone: fe80::1%eth0
    except ValueError:
        return None  # a unix socket, a test client's name: never a proxy
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def user_problem(raw: bytes) -> str | None:
    """Why a header value cannot be a user name, or ``None`` when it can."""
    if not raw.strip():
        return "is empty"
    if len(raw) > MAX_USER_BYTES:
        return f"is longer than {MAX_USER_BYTES} bytes"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8"
    if text != text.strip(" "):
        return "starts or ends with a space"
    if "," in text:
        return "holds a comma (two values joined?)"
    for char in text:
        kind = unicodedata.category(char)
        if kind[0] == "C" or (kind[0] == "Z" and char != " "):
            return f"holds the character U+{ord(char):04X} ({kind})"
    return None


@dataclass(frozen=True)
class Claim:
    """A user named by a trusted proxy."""

    user: str


@dataclass(frozen=True)
class Refusal:
    """A request carrying the header that must not get in: why (for the log and the answer)."""

    reason: str  # for the log: never the value of a malformed header
    detail: str  # for the client


@dataclass(frozen=True)
class ForwardAuth:
    """Which peers may name the user, and in which header."""

    proxies: tuple[Network, ...]
    header: str = "Remote-User"

    @classmethod
    def of(cls, options: ForwardAuthOptions) -> ForwardAuth:
        """From the config's ``web.forward_auth`` (validated there)."""
        networks = tuple(ipaddress.ip_network(n) for n in options.trusted_proxies)
        return cls(networks, options.user_header)

    def trusts(self, host: str | None) -> bool:
        """True when a connection from ``host`` comes from a configured proxy."""
        address = peer_address(host)
        return address is not None and any(address in network for network in self.proxies)

    def judge(
        self, peer: str | None, headers: Iterable[tuple[bytes, bytes]]
    ) -> Claim | Refusal | None:
        """What a request from ``peer`` with these (ASGI) headers says about its user.

        ``None``: it does not carry the header (sessions and passwords decide).
        """
        name = self.header.lower().encode("latin-1")
        values = [value for key, value in headers if key.lower() == name]
        if not values:
            return None
        if not self.trusts(peer):
            shown = _claimed(values)
            return Refusal(
                f"{self.header} from {peer or 'an unknown address'}, which is not a trusted "
                f"proxy ({shown})",
                f"the {self.header} header is accepted only from a trusted proxy",
            )
        if len(values) > 1:
            return Refusal(
                f"{self.header} sent {len(values)} times by the proxy at {peer}",
                f"the proxy sent {self.header} more than once",
            )
        problem = user_problem(values[0])
        if problem is not None:
            return Refusal(
                f"{self.header} from the proxy at {peer} {problem}",
                f"the proxy's {self.header} header {problem}",
            )
        return Claim(values[0].decode("utf-8"))

    def describe(self) -> str:
        """For ``cf web``'s start-up lines."""
        return f"{self.header} from {', '.join(str(n) for n in self.proxies)}"


def _claimed(values: Sequence[bytes]) -> str:
    """The user an untrusted request claimed, for the log: shown only when well-formed."""
    if len(values) == 1 and user_problem(values[0]) is None:
        return f"claimed user {values[0].decode('utf-8')!r}"
    return f"a malformed value: {len(values)} header(s), {sum(len(v) for v in values)} bytes"


def _printable(text: str, limit: int = 200) -> str:
    """``text`` safe for one log line: escapes for anything unprintable, cut to ``limit``."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return shown + ("..." if len(text) > limit else "")


class ProxyGate:
    """ASGI middleware, outermost: forward auth by the TCP peer, then ``X-Forwarded-For``.

    Refuses a request whose header ``forward`` does not accept; marks one it
    accepts with ``scope[PROXY_USER]``; strips that key from any other. Then
    uvicorn's own ``ProxyHeadersMiddleware`` (run here, not by uvicorn) makes a
    trusted forwarder's ``X-Forwarded-For`` the client address.
    """

    def __init__(
        self,
        app: ASGIApp,
        forward: ForwardAuth | None = None,
        forwarded_allow_ips: str = DEFAULT_FORWARDED_ALLOW_IPS,
    ) -> None:
        self.forward = forward
        inner: Any = app  # uvicorn types ASGI apps its own way; the protocol is the same
        proxied: Any = ProxyHeadersMiddleware(inner, trusted_hosts=forwarded_allow_ips)
        self.app: ASGIApp = proxied

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope.pop(PROXY_USER, None)
        client = scope.get("client")
        peer = client[0] if client else None
        verdict = self.forward.judge(peer, scope["headers"]) if self.forward else None
        if isinstance(verdict, Refusal):
            method = scope.get("method", "WEBSOCKET")
            log.warning(
                "forward auth: refused %s %s: %s",
                method,
                _printable(scope.get("path", "")),
                _printable(verdict.reason),
            )
            await _refuse(scope, receive, send, verdict.detail)
            return
        if isinstance(verdict, Claim):
            scope[PROXY_USER] = verdict.user
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await refuse(
        scope, receive, send, ws_code=WS_REFUSED, status=403, body=body,
        content_type=b"application/json",
    )  # fmt: skip


def proxy_user(scope: Scope) -> str | None:
    """The user a trusted proxy named for this request (set by ``ProxyGate`` only)."""
    user = scope.get(PROXY_USER)
    return user if isinstance(user, str) else None
