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
from compose_farm.errors import KeyFileError
from compose_farm.executor import Script
from compose_farm.fsutil import atomic_write
from compose_farm.ssh.authkeys import INSTALL_PROGRAM
from compose_farm.ssh.identity import SshIdentity
from compose_farm.ssh.lib import asyncssh
from compose_farm.ssh.login import Target, connect, open_jump, recorded_keys, resolve_within


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
    target: Target | None = None  # where the host really is, after ~/.ssh/config
    recorded: tuple[str, ...] = ()  # fingerprints on record, when the key has changed

    @property
    def fingerprint(self) -> str:
        """SHA256 fingerprint of the presented key, as ``ssh`` prints it."""
        return self.key.get_fingerprint("sha256") if self.key is not None else ""


def ensure_key(identity: SshIdentity, *, force: bool = False) -> tuple[Path, bool]:
    """Make the ed25519 key at ``~/.ssh/compose-farm/id_ed25519``; returns (path, made).

    Raises ``KeyFileError`` when the folder or the key cannot be read or written.
    """
    path = identity.dedicated_key
    public = path.with_suffix(".pub")
    try:
        if path.exists() and not force:
            if not public.exists():  # rebuild a lost public half from the private key
                key = asyncssh.read_private_key(str(path))
                atomic_write(public, key.export_public_key().decode())
            return path, False
        identity.ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # ~/.ssh if new
        identity.farm_dir.mkdir(exist_ok=True, mode=0o700)
        identity.farm_dir.chmod(0o700)
        key = asyncssh.generate_private_key("ssh-ed25519", comment="compose-farm")
        if path.exists():
            path.chmod(0o600)  # before the new secret goes in beside it
        atomic_write(path, key.export_private_key().decode(), default_mode=0o600)
        atomic_write(public, key.export_public_key().decode())
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path}: {_why(exc)}") from None
    return path, True


def public_key_line(identity: SshIdentity) -> str:
    """The dedicated key's ``authorized_keys`` line; ``KeyFileError`` when unreadable."""
    public = identity.dedicated_key.with_suffix(".pub")
    try:
        line = public.read_text(encoding="utf-8").strip()
        asyncssh.import_public_key(line)
    except (OSError, ValueError) as exc:
        raise KeyFileError(
            f"{public}: {_why(exc)}", hint="make a new key pair: cf ssh keygen --force"
        ) from None
    return line


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__


def _algorithms(keys: list[asyncssh.SSHKey]) -> list[str]:
    """Host key algorithms that would present one of ``keys`` (RSA has several)."""
    found: list[str] = []
    for key in keys:
        for name in key.sig_algorithms:
            if name.decode() not in found:
                found.append(name.decode())
    return found


async def check_host_key(identity: SshIdentity, host: HostConfig, timeout: float) -> HostKeyCheck:
    """Fetch the key the host presents (no login) and compare it with the record.

    Like the connection itself, this asks for a key of a type already recorded
    for the host, so a host with ed25519 and ecdsa keys whose ecdsa key is on
    record is "known", not "changed". ``~/.ssh/config`` (HostName, Port,
    HostKeyAlias) is applied as a login would apply it.
    """
    try:
        target = await resolve_within(identity, host, timeout, keys=False)
    except (OSError, ValueError) as exc:
        return HostKeyCheck(KeyStatus.UNREACHABLE, error=f"cannot read the ssh settings: {exc}")
    recorded = recorded_keys(identity, target)
    wanted = _algorithms(recorded)
    jump = None
    try:
        jump = await open_jump(identity, host.address, target, timeout)  # ProxyJump hops
        key = await _fetch(target, timeout, wanted, jump)
        if key is None and wanted:
            key = await _fetch(target, timeout, [], jump)  # none of those types: a new key
    except (TimeoutError, OSError, ValueError, asyncssh.Error) as exc:
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        elif isinstance(exc, ConnectionRefusedError):
            reason = "connection refused: is sshd running?"
        else:
            reason = str(exc) or type(exc).__name__
        if target.jump is not None:
            reason = f"{reason} (through ProxyJump {target.jump})"
        return HostKeyCheck(KeyStatus.UNREACHABLE, error=reason, target=target)
    finally:
        if jump is not None:
            jump.close()
    if key is None:
        return HostKeyCheck(KeyStatus.UNREACHABLE, error="the host presented no key", target=target)
    if not recorded:
        return HostKeyCheck(KeyStatus.UNKNOWN, key, target=target)
    if any(k.public_data == key.public_data for k in recorded):
        return HostKeyCheck(KeyStatus.KNOWN, key, target=target)
    old = [k.get_fingerprint("sha256") for k in recorded]
    return HostKeyCheck(KeyStatus.CHANGED, key, target=target, recorded=tuple(old))


async def _fetch(
    target: Target,
    timeout: float,
    algorithms: list[str],
    jump: asyncssh.SSHClientConnection | None,
) -> asyncssh.SSHKey | None:
    """The host key ``target`` presents, of one of ``algorithms`` (any when empty)."""
    try:
        return await asyncio.wait_for(
            asyncssh.get_server_host_key(
                target.hostname,
                target.port,
                tunnel=jump if jump is not None else None,
                server_host_key_algs=algorithms or (),
                config=None,  # already applied (resolve): not $HOME's again
            ),
            timeout=timeout,
        )
    except asyncssh.KeyExchangeFailed:
        if algorithms:
            return None
        raise


def record_key(identity: SshIdentity, name: str, key: asyncssh.SSHKey) -> None:
    """Record ``key`` as ``name``'s in cf's known_hosts file, in place of any line it had there.

    Raises ``KeyFileError`` when the file cannot be read or written.
    """
    path = identity.farm_known_hosts
    try:
        identity.farm_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        line = f"{name} {key.export_public_key().decode().strip()}"
        kept = [x for x in lines if x.split(" ", 1)[0] != name]
        atomic_write(path, "\n".join([*kept, line]) + "\n")
    except OSError as exc:
        raise KeyFileError(f"{path}: {_why(exc)}") from None


def still_recording_others(
    identity: SshIdentity, target: Target, key: asyncssh.SSHKey
) -> list[Path]:
    """The known_hosts files that still record a key other than ``key`` for ``target``.

    After ``trust --replace`` only cf's own file and the user's are edited;
    another key left in ``ssh.known_hosts`` or ``/etc/ssh/ssh_known_hosts``
    would still be accepted, so the user must be told where it is.
    """
    port = target.port if target.port != 22 else None
    found = []
    for path in identity.known_hosts_files():
        try:
            keys = asyncssh.read_known_hosts(str(path)).match(
                target.alias or target.hostname, "", port
            )[0]
        except (OSError, ValueError):
            continue
        if any(k.public_data != key.public_data for k in keys):
            found.append(path)
    return found


def forget_in_user_known_hosts(identity: SshIdentity, name: str) -> None:
    """Remove ``name`` from ``~/.ssh/known_hosts`` and ``known_hosts2`` with ``ssh-keygen -R``.

    ``ssh-keygen`` handles hashed names. The extra file named by ``ssh.known_hosts``
    in the config is the user's to edit and is left alone.
    """
    for user_file in (identity.ssh_dir / "known_hosts", identity.ssh_dir / "known_hosts2"):
        if user_file.is_file():
            with contextlib.suppress(OSError):
                subprocess.run(
                    ["ssh-keygen", "-R", name, "-f", str(user_file)],
                    capture_output=True,
                    check=False,
                )


async def install_key(
    name: str,
    host: HostConfig,
    options: SshOptions,
    identity: SshIdentity,
    line: str,
    password: str | None,
) -> str:
    """Log in (keys first; ``password`` when given) and add ``line`` to authorized_keys.

    Returns ``added`` or ``present``; raises ``asyncssh.Error``/``OSError`` on failure.
    """
    script = Script(INSTALL_PROGRAM, (line, " ".join(line.split()[:2])))
    conn = await connect(
        identity,
        name,
        host,
        timeout=options.connect_timeout,
        password=password,
        preferred_auth="keyboard-interactive,password" if password is not None else (),
    )
    async with conn:
        result = await conn.run(script.shell(), check=True)
    return str(result.stdout).strip()
