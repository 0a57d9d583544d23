"""Logging in to a host: what ``~/.ssh/config`` says about it, and which key to offer.

asyncssh is given no keys of its own. It asks ``FarmClient`` for the next key
each time the host refuses one, and gets them in OpenSSH's order: the agent's
keys, then the key files ssh would use (``IdentityFile`` from the ssh config or
the host's ``identity_file``, else the default names in ``~/.ssh``), then cf's
own key. A key the agent already offered is not offered again from its file,
so sshd's ``MaxAuthTries`` is not spent on repeats. Because cf hands out every
key itself, ``-v`` can say exactly which one logged in.

Host keys are matched by the host's *name* (its ``HostKeyAlias``, else its
``HostName``), as OpenSSH does: a key recorded for the IP address a name
resolves to does not vouch for the name. A ``ProxyJump`` hop is opened by cf
too, with the same host key checks and keys.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compose_farm.config import HostConfig
from compose_farm.ssh.identity import SshIdentity
from compose_farm.ssh.lib import asyncssh

log = logging.getLogger("compose_farm.ssh")

# OpenSSH's default key file names, in the order it tries them.
DEFAULT_KEY_NAMES = ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk")
MAX_JUMPS = 5  # ProxyJump hops, counting those the hops' own config entries add
AGENT_TIMEOUT = 5.0  # an agent that accepts but never answers costs no more than this


@dataclass(frozen=True)
class Target:
    """Where a host really is once ``~/.ssh/config`` is applied, and how to log in there."""

    hostname: str
    port: int
    alias: str | None  # HostKeyAlias: the name its key is recorded under
    options: Any  # asyncssh.SSHClientConnectionOptions (no keys: see FarmClient)
    keys: tuple[Any, ...] = ()  # the key files' pairs (asyncssh.SSHKeyPair)
    agent: str | None = None  # the agent's socket: IdentityAgent, else $SSH_AUTH_SOCK
    identities_only: frozenset[bytes] | None = None  # IdentitiesOnly: the agent keys allowed
    jump: str | None = None  # ProxyJump: ``[user@]host[:port]``, comma-separated hops

    @property
    def known_hosts_name(self) -> str:
        """The name known_hosts records the key under: ``name`` or ``[name]:port``."""
        name = self.alias or self.hostname
        return name if self.port == 22 else f"[{name}]:{self.port}"


def trusted_by_name(identity: SshIdentity) -> Callable[[str, str, int | None], Any]:
    """asyncssh's ``known_hosts``: the keys recorded for a host's name (its address unused)."""

    def match(host: str, _address: str, port: int | None) -> tuple[Any, ...]:
        files = [str(p) for p in identity.known_hosts_files()]
        if not files:
            return (), (), ()
        return tuple(asyncssh.read_known_hosts(files).match(host, "", port)[:3])

    return match


def resolve(identity: SshIdentity, host: HostConfig, *, keys: bool = True) -> Target:
    """Apply the ssh config to ``host`` and load the key files it names (or the defaults).

    ``keys=False`` only finds where the host is (for host key checks). A key
    file that does not exist, or needs a passphrase, is skipped as ``ssh``
    skips it (the agent may hold the key). This reads files: call it off the
    event loop. Raises ``ValueError`` or ``OSError`` for an unreadable ssh config.
    """
    options = asyncssh.SSHClientConnectionOptions(
        config=identity.ssh_config_paths(),
        host=host.address,
        port=host.port if host.port is not None else (),
        username=host.user if host.user is not None else (),
        client_keys=None,  # cf loads the key files itself, below
        known_hosts=trusted_by_name(identity),
    )
    config = options.config
    files = _key_files(identity, host, config)
    pairs: Sequence[Any] = ()
    if keys and files:
        pairs = asyncssh.load_keypairs([str(f) for f in files], ignore_encrypted=True)
    only = None
    if config.get("IdentitiesOnly"):
        only = frozenset(_public_data(f) for f in files) - {b""}
    jump = options.tunnel if isinstance(options.tunnel, str) else None
    return Target(
        hostname=str(options.host),
        port=int(options.port or 22),
        alias=options.host_key_alias,
        options=options,
        keys=tuple(pairs),
        agent=_agent_path(config.get("IdentityAgent")),
        identities_only=only,
        jump=jump if jump and jump.lower() != "none" else None,
    )


def _key_files(identity: SshIdentity, host: HostConfig, config: Any) -> list[Path]:
    """The key files ssh would try for ``host`` that exist."""
    if host.identity_file:
        named = [host.identity_file]
    else:
        named = [str(n) for n in config.get("IdentityFile", ()) or ()]
    if not named:
        named = [str(identity.ssh_dir / n) for n in DEFAULT_KEY_NAMES]
    paths = [Path(n).expanduser() for n in named]
    return [p for p in paths if p.is_file()]


def _public_data(private: Path) -> bytes:
    """The public half of a key file (from its ``.pub``), for IdentitiesOnly."""
    try:
        return bytes(asyncssh.read_public_key(f"{private}.pub").public_data)
    except (OSError, ValueError):
        return b""


def _agent_path(identity_agent: object) -> str | None:
    """The agent socket: ``IdentityAgent`` (``none`` switches it off), else $SSH_AUTH_SOCK."""
    if isinstance(identity_agent, str) and identity_agent:
        if identity_agent.lower() == "none":
            return None
        if identity_agent == "SSH_AUTH_SOCK":
            return os.environ.get("SSH_AUTH_SOCK") or None
        return str(Path(os.path.expandvars(identity_agent)).expanduser())
    return os.environ.get("SSH_AUTH_SOCK") or None


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
        target = self.target
        keys = [(_named(k, "ssh-agent key"), k) for k in await self._agent_keys()]
        seen = {bytes(k.public_data) for _, k in keys}
        for pair in target.keys:
            if bytes(pair.public_data) not in seen:
                seen.add(bytes(pair.public_data))
                keys.append((_named(pair, "key"), pair))
        if self.dedicated is not None:
            try:
                (pair,) = asyncssh.load_keypairs([str(self.dedicated)])
            except (OSError, ValueError, asyncssh.KeyImportError) as exc:
                log.info("%s: cannot load %s: %s", self.name, self.dedicated, exc)
            else:
                if bytes(pair.public_data) not in seen:
                    keys.append((f"cf's key {self.dedicated}", pair))
        return keys

    async def _agent_keys(self) -> list[asyncssh.SSHKeyPair]:
        """The agent's keys (none from an agent that is gone, stale or silent)."""
        if not self.target.agent:
            return []
        self._agent = asyncssh.SSHAgentClient(self.target.agent)
        try:
            found = await asyncio.wait_for(self._agent.get_keys(), AGENT_TIMEOUT)
        except (TimeoutError, OSError, ValueError, asyncssh.Error) as exc:
            log.info("%s: ssh-agent gave no keys: %s", self.name, exc or "no answer")
            return []
        only = self.target.identities_only
        return [k for k in found if only is None or bytes(k.public_data) in only]

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
    via: asyncssh.SSHClientConnection | None = None,
    **extra: Any,
) -> asyncssh.SSHClientConnection:
    """Log in to ``host`` with host-key checking, the key order above and ``timeout``.

    ``password`` is for ``cf ssh setup``, which tries it on its own once the
    keys were refused. ``offered`` collects what each key tried was. ``via``
    is a connection to tunnel through (else ``target``'s ProxyJump hops are
    opened here). Raises what ``asyncssh.connect`` raises (``PermissionDenied``
    also when sshd hung up after too many keys), ``TimeoutError``, and
    ``resolve``'s errors.
    """
    if target is None:
        target = await resolve_within(identity, host, timeout)
    dedicated = identity.dedicated_key_if_present()
    tried = offered if offered is not None else []
    jump = via if via is not None else await open_jump(identity, name, target, timeout)
    try:
        conn = await asyncio.wait_for(
            asyncssh.connect(
                target.hostname,
                target.port,
                options=target.options,
                tunnel=jump if jump is not None else (),
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
    except asyncssh.DisconnectError as exc:
        if jump is not None:
            jump.close()
        if exc.code == asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE:
            # sshd's MaxAuthTries: as refused as a refusal (the next step is the same)
            raise asyncssh.PermissionDenied(exc.reason) from None
        raise
    except BaseException:
        if jump is not None:
            jump.close()
        raise
    if jump is not None:
        conn.set_tunnel(jump)  # closed together
    return conn


async def resolve_within(
    identity: SshIdentity, host: HostConfig, timeout: float, *, keys: bool = True
) -> Target:
    """``resolve`` in a thread, bounded by ``timeout`` (``Match exec`` can run anything)."""
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(resolve, identity, host, keys=keys), timeout
        )
    except TimeoutError:
        raise ValueError(f"reading ~/.ssh/config took over {timeout:g} s") from None


async def open_jump(
    identity: SshIdentity, name: str, target: Target, timeout: float, depth: int = 0
) -> asyncssh.SSHClientConnection | None:
    """The ``ProxyJump`` hops of ``target``, opened by cf in order; the last one, or None."""
    if target.jump is None:
        return None
    if depth >= MAX_JUMPS:
        raise ValueError(f"more than {MAX_JUMPS} ProxyJump hops (a loop in ~/.ssh/config?)")
    conn: asyncssh.SSHClientConnection | None = None
    try:
        for spec in target.jump.split(","):
            hop = _hop(spec.strip())
            hop_target = await resolve_within(identity, hop, timeout)
            if hop_target.jump is not None and conn is None:
                conn = await open_jump(identity, name, hop_target, timeout, depth + 1)
            previous = conn
            conn = await connect(
                identity,
                f"{name} (via {spec.strip()})",
                hop,
                timeout=timeout,
                target=_without_jump(hop_target),
                via=previous,
            )
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return conn


def _hop(spec: str) -> HostConfig:
    """``[user@]host[:port]`` as a host to log in to."""
    user, _, rest = spec.rpartition("@")
    address, port = rest, None
    if rest.startswith("["):  # [v6-address]:port
        address, _, tail = rest[1:].partition("]")
        port = int(tail[1:]) if tail.startswith(":") and tail[1:].isdigit() else None
    elif rest.count(":") == 1:
        address, _, number = rest.partition(":")
        port = int(number) if number.isdigit() else None
    return HostConfig(address=address, user=user or None, port=port)


def _without_jump(target: Target) -> Target:
    """``target`` whose own hops were already opened (they become its tunnel)."""
    return Target(
        target.hostname,
        target.port,
        target.alias,
        target.options,
        target.keys,
        target.agent,
        target.identities_only,
        None,
    )


def recorded_keys(identity: SshIdentity, target: Target) -> list[asyncssh.SSHKey]:
    """The host keys the known_hosts files record for ``target``'s name.

    Only the host's own keys: an ``@cert-authority`` line vouches for host
    certificates, which a login checks and a fetched plain key cannot be.
    """
    port = target.port if target.port != 22 else None
    with contextlib.suppress(OSError, ValueError):
        return list(trusted_by_name(identity)(target.alias or target.hostname, "", port)[0])
    return []
