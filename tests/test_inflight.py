"""Moves running on this machine (sync/inflight.py): a held lock says so, and only
while its process lives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compose_farm.sync import inflight

MARKER = "cf-move-0123456789abcdef"


def _env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(tmp_path / "cache")}


def test_a_move_is_running_only_inside_the_block(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert not inflight.running(MARKER, env)
    with inflight.holding(MARKER, env):
        assert inflight.running(MARKER, env)
        assert not inflight.running("cf-move-fedcba9876543210", env)
        mode = (tmp_path / "cache" / "compose-farm" / "moving").stat().st_mode & 0o777
        assert mode == 0o700
    assert not inflight.running(MARKER, env)
    assert list((tmp_path / "cache" / "compose-farm" / "moving").iterdir()) == []


def test_a_killed_holder_leaves_a_file_that_no_longer_counts(tmp_path: Path) -> None:
    env = {**os.environ, **_env(tmp_path)}
    code = (
        "import sys\n"
        "from compose_farm.sync import inflight\n"
        f"with inflight.holding({MARKER!r}):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        assert inflight.running(MARKER, env)
        child.kill()
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    lock = tmp_path / "cache" / "compose-farm" / "moving" / f"{MARKER}.lock"
    assert lock.exists()  # no clean-up ran ...
    assert not inflight.running(MARKER, env)  # ... and it counts for nothing


@pytest.mark.parametrize("marker", ["../../etc/passwd", "cf-move-../x", "cf-move-0123", ""])
def test_a_marker_from_a_host_is_never_a_path(tmp_path: Path, marker: str) -> None:
    env = _env(tmp_path)
    assert not inflight.running(marker, env)
    with pytest.raises(ValueError), inflight.holding(marker, env):
        pass


def test_a_symlink_in_place_of_the_lock_is_not_followed(tmp_path: Path) -> None:
    env = _env(tmp_path)
    folder = inflight.folder(env)
    folder.mkdir(parents=True)
    target = tmp_path / "victim"
    target.write_text("untouched")
    (folder / f"{MARKER}.lock").symlink_to(target)
    with inflight.holding(MARKER, env):
        assert not inflight.running(MARKER, env)  # best effort: no lock, no note
    assert target.read_text() == "untouched"


def test_an_unwritable_cache_costs_only_the_note(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file where the folder should be")
    env = _env(tmp_path)
    with inflight.holding(MARKER, env):
        assert not inflight.running(MARKER, env)
