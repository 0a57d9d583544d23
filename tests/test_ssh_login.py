"""Logging in as ``ssh`` would, against asyncssh servers on 127.0.0.1 (no lab needed).

Host keys are matched by name only; a key is offered once; a key file that is
missing or needs a passphrase is skipped; ProxyJump hops are opened by cf,
with their own host keys checked.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
import pytest

from compose_farm.config import HostConfig
from compose_farm.ssh.identity import SshIdentity
from compose_farm.ssh.login import connect, resolve
from compose_farm.ssh.trust import ensure_key, record_key, still_recording_others
from tests.support.sshserve import LoginServer, agent_holding, listening
from tests.test_sshtrust import SERVER_KEY, identity, key_text, new_key, users_key

T = TypeVar("T")
OTHER_KEY = new_key()  # the host key of a second server


class _JumpServer(LoginServer):
    """Also forwards TCP connections, as a bastion's sshd does for ProxyJump."""

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        return True


def serve(
    me: SshIdentity,
    accepted: asyncssh.SSHKey,
    monkeypatch: pytest.MonkeyPatch,
    check: Callable[[int, int], Awaitable[T]],
) -> T:
    """Run ``check(port, jump_port)``: a server presenting ``SERVER_KEY`` on ``port`` and a
    bastion presenting ``OTHER_KEY`` on ``jump_port``, both accepting only ``accepted``."""
    monkeypatch.setenv("HOME", str(me.home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    keys_file = me.home / "server_authorized_keys"
    keys_file.write_text(key_text(accepted) + "\n")

    async def main() -> T:
        async with (
            listening([SERVER_KEY], server=LoginServer, authorized=keys_file) as port,
            listening([OTHER_KEY], server=_JumpServer, authorized=keys_file) as jump,
        ):
            return await check(port, jump)

    return asyncio.run(main())


async def log_in(me: SshIdentity, host: HostConfig, offered: list[str] | None = None) -> str:
    """Log in (host key checked, a key accepted), then hang up; ``in`` when that worked."""
    conn = await connect(me, "nas", host, timeout=5, offered=offered)
    conn.close()
    await conn.wait_closed()
    return "in"


def cfs_key(me: SshIdentity) -> asyncssh.SSHKey:
    ensure_key(me)
    return asyncssh.read_private_key(str(me.dedicated_key))


def test_a_key_recorded_for_the_address_does_not_vouch_for_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``localhost`` has another key on record; its address ``127.0.0.1`` has the real one.
    OpenSSH calls that a changed key for ``localhost``; so must cf (never log in)."""
    me = identity(tmp_path)
    ours = cfs_key(me)

    async def check(port: int, _jump: int) -> None:
        record_key(me, f"[127.0.0.1]:{port}", SERVER_KEY)
        record_key(me, f"[localhost]:{port}", new_key())
        with pytest.raises(asyncssh.HostKeyNotVerifiable):
            await log_in(me, HostConfig(address="localhost", port=port))

    serve(me, ours, monkeypatch, check)


def test_a_key_the_agent_holds_is_not_offered_again_from_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each repeat costs one of sshd's MaxAuthTries; cf's own key must still get its turn."""
    me = identity(tmp_path)
    mine = users_key(me)
    ours = cfs_key(me)
    with agent_holding(me.ssh_dir / "id_ed25519", tmp_path / "agent.sock") as sock:
        offered: list[str] = []

        async def check(port: int, _jump: int) -> str:
            monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
            target = HostConfig(address="127.0.0.1", port=port)
            record_key(me, f"[127.0.0.1]:{port}", SERVER_KEY)
            return await log_in(me, target, offered)

        assert serve(me, ours, monkeypatch, check) == "in"

    fingerprint = mine.get_fingerprint("sha256")
    assert offered == [
        f"ssh-agent key {fingerprint} (me@laptop)",
        f"cf's key {me.dedicated_key}",
    ]


@pytest.mark.parametrize("kind", ["missing", "encrypted"])
def test_a_key_file_ssh_would_skip_does_not_stop_the_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """``IdentityFile`` naming a file that is gone, or a key that needs a passphrase (the
    agent may hold it): ssh goes on with the next key, and so does cf."""
    me = identity(tmp_path)
    ours = cfs_key(me)
    key_file = me.ssh_dir / "id_work"
    named = None
    if kind == "encrypted":  # as ssh-keygen writes it, named by the host's identity_file
        made = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "not-given", "-f", str(key_file)]
        subprocess.run(made, check=True)
        named = str(key_file)
    else:
        (me.ssh_dir / "config").write_text(f"Host *\n  IdentityFile {key_file}\n")

    async def check(port: int, _jump: int) -> str:
        record_key(me, f"[127.0.0.1]:{port}", SERVER_KEY)
        return await log_in(me, HostConfig(address="127.0.0.1", port=port, identity_file=named))

    assert serve(me, ours, monkeypatch, check) == "in"


def jump_config(me: SshIdentity, port: int, jump: int) -> None:
    """``nas`` is reached through a bastion; and a config that would switch host key checks
    off, which must change nothing (cf checks the bastion's key as every host's)."""
    (me.ssh_dir / "config").write_text(
        f"Host nas\n  HostName 127.0.0.1\n  Port {port}\n  ProxyJump 127.0.0.1:{jump}\n"
        "Host *\n  UserKnownHostsFile none\n  StrictHostKeyChecking no\n"
    )


def test_a_proxyjump_hop_is_opened_by_cf_and_logged_in_with_its_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    me = identity(tmp_path)
    ours = cfs_key(me)

    async def check(port: int, jump: int) -> str:
        jump_config(me, port, jump)
        record_key(me, f"[127.0.0.1]:{port}", SERVER_KEY)
        record_key(me, f"[127.0.0.1]:{jump}", OTHER_KEY)
        return await log_in(me, HostConfig(address="nas"))

    with caplog.at_level(logging.INFO, logger="compose_farm.ssh"):
        assert serve(me, ours, monkeypatch, check) == "in"
    logins = [r.getMessage() for r in caplog.records if "logged in with" in r.getMessage()]
    assert logins == [
        f"nas (via 127.0.0.1:{_port_of(logins[0])}): logged in with cf's key {me.dedicated_key}",
        f"nas: logged in with cf's key {me.dedicated_key}",
    ]


def test_a_proxyjump_hop_whose_key_is_not_recorded_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bastion's host key is checked like any host's: not known, no login through it."""
    me = identity(tmp_path)
    ours = cfs_key(me)

    async def check(port: int, jump: int) -> Any:
        jump_config(me, port, jump)
        record_key(me, f"[127.0.0.1]:{port}", SERVER_KEY)  # the target only
        with pytest.raises(asyncssh.HostKeyNotVerifiable):
            await log_in(me, HostConfig(address="nas"))

    serve(me, ours, monkeypatch, check)


def _port_of(line: str) -> str:
    return line.split("(via 127.0.0.1:", 1)[1].split(")", 1)[0]


def test_files_cf_does_not_edit_that_still_record_an_old_key_are_named(tmp_path: Path) -> None:
    extra = tmp_path / "team_known_hosts"
    me = SshIdentity(home=tmp_path, extra_known_hosts=extra, global_known_hosts=tmp_path / "x")
    old, new = new_key(), new_key()
    extra.write_text(f"nas.lan {key_text(old)}\n")
    record_key(me, "nas.lan", new)
    target = resolve(me, HostConfig(address="nas.lan"), keys=False)

    assert still_recording_others(me, target, new) == [extra]
    extra.write_text(f"nas.lan {key_text(new)}\n")
    assert still_recording_others(me, target, new) == []
