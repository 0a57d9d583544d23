"""The one-copy key of a host-to-host data move, attacked on the lab (sync/direct.py).

The key's private half sits on the new host (B) during the copy; these tests
hold it as an attacker on B would (root there) and try everything that key
could be good for on the old host (A): other paths, extra options, a second
use, a use from a third host, a shell. Each attack is checked by what it
received (nothing outside the data folder, no byte of a secret kept next to
it) and by A's files (unchanged). Then A's ``authorized_keys``: byte-for-byte
the same after eight moves at once and after a move killed at each step.

A = h7, B = h8 (the h7/h8 lock: these tests change host-wide things), and h6
only tries to log in.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import pytest

from compose_farm.config import load_config
from compose_farm.executor import Executor
from compose_farm.ssh.authkeys import LIST_PROGRAM, REVOKE_PROGRAM, parse_left
from compose_farm.sync.direct import KEY_LIFETIME, Grant, Route, allow, new_grant, revoke, route
from compose_farm.sync.remote import members
from tests.lab import Lab
from tests.support.cf import ok
from tests.support.faults import throttle
from tests.support.privatefarm import PrivateFarm, fill
from tests.support.stacks import sleep_stack
from tests.support.waiting import WAIT, eventually

A, B, THIRD = "h7", "h8", "h6"
pytestmark = [
    pytest.mark.lab,
    pytest.mark.xdist_group("faults"),
    pytest.mark.farm(hosts=(A, B), kind=PrivateFarm, exclusive=True),
]
DATA = "    volumes:\n      - ./data:/data\n"
KEYS = "/root/.ssh/authorized_keys"
MOVES = "/root/.cache/compose-farm/moves"
ATTACK_LIMIT = 10  # seconds an attacker's rsync may wait on a fixed server before it is ended


@pytest.fixture(autouse=True)
def _no_move_keys(farm: PrivateFarm, lab: Lab) -> None:
    """Remove what an earlier, killed run may have left (with A's lock held)."""
    clear_move_keys(lab)


def clear_move_keys(lab: Lab) -> None:
    """Remove every move key from A with cf's own programs, run there directly."""
    listed = lab.host_exec(A, ["sh", "-c", LIST_PROGRAM])
    for key in parse_left(A, listed.stdout):
        lab.host_exec(A, ["sh", "-c", REVOKE_PROGRAM, "sh", key.marker])


# --- the attacker's tools --------------------------------------------------------------


class Attacker:
    """Root on some host, holding a stolen private key and A's host key line."""

    def __init__(self, lab: Lab, folder: Path, private: str, how: Route) -> None:
        self.lab = lab
        self.folder = folder
        self.how = how
        folder.mkdir(parents=True, exist_ok=True)
        self.key = folder / f"stolen-{uuid.uuid4().hex[:6]}"
        self.key.write_text(private)
        self.key.chmod(0o600)
        self.known = folder / "known"
        self.known.write_text(how.known + "\n")

    def ssh_words(self) -> list[str]:
        return [
            "ssh",
            "-F",
            "/dev/null",
            "-T",
            "-i",
            str(self.key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            f"UserKnownHostsFile={self.known}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-p",
            str(self.how.port),
        ]

    @property
    def target(self) -> str:
        return f"{self.how.user}@{self.how.address}"

    def ssh(
        self, *remote: str, host: str = B, stdin: str = "", out: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``ssh -i KEY A REMOTE...`` from ``host``; stdout to ``out`` when given (bytes)."""
        words = [*self.ssh_words(), self.target, *remote]
        if out is None:
            return self.lab.host_exec(host, words, check=False, input=stdin, timeout=WAIT)
        script = 'out=$1; shift; exec "$@" > "$out"'
        return self.lab.host_exec(
            host, ["sh", "-c", script, "sh", str(out), *words], check=False, input=stdin
        )

    def rsync(self, *args: str, source: str, into: Path) -> subprocess.CompletedProcess[str]:
        """The attacker's own rsync client, with any options, pulling ``source`` from A.

        A client whose options do not match the fixed server's can wait forever for a
        file list that never comes: ``timeout`` ends it (what it got by then counts)."""
        into.mkdir(parents=True, exist_ok=True)
        words = ["timeout", str(ATTACK_LIMIT), "rsync", *args, "-e", " ".join(self.ssh_words())]
        words.append(f"{self.target}:{source}")
        return self.lab.host_exec(B, [*words, f"{into}/"], check=False, timeout=WAIT)


def keys_on(lab: Lab, host: str) -> bytes:
    """``authorized_keys`` of root on ``host``, exactly (this machine reads the host's
    private /root through the host's mount namespace)."""
    done = lab.host_exec(host, ["sh", "-c", f"base64 < {KEYS}"])
    return base64.b64decode(done.stdout)


def set_keys(lab: Lab, host: str, content: bytes) -> None:
    encoded = base64.b64encode(content).decode()
    lab.host_exec(
        host, ["sh", "-c", f"base64 -d > {KEYS}.new && mv {KEYS}.new {KEYS}"], input=encoded
    )
    lab.host_exec(host, ["chmod", "600", KEYS])


def move_lines(lab: Lab, host: str) -> list[str]:
    return [ln for ln in keys_on(lab, host).decode().splitlines() if " cf-move-" in ln]


def exists_on(lab: Lab, host: str, path: str) -> bool:
    return lab.host_exec(host, ["test", "-e", path], check=False).returncode == 0


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (as this machine sees the host's copy): kind and content."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = f"link {os.readlink(path)}"
        elif path.is_file():
            found[rel] = f"file {path.read_bytes().hex()}"
        else:
            found[rel] = "dir"
    return found


def everything_received(root: Path) -> bytes:
    """All names, link targets and file contents under ``root`` (links not followed)."""
    parts: list[bytes] = []
    for path in root.rglob("*"):
        parts.append(str(path).encode())
        if path.is_symlink():
            parts.append(os.readlink(path).encode())
        elif path.is_file():
            parts.append(path.read_bytes())
    return b"\0".join(parts)


# --- a grant made as a move makes it -----------------------------------------------------


class Bait:
    """A stack folder on A: a data folder, and a secret beside it that must never leave."""

    def __init__(self, farm: PrivateFarm) -> None:
        self.secret = f"SECRET-{uuid.uuid4().hex}"
        self.stack = farm.stack("bait", A, sleep_stack(farm.lab.image, extra=DATA), data=["./data"])
        base = farm.on_host(A, self.stack)
        self.base = base
        data = base / "data"
        (data / "sub").mkdir(parents=True)
        (data / "one.txt").write_text("one\n")
        (data / "sub" / "two.bin").write_bytes(os.urandom(2048))
        (data / "escape").symlink_to("../outside.txt")
        (data / "up").symlink_to("../secret")
        (base / "outside.txt").write_text(self.secret)
        (base / "secret").mkdir()
        (base / "secret" / "key.txt").write_text(self.secret)
        self.folder = farm.compose_dir / self.stack / "data"  # where A sees it
        self.names = members([".", "one.txt", "sub", "sub/two.bin", "escape", "up"])
        self.allowed = {".", "one.txt", "sub", "sub/two.bin", "escape", "up"}

    def untouched(self) -> dict[str, str]:
        return snapshot(self.base)


@contextlib.contextmanager
def granted(farm: PrivateFarm, bait: Bait, *, tar: bool = False) -> Iterator[tuple[Grant, Route]]:
    """A move key on A for ``bait``'s data, made by cf's own code; revoked after."""
    config = load_config(farm.config_path)
    home = Path(farm.lab.env()["HOME"])

    async def make() -> tuple[Grant, Route]:
        async with Executor(config, home=home) as executor:
            how = await route(executor, A, B)
            if tar:
                how = replace(how, rsync_flags=None)
            grant = new_grant()
            await allow(executor, A, grant, how, PurePosixPath(bait.folder), bait.names)
            return grant, how

    async def drop(marker: str) -> str | None:
        async with Executor(config, home=home) as executor:
            return await revoke(executor, A, marker)

    grant, how = asyncio.run(make())
    try:
        yield grant, how
    finally:
        assert asyncio.run(drop(grant.marker)) is None


# --- attacks as the first user of the key -------------------------------------------------


def test_the_key_line_is_restricted_to_b_and_expires_soon(farm: PrivateFarm) -> None:
    bait = Bait(farm)
    before = keys_on(farm.lab, A)
    with granted(farm, bait) as (grant, how):
        lines = move_lines(farm.lab, A)
        assert len(lines) == 1, lines
        line = lines[0]
        assert line.startswith(f'restrict,from="{farm.lab.host(B).address}",expiry-time="')
        assert how.source == farm.lab.host(B).address
        expiry = line.split('expiry-time="')[1].split('"')[0]
        when = datetime.strptime(expiry, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC).timestamp()
        assert time.time() - 60 < when <= time.time() + KEY_LIFETIME + 60, line
        assert f'command="cd && exec sh .cache/compose-farm/moves/{grant.marker}/send"' in line
        assert line.endswith(f"{grant.public} {grant.marker}")
        assert keys_on(farm.lab, A) == line.encode() + b"\n" + before
    assert keys_on(farm.lab, A) == before
    assert not exists_on(farm.lab, A, f"{MOVES}/{grant.marker}")


def test_tar_mode_sends_only_the_listed_names_whatever_the_holder_asks(
    farm: PrivateFarm, tmp_path: Path
) -> None:
    bait = Bait(farm)
    before = bait.untouched()
    with granted(farm, bait, tar=True) as (grant, how):
        thief = Attacker(farm.lab, tmp_path / "thief", grant.private, how)
        out = tmp_path / "got.tar"
        # Other names on stdin and in the command; a shell line for good measure.
        pwned = f"/tmp/cf-pwned-{uuid.uuid4().hex[:8]}"
        done = thief.ssh(
            f"tar -c -f - /etc/hostname ../outside.txt; touch {pwned}",
            stdin="../outside.txt\0/etc/hostname\0../secret/key.txt\0",
            out=out,
        )
        assert done.returncode == 0, done
        with tarfile.open(out) as archive:
            got = {m.name.removeprefix("./").rstrip("/") or "." for m in archive.getmembers()}
            links = {m.name: m.linkname for m in archive.getmembers() if m.issym()}
        assert got <= bait.allowed, got
        assert links == {"./escape": "../outside.txt", "./up": "../secret"}, links
        assert bait.secret.encode() not in out.read_bytes()
        assert not Path(pwned).exists()
        # A second use: nothing.
        again = thief.ssh("anything", out=tmp_path / "again.tar")
        assert again.returncode != 0 and "used already" in again.stderr, again
        assert (tmp_path / "again.tar").read_bytes() == b""
    assert bait.untouched() == before


CF_CLIENT = ["-a", "--numeric-ids", "--from0", "--files-from=:cf-names"]  # what cf's B runs
SENT = {"one.txt", "sub", "sub/two.bin", "escape", "up"}  # what the server sends for those


@pytest.mark.parametrize(
    ("name", "options", "source", "gets"),
    [
        ("cf's own request", CF_CLIENT, "DATA/", SENT),
        ("another folder", CF_CLIENT, "SECRET_DIR/", SENT),
        ("another list", [*CF_CLIENT[:-1], "--files-from=:/etc/passwd"], "/", SENT),
        ("follow links", [*CF_CLIENT, "-L", "--copy-unsafe-links", "-k"], "DATA/", None),
        ("delete on A", [*CF_CLIENT, "--remove-source-files"], "DATA/", None),
        ("delete on A, whole folder", [*CF_CLIENT, "--delete", "-r"], "DATA/../", None),
        ("a shell", [*CF_CLIENT, "--rsync-path=touch /tmp/cf-pwned-rsync; rsync"], "DATA/", None),
        ("a plain client", ["-a", "-r"], "DATA/../", None),
    ],
)
def test_rsync_mode_sends_only_the_listed_names_and_never_writes_on_a(
    farm: PrivateFarm,
    tmp_path: Path,
    name: str,
    options: list[str],
    source: str,
    gets: set[str] | None,
) -> None:
    bait = Bait(farm)
    before = bait.untouched()
    with granted(farm, bait) as (grant, how):
        assert how.tool == "rsync"
        thief = Attacker(farm.lab, tmp_path / "thief", grant.private, how)
        where = source.replace("SECRET_DIR", str(bait.folder.parent / "secret"))
        where = where.replace("DATA", str(bait.folder))
        into = tmp_path / "got"
        thief.rsync(*options, source=where, into=into)  # whatever it says
        received = everything_received(into)
        assert bait.secret.encode() not in received, name
        names = {str(p.relative_to(into)) for p in into.rglob("*")}
        assert names <= bait.allowed, (name, names)
        if gets is not None:  # the protocol ran: exactly the listed files came
            assert names == gets, (name, names)
            assert (into / "escape").is_symlink() and (into / "up").is_symlink()
        assert not Path("/tmp/cf-pwned-rsync").exists(), name
        # whatever the first use did, the key is spent
        again = thief.ssh("rsync --server --sender -logDtpRe.LsfxCIvu . /")
        assert again.returncode != 0, again
    assert bait.untouched() == before, name


def test_the_key_is_refused_from_a_third_host_and_after_its_revoke(
    farm: PrivateFarm, tmp_path: Path
) -> None:
    bait = Bait(farm)
    with granted(farm, bait) as (grant, how):
        thief = Attacker(farm.lab, tmp_path / "thief", grant.private, how)
        elsewhere = thief.ssh("x", host=THIRD)
        assert elsewhere.returncode == 255, elsewhere  # from="<B>" turns h6 away
        forward = thief.ssh("-N", "-W", f"{how.address}:22")
        assert forward.returncode != 0, forward  # restrict: no forwarding
        # Neither used the key: the names are still waiting to be claimed.
        assert exists_on(farm.lab, A, f"{MOVES}/{grant.marker}/names")
    after = thief.ssh("x")
    assert after.returncode == 255, after


# --- a real move, attacked while it copies --------------------------------------------------


def _claimed(lab: Lab) -> str | None:
    """The marker of a move key on A whose names B has claimed (the copy is on)."""
    done = lab.host_exec(A, ["sh", "-c", f"ls -d {MOVES}/*/sent 2>/dev/null"], check=False)
    for line in done.stdout.splitlines():
        return line.split("/")[-2]
    return None


def _stolen(lab: Lab, public: str) -> str:
    """The private key B holds for ``public``, found as root on B would find it."""
    done = lab.host_exec(B, ["sh", "-c", "ls /tmp/tmp.*/key 2>/dev/null"], check=False)
    for path in done.stdout.split():
        derived = lab.host_exec(B, ["ssh-keygen", "-y", "-f", path], check=False)
        if derived.returncode == 0 and derived.stdout.split()[:2] == public.split()[:2]:
            return Path(path).read_text()
    raise AssertionError(f"no private key for {public} on {B}: {done.stdout}")


def _data_stack(farm: PrivateFarm, suffix: str, megabytes: float) -> str:
    stack = farm.stack(suffix, A, sleep_stack(farm.lab.image, extra=DATA), data=["./data"])
    fill(farm.on_host(A, stack, "data"), megabytes, files=4)
    ok(farm.cf("up", stack))
    return stack


def test_during_a_real_move_the_key_works_once_from_b_only(
    farm: PrivateFarm, tmp_path: Path
) -> None:
    stack = _data_stack(farm, "live", 50)
    before_keys = keys_on(farm.lab, A)
    before_data = farm.checksums(A, stack, "data")
    farm.place(stack, B)
    # 40 Mbit/s: the 50 MB pre-copy takes ~12 s
    with throttle(farm.lab, B), farm.start("apply", "--yes") as proc:
        assert eventually(lambda: _claimed(farm.lab), WAIT), "the copy never started"
        marker = _claimed(farm.lab)
        assert marker is not None
        [line] = [ln for ln in move_lines(farm.lab, A) if ln.endswith(f" {marker}")]
        public = " ".join(line.split()[-3:-1])
        address = farm.lab.host(A).address
        host_key = (farm.lab.root / A / "ssh_host_ed25519_key.pub").read_text().split()
        how = Route("root", address, 22, f"{address} {' '.join(host_key[:2])}", "", None)
        thief = Attacker(farm.lab, tmp_path / "thief", _stolen(farm.lab, public), how)
        second = thief.ssh("x")
        assert second.returncode != 0 and "used already" in second.stderr, second
        third = thief.ssh("x", host=THIRD)
        assert third.returncode == 255, third
        # `cf check` and `cf ssh revoke` know the key of a move running now
        check = farm.cf("check")
        [named] = [ln for ln in check.output.splitlines() if marker in ln]
        assert named.startswith("note:") and "in use by a data move running now" in named, check
        kept = ok(farm.cf("ssh", "revoke", A))
        assert f"{A}: kept {marker}" in kept.output, kept
        # still copying: the attacks above ran during the move
        assert any(ln.endswith(f" {marker}") for ln in move_lines(farm.lab, A))
        done = proc.finish(timeout=600)
    out = done.output
    assert done.returncode == 0, out
    assert "host to host with rsync" in out, out
    assert farm.where(stack) == {B}, out
    assert farm.checksums(B, stack, "data") == before_data
    assert keys_on(farm.lab, A) == before_keys
    assert thief.ssh("x").returncode == 255  # gone from A


# --- authorized_keys, byte for byte ------------------------------------------------------------

OWNER_TAIL = (
    b"# keys of the owner\n"
    b'command="/usr/local/bin/backup",no-port-forwarding ssh-ed25519 '
    b"AAAAC3NzaC1lZDI1NTE5AAAAIHk8q3bPbQ1d owner@laptop\n"
    b"\n"
    b"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQC9 no newline after this"
)


@contextlib.contextmanager
def owner_file(lab: Lab) -> Iterator[bytes]:
    """A's ``authorized_keys`` with owner lines after cf's own login key, no final newline,
    mode 600; restored afterwards."""
    original = keys_on(lab, A)
    content = original + OWNER_TAIL
    set_keys(lab, A, content)
    try:
        yield content
    finally:
        set_keys(lab, A, original)


def test_eight_moves_off_one_host_at_once_leave_its_keys_byte_identical(
    farm: PrivateFarm,
) -> None:
    stacks = [_data_stack(farm, f"many{i}", 17) for i in range(8)]
    with owner_file(farm.lab) as content:
        for stack in stacks:
            farm.place(stack, B)
        done = ok(farm.cf("apply", "--yes", timeout=600))
        assert done.output.count("host to host with rsync") >= 8, done
        assert keys_on(farm.lab, A) == content
        mode = farm.lab.host_exec(A, ["stat", "-c", "%a %u", KEYS]).stdout.split()
        assert mode == ["600", "0"]
    assert {s: farm.where(s) for s in stacks} == {s: {B} for s in stacks}
    assert not exists_on(farm.lab, A, f"{MOVES}/cf-move-*")


@pytest.mark.parametrize("how", ["term-after-allow", "term-while-copying", "int-while-copying"])
def test_a_move_interrupted_at_each_step_leaves_the_keys_byte_identical(
    farm: PrivateFarm, how: str
) -> None:
    stack = _data_stack(farm, "stopped", 50)
    farm.place(stack, B)
    rule = ["OUTPUT", "-p", "tcp", "-d", farm.lab.host(A).address, "--dport", "22", "-j", "DROP"]
    with owner_file(farm.lab) as content, throttle(farm.lab, B):
        blocked = how == "term-after-allow"
        if blocked:  # B's ssh hangs in connect: the key is on A, unused
            farm.lab.host_exec(B, ["iptables", "-w", "-A", *rule])
        try:
            with farm.start("apply", "--yes") as proc:
                if blocked:
                    assert eventually(lambda: move_lines(farm.lab, A), WAIT)
                else:
                    assert eventually(lambda: _claimed(farm.lab), WAIT)
                proc.send_signal(signal.SIGINT if how.startswith("int") else signal.SIGTERM)
                done = proc.finish(timeout=600)
        finally:
            if blocked:
                farm.lab.host_exec(B, ["iptables", "-w", "-D", *rule], check=False)
        out = done.output
        assert done.returncode == 130, out
        assert "Traceback" not in out, out
        assert keys_on(farm.lab, A) == content, out
    assert farm.where(stack) == {A}, out  # it was never stopped there
    assert farm.state()[stack] == (A,)


def test_a_move_killed_outright_leaves_a_key_that_check_names_and_revoke_removes(
    farm: PrivateFarm,
) -> None:
    stack = _data_stack(farm, "killed", 50)
    farm.place(stack, B)
    with owner_file(farm.lab) as content, throttle(farm.lab, B):
        with farm.start("apply", "--yes") as proc:
            assert eventually(lambda: _claimed(farm.lab), WAIT)
            marker = _claimed(farm.lab)
            proc.kill()  # no clean-up can run
        assert keys_on(farm.lab, A) != content  # the key stayed (until its expiry-time)
        check = farm.cf("check")
        assert check.returncode == 1, check
        assert marker is not None and marker in check.output, check
        assert f"cf ssh revoke {A}" in check.output, check
        revoked = ok(farm.cf("ssh", "revoke", A))
        assert f"{A}: removed {marker}" in revoked.output, revoked
        assert keys_on(farm.lab, A) == content
        assert not exists_on(farm.lab, A, f"{MOVES}/{marker}")
        assert marker not in farm.cf("check").output


@contextlib.contextmanager
def without_rsync(lab: Lab, host: str) -> Iterator[None]:
    """``rsync`` on ``host`` replaced by ``false`` (a bind mount in its own mount namespace)."""
    where = lab.host_exec(host, ["sh", "-c", "command -v rsync"]).stdout.strip()
    lab.host_exec(host, ["mount", "--bind", "/bin/false", where])
    try:
        yield
    finally:
        lab.host_exec(host, ["umount", where], check=False)


def test_a_new_host_without_rsync_pulls_with_tar_and_the_key_still_sends_once(
    farm: PrivateFarm,
) -> None:
    stack = _data_stack(farm, "tar", 20)
    before = farm.checksums(A, stack, "data")
    before_keys = keys_on(farm.lab, A)
    farm.place(stack, B)
    with without_rsync(farm.lab, B):
        done = ok(farm.cf("apply", "--yes"))
    assert "while it runs, host to host with tar" in done.output, done
    assert farm.where(stack) == {B}, done
    assert farm.checksums(B, stack, "data") == before
    assert keys_on(farm.lab, A) == before_keys
