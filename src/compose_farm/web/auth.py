"""Login for the web UI: a hashed password or a one-time token, sessions, CSRF.

The UI can run commands and open shells on every host, so nothing but the
login page and static files is served without a session. Sessions live in
server memory behind a random HttpOnly, SameSite=Strict cookie; each session
has a CSRF token that every state-changing request must echo, and WebSockets
must come from the UI's own origin (``hosts.AllowedHosts.origin_ok``).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

SESSION_COOKIE = "cf_session"
SESSION_TTL = 12 * 3600.0
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
MAX_FAILURES_PER_MINUTE = 10  # from one client address
MAX_FAILURES_PER_MINUTE_IN_ALL = 30  # from all of them together

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def password_file(config_home: Path) -> Path:
    """Where ``cf web --set-password`` stores the hash."""
    return config_home / "compose-farm" / "web-password"


@dataclass
class Session:
    """One logged-in browser."""

    csrf: str
    expires: float

    def csrf_ok(self, sent: str | None) -> bool:
        """Constant-time comparison of the CSRF token a request carried."""
        return bool(sent) and hmac.compare_digest(self.csrf, sent or "")


@dataclass
class Auth:
    """Credentials and live sessions of one app (no globals: one per ``create_app``)."""

    password_hash: str | None = None
    token: str | None = None
    secure_cookies: bool = False
    sessions: dict[str, Session] = field(default_factory=dict)
    failures: dict[str, list[float]] = field(default_factory=dict)
    hashing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))

    def check_password(self, password: str) -> bool:
        """True when ``password`` matches the stored hash."""
        if self.password_hash is None or not password:
            return False
        try:
            return _hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def use_token(self, token: str) -> bool:
        """True once for the start-up token; it cannot be used again."""
        if self.token is None or not token:
            return False
        if hmac.compare_digest(self.token, token):
            self.token = None
            return True
        return False

    def throttled(self, now: float, client: str = "") -> bool:
        """Too many failed logins in the last minute: from ``client``, or from everyone.

        Counted per client address, so a stranger guessing cannot lock the
        owner out from another machine; and in all, so guesses spread over many
        addresses (or forged ``X-Forwarded-For`` headers) stay slow too.
        """
        self._forget(now)
        mine = len(self.failures.get(client, ()))
        everyone = sum(len(times) for times in self.failures.values())
        return mine >= MAX_FAILURES_PER_MINUTE or everyone >= MAX_FAILURES_PER_MINUTE_IN_ALL

    def failed(self, now: float, client: str = "") -> None:
        """Record a failed login from ``client``."""
        self._forget(now)
        self.failures.setdefault(client, []).append(now)

    def _forget(self, now: float) -> None:
        """Drop failures older than a minute (and clients left with none)."""
        for client, times in list(self.failures.items()):
            recent = [t for t in times if now - t < 60]
            if recent:
                self.failures[client] = recent
            else:
                del self.failures[client]

    def open_session(self, now: float) -> str:
        """A new session id (the cookie value); expired sessions are dropped here."""
        for old in [sid for sid, s in self.sessions.items() if s.expires < now]:
            del self.sessions[old]
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = Session(csrf=secrets.token_urlsafe(32), expires=now + SESSION_TTL)
        return sid

    def session(self, sid: str | None, now: float | None = None) -> Session | None:
        """The live session for a cookie value, or ``None``."""
        if not sid:
            return None
        found = self.sessions.get(sid)
        moment = time.time() if now is None else now
        if found is None or found.expires < moment:
            self.sessions.pop(sid, None)
            return None
        return found

    def close_session(self, sid: str | None) -> None:
        """Log out."""
        if sid:
            self.sessions.pop(sid, None)
