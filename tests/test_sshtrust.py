"""Host trust and cf's own key, without the lab: known_hosts names and files, the key
file, the agent socket check, and host key checks against an asyncssh server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import asyncssh
import pytest

from compose_farm.config import HostConfig, SshOptions
from compose_farm.errors import HostUnreachableError, KeyFileError
from compose_farm.executor import Script
from compose_farm.ssh.authkeys import INSTALL_PROGRAM
from compose_farm.ssh.identity import SshIdentity
from compose_farm.ssh.login import connect, resolve
from compose_farm.ssh.pool import SshPool
from compose_farm.ssh.trust import (
    HostKeyCheck,
    KeyStatus,
    check_host_key,
    ensure_key,
    forget_in_user_known_hosts,
    public_key_line,
    record_key,
)
from tests.support.sshserve import LoginServer, agent_holding, listening

T = TypeVar("T")


def host(address: str = "10.0.0.1", port: int | None = None) -> HostConfig:
    return HostConfig(address=address, port=port)


def known_hosts_name(host: HostConfig) -> str:
    """How known_hosts names a host with no ssh config in the way."""
    return resolve(identity(Path("/nonexistent")), host, keys=False).known_hosts_name


def identity(home: Path) -> SshIdentity:
    """Everything under ``home``, the system-wide known_hosts file too."""
    return SshIdentity(home=home, global_known_hosts=home / "ssh_known_hosts")


def new_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def key_text(key: asyncssh.SSHKey) -> str:
    """``ssh-ed25519 AAAA...`` as known_hosts and authorized_keys hold it."""
    return key.export_public_key().decode().strip()


def recorded(path: Path, address: str, port: int | None = None) -> list[bytes]:
    """Public data of the keys ``path`` trusts for ``address`` (as asyncssh matches it)."""
    return [k.public_data for k in asyncssh.read_known_hosts(str(path)).match(address, "", port)[0]]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


# --- known_hosts names and files ------------------------------------------------------------

KNOWN_HOSTS_NAMES = [
    ("10.0.0.1", None, "10.0.0.1"),
    ("10.0.0.1", 22, "10.0.0.1"),
    ("10.0.0.1", 2222, "[10.0.0.1]:2222"),
    ("nuc.lan", 2200, "[nuc.lan]:2200"),
    ("2001:db8::1", None, "2001:db8::1"),
    ("2001:db8::1", 2222, "[2001:db8::1]:2222"),
]


@pytest.mark.parametrize(("address", "port", "name"), KNOWN_HOSTS_NAMES)
def test_known_hosts_name(address: str, port: int | None, name: str) -> None:
    assert known_hosts_name(host(address, port)) == name


def test_known_hosts_files_in_order_and_only_those_that_exist(tmp_path: Path) -> None:
    extra, system = tmp_path / "farm-known-hosts", tmp_path / "etc-ssh-known-hosts"
    me = SshIdentity(home=tmp_path, extra_known_hosts=extra, global_known_hosts=system)
    assert me.known_hosts_files() == []
    me.farm_dir.mkdir(parents=True)
    for path in (system, me.farm_known_hosts, me.ssh_dir / "known_hosts", extra):
        path.write_text("")
    expected = [me.ssh_dir / "known_hosts", me.farm_known_hosts, extra, system]
    assert me.known_hosts_files() == expected


def test_record_key_writes_cfs_own_file(tmp_path: Path) -> None:
    me, key = identity(tmp_path), new_key()

    record_key(me, known_hosts_name(host()), key)

    assert me.farm_known_hosts.read_text() == f"10.0.0.1 {key_text(key)}\n"
    assert recorded(me.farm_known_hosts, "10.0.0.1") == [key.public_data]
    assert not (me.ssh_dir / "known_hosts").exists()  # the user's file is not touched


def test_record_key_replaces_that_hosts_line_and_keeps_the_rest(tmp_path: Path) -> None:
    me = identity(tmp_path)
    other, old, other_port, new = new_key(), new_key(), new_key(), new_key()
    me.farm_dir.mkdir(parents=True)
    me.farm_known_hosts.write_text(
        "# kept as written\n"
        f"10.0.0.2 {key_text(other)}\n"
        f"10.0.0.1 {key_text(old)}\n"
        f"[10.0.0.1]:2222 {key_text(other_port)}\n"
    )
    me.farm_known_hosts.chmod(0o600)

    record_key(me, known_hosts_name(host()), new)

    assert me.farm_known_hosts.read_text().splitlines() == [
        "# kept as written",
        f"10.0.0.2 {key_text(other)}",
        f"[10.0.0.1]:2222 {key_text(other_port)}",
        f"10.0.0.1 {key_text(new)}",
    ]
    assert recorded(me.farm_known_hosts, "10.0.0.1") == [new.public_data]
    assert recorded(me.farm_known_hosts, "10.0.0.1", 2222) == [other_port.public_data]
    assert mode(me.farm_known_hosts) == 0o600


def test_record_key_for_a_port_leaves_port_22_alone(tmp_path: Path) -> None:
    me, plain, ported = identity(tmp_path), new_key(), new_key()
    record_key(me, known_hosts_name(host()), plain)
    record_key(me, known_hosts_name(host(port=2222)), ported)

    assert recorded(me.farm_known_hosts, "10.0.0.1") == [plain.public_data]
    assert recorded(me.farm_known_hosts, "10.0.0.1", 2222) == [ported.public_data]


@pytest.mark.parametrize("hashed", [False, True], ids=["plain", "hashed"])
def test_forget_removes_the_host_from_the_users_known_hosts(tmp_path: Path, hashed: bool) -> None:
    me, gone, kept = identity(tmp_path), new_key(), new_key()
    user_file = me.ssh_dir / "known_hosts"
    me.ssh_dir.mkdir()
    user_file.write_text(f"10.0.0.1 {key_text(gone)}\n10.0.0.2 {key_text(kept)}\n")
    if hashed:
        subprocess.run(["ssh-keygen", "-H", "-f", str(user_file)], capture_output=True, check=True)
        assert "10.0.0.1" not in user_file.read_text()

    forget_in_user_known_hosts(me, known_hosts_name(host()))

    assert recorded(user_file, "10.0.0.1") == []
    assert recorded(user_file, "10.0.0.2") == [kept.public_data]


# --- cf's own key --------------------------------------------------------------------------------


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The key's modes must not depend on the user's umask."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def test_ensure_key_makes_a_key_only_the_owner_can_read(tmp_path: Path, umask: int) -> None:
    me = identity(tmp_path)

    path, made = ensure_key(me)

    assert (path, made) == (me.dedicated_key, True)
    assert mode(path) == 0o600
    assert mode(me.farm_dir) == 0o700
    private = asyncssh.read_private_key(str(path))
    assert private.get_algorithm() == "ssh-ed25519"
    assert public_key_line(me).split()[:2] == key_text(private).split()[:2]


def test_ensure_key_keeps_an_existing_key(tmp_path: Path) -> None:
    me = identity(tmp_path)
    path, _ = ensure_key(me)
    before = (path.read_bytes(), path.with_suffix(".pub").read_bytes())

    assert ensure_key(me) == (path, False)
    assert (path.read_bytes(), path.with_suffix(".pub").read_bytes()) == before


def test_ensure_key_force_replaces_it_and_tightens_the_mode(tmp_path: Path) -> None:
    me = identity(tmp_path)
    path, _ = ensure_key(me)
    before = path.read_bytes()
    path.chmod(0o644)

    assert ensure_key(me, force=True) == (path, True)
    assert path.read_bytes() != before
    assert mode(path) == 0o600
    derived = asyncssh.read_private_key(str(path))
    assert public_key_line(me).split()[:2] == key_text(derived).split()[:2]


def test_host_key_error_says_unknown_or_changed(tmp_path: Path) -> None:
    me = identity(tmp_path)
    unknown = me.host_key_error("nuc", host(), "no key", changed=False)
    assert "not known" in unknown.message and unknown.hint == (
        "check its fingerprint and trust it: cf ssh trust nuc"
    )
    record_key(me, known_hosts_name(host()), new_key())
    changed = me.host_key_error("nuc", host(), "mismatch", changed=True)
    assert "CHANGED" in changed.message and "attack" in changed.message
    assert changed.hint is not None and "cf ssh trust nuc --replace" in changed.hint


# --- check_host_key against a real SSH server on 127.0.0.1 ---------------------------------------


def serving(key: asyncssh.SSHKey, check: Callable[[int], Awaitable[T]]) -> T:
    """Run ``check(port)`` while an asyncssh server presents ``key`` on 127.0.0.1:port."""
    return serving_keys([key], check)


def check_on(me: SshIdentity, prepare: Callable[[HostConfig], None] | None = None) -> HostKeyCheck:
    """The server's key checked against ``me``'s files (after ``prepare(host)``)."""

    async def check(port: int) -> HostKeyCheck:
        target = host("127.0.0.1", port)
        if prepare is not None:
            prepare(target)
        return await check_host_key(me, target, timeout=5)

    return serving(SERVER_KEY, check)


SERVER_KEY = new_key()


def test_an_unrecorded_host_key_is_unknown(tmp_path: Path) -> None:
    result = check_on(identity(tmp_path))
    assert result.status is KeyStatus.UNKNOWN
    assert result.key is not None and result.key.public_data == SERVER_KEY.public_data
    assert result.fingerprint == SERVER_KEY.get_fingerprint("sha256")


def test_a_recorded_host_key_is_known(tmp_path: Path) -> None:
    me = identity(tmp_path)
    result = check_on(me, lambda target: record_key(me, known_hosts_name(target), SERVER_KEY))
    assert result.status is KeyStatus.KNOWN


def test_a_different_recorded_key_is_changed(tmp_path: Path) -> None:
    me = identity(tmp_path)
    result = check_on(me, lambda target: record_key(me, known_hosts_name(target), new_key()))
    assert result.status is KeyStatus.CHANGED
    assert result.fingerprint == SERVER_KEY.get_fingerprint("sha256")


def test_a_key_recorded_in_the_users_file_counts_too(tmp_path: Path) -> None:
    me = identity(tmp_path)

    def in_user_file(target: HostConfig) -> None:
        me.ssh_dir.mkdir()
        line = f"{known_hosts_name(target)} {key_text(SERVER_KEY)}\n"
        (me.ssh_dir / "known_hosts").write_text(line)

    assert check_on(me, in_user_file).status is KeyStatus.KNOWN


def test_a_port_22_record_stands_in_for_a_port_without_its_own(tmp_path: Path) -> None:
    """asyncssh's rule, which the connection itself applies too: with no ``[addr]:port``
    line, the plain ``addr`` line is used (OpenSSH would say "unknown" instead)."""
    me = identity(tmp_path)
    result = check_on(me, lambda _: record_key(me, known_hosts_name(host("127.0.0.1")), new_key()))
    assert result.status is KeyStatus.CHANGED


def test_a_record_for_the_port_wins_over_port_22(tmp_path: Path) -> None:
    me = identity(tmp_path)

    def both(target: HostConfig) -> None:
        record_key(me, known_hosts_name(host("127.0.0.1")), new_key())
        record_key(me, known_hosts_name(target), SERVER_KEY)

    assert check_on(me, both).status is KeyStatus.KNOWN


def test_a_closed_port_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nothing listens once closed
    result = asyncio.run(check_host_key(identity(tmp_path), host("127.0.0.1", port), timeout=5))
    assert result.status is KeyStatus.UNREACHABLE
    assert result.error == "connection refused: is sshd running?"


def test_a_silent_server_is_unreachable_within_the_timeout(tmp_path: Path) -> None:
    """TCP connects (kernel backlog) but no SSH banner ever comes."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        target = host("127.0.0.1", silent.getsockname()[1])

        async def timed() -> tuple[HostKeyCheck, float]:
            loop = asyncio.get_running_loop()
            started = loop.time()
            result = await check_host_key(identity(tmp_path), target, timeout=0.5)
            return result, loop.time() - started

        result, elapsed = asyncio.run(timed())
    assert result.status is KeyStatus.UNREACHABLE
    assert result.error == "no answer within 0.5 s"
    assert elapsed < 2


# --- several host key types, and ~/.ssh/config -------------------------------------------------


def serving_keys(keys: list[asyncssh.SSHKey], check: Callable[[int], Awaitable[T]]) -> T:
    """Like ``serving`` with several host keys (an ed25519 and an ecdsa one, say)."""

    async def main() -> T:
        async with listening(keys) as port:
            return await check(port)

    return asyncio.run(main())


ECDSA_KEY = asyncssh.generate_private_key("ecdsa-sha2-nistp256")


def ecdsa_on_record(me: SshIdentity, served: list[asyncssh.SSHKey]) -> HostKeyCheck:
    """Check a host serving ``served`` when only ``ECDSA_KEY`` is recorded for it."""

    async def check(port: int) -> HostKeyCheck:
        target = host("127.0.0.1", port)
        record_key(me, known_hosts_name(target), ECDSA_KEY)
        return await check_host_key(me, target, timeout=5)

    return serving_keys(served, check)


def test_a_recorded_key_of_another_type_than_the_preferred_one_is_known(tmp_path: Path) -> None:
    """The host has ed25519 and ecdsa keys; an old ssh recorded the ecdsa one."""
    result = ecdsa_on_record(identity(tmp_path), [SERVER_KEY, ECDSA_KEY])
    assert result.status is KeyStatus.KNOWN, result
    assert result.fingerprint == ECDSA_KEY.get_fingerprint("sha256")


def test_a_host_that_no_longer_has_the_recorded_type_has_changed(tmp_path: Path) -> None:
    result = ecdsa_on_record(identity(tmp_path), [SERVER_KEY])
    assert result.status is KeyStatus.CHANGED
    assert result.fingerprint == SERVER_KEY.get_fingerprint("sha256")
    assert result.recorded == (ECDSA_KEY.get_fingerprint("sha256"),)


def test_ssh_config_hostname_and_port_are_where_the_key_is_fetched_and_recorded(
    tmp_path: Path,
) -> None:
    """cf's host says ``nas``; ~/.ssh/config says nas is 127.0.0.1 on another port."""
    me = identity(tmp_path)

    async def check(port: int) -> tuple[HostKeyCheck, HostKeyCheck]:
        me.ssh_dir.mkdir()
        (me.ssh_dir / "config").write_text(f"Host nas\n  HostName 127.0.0.1\n  Port {port}\n")
        first = await check_host_key(me, host("nas"), timeout=5)
        assert first.target is not None
        record_key(me, first.target.known_hosts_name, SERVER_KEY)
        return first, await check_host_key(me, host("nas"), timeout=5)

    first, second = serving(SERVER_KEY, check)
    assert first.status is KeyStatus.UNKNOWN, first
    assert first.target is not None
    assert first.target.known_hosts_name.startswith("[127.0.0.1]:")
    assert second.status is KeyStatus.KNOWN


# --- local files that cannot be used: clear errors, no traceback ----------------------------------


def test_a_plain_file_where_ssh_dir_should_be_is_a_key_file_error(tmp_path: Path) -> None:
    me = identity(tmp_path)
    me.ssh_dir.write_text("not a folder")
    with pytest.raises(KeyFileError) as caught:
        ensure_key(me)
    assert str(me.dedicated_key) in caught.value.message


def test_a_damaged_key_without_its_public_half_is_a_key_file_error(tmp_path: Path) -> None:
    me = identity(tmp_path)
    ensure_key(me)
    me.dedicated_key.write_text("garbage\n")
    me.dedicated_key.with_suffix(".pub").unlink()
    with pytest.raises(KeyFileError):
        ensure_key(me)


def test_a_damaged_public_key_is_a_key_file_error_with_the_fix(tmp_path: Path) -> None:
    me = identity(tmp_path)
    ensure_key(me)
    me.dedicated_key.with_suffix(".pub").write_text("garbage\n")
    with pytest.raises(KeyFileError) as caught:
        public_key_line(me)
    assert caught.value.hint is not None and "cf ssh keygen --force" in caught.value.hint


def test_a_folder_where_cfs_known_hosts_should_be_is_a_key_file_error(tmp_path: Path) -> None:
    me = identity(tmp_path)
    me.farm_known_hosts.mkdir(parents=True)
    with pytest.raises(KeyFileError) as caught:
        record_key(me, "10.0.0.1", new_key())
    assert str(me.farm_known_hosts) in caught.value.message


def test_ensure_key_makes_ssh_dir_private_and_tightens_a_loose_farm_dir(tmp_path: Path) -> None:
    me = identity(tmp_path)
    previous = os.umask(0)
    try:
        me.farm_dir.parent.mkdir(mode=0o700)
        me.farm_dir.mkdir(mode=0o755)
        ensure_key(me)
        fresh = identity(tmp_path / "fresh")
        ensure_key(fresh)
    finally:
        os.umask(previous)
    assert mode(me.farm_dir) == 0o700
    assert (mode(fresh.ssh_dir), mode(fresh.farm_dir)) == (0o700, 0o700)


# --- the authorized_keys program of `cf ssh setup`, run by a real sh ----------------------------


def install(home: Path, line: str) -> str:
    """Run INSTALL_PROGRAM as `cf ssh setup` does, with HOME=home; returns its answer."""
    script = Script(INSTALL_PROGRAM, (line, " ".join(line.split()[:2])))
    done = subprocess.run(
        script.shell(),
        shell=True,
        env={"HOME": str(home), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_install_key_adds_a_line_of_its_own_and_leaves_one_without_its_newline(
    tmp_path: Path,
) -> None:
    other, ours = key_text(new_key()) + " old", key_text(new_key()) + " compose-farm"
    keys = tmp_path / ".ssh" / "authorized_keys"
    keys.parent.mkdir()
    keys.write_text(other)  # no newline at the end

    assert install(tmp_path, ours) == "added"
    assert keys.read_text() == f"{ours}\n{other}"  # the owner's bytes untouched
    assert install(tmp_path, ours) == "present"
    assert keys.read_text() == f"{ours}\n{other}"


def test_install_key_counts_the_same_key_with_options_or_another_comment(tmp_path: Path) -> None:
    key = key_text(new_key())
    keys = tmp_path / ".ssh" / "authorized_keys"
    keys.parent.mkdir()
    existing = f'from="10.0.0.0/8",restrict {key} laptop\n'
    keys.write_text(existing)

    assert install(tmp_path, f"{key} compose-farm") == "present"
    assert keys.read_text() == existing


def test_install_key_makes_a_private_file_when_there_is_none(tmp_path: Path) -> None:
    ours = key_text(new_key()) + " compose-farm"
    assert install(tmp_path, ours) == "added"
    keys = tmp_path / ".ssh" / "authorized_keys"
    assert keys.read_text() == ours + "\n"
    assert (mode(keys.parent), mode(keys)) == (0o700, 0o600)


# --- which key logs in, as -v tells it -----------------------------------------------------------


def on_login_server(
    me: SshIdentity,
    authorized: asyncssh.SSHKey | None,
    monkeypatch: pytest.MonkeyPatch,
    check: Callable[[HostConfig], Awaitable[T]],
) -> T:
    """Run ``check(host)`` while 127.0.0.1 serves SSH accepting only ``authorized`` (or no key).

    ``me`` already trusts the server's host key, and is ``$HOME`` (where ssh's
    default key names are looked up).
    """
    monkeypatch.setenv("HOME", str(me.home))
    keys_file = me.home / "server_authorized_keys"
    keys_file.write_text(key_text(authorized or new_key()) + "\n")  # None: a key nobody has

    async def main() -> T:
        async with listening([SERVER_KEY], server=LoginServer, authorized=keys_file) as port:
            target = host("127.0.0.1", port)
            record_key(me, known_hosts_name(target), SERVER_KEY)
            return await check(target)

    return asyncio.run(main())


def login_log(
    me: SshIdentity,
    authorized: asyncssh.SSHKey,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """Log in to a server that accepts only ``authorized``; the log line saying how."""

    async def log_in(target: HostConfig) -> None:
        conn = await connect(me, "nas", target, timeout=5)
        conn.close()
        await conn.wait_closed()

    with caplog.at_level(logging.INFO, logger="compose_farm.ssh"):
        on_login_server(me, authorized, monkeypatch, log_in)
    (line,) = [r.getMessage() for r in caplog.records if "logged in with" in r.getMessage()]
    return line


def users_key(me: SshIdentity) -> asyncssh.SSHKey:
    """A default-named key in ~/.ssh (what ssh would offer without any config)."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment="me@laptop")
    me.ssh_dir.mkdir(parents=True, exist_ok=True)
    key.write_private_key(str(me.ssh_dir / "id_ed25519"))
    return key


def test_the_log_names_cfs_key_when_only_it_is_accepted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = identity(tmp_path)
    users_key(me)  # offered first, refused
    ensure_key(me)
    ours = asyncssh.read_private_key(str(me.dedicated_key))

    assert (
        login_log(me, ours, caplog, monkeypatch)
        == f"nas: logged in with cf's key {me.dedicated_key}"
    )


def test_the_log_names_the_users_key_by_fingerprint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = identity(tmp_path)
    mine = users_key(me)
    ensure_key(me)

    line = login_log(me, mine, caplog, monkeypatch)

    assert line == f"nas: logged in with key {mine.get_fingerprint('sha256')} (me@laptop)"


def test_the_agent_named_by_identity_agent_in_the_ssh_config_is_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No $SSH_AUTH_SOCK; ~/.ssh/config says where the agent is, as ssh would read it."""
    me = identity(tmp_path)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="in-the-agent")
    key.write_private_key(str(tmp_path / "agent-key"))
    with agent_holding(tmp_path / "agent-key", tmp_path / "agent.sock") as sock:
        monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
        me.ssh_dir.mkdir()
        (me.ssh_dir / "config").write_text(f"Host *\n  IdentityAgent {sock}\n")

        line = login_log(me, key, caplog, monkeypatch)

    assert (
        line == f"nas: logged in with ssh-agent key {key.get_fingerprint('sha256')} (in-the-agent)"
    )


def test_a_stale_agent_socket_only_means_no_agent_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$SSH_AUTH_SOCK names a socket a dead agent left behind: the key files still log in."""
    me = identity(tmp_path)
    mine = users_key(me)
    stale = tmp_path / "agent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(stale))  # bound, closed: nobody listens
    monkeypatch.setenv("SSH_AUTH_SOCK", str(stale))

    line = login_log(me, mine, caplog, monkeypatch)

    assert line == f"nas: logged in with key {mine.get_fingerprint('sha256')} (me@laptop)"


def test_a_refused_login_names_every_key_it_offered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = identity(tmp_path)
    mine = users_key(me)
    ensure_key(me)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)

    async def refused(target: HostConfig) -> HostUnreachableError:
        pool = SshPool({"nas": target}, SshOptions(connect_timeout=5), me)
        with pytest.raises(HostUnreachableError) as caught:
            await pool.connection("nas")
        return caught.value

    error = on_login_server(me, None, monkeypatch, refused)

    assert "authentication refused" in error.message
    assert error.message.endswith(
        f"with key {mine.get_fingerprint('sha256')} (me@laptop), cf's key {me.dedicated_key})"
    ), error.message


def test_a_cert_authority_line_is_not_a_changed_host_key(tmp_path: Path) -> None:
    """``@cert-authority`` vouches for host certificates; the plain key is simply not known."""
    me = identity(tmp_path)

    def authority(target: HostConfig) -> None:
        me.ssh_dir.mkdir()
        line = f"@cert-authority {known_hosts_name(target)} {key_text(new_key())}\n"
        (me.ssh_dir / "known_hosts").write_text(line)

    assert check_on(me, authority).status is KeyStatus.UNKNOWN
