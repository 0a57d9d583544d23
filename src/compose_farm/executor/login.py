"""Logging in to a host: what ``~/.ssh/config`` says about it, and which key to offer.

asyncssh is given no keys of its own. It asks ``FarmClient`` for the next key
each time the host refuses one, and gets them in OpenSSH's order: the agent's
keys, then the key files ssh would use (``IdentityFile`` from the ssh config or
the host's ``identity_file``, else the default names in ``~/.ssh``), then cf's
own key. Because cf hands out every key itself, ``-v`` can say exactly which
one logged in.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compose_farm.config import HostConfig
from compose_farm.executor.trust import SshIdentity, known_hosts_for
from compose_farm.sshlib import asyncssh

log = logging.getLogger("compose_farm.ssh")


@dataclass(frozen=True)
class Target:
    """Where a host really is once ``~/.ssh/config`` is applied, and how to log in there."""

    hostname: str
    port: int
    alias: str | None  # HostKeyAlias: the name its key is recorded under
    options: Any  # asyncssh.SSHClientConnectionOptions

    @property
    def known_hosts_name(self) -> str:
        """The name known_hosts records the key under: ``name`` or ``[name]:port``."""
        name = self.alias or self.hostname
        return name if self.port == 22 else f"[{name}]:{self.port}"


def resolve(identity: SshIdentity, host: HostConfig, *, keys: bool = True) -> Target:
    """Apply the ssh config to ``host`` and load the key files it names (or the defaults).

    ``keys=False`` only finds where the host is (for host key checks). This
    reads files: call it off the event loop. Raises ``ValueError`` or
    ``OSError`` for an unreadable ssh config or key file.
    """
    options = asyncssh.SSHClientConnectionOptions(
        config=identity.ssh_config_paths(),
        host=host.address,
        port=host.port if host.port is not None else (),
        username=host.user if host.user is not None else (),
        client_keys=identity.client_keys(host) if keys else None,
        # The agent is IdentityAgent from the ssh config, else $SSH_AUTH_SOCK. One that
        # does not answer (a stale socket) only means no agent keys: see FarmClient._keys.
        known_hosts=known_hosts_for(identity),
    )
    return Target(
        hostname=str(options.host),
        port=int(options.port or 22),
        alias=options.host_key_alias,
        options=options,
    )


def _fingerprint(pair: asyncssh.SSHKeyPair) -> str:
    """``SHA256:...`` as ``ssh-keygen -l`` prints it (a hash of the public key's wire form)."""
    digest = hashlib.sha256(pair.public_data).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _named(pair: asyncssh.SSHKeyPair, source: str) -> str:
    comment = pair.get_comment()
    return f"{source} {_fingerprint(pair)}" + (f" ({comment})" if comment else "")


class FarmClient(asyncssh.SSHClient):
    """Hands asyncssh one key at a time (agent, key files, cf's key); logs the one that worked."""

    def __init__(
        self, name: str, target: Target, dedicated: Path | None, offered: list[str]
    ) -> None:
        self.name = name
        self.target = target
        self.dedicated = dedicated
        self.offered = offered  # every key tried, for an "authentication refused" message
        self.offering: str | None = None  # the key being tried, for the log
        self._queue: list[tuple[str, asyncssh.SSHKeyPair]] | None = None
        self._agent: Any = None

    async def public_key_auth_requested(self) -> asyncssh.SSHKeyPair | None:
        if self._queue is None:
            self._queue = await self._keys()
        if not self._queue:
            self.offering = None
            return None
        self.offering, pair = self._queue.pop(0)
        self.offered.append(self.offering)
        return pair

    async def _keys(self) -> list[tuple[str, asyncssh.SSHKeyPair]]:
        options = self.target.options
        keys: list[tuple[str, asyncssh.SSHKeyPair]] = []
        if options.agent_path:
            self._agent = asyncssh.SSHAgentClient(options.agent_path)
            try:
                found = await self._agent.get_keys(options.agent_identities)
            except (OSError, ValueError, asyncssh.Error) as exc:
                log.info("%s: ssh-agent gave no keys: %s", self.name, exc)
                found = []
            keys += [(_named(k, "ssh-agent key"), k) for k in found]
        keys += [(_named(k, "key"), k) for k in options.client_keys or ()]
        if self.dedicated is not None:
            try:
                (pair,) = asyncssh.load_keypairs([str(self.dedicated)])
            except (OSError, ValueError, asyncssh.KeyImportError) as exc:
                log.info("%s: cannot load %s: %s", self.name, self.dedicated, exc)
            else:
                keys.append((f"cf's key {self.dedicated}", pair))
        return keys

    def auth_completed(self) -> None:
        log.info("%s: logged in with %s", self.name, self.offering or "a password")
        self._close_agent()

    def connection_lost(self, exc: Exception | None) -> None:
        self._close_agent()

    def _close_agent(self) -> None:
        if self._agent is not None:
            self._agent.close()
            self._agent = None


async def connect(
    identity: SshIdentity,
    name: str,
    host: HostConfig,
    *,
    timeout: float,
    password: str | None = None,
    target: Target | None = None,
    offered: list[str] | None = None,
    **extra: Any,
) -> asyncssh.SSHClientConnection:
    """Log in to ``host`` with host-key checking, the key order above and ``timeout``.

    ``password`` is for ``cf ssh setup``, which tries it on its own once the
    keys were refused. ``offered`` collects what each key tried was. Raises
    what ``asyncssh.connect`` raises, ``TimeoutError``, and ``resolve``'s errors.
    """
    if target is None:
        target = await asyncio.to_thread(resolve, identity, host)
    dedicated = identity.dedicated_key_if_present()
    tried = offered if offered is not None else []
    return await asyncio.wait_for(
        asyncssh.connect(
            host.address,
            options=target.options,
            client_keys=None,  # every key comes from FarmClient, in order
            agent_path=None,
            public_key_auth=True,
            password=password,
            client_factory=lambda: FarmClient(name, target, dedicated, tried),
            connect_timeout=timeout,
            login_timeout=timeout,
            **extra,
        ),
        timeout=timeout + 1,
    )


def recorded_keys(identity: SshIdentity, target: Target) -> list[asyncssh.SSHKey]:
    """The host keys the known_hosts files record for ``target`` (as asyncssh matches them).

    Only the host's own keys: an ``@cert-authority`` line vouches for host
    certificates, which a login checks and a fetched plain key cannot be.
    """
    port = target.port if target.port != 22 else None
    keys: list[asyncssh.SSHKey] = []
    for path in identity.known_hosts_files():
        try:
            known = asyncssh.read_known_hosts(str(path))
        except (OSError, ValueError):
            continue
        keys += known.match(target.alias or target.hostname, "", port)[0]
    return keys
