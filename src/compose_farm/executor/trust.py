"""Who we are and whom we trust over SSH: keys, known_hosts files, ssh config.

Host keys are always verified. We pass the known_hosts files explicitly, so a
``UserKnownHostsFile none`` in someone's ``~/.ssh/config`` cannot switch
verification off, and a host with no recorded key is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncssh

from compose_farm.config import HostConfig
from compose_farm.errors import HostKeyError

DEFAULT_KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")


@dataclass(frozen=True)
class SshIdentity:
    """The local user's SSH setup, rooted at ``home`` (``~``)."""

    home: Path
    extra_known_hosts: Path | None = None

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
        return [p for p in candidates if p.is_file()]

    def client_keys(self, host: HostConfig) -> list[str] | tuple[()]:
        """Keys to offer after the agent's: the host's own, or defaults plus cf's key.

        ``()`` lets asyncssh pick (``IdentityFile`` from ssh config, then the
        default key names), which is right when there is no dedicated key.
        """
        if host.identity_file:
            return [str(Path(host.identity_file).expanduser())]
        if not self.dedicated_key.is_file():
            return ()
        defaults = [self.ssh_dir / name for name in DEFAULT_KEY_NAMES]
        return [str(p) for p in [*defaults, self.dedicated_key] if p.is_file()]

    def agent_path(self) -> tuple[()]:
        """Use ``$SSH_AUTH_SOCK`` when set (asyncssh's default)."""
        return ()

    def ssh_config_paths(self) -> list[str] | tuple[()]:
        """``~/.ssh/config`` when present (HostName, User, Port, IdentityFile, ProxyJump)."""
        path = self.ssh_dir / "config"
        return [str(path)] if path.is_file() else ()

    def describe_methods(self, host: HostConfig) -> str:
        """What we offered, for an authentication error."""
        keys = self.client_keys(host)
        return ", ".join(keys) if keys else "ssh-agent and the default keys in ~/.ssh"

    def host_key_error(self, name: str, host: HostConfig, detail: str) -> HostKeyError:
        """Say whether the key is unknown or changed, and how to trust it."""
        recorded = _recorded_keys(self, host)
        if recorded:
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


def known_hosts_for(identity: SshIdentity) -> list[str] | bytes:
    """The ``known_hosts`` argument for asyncssh: never ``None`` (which disables checks)."""
    files = identity.known_hosts_files()
    return [str(p) for p in files] if files else b""


def _recorded_keys(identity: SshIdentity, host: HostConfig) -> bool:
    port = host.port if host.port not in (None, 22) else None
    for path in identity.known_hosts_files():
        try:
            known = asyncssh.read_known_hosts(str(path))
        except (OSError, ValueError):
            continue
        trusted = known.match(host.address, "", port)
        if trusted[0] or trusted[1]:
            return True
    return False


def describe_target(host: HostConfig) -> str:
    """``user@address:port`` as far as the config says."""
    user = f"{host.user}@" if host.user else ""
    port = f":{host.port}" if host.port else ""
    return f"{user}{host.address}{port}"
