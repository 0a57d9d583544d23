"""Is a ``POST /hooks/git`` from the repository's server? Signatures, and how often.

Three ways servers sign a webhook, all checked against the raw body as received:

- GitHub (and Gitea, Forgejo): ``X-Hub-Signature-256: sha256=HEX``, HMAC-SHA256 of the
  body keyed with the secret;
- Gitea: ``X-Gitea-Signature: HEX``, the same HMAC without the prefix;
- GitLab: ``X-Gitlab-Token: SECRET``, the secret itself (no signature of the body).

Every comparison is ``hmac.compare_digest`` (its time does not depend on where the
texts differ). A valid request only rings the bell: cf then fetches the branch itself
and believes git, never the body, about commits; a replayed request makes one more
fetch, which the rate limit bounds.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

HOOKS_PER_MINUTE = 6  # from one address; a push rings once
HOOKS_PER_MINUTE_IN_ALL = 20
WINDOW = 60.0


def hmac_hex(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_problem(headers: Mapping[str, str], body: bytes, secret: bytes) -> str | None:
    """Why the request is not signed with ``secret`` (by any of the three flavours), or
    ``None`` when it is. ``headers``: case-insensitive (Starlette's)."""
    github = headers.get("x-hub-signature-256")
    if github is not None:
        scheme, _, sent = github.partition("=")
        if scheme != "sha256":
            return "X-Hub-Signature-256 is not sha256=HEX"
        return _compare(sent, hmac_hex(secret, body), "X-Hub-Signature-256")
    gitea = headers.get("x-gitea-signature")
    if gitea is not None:
        return _compare(gitea, hmac_hex(secret, body), "X-Gitea-Signature")
    gitlab = headers.get("x-gitlab-token")
    if gitlab is not None:
        ok = hmac.compare_digest(gitlab.encode("utf-8", "replace"), secret)
        return None if ok else "X-Gitlab-Token does not match"
    return "no signature (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token)"


def _compare(sent: str, expected: str, header: str) -> str | None:
    sent = sent.strip().lower()
    if hmac.compare_digest(sent.encode("ascii", "replace"), expected.encode("ascii")):
        return None
    return f"{header} does not match the body"


@dataclass
class HookLimit:
    """At most ``per_client`` hooks a minute from one address and ``in_all`` from all,
    counted before the signature is checked (a flood costs no HMAC beyond the limit)."""

    per_client: int = HOOKS_PER_MINUTE
    in_all: int = HOOKS_PER_MINUTE_IN_ALL
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _all: deque[float] = field(default_factory=deque)

    def admit(self, client: str) -> int | None:
        """``None``: go ahead (counted). Else the seconds to wait (429 ``Retry-After``)."""
        now = self.clock()
        while self._all and now - self._all[0] >= WINDOW:
            self._all.popleft()
        mine = self._seen.setdefault(client, deque())
        while mine and now - mine[0] >= WINDOW:
            mine.popleft()
        if len(mine) >= self.per_client:
            return max(1, int(mine[0] + WINDOW - now + 0.999))
        if not mine:
            del self._seen[client]
        if len(self._all) >= self.in_all:
            return max(1, int(self._all[0] + WINDOW - now + 0.999))
        self._seen.setdefault(client, mine).append(now)
        self._all.append(now)
        for other in [c for c, times in self._seen.items() if now - times[-1] >= WINDOW]:
            del self._seen[other]  # forgotten: nothing of theirs in the window
        return None
