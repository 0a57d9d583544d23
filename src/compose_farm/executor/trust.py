"""Who we are and whom we trust over SSH: keys, known_hosts files, ssh config.

Host keys are always verified. We pass the known_hosts files explicitly, so a
``UserKnownHostsFile none`` in someone's ``~/.ssh/config`` cannot switch
verification off, and a host with no recorded key is refused.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from compose_farm.config import HostConfig
from compose_farm.errors import HostKeyError


@dataclass(frozen=True)
class SshIdentity:
    """The local user's SSH setup, rooted at ``home`` (``~``)."""

    home: Path
    extra_known_hosts: Path | None = None
    global_known_hosts: Path = Path("/etc/ssh/ssh_known_hosts")  # ssh's GlobalKnownHostsFile
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _agent_checked: str | None = field(default=None, compare=False, repr=False)

    @property
    def ssh_dir(self) -> Path:
        """``~/.ssh``."""
        return self.home / ".ssh"

    @property
    def farm_dir(self) -> Path:
        """``~/.ssh/compose-farm``: cf's own key and known_hosts."""
        return self.ssh_dir / "compose-farm"

    @property
    def dedicated_key(self) -> Path:
        """The key made by ``cf ssh keygen``."""
        return self.farm_dir / "id_ed25519"

    @property
    def farm_known_hosts(self) -> Path:
        """Where ``cf ssh trust`` records host keys."""
        return self.farm_dir / "known_hosts"

    def known_hosts_files(self) -> list[Path]:
        """Every known_hosts file we trust, in order, that exists."""
        candidates = [
            self.ssh_dir / "known_hosts",
            self.ssh_dir / "known_hosts2",
            self.farm_known_hosts,
        ]
        if self.extra_known_hosts is not None:
            candidates.append(self.extra_known_hosts)
        candidates.append(self.global_known_hosts)
        return [p for p in candidates if p.is_file()]

    def client_keys(self, host: HostConfig) -> list[str] | tuple[()]:
        """Keys to offer after the agent's: the host's own ``identity_file``, else ``()``.

        ``()`` lets asyncssh pick what ``ssh`` would: ``IdentityFile`` from
        ``~/.ssh/config``, else the default key names. cf's own key is offered
        after those (see ``executor/ssh.py``).
        """
        if host.identity_file:
            return [str(Path(host.identity_file).expanduser())]
        return ()

    def dedicated_key_if_present(self) -> Path | None:
        """cf's key, when ``cf ssh keygen`` made one."""
        return self.dedicated_key if self.dedicated_key.is_file() else None

    def agent_path(self) -> str | None:
        """``$SSH_AUTH_SOCK`` when an agent answers there; ``None`` for a stale socket.

        A socket left behind by a dead agent would make every login fail
        before the key files are tried, so it is checked once and skipped.
        """
        if self._agent_checked is None:
            path = self.environ.get("SSH_AUTH_SOCK", "")
            object.__setattr__(self, "_agent_checked", path if path and _answers(path) else "")
        return self._agent_checked or None

    def ssh_config_paths(self) -> list[str] | tuple[()]:
        """``~/.ssh/config`` when present (HostName, User, Port, IdentityFile, ProxyJump)."""
        path = self.ssh_dir / "config"
        return [str(path)] if path.is_file() else ()

    def describe_methods(self, host: HostConfig) -> str:
        """What we offered, for an authentication error."""
        offered = ["ssh-agent"] if self.agent_path() else []
        keys = self.client_keys(host)
        offered += (
            list(keys) if keys else ["the keys in ~/.ssh (or IdentityFile from ~/.ssh/config)"]
        )
        if not keys and self.dedicated_key.is_file():
            offered.append(str(self.dedicated_key))
        return ", ".join(offered)

    def host_key_error(
        self, name: str, host: HostConfig, detail: str, *, changed: bool
    ) -> HostKeyError:
        """Say whether the key is unknown or ``changed``, and how to trust it."""
        if changed:
            return HostKeyError(
                name,
                f"the host key of {host.address} has CHANGED since it was recorded: "
                "this could be an attack (or the host was reinstalled). Refusing to connect",
                hint=f"if you know why it changed: cf ssh trust {name} --replace",
            )
        return HostKeyError(
            name,
            f"the host key of {host.address} is not known ({detail})",
            hint=f"check its fingerprint and trust it: cf ssh trust {name}",
        )


def _answers(path: str) -> bool:
    """True when something accepts connections on the unix socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


def known_hosts_for(identity: SshIdentity) -> list[str] | bytes:
    """The ``known_hosts`` argument for asyncssh: never ``None`` (which disables checks)."""
    files = identity.known_hosts_files()
    return [str(p) for p in files] if files else b""


def describe_target(host: HostConfig) -> str:
    """``user@address:port`` as far as the config says."""
    user = f"{host.user}@" if host.user else ""
    port = f":{host.port}" if host.port else ""
    return f"{user}{host.address}{port}"
