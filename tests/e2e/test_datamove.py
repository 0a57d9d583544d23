"""Data that moves with its stack (docs/sync-and-data.md, "Data that moves with its stack").

Every host of a ``PrivateFarm`` has its own compose folder, so a stack's bind-
mounted ``./data`` exists only where cf put it. Each test compares the SHA-256
of every data file as each host sees it, and asks the engines where the stack
runs. Healthy-host tests use h1..h3; the one that cuts a host mid-copy uses h7
and h8 under their lock (``faults`` group).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compose_farm.yamlio import parse_yaml, to_plain
from tests.e2e.applyfarm import ok
from tests.e2e.farm import cut, on, sleep_stack
from tests.e2e.privatelab import PrivateFarm, fill, private_farm, qdiscs, sizes_in, throttle
from tests.lab import Lab

pytestmark = pytest.mark.lab

HOSTS = ("h1", "h2", "h3")
MB = 1024 * 1024
DATA = "    volumes:\n      - ./data:/data\n"

# Appends a line to /data/log every 0.2 s: what is in B's copy shows which copy ran last.
WRITER = """\
services:
  app:
    image: {image}
    command:
      - sh
      - -c
      - 'i=0; while :; do i=$$((i+1)); echo "$$(hostname) $$i" >> /data/log; sleep 0.2; done'
    init: true
    stop_grace_period: 1s
    volumes:
      - ./data:/data
"""


@pytest.fixture
def farm(lab: Lab, tmp_path: Path) -> Iterator[PrivateFarm]:
    with private_farm(lab, tmp_path, HOSTS) as f:
        yield f


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
    time.sleep(1.0)  # some lines in the log before the move starts

    farm.place(stack, "h3")
    done = ok(farm.cf("apply", "--yes"))
    time.sleep(1.0)  # the container on h3 appends its own lines

    assert farm.on_engines() == {stack: on("h3")}, done
    # h2's copy is frozen since the stop: the final copy must have carried all of it.
    old_log = farm.read("h2", stack, "data/log")
    new_log = farm.read("h3", stack, "data/log")
    assert old_log and new_log, done
    assert new_log.startswith(old_log), (old_log[-200:], new_log[: len(old_log) + 200], done)
    added = new_log[len(old_log) :].splitlines()
    assert added, "the container on h3 wrote nothing to its moved data"
    old_writers = {ln.split()[0] for ln in old_log.splitlines()}
    assert len(old_writers) == 1 and {ln.split()[0] for ln in added}.isdisjoint(old_writers)

    moved = farm.checksums("h3", stack, "data")
    before = farm.checksums("h2", stack, "data")
    del moved["log"], before["log"]
    assert moved == before == {k: v for k, v in written.items() if k != "log"}, done


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


# --- a host cut in the middle of the copy --------------------------------------------------

FAULT_HOSTS = ("h7", "h8")
CONNECT_TIMEOUT = 3.0


@pytest.mark.xdist_group("faults")
def test_a_move_cut_mid_copy_keeps_the_stack_and_its_data_on_the_old_host(
    lab: Lab, tmp_path: Path
) -> None:
    with private_farm(
        lab, tmp_path, FAULT_HOSTS, connect_timeout=CONNECT_TIMEOUT, exclusive=True
    ) as farm:
        stack = data_stack(farm, "cutmove", "h7")
        total = fill(farm.on_host("h7", stack, "data"), 50, files=10)
        ok(farm.cf("up", stack))
        at_start = farm.checksums("h7", stack, "data")
        farm.place(stack, "h8")

        with throttle(lab, "h8"):  # 40 Mbit/s: the 50 MB pre-copy takes ~12 s
            sent = cable_bytes(lab, "h8")
            proc = subprocess.Popen(
                [sys.executable, "-m", "compose_farm", "apply", "--yes"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=farm.env(),
                cwd=farm.folder,
                stdin=subprocess.DEVNULL,
            )
            try:
                wait_for_copy(lab, "h8", sent + 4 * MB, proc)
                with cut(lab, "h8"):
                    copied = cable_bytes(lab, "h8") - sent
                    out, _ = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
            assert "rate 40Mbit" in qdiscs(lab, "h8")  # still throttled when it ended

        assert copied < total * 0.8, f"the copy was nearly done before the cut ({copied} B)"
        assert proc.returncode not in (0, None), out
        assert "Traceback" not in out, out
        assert "h8" in out, out
        assert farm.on_engines() == {stack: on("h7")}, out
        assert farm.checksums("h7", stack, "data") == at_start, out
        assert farm.state() == {stack: ("h7",)}, out

        done = ok(farm.cf("apply", "--yes", timeout=90))

        assert farm.on_engines() == {stack: on("h8")}, done
        assert farm.checksums("h8", stack, "data") == at_start, done
        assert farm.state() == {stack: ("h8",)}, done


def cable_bytes(lab: Lab, host: str) -> int:
    """Bytes sent to ``host`` over its cable so far (wherever on the host they land)."""
    path = Path("/sys/class/net") / lab.host(host).veth / "statistics" / "tx_bytes"
    return int(path.read_text())


def wait_for_copy(lab: Lab, host: str, reach: int, proc: subprocess.Popen[str]) -> None:
    """Wait until ``host``'s cable counter reaches ``reach``: the data copy is under way."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if cable_bytes(lab, host) >= reach:
            return
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"cf apply ended before any copy to {host} was under way:\n{out}")
        time.sleep(0.05)
    pytest.fail(f"no copy to {host} under way after 20 s")
