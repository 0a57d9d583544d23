"""The ``authorized_keys`` programs (ssh/authkeys.py), run by a real ``sh`` with a real ``flock``.

What an owner keeps: every byte of their file, whatever cf adds and removes,
concurrently or not; its mode, owner and (through a symlink) its place.
"""

from __future__ import annotations

import base64
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from compose_farm.ssh.authkeys import INSTALL_PROGRAM, LIST_PROGRAM, REVOKE_PROGRAM, parse_left
from compose_farm.sync.direct import ALLOW_PROGRAM

PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAvHyr0ZkRl4hOkv2aM3sRm1ZuvNOTPFEvtu0zw2Xh7X"
OWNER = (
    b'command="/usr/bin/backup",no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPfQ owner@laptop\n'
    b"# a comment the owner wrote\n"
    b"\n"
    b"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 last line without its newline"
)


def _run(
    home: Path, program: str, *args: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    return subprocess.run(
        ["sh", "-c", program, "sh", *args],
        input=stdin.decode(),
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def _marker(i: int) -> str:
    return f"cf-move-{i:016x}"


def _allow(home: Path, marker: str, source: str = "10.0.0.2") -> subprocess.CompletedProcess[str]:
    return _run(home, ALLOW_PROGRAM, marker, source, PUBLIC, "exit 1\n", stdin=b"./a\0")


def _revoke(home: Path, marker: str) -> subprocess.CompletedProcess[str]:
    return _run(home, REVOKE_PROGRAM, marker)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".ssh").mkdir(mode=0o700)
    return tmp_path


def _keys(home: Path) -> Path:
    return home / ".ssh" / "authorized_keys"


def test_a_move_key_is_a_line_of_its_own_and_leaves_every_byte_as_it_was(home: Path) -> None:
    keys = _keys(home)
    keys.write_bytes(OWNER)
    keys.chmod(0o600)
    done = _allow(home, _marker(1))
    assert done.returncode == 0 and done.stdout.strip() == "allowed", done
    text = keys.read_bytes()
    first, _, rest = text.partition(b"\n")
    assert rest == OWNER  # the owner's bytes, untouched, after cf's line
    assert first.startswith(b'restrict,from="10.0.0.2",expiry-time="')
    assert first.endswith(f" {PUBLIC} {_marker(1)}".encode())
    assert b'command="cd && exec sh .cache/compose-farm/moves/' in first
    assert (home / ".cache/compose-farm/moves" / _marker(1) / "names").read_bytes() == b"./a\0"
    done = _revoke(home, _marker(1))
    assert done.returncode == 0, done
    assert keys.read_bytes() == OWNER
    assert not (home / ".cache/compose-farm/moves" / _marker(1)).exists()


def test_mode_and_owner_survive_and_a_symlinked_file_stays_a_symlink(home: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file to another user")
    target = home / "elsewhere"
    target.mkdir()
    real = target / "keys"
    real.write_bytes(OWNER)
    os.chown(real, 4321, 4321)
    real.chmod(0o600)
    _keys(home).symlink_to(real)
    assert _allow(home, _marker(2)).returncode == 0
    assert _keys(home).is_symlink()
    stat = real.stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (4321, 4321, 0o600)
    assert _revoke(home, _marker(2)).returncode == 0
    assert _keys(home).is_symlink() and real.read_bytes() == OWNER
    stat = real.stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (4321, 4321, 0o600)


def test_removal_takes_only_cf_lines_never_an_owner_line_that_names_the_marker(
    home: Path,
) -> None:
    marker = _marker(3)
    # An owner line that mentions the marker (or even ends with it) but is not cf's shape.
    owner = OWNER.replace(b"last line", f"{marker} {PUBLIC} {marker}".encode())
    _keys(home).write_bytes(owner)
    assert _allow(home, marker).returncode == 0
    assert _revoke(home, marker).returncode == 0
    assert _keys(home).read_bytes() == owner


def test_a_file_cf_created_goes_again_and_an_empty_one_stays(home: Path) -> None:
    assert _allow(home, _marker(4)).returncode == 0
    assert _keys(home).is_file()
    assert _revoke(home, _marker(4)).returncode == 0
    assert not _keys(home).exists()
    _keys(home).write_bytes(b"")
    assert _allow(home, _marker(5)).returncode == 0
    assert _revoke(home, _marker(5)).returncode == 0
    assert _keys(home).read_bytes() == b""


def test_eight_moves_at_once_leave_the_file_identical(home: Path) -> None:
    _keys(home).write_bytes(OWNER)
    markers = [_marker(100 + i) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        added = list(pool.map(lambda m: _allow(home, m), markers))
    assert all(r.returncode == 0 for r in added), added
    text = _keys(home).read_text()
    assert all(text.count(f" {m}\n") == 1 for m in markers)  # none lost to a rewrite
    assert text.endswith(OWNER.decode())
    # Revokes interleaved with new allows, as overlapping moves do.
    more = [_marker(200 + i) for i in range(8)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda m: _revoke(home, m), markers))
        results += list(pool.map(lambda m: _allow(home, m), more))
    assert all(r.returncode == 0 for r in results), results
    text = _keys(home).read_text()
    assert not any(m in text for m in markers)
    assert all(text.count(f" {m}\n") == 1 for m in more)
    with ThreadPoolExecutor(8) as pool:
        assert all(r.returncode == 0 for r in pool.map(lambda m: _revoke(home, m), more))
    assert _keys(home).read_bytes() == OWNER
    assert not list(home.glob(".ssh/authorized_keys.cf-*"))  # no temporary file left


def test_a_marker_that_is_not_cf_shape_is_refused(home: Path) -> None:
    _keys(home).write_bytes(OWNER)
    for bad in ("cf-move-", "cf-move-.*", "owner@laptop", "cf-move-ABC", "cf-move-1 x"):
        done = _revoke(home, bad)
        assert done.returncode == 2, (bad, done)
    assert _keys(home).read_bytes() == OWNER


def test_listing_shows_each_key_left_and_folders_without_a_line(home: Path) -> None:
    _keys(home).write_bytes(OWNER)
    assert _allow(home, _marker(6)).returncode == 0
    (home / ".cache/compose-farm/moves" / _marker(7)).mkdir()
    done = _run(home, LIST_PROGRAM)
    left = parse_left("h1", done.stdout)
    assert [(k.marker, k.in_file) for k in left] == [(_marker(6), True), (_marker(7), False)]
    assert left[0].expiry is not None and left[0].expiry.endswith("Z")
    assert "cf ssh" not in left[0].describe() and _marker(6) in left[0].describe()


def test_install_adds_cf_key_once_before_the_owner_lines(home: Path) -> None:
    _keys(home).write_bytes(OWNER)
    line = f"{PUBLIC} compose-farm"
    first = _run(home, INSTALL_PROGRAM, line, PUBLIC)
    assert first.stdout.strip() == "added", first
    assert _keys(home).read_bytes() == f"{line}\n".encode() + OWNER
    again = _run(home, INSTALL_PROGRAM, f"no-pty {PUBLIC} other comment", PUBLIC)
    assert again.stdout.strip() == "present", again
    assert _keys(home).read_bytes() == f"{line}\n".encode() + OWNER


def test_a_file_mounted_in_place_is_rewritten_in_place(home: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to bind-mount")
    keys = _keys(home)
    keys.write_bytes(OWNER)
    scratch = tmp_path / "scratch-keys"
    scratch.write_bytes(OWNER)
    # its own mount namespace: the mount goes with the process
    script = (
        f"mount --bind {scratch} {keys} && "
        f"HOME={home} sh -c \"$1\" sh {_marker(9)} 10.0.0.2 '{PUBLIC}' 'exit 1' < /dev/null && "
        f'HOME={home} sh -c "$2" sh {_marker(9)} && cat {keys} | base64 -w0'
    )
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", ALLOW_PROGRAM, REVOKE_PROGRAM],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done
    assert base64.b64decode(done.stdout.split()[-1]) == OWNER
    assert scratch.read_bytes() == OWNER
