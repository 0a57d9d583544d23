"""Opening a channel (``SshPool._channel``): sshd's refusal of one more session is waited
out with one channel fewer; a connection that closed is reported lost at once, never
taken for a refusal (it was retried for ~6 s with every permit shrunk, and the dead
connection kept for good: `cf stats --live` never saw the host come back)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from compose_farm.ssh.lib import asyncssh
from compose_farm.ssh.pool import SshPool, _Link

# what OpenSSH's sshd sends past its MaxSessions (seen on the lab: tests/e2e/test_channels.py)
REFUSED = asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, "open failed")
CLOSED = asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, "SSH connection closed")


class Conn:
    """A connection whose channel opens fail with ``errors`` in turn, then succeed."""

    def __init__(self, errors: list[Exception], closed: bool = False) -> None:
        self.errors = errors
        self.closed = closed
        self.asked = 0

    def is_closed(self) -> bool:
        return self.closed

    async def create_process(self, line: str, **_: Any) -> str:
        self.asked += 1
        if self.errors:
            raise self.errors.pop(0)
        return f"process of {line}"


def opened(conn: Conn, limit: int = 8) -> tuple[object, _Link]:
    async def run() -> tuple[object, _Link]:
        link = _Link(channels=asyncio.Semaphore(limit), limit=limit)
        pool = SshPool.__new__(SshPool)  # `_channel` needs no more of it than `_shrink`
        try:
            found: object = await pool._channel(conn, link, "true")  # type: ignore[arg-type]
        except Exception as exc:
            found = exc
        for held in link.held:
            held.cancel()
        return found, link

    return asyncio.run(run())


def test_a_refused_session_is_tried_again_with_one_channel_fewer() -> None:
    conn = Conn([REFUSED, REFUSED])
    found, link = opened(conn)
    assert found == "process of true" and conn.asked == 3
    assert link.limit == 6  # two refusals: two permits held for good


@pytest.mark.parametrize(
    ("error", "closed"), [(CLOSED, False), (REFUSED, True)], ids=["said-closed", "is-closed"]
)
def test_a_closed_connection_is_lost_at_once_not_refused(error: Exception, closed: bool) -> None:
    conn = Conn([error, error, error], closed=closed)
    found, link = opened(conn)
    assert isinstance(found, ConnectionError), found
    assert conn.asked == 1 and link.limit == 8
    assert link.channels._value == 8  # its permit given back
