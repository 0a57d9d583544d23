"""Who we are and whom we trust over SSH: keys, known_hosts files, ssh config.

Host keys are always verified. cf matches them itself against the files
listed here (``ssh/login.py``), so ``UserKnownHostsFile none`` or
``StrictHostKeyChecking no`` in someone's ``~/.ssh/config`` cannot switch
verification off, and a host with no recorded key is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from compose_farm.config import Config, HostConfig
from compose_farm.errors import HostKeyError


@dataclass(frozen=True)
class SshIdentity:
    """The local user's SSH setup, rooted at ``home`` (``~``)."""

    home: Path
    extra_known_hosts: Path | None = None
    global_known_hosts: Path = Path("/etc/ssh/ssh_known_hosts")  # ssh's GlobalKnownHostsFile

    @classmethod
    def of(cls, config: Config, home: Path | None = None) -> SshIdentity:
        """The identity a farm's commands use: ``home`` (``~``), plus ``ssh.known_hosts``."""
        extra = Path(config.ssh.known_hosts).expanduser() if config.ssh.known_hosts else None
        return cls(home=home or Path.home(), extra_known_hosts=extra)

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
        # One that cannot be read (a root-only system file) is skipped, as ssh skips it.
        return [p for p in candidates if p.is_file() and os.access(p, os.R_OK)]

    def dedicated_key_if_present(self) -> Path | None:
        """cf's key, when ``cf ssh keygen`` made one."""
        return self.dedicated_key if self.dedicated_key.is_file() else None

    def ssh_config_paths(self) -> list[str]:
        """``~/.ssh/config`` when present (HostName, User, Port, IdentityFile, ProxyJump).

        Never ``()``: that would make asyncssh read the config of ``$HOME``, not ``home``'s.
        """
        path = self.ssh_dir / "config"
        return [str(path)] if path.is_file() else []

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


def describe_target(host: HostConfig) -> str:
    """``user@address:port`` as far as the config says."""
    user = f"{host.user}@" if host.user else ""
    port = f":{host.port}" if host.port else ""
    return f"{user}{host.address}{port}"
