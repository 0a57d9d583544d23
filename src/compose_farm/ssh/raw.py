"""Raw mode: native ``ssh -t`` for commands that need a terminal (exec, progress bars).

It shares an OpenSSH ControlMaster socket per host, kept for a minute, so a
second raw command to the same host costs no new handshake. Host keys are
checked against the same known_hosts files as the asyncssh path, strictly.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from compose_farm.config import HostConfig
from compose_farm.errors import FarmError
from compose_farm.executor.command import Runnable
from compose_farm.ssh.identity import SshIdentity


def ssh_argv(
    host: HostConfig, identity: SshIdentity, remote: str, *, tty: bool = True
) -> list[str]:
    """The ``ssh`` command line for ``remote`` (already a quoted shell line)."""
    control_dir = control_folder(identity)
    argv = [
        "ssh",
        "-o",
        "ControlMaster=auto",
        "-o",
        f'ControlPath="{control_dir}/%C"',  # quoted: a HOME may hold a space
        "-o",
        "ControlPersist=60",
        "-o",
        "StrictHostKeyChecking=yes",
    ]
    user_config = identity.ssh_dir / "config"
    if user_config.is_file():
        argv += ["-F", str(user_config)]
    files = identity.known_hosts_files()
    if files:
        argv += ["-o", "UserKnownHostsFile=" + " ".join(f'"{p}"' for p in files)]
    if host.user:
        argv += ["-l", host.user]
    if host.port:
        argv += ["-p", str(host.port)]
    if host.identity_file:
        argv += ["-i", host.identity_file]
    elif (key := identity.dedicated_key_if_present()) is not None:
        # Any -i switches off ssh's default key names, so list them first.
        defaults = [identity.ssh_dir / n for n in ("id_ed25519", "id_ecdsa", "id_rsa")]
        for path in [*(d for d in defaults if d.is_file()), key]:
            argv += ["-i", str(path)]
    argv.append("-t" if tty else "-T")
    argv += ["--", host.address, remote]
    return argv


# A unix socket path is limited to 107 bytes; OpenSSH's %C adds 40 characters.
MAX_CONTROL_DIR = 60


def control_folder(identity: SshIdentity) -> Path:
    """Where ControlMaster sockets live: ``~/.ssh/compose-farm/cm``, or a private folder
    in the temp dir when the home is so deep the socket path would be too long."""
    preferred = identity.farm_dir / "cm"
    if len(str(preferred)) <= MAX_CONTROL_DIR:
        return preferred
    return Path(tempfile.gettempdir()) / f"cf-ssh-{os.getuid()}"


def _private_folder(folder: Path) -> None:
    """Create ``folder`` 0700, and refuse one that someone else owns or that is a link."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = folder.lstat()
    if folder.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise FarmError(
            f"{folder}: not a private folder of yours; refusing to keep SSH control sockets there"
        )


def run_raw(
    host: HostConfig | None, identity: SshIdentity, command: Runnable, *, tty: bool = True
) -> int:
    """Run with the user's terminal attached; ``host=None`` runs locally. Returns the status."""
    if host is None:
        return subprocess.run(["sh", "-c", command.shell()], check=False).returncode
    _private_folder(control_folder(identity))
    return subprocess.run(
        ssh_argv(host, identity, command.shell(), tty=tty), check=False
    ).returncode


def local_argv(command: Runnable) -> Sequence[str]:
    """The argv that runs ``command`` on this machine."""
    return ["sh", "-c", command.shell()]
