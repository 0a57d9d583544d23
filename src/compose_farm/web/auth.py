"""Login for the web UI: a hashed password or a one-time token, sessions, CSRF, throttling.

The UI can run commands and open shells on every host, so nothing but the
login page and static files is served without a session. Sessions live in
server memory behind a random HttpOnly, SameSite=Strict cookie; each session
has a CSRF token that every state-changing request must echo, and WebSockets
must come from the UI's own origin (``hosts.AllowedHosts.origin_ok``).

Guessing is throttled per client address, and no address can lock out another:

- Every attempt (a password, or a ``?token=`` link) is counted as a failure
  *before* it is checked, in the same step that decides whether it may run,
  so concurrent requests gain nothing; a success clears its address's count.
- An address with ``MAX_FAILURES_PER_MINUTE`` failures in the last minute is
  refused (429, ``Retry-After``) without a check.
- Once all addresses together have ``MAX_FAILURES_PER_MINUTE_IN_ALL``
  failures in the last minute, only addresses with a failure of their own in the last minute
  are refused: a fresh address (the owner) always gets its attempt, and guesses
  spread over many addresses get one per address per minute.
- Password checks (argon2, ~0.1 s of CPU each) run two at a time off the
  event loop; more wait their turn, none is refused for it.

The address is ``scope["client"]`` as uvicorn gives it: the TCP peer, except
that for a peer it trusts as a proxy (``FORWARDED_ALLOW_IPS``, by default
127.0.0.1 and ::1) uvicorn takes the last ``X-Forwarded-For`` entry that is not
itself trusted. So a remote client's forged header is ignored, and so are
entries it forges in front of the one a local proxy appends; only a local
forwarder that passes the client's headers through untouched (``ssh -L``, a
TCP-mode proxy) would let clients choose their address. A proxy on another
machine is not trusted unless ``FORWARDED_ALLOW_IPS`` names it: until then its
clients share its address, and its limit. IPv6 addresses count per /64
network (what one machine or one site usually holds).

The start-up token (``cf web`` without a password) works once, for
``TOKEN_TTL`` seconds, and not at all after anyone has logged in.

Behind a reverse proxy doing forward auth (``web.forwardauth``), a request the
proxy names a user in needs no cookie: it gets that user's ``proxy_session``,
which holds only a CSRF token. Password logins keep working beside it.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

SESSION_COOKIE = "cf_session"
SESSION_TTL = 12 * 3600.0
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
TOKEN_TTL = 10 * 60.0  # how long the start-up link works (`cf web --help` says so)
WINDOW = 60.0  # failures older than this are forgotten
MAX_FAILURES_PER_MINUTE = 10  # from one client address
MAX_FAILURES_PER_MINUTE_IN_ALL = 30  # from all of them together; see the module docstring
HASHING_AT_ONCE = 2

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def password_file(config_home: Path) -> Path:
    """Where ``cf web --set-password`` stores the hash."""
    return config_home / "compose-farm" / "web-password"


def clock_time(moment: float) -> str:
    """``moment`` (seconds since the epoch) as local ``HH:MM``, as the link's expiry is shown."""
    return time.strftime("%H:%M", time.localtime(moment))


def client_key(host: str) -> str:
    """The address failures are counted under: an IPv6 address's /64, an IPv4 address as is."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an address (a test client's name, a unix socket)
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


@dataclass
class Session:
    """One logged-in browser, or (``user`` set) the requests a trusted proxy names a user in.

    A proxy's user has no cookie: each request is let in on the proxy's word
    (``web.forwardauth``); the session only holds that user's CSRF token.
    """

    csrf: str
    expires: float
    user: str | None = None

    def csrf_ok(self, sent: str | None) -> bool:
        """Constant-time comparison of the CSRF token a request carried."""
        return bool(sent) and hmac.compare_digest(self.csrf, sent or "")


@dataclass
class Auth:
    """Credentials, live sessions and recent failures of one app (one per ``create_app``).

    ``token_expires`` defaults to ``TOKEN_TTL`` after construction; ``clock``
    (seconds since the epoch) is injectable so tests can move time on.
    """

    password_hash: str | None = None
    token: str | None = None
    token_expires: float | None = None
    secure_cookies: bool = False
    clock: Callable[[], float] = time.time
    sessions: dict[str, Session] = field(default_factory=dict)
    proxy_sessions: dict[str, Session] = field(default_factory=dict)  # by the proxy's user name
    failures: dict[str, deque[float]] = field(default_factory=dict)  # per address, oldest first
    hashing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(HASHING_AT_ONCE))
    _order: deque[tuple[float, str]] = field(default_factory=deque, init=False, repr=False)
    _count: int = field(default=0, init=False, repr=False)  # the failures in ``failures``

    def __post_init__(self) -> None:
        if self.token is not None and self.token_expires is None:
            self.token_expires = self.clock() + TOKEN_TTL

    def check_password(self, password: str) -> bool:
        """True when ``password`` matches the stored hash."""
        if self.password_hash is None or not password:
            return False
        try:
            return _hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def token_live(self) -> bool:
        """True while the start-up token can still be used."""
        if self.token is not None and self.token_expires is not None:
            if self.clock() < self.token_expires:
                return True
            self.token = None
        return False

    def use_token(self, token: str) -> bool:
        """True once for the live start-up token; it cannot be used again."""
        live = self.token if self.token_live() else None
        if not token or live is None:
            return False
        if hmac.compare_digest(live.encode(), token.encode()):
            self.token = None
            return True
        return False

    def admit(self, client: str) -> int | None:
        """Count an attempt from ``client`` before it is checked.

        ``None``: it may go ahead, and stays a failure unless ``logged_in``
        clears it. Otherwise it is refused unchecked: the seconds to wait.
        """
        now = self.clock()
        self._forget(now)
        mine = self.failures.get(client)
        if mine:
            if self._count >= MAX_FAILURES_PER_MINUTE_IN_ALL:  # crowded: fresh addresses only
                return _seconds(mine[-1] + WINDOW - now)
            if len(mine) >= MAX_FAILURES_PER_MINUTE:
                return _seconds(mine[-MAX_FAILURES_PER_MINUTE] + WINDOW - now)
        self.failures.setdefault(client, deque()).append(now)
        self._order.append((now, client))
        self._count += 1
        return None

    def logged_in(self, client: str, old_sid: str | None) -> str:
        """A successful login from ``client``: its failures are cleared, the start-up token
        is void, the browser's old session (if any) ends. The new session's id."""
        self._count -= len(self.failures.pop(client, ()))
        self.token = None
        self.close_session(old_sid)
        return self.open_session()

    def _forget(self, now: float) -> None:
        """Drop failures older than ``WINDOW`` (and addresses left with none)."""
        while self._order and now - self._order[0][0] >= WINDOW:
            moment, client = self._order.popleft()
            times = self.failures.get(client)
            if times and times[0] <= moment:  # else cleared by a login already
                times.popleft()
                self._count -= 1
                if not times:
                    del self.failures[client]

    def open_session(self, now: float | None = None) -> str:
        """A new session id (the cookie value); expired sessions are dropped here."""
        moment = self.clock() if now is None else now
        for old in [sid for sid, s in self.sessions.items() if s.expires < moment]:
            del self.sessions[old]
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = Session(csrf=secrets.token_urlsafe(32), expires=moment + SESSION_TTL)
        return sid

    def session(self, sid: str | None, now: float | None = None) -> Session | None:
        """The live session for a cookie value, or ``None``."""
        if not sid:
            return None
        found = self.sessions.get(sid)
        moment = self.clock() if now is None else now
        if found is None or found.expires < moment:
            self.sessions.pop(sid, None)
            return None
        return found

    def proxy_session(self, user: str) -> Session:
        """The session of a user a trusted proxy named (made, or renewed once expired)."""
        moment = self.clock()
        found = self.proxy_sessions.get(user)
        if found is not None and found.expires >= moment:
            return found
        for old in [u for u, s in self.proxy_sessions.items() if s.expires < moment]:
            del self.proxy_sessions[old]
        made = Session(csrf=secrets.token_urlsafe(32), expires=moment + SESSION_TTL, user=user)
        self.proxy_sessions[user] = made
        return made

    def close_session(self, sid: str | None) -> None:
        """Log out."""
        if sid:
            self.sessions.pop(sid, None)


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait))
