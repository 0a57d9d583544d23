"""Host trust and key setup for ``cf ssh``: fetch host keys, record them, install our key.

Recording a host key is always a decision the user confirms (or scripts with
``--yes``). A key that differs from the recorded one is reported as a possible
attack and is only replaced with ``--replace``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import subprocess
from dataclasses import dataclass
from pathlib import Path

from compose_farm.config import HostConfig, SshOptions
from compose_farm.executor import Script
from compose_farm.executor.ssh import FarmClient
from compose_farm.executor.trust import SshIdentity
from compose_farm.fsutil import atomic_write
from compose_farm.sshlib import asyncssh


class KeyStatus(enum.StrEnum):
    """How a host's presented key compares with what we recorded."""

    KNOWN = "known"
    UNKNOWN = "unknown"
    CHANGED = "changed"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class HostKeyCheck:
    """A host's presented key, and how it compares."""

    status: KeyStatus
    key: asyncssh.SSHKey | None = None
    error: str | None = None

    @property
    def fingerprint(self) -> str:
        """SHA256 fingerprint of the presented key, as ``ssh`` prints it."""
        return self.key.get_fingerprint("sha256") if self.key is not None else ""


def ensure_key(identity: SshIdentity, *, force: bool = False) -> tuple[Path, bool]:
    """Make the ed25519 key at ``~/.ssh/compose-farm/id_ed25519``; returns (path, made)."""
    path = identity.dedicated_key
    public = path.with_suffix(".pub")
    if path.exists() and not force:
        if not public.exists():  # rebuild a lost public half from the private key
            key = asyncssh.read_private_key(str(path))
            atomic_write(public, key.export_public_key().decode())
        return path, False
    identity.farm_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="compose-farm")
    atomic_write(path, key.export_private_key().decode(), default_mode=0o600)
    path.chmod(0o600)
    atomic_write(path.with_suffix(".pub"), key.export_public_key().decode())
    return path, True


def public_key_line(identity: SshIdentity) -> str:
    """The dedicated key's ``authorized_keys`` line."""
    return identity.dedicated_key.with_suffix(".pub").read_text(encoding="utf-8").strip()


def _port(host: HostConfig) -> int:
    return host.port or 22


def _recorded(identity: SshIdentity, host: HostConfig) -> list[asyncssh.SSHKey]:
    port = _port(host) if _port(host) != 22 else None
    keys: list[asyncssh.SSHKey] = []
    for path in identity.known_hosts_files():
        try:
            known = asyncssh.read_known_hosts(str(path))
        except (OSError, ValueError):
            continue
        keys += list(known.match(host.address, "", port)[0])
    return keys


async def check_host_key(identity: SshIdentity, host: HostConfig, timeout: float) -> HostKeyCheck:
    """Fetch the key the host presents (no login) and compare it with the record."""
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(host.address, _port(host)), timeout=timeout
        )
    except (TimeoutError, OSError, asyncssh.Error) as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        return HostKeyCheck(KeyStatus.UNREACHABLE, error=f"{reason} (within {timeout:g} s)")
    if key is None:
        return HostKeyCheck(KeyStatus.UNREACHABLE, error="the host presented no key")
    recorded = _recorded(identity, host)
    if not recorded:
        return HostKeyCheck(KeyStatus.UNKNOWN, key)
    if any(k.public_data == key.public_data for k in recorded):
        return HostKeyCheck(KeyStatus.KNOWN, key)
    return HostKeyCheck(KeyStatus.CHANGED, key)


def known_hosts_name(host: HostConfig) -> str:
    """How known_hosts names a host: ``addr`` on port 22, ``[addr]:port`` otherwise."""
    return host.address if _port(host) == 22 else f"[{host.address}]:{_port(host)}"


def record_key(identity: SshIdentity, host: HostConfig, key: asyncssh.SSHKey) -> None:
    """Add (or with a changed key, replace) the host's line in cf's known_hosts file."""
    name = known_hosts_name(host)
    path = identity.farm_known_hosts
    identity.farm_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    kept = [line for line in lines if line.split(" ", 1)[0] != name]
    kept.append(f"{name} {key.export_public_key().decode().strip()}")
    atomic_write(path, "\n".join(kept) + "\n")


def forget_in_user_known_hosts(identity: SshIdentity, host: HostConfig) -> None:
    """Remove the host from ``~/.ssh/known_hosts`` with ``ssh-keygen -R`` (handles hashing)."""
    user_file = identity.ssh_dir / "known_hosts"
    if user_file.is_file():
        with contextlib.suppress(OSError):
            subprocess.run(
                ["ssh-keygen", "-R", known_hosts_name(host), "-f", str(user_file)],
                capture_output=True,
                check=False,
            )


INSTALL_KEY = r"""
umask 077
mkdir -p "$HOME/.ssh"
touch "$HOME/.ssh/authorized_keys"
if grep -qxF "$1" "$HOME/.ssh/authorized_keys"; then echo present; else
  printf '%s\n' "$1" >> "$HOME/.ssh/authorized_keys" && echo added
fi
"""


async def install_key(
    host: HostConfig,
    options: SshOptions,
    identity: SshIdentity,
    line: str,
    password: str | None,
) -> str:
    """Log in (keys first; ``password`` when given) and add ``line`` to authorized_keys.

    Returns ``added`` or ``present``; raises ``asyncssh.Error``/``OSError`` on failure.
    """
    script = Script(INSTALL_KEY, (line,))
    conn = await asyncio.wait_for(
        asyncssh.connect(
            host.address,
            port=host.port if host.port is not None else (),
            username=host.user if host.user is not None else (),
            known_hosts=[str(p) for p in identity.known_hosts_files()] or b"",
            agent_path=identity.agent_path(),
            client_keys=identity.client_keys(host),
            password=password,
            client_factory=lambda: FarmClient(host.address, identity.dedicated_key_if_present()),
            config=identity.ssh_config_paths(),
            connect_timeout=options.connect_timeout,
            login_timeout=options.connect_timeout,
        ),
        timeout=options.connect_timeout + 1,
    )
    async with conn:
        result = await conn.run(script.shell(), check=True)
    return str(result.stdout).strip()
