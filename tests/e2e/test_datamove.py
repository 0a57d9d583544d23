"""Data that moves with its stack (docs/sync-and-data.md, "Data that moves with its stack").

Every host of a ``PrivateFarm`` has its own compose folder, so a stack's bind-
mounted ``./data`` exists only where cf put it. Each test compares the SHA-256
of every data file as each host sees it, and asks the engines where the stack
runs. Healthy-host tests use h1..h3; the one that cuts a host mid-copy uses h7
and h8 under their lock (``faults`` group).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from compose_farm.yamlio import parse_yaml, to_plain
from tests.lab import Lab
from tests.support.cf import CfProcess, ok
from tests.support.farm import on
from tests.support.faults import cut, qdiscs, throttle
from tests.support.privatefarm import PrivateFarm, checksums_on, fill, sizes_in
from tests.support.stacks import sleep_stack
from tests.support.waiting import eventually, poll

HOSTS = ("h1", "h2", "h3")
pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=HOSTS, kind=PrivateFarm)]
MB = 1024 * 1024
DATA = "    volumes:\n      - ./data:/data\n"

# Every 0.1 s: appends a line to /data/log, and replaces /data/rot/<hostname>-<i-1> by
# <hostname>-<i>. What B's copy holds shows which copy ran last, and whether files
# deleted on A after the pre-copy were deleted on B too.
WRITER = """\
services:
  app:
    image: {image}
    command:
      - sh
      - -c
      - >-
        mkdir -p /data/rot; h=$$(hostname); i=0; while :; do i=$$((i+1));
        echo "$$h $$i" >> /data/log; echo "$$i" > /data/rot/$$h-$$i;
        rm -f /data/rot/$$h-$$((i-1)); sleep 0.1; done
    init: true
    stop_grace_period: 1s
    volumes:
      - ./data:/data
"""


def data_stack(farm: PrivateFarm, suffix: str, host: str, compose: str | None = None) -> str:
    return farm.stack(
        suffix, host, compose or sleep_stack(farm.lab.image, extra=DATA), data=["./data"]
    )


def data_left(farm: PrivateFarm) -> Any:
    """The state file's ``data_left`` entry, whatever its shape (None: absent)."""
    document = to_plain(parse_yaml(farm.state_path.read_text(), farm.state_path))
    assert isinstance(document, dict), document
    return document.get("data_left")


def container_sha(farm: PrivateFarm, host: str, stack: str, relative: str) -> str:
    """SHA-256 of ``/data/<relative>`` as the stack's container on ``host`` reads it."""
    [container] = [c for c in farm.containers([host]) if c.project == stack]
    done = farm.lab.docker(host, "exec", container.id, "sha256sum", f"/data/{relative}")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[0]


# --- a move carries the data ------------------------------------------------------------------


def test_data_moves_with_its_stack_and_prune_removes_the_old_copy(farm: PrivateFarm) -> None:
    stack = data_stack(farm, "db", "h1")
    fill(farm.on_host("h1", stack, "data"), 50, files=12)
    ok(farm.cf("up", stack))
    assert farm.on_engines() == {stack: on("h1")}
    at_stop = farm.checksums("h1", stack, "data")
    assert len(at_stop) == 12

    farm.place(stack, "h2")
    done = ok(farm.cf("apply", "--yes"))

    assert farm.on_engines() == {stack: on("h2")}, done  # and nothing left on h1
    assert farm.checksums("h2", stack, "data") == at_stop, done
    assert farm.checksums("h1", stack, "data") == at_stop, done  # A's copy stays
    assert farm.state() == {stack: ("h2",)}, done
    left = str(data_left(farm))
    assert stack in left and "h1" in left, left
    # The container on h2 reads the moved bytes through its bind mount.
    assert container_sha(farm, "h2", stack, "blob-00.bin") == at_stop["blob-00.bin"]

    preview = ok(farm.cf("prune-data", stack, "--dry-run"))
    assert farm.checksums("h1", stack, "data") == at_stop, preview
    pruned = ok(farm.cf("prune-data", stack, "--yes"))

    assert not farm.exists("h1", stack, "data"), pruned
    assert farm.checksums("h2", stack, "data") == at_stop, pruned
    assert farm.on_engines() == {stack: on("h2")}, pruned
    assert stack not in str(data_left(farm) or ""), pruned


def test_the_final_copy_carries_what_was_written_until_the_stop(farm: PrivateFarm) -> None:
    stack = data_stack(farm, "writer", "h2", WRITER.format(image=farm.lab.image))
    fill(farm.on_host("h2", stack, "data"), 5, files=6)
    written = farm.checksums("h2", stack, "data")
    ok(farm.cf("up", stack))
    # some lines in the log before the move starts
    assert eventually(lambda: lines_of(farm.read("h2", stack, "data/log") or "") >= 10)

    farm.place(stack, "h3")
    done = ok(farm.cf("apply", "--yes"))

    assert farm.on_engines() == {stack: on("h3")}, done
    # h2's copy is frozen since the stop: the final copy must have carried all of it.
    old_log = farm.read("h2", stack, "data/log")
    assert old_log, done
    # the container on h3 appends its own lines
    eventually(lambda: len(farm.read("h3", stack, "data/log") or "") > len(old_log))
    new_log = farm.read("h3", stack, "data/log")
    assert new_log, done
    assert new_log.startswith(old_log), (old_log[-200:], new_log[: len(old_log) + 200], done)
    added = new_log[len(old_log) :].splitlines()
    assert added, "the container on h3 wrote nothing to its moved data"
    old_writers = {ln.split()[0] for ln in old_log.splitlines()}
    assert len(old_writers) == 1 and {ln.split()[0] for ln in added}.isdisjoint(old_writers)

    # The other files: h3's are h2's as frozen at the stop. That includes the rotated
    # files of h2's writer: only its last ones are left, and any the pre-copy carried
    # were deleted on h2 before the stop, so they must be gone from h3 too.
    [writer] = old_writers

    def of_h2(found: dict[str, str]) -> dict[str, str]:
        return {
            k: v
            for k, v in found.items()
            if k != "log" and (not k.startswith("rot/") or k.startswith(f"rot/{writer}-"))
        }

    frozen = of_h2(farm.checksums("h2", stack, "data"))
    assert f"rot/{writer}-{lines_of(old_log)}" in frozen, frozen  # it rotated until the stop
    assert of_h2(farm.checksums("h3", stack, "data", live=True)) == frozen, done
    assert written.items() <= frozen.items()


def lines_of(text: str) -> int:
    return len(text.splitlines())


def test_apply_dry_run_shows_what_a_move_would_copy_then_prune_data_moves_it(
    farm: PrivateFarm,
) -> None:
    stack = data_stack(farm, "preview", "h1")
    total = fill(farm.on_host("h1", stack, "data"), 6, files=9)
    ok(farm.cf("up", stack))
    ids, state = farm.ids(stack), farm.state_path.read_bytes()
    at_stop = farm.checksums("h1", stack, "data")

    farm.place(stack, "h3")
    preview = ok(farm.cf("apply", "--dry-run"))

    assert farm.ids(stack) == ids, preview
    assert farm.state_path.read_bytes() == state, preview
    assert not farm.exists("h3", stack), preview  # not even the folder was synced
    lines = [ln for ln in preview.output.splitlines() if stack in ln or "file" in ln]
    text = "\n".join(lines)
    assert any(f"{len(at_stop)} file" in ln or f"{len(at_stop)} data file" in ln for ln in lines), (
        preview
    )
    assert any(abs(size - total) <= total * 0.1 for size in sizes_in(text)), preview

    done = ok(farm.cf("apply", "--yes", "--prune-data"))

    assert farm.on_engines() == {stack: on("h3")}, done
    assert farm.checksums("h3", stack, "data") == at_stop, done
    assert not farm.exists("h1", stack, "data"), done  # removed right after the verified move
    assert farm.state() == {stack: ("h3",)}, done


def test_a_folder_already_on_the_new_host_is_set_aside_not_overwritten(
    farm: PrivateFarm,
) -> None:
    stack = data_stack(farm, "aside", "h2")
    fill(farm.on_host("h2", stack, "data"), 2, files=4)
    stale = farm.on_host("h3", stack, "data/stale.txt")
    stale.parent.mkdir(parents=True)
    stale.write_text("older data on h3\n")
    ok(farm.cf("up", stack))
    at_stop = farm.checksums("h2", stack, "data")

    farm.place(stack, "h3")
    done = ok(farm.cf("apply", "--yes"))

    assert farm.on_engines() == {stack: on("h3")}, done
    assert farm.checksums("h3", stack, "data") == at_stop, done  # no stale.txt mixed in
    [aside] = [p for p in farm.on_host("h3", stack).iterdir() if ".cf-replaced-" in p.name]
    assert aside.name.startswith("data.cf-replaced-"), aside
    assert (aside / "stale.txt").read_text() == "older data on h3\n"

    pruned = ok(farm.cf("prune-data", stack, "--yes"))

    assert not aside.exists(), pruned
    assert not farm.exists("h2", stack, "data"), pruned
    assert farm.checksums("h3", stack, "data") == at_stop, pruned


def test_several_data_folders_one_absolute_move_with_cf_up(farm: PrivateFarm) -> None:
    """``cf up --prune-data`` after the host changed moves the data too, and removes the
    old copies; an absolute ``data`` path works."""
    stack = farm.name("twofold")
    elsewhere = farm.compose_dir / "volumes" / stack  # private to each host as well
    compose = sleep_stack(
        farm.lab.image, extra=f"    volumes:\n      - ./data:/data\n      - {elsewhere}:/more\n"
    )
    farm.stack("twofold", "h3", compose, data=["./data", str(elsewhere)])
    fill(farm.on_host("h3", stack, "data"), 2, files=3)
    fill(farm.backing("h3") / "volumes" / stack / "with space", 1, files=2)
    ok(farm.cf("up", stack))
    relative, absolute = (
        farm.checksums("h3", stack, "data"),
        checksums_on(farm.lab, "h3", str(elsewhere)),
    )
    assert len(absolute) == 2

    farm.place(stack, "h1")
    done = ok(farm.cf("up", stack, "--prune-data"))

    assert farm.on_engines() == {stack: on("h1")}, done
    assert farm.state() == {stack: ("h1",)}, done
    assert farm.checksums("h1", stack, "data") == relative, done
    assert checksums_on(farm.lab, "h1", str(elsewhere)) == absolute, done
    # --prune-data: both of h3's copies removed right after the verified move.
    assert not farm.exists("h3", stack, "data"), done
    gone = farm.lab.host_exec("h3", ["test", "-e", str(elsewhere)], check=False)
    assert gone.returncode != 0, done
    assert data_left(farm) is None or stack not in str(data_left(farm)), done


def listing(root: Path) -> dict[str, tuple[str, str, int, int, int, str]]:
    """Relative path -> (kind, mode, uid, gid, mtime of files, link target) under ``root``."""
    found = {}
    for path in sorted([root, *root.rglob("*")]):
        st = path.lstat()
        kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
        target = os.readlink(path) if kind == "link" else ""
        mtime = int(st.st_mtime) if kind == "file" else 0
        found[str(path.relative_to(root))] = (
            kind,
            oct(stat.S_IMODE(st.st_mode)),
            st.st_uid,
            st.st_gid,
            mtime,
            target,
        )
    return found


def test_the_move_keeps_empty_folders_links_modes_and_owners(farm: PrivateFarm) -> None:
    """What a database's folder needs to start again: e.g. PostgreSQL's data folder has
    empty folders, files 0600 and the folder itself 0700, all owned by uid 999."""
    stack = data_stack(farm, "pgish", "h3")
    data = farm.on_host("h3", stack, "data")
    fill(data, 1, files=3)
    for empty in ("pg_tblspc", "pg_twophase", "base/empty"):
        (data / empty).mkdir(parents=True)
    (data / "current").symlink_to("blob-00.bin")
    (data / "dangling").symlink_to("/nowhere/at/all")
    (data / "secret.key").write_text("key\n")
    (data / "secret.key").chmod(0o600)
    for path in [data, *data.rglob("*")]:
        os.lchown(path, 999, 999)
    data.chmod(0o700)
    ok(farm.cf("up", stack))
    before = listing(data)

    farm.place(stack, "h2")
    done = ok(farm.cf("apply", "--yes"))

    assert farm.on_engines() == {stack: on("h2")}, done
    after = listing(farm.on_host("h2", stack, "data"))
    assert after == before, (
        {
            k: (before.get(k), after.get(k))
            for k in before.keys() | after.keys()
            if before.get(k) != after.get(k)
        },
        done,
    )


def test_moving_back_then_pruning_never_touches_the_live_copy(farm: PrivateFarm) -> None:
    """h1 -> h2 -> h1 without pruning: h1 is where the stack runs again, so a prune must
    remove h2's copy (and h1's set-aside old one), never h1's live data."""
    stack = data_stack(farm, "boomerang", "h1")
    fill(farm.on_host("h1", stack, "data"), 3, files=4)
    ok(farm.cf("up", stack))
    farm.place(stack, "h2")
    ok(farm.cf("apply", "--yes"))
    farm.on_host("h2", stack, "data/written-on-h2").write_text("while on h2\n")
    live = farm.checksums("h2", stack, "data")

    farm.place(stack, "h1")
    back = ok(farm.cf("apply", "--yes"))

    assert farm.on_engines() == {stack: on("h1")}, back
    assert farm.checksums("h1", stack, "data") == live, back
    left = str(data_left(farm))
    assert stack in left and "h2" in left, left

    pruned = ok(farm.cf("prune-data", stack, "--yes"))

    assert farm.checksums("h1", stack, "data") == live, pruned  # the live copy: untouched
    assert farm.on_engines() == {stack: on("h1")}, pruned
    assert container_sha(farm, "h1", stack, "written-on-h2") == live["written-on-h2"]
    assert not farm.exists("h2", stack, "data"), pruned
    assert not [p for p in farm.on_host("h1", stack).iterdir() if ".cf-replaced-" in p.name]


def test_moves_that_cross_in_one_apply_each_carry_their_own_data(farm: PrivateFarm) -> None:
    """h1 -> h2 and h2 -> h1 at once: two relays over the same two connections."""
    east, west = data_stack(farm, "east", "h1"), data_stack(farm, "west", "h2")
    fill(farm.on_host("h1", east, "data"), 8, files=5)
    fill(farm.on_host("h2", west, "data"), 8, files=6)
    ok(farm.cf("up", east, west))
    sums = {east: farm.checksums("h1", east, "data"), west: farm.checksums("h2", west, "data")}

    farm.place(east, "h2")
    farm.place(west, "h1")
    done = ok(farm.cf("apply", "--yes"))

    assert farm.on_engines() == {east: on("h2"), west: on("h1")}, done
    assert farm.checksums("h2", east, "data") == sums[east], done
    assert farm.checksums("h1", west, "data") == sums[west], done
    assert farm.state() == {east: ("h2",), west: ("h1",)}, done


def test_a_move_onto_a_full_disk_is_rolled_back(farm: PrivateFarm) -> None:
    stack = data_stack(farm, "full", "h1")
    fill(farm.on_host("h1", stack, "data"), 12, files=4)
    ok(farm.cf("up", stack))
    at_start = farm.checksums("h1", stack, "data")
    folder = farm.host_path(stack)
    farm.lab.host_exec("h2", ["mkdir", "-p", folder])
    farm.lab.host_exec("h2", ["mount", "-t", "tmpfs", "-o", "size=8m", "cf-e2e-full", folder])
    try:
        farm.place(stack, "h2")
        done = farm.cf("apply", "--yes")

        assert done.returncode != 0, done
        assert "Traceback" not in done.output, done
        assert "h2" in done.output, done
        assert farm.on_engines() == {stack: on("h1")}, done
        assert farm.checksums("h1", stack, "data") == at_start, done
        assert farm.state() == {stack: ("h1",)}, done
    finally:
        farm.lab.host_exec("h2", ["umount", "-l", folder], check=False)

    done = ok(farm.cf("apply", "--yes"))  # room again: the move goes through

    assert farm.on_engines() == {stack: on("h2")}, done
    assert farm.checksums("h2", stack, "data") == at_start, done


# --- a host cut in the middle of the copy --------------------------------------------------

FAULT_HOSTS = ("h7", "h8")
CONNECT_TIMEOUT = 3.0
CUT_LIMIT = 45  # over 3 times the keepalive's ~6 s (ssh/pool.py: 2 s, 2 missed)


@pytest.mark.xdist_group("faults")
@pytest.mark.farm(
    hosts=FAULT_HOSTS, kind=PrivateFarm, connect_timeout=CONNECT_TIMEOUT, exclusive=True
)
def test_a_move_cut_mid_copy_keeps_the_stack_and_its_data_on_the_old_host(
    farm: PrivateFarm,
) -> None:
    lab = farm.lab
    stack = data_stack(farm, "cutmove", "h7")
    total = fill(farm.on_host("h7", stack, "data"), 50, files=10)
    ok(farm.cf("up", stack))
    at_start = farm.checksums("h7", stack, "data")
    farm.place(stack, "h8")

    with throttle(lab, "h8"):  # 40 Mbit/s: the 50 MB pre-copy takes ~12 s
        sent = cable_bytes(lab, "h8")
        with farm.start("apply", "--yes") as proc:
            wait_for_copy(lab, "h8", sent + 4 * MB, proc)
            with cut(lab, "h8"):
                copied = cable_bytes(lab, "h8") - sent
                # keepalives give up on h8 within ~6 s; cf must then end, not hang
                done = proc.finish(timeout=CUT_LIMIT)
        assert "rate 40Mbit" in qdiscs(lab, "h8")  # still throttled when it ended

    assert copied < total * 0.8, f"the copy was nearly done before the cut ({copied} B)"
    assert done.returncode != 0, done
    assert "Traceback" not in done.output, done
    words = ("lost", "unreachable", "no answer", "timed out", "timeout", "closed")
    said = [ln for ln in done.output.splitlines() if "h8" in ln]
    assert any(w in ln.lower() for ln in said for w in words), done
    assert farm.on_engines() == {stack: on("h7")}, done
    assert farm.checksums("h7", stack, "data") == at_start, done
    assert farm.state() == {stack: ("h7",)}, done

    done = ok(farm.cf("apply", "--yes", timeout=90))

    assert farm.on_engines() == {stack: on("h8")}, done
    assert farm.checksums("h8", stack, "data") == at_start, done
    assert farm.state() == {stack: ("h8",)}, done


def cable_bytes(lab: Lab, host: str) -> int:
    """Bytes sent to ``host`` over its cable so far (wherever on the host they land)."""
    path = Path("/sys/class/net") / lab.host(host).veth / "statistics" / "tx_bytes"
    return int(path.read_text())


def wait_for_copy(lab: Lab, host: str, reach: int, proc: CfProcess) -> None:
    """Wait until ``host``'s cable counter reaches ``reach``: the data copy is under way."""

    def under_way() -> bool | None:
        assert proc.running(), f"cf ended before any copy to {host} was under way:\n{proc.output}"
        return True if cable_bytes(lab, host) >= reach else None

    poll(under_way, what=f"a copy to {host} under way", interval=0.05)


def test_a_data_folder_missing_on_the_old_host(farm: PrivateFarm) -> None:
    """``data: [./data]`` but the folder was never made on h1 (nothing wrote to it yet).

    Either the move goes through with nothing to copy, as the dry run announces
    ("0 files, 0 B"), or it fails saying that the folder is missing on h1, not
    with an error blamed on h2. Either way the stack keeps running somewhere.
    """
    stack = farm.stack("nodata", "h1", data=["./data"])
    ok(farm.cf("up", stack))
    farm.place(stack, "h2")
    preview = ok(farm.cf("apply", "--dry-run"))

    done = farm.cf("apply", "--yes")

    assert "Traceback" not in done.output, done
    if done.returncode == 0:
        assert farm.on_engines() == {stack: on("h2")}, done
        assert farm.state() == {stack: ("h2",)}, done
        return
    assert farm.on_engines() == {stack: on("h1")}, done
    why = [ln for ln in done.output.splitlines() if "data" in ln and "h1" in ln]
    assert any(w in ln.lower() for ln in why for w in ("missing", "no such", "not exist")), (
        f"the dry run said {preview.stdout!r}; the move failed without saying the folder "
        f"is missing on h1:\n{done}"
    )
