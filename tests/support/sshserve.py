"""SSH on 127.0.0.1 for tests that need no lab: asyncssh servers and a real ssh-agent."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import asyncssh

from tests.support.waiting import poll


class LoginServer(asyncssh.SSHServer):
    """Asks every client to authenticate (with the server's authorized keys)."""

    def begin_auth(self, username: str) -> bool:
        return True


@contextlib.asynccontextmanager
async def listening(
    host_keys: Sequence[asyncssh.SSHKey],
    *,
    server: type[asyncssh.SSHServer] = asyncssh.SSHServer,
    authorized: Path | None = None,
) -> AsyncIterator[int]:
    """An asyncssh server presenting ``host_keys`` on 127.0.0.1; yields its port."""
    extra = {"authorized_client_keys": str(authorized)} if authorized is not None else {}
    running = await asyncssh.create_server(
        server, "127.0.0.1", 0, server_host_keys=list(host_keys), **extra
    )
    try:
        yield running.sockets[0].getsockname()[1]
    finally:
        running.close()
        await running.wait_closed()


@contextlib.contextmanager
def agent_holding(key_file: Path, sock: Path) -> Iterator[Path]:
    """A real ``ssh-agent`` on ``sock`` holding the key in ``key_file``; stopped afterwards."""
    key_file.chmod(0o600)  # ssh-add refuses a key others can read
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        poll(lambda: True if sock.exists() else None, what="ssh-agent's socket", interval=0.01)
        env = {"SSH_AUTH_SOCK": str(sock), "PATH": os.environ["PATH"]}
        subprocess.run(["ssh-add", "-q", str(key_file)], env=env, check=True, capture_output=True)
        yield sock
    finally:
        agent.terminate()
        agent.wait(timeout=10)
