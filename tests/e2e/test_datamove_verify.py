"""The data move's checks, driven step by step on two lab hosts (sync/datamove.py).

``DataMove`` runs against real hosts through cf's executor; between its steps the
test changes files as a host sees them, to show what the checks trust and what
they catch: only files settled before the check while running are trusted, and
a copy that differs after the stop is sent again before anything starts.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from compose_farm.config import load_config
from compose_farm.executor import Executor
from compose_farm.sync.datamove import DataMove
from tests.support.privatefarm import PrivateFarm, fill

OLD, NEW = "h2", "h3"


pytestmark = pytest.mark.farm(hosts=(OLD, NEW), kind=PrivateFarm)


def _move(farm: PrivateFarm, stack: str, between: object = None) -> list[str]:
    """pre_copy, then ``between()`` (the stack would stop here), then final_copy and verify;
    what the move said."""
    said: list[str] = []
    config = load_config(farm.config_path)

    async def main() -> None:
        async with Executor(config, home=Path(farm.lab.env()["HOME"])) as executor:
            move = DataMove(
                executor, config, stack, OLD, NEW, reuse=False, say=said.append, warn=said.append
            )
            await move.pre_copy()
            if callable(between):
                between()
            await move.final_copy()
            await move.verify()

    asyncio.run(main())
    return said


def test_settled_files_are_verified_while_running_recent_ones_after_the_stop(
    farm: PrivateFarm,
) -> None:
    stack = farm.stack("settled", OLD, data=["./data"])
    old_data = farm.on_host(OLD, stack, "data")
    fill(old_data, 2, files=6)
    past = time.time() - 60
    for blob in old_data.rglob("*.bin"):
        os.utime(blob, (past, past))
    fresh = old_data / "fresh.log"
    fresh.write_text("written as the check runs\n")
    soon = time.time() + 30  # "as the check runs", whatever this machine's speed
    os.utime(fresh, (soon, soon))

    said = _move(farm, stack)

    verdict = [line for line in said if "verified on" in line]
    assert verdict and "7 files (1 checksummed after the stop" in verdict[0], said
    assert farm.checksums(NEW, stack, "data") == farm.checksums(OLD, stack, "data")


def test_a_copy_that_differs_after_the_stop_is_sent_again(farm: PrivateFarm) -> None:
    stack = farm.stack("resend", OLD, data=["./data"])
    old_data = farm.on_host(OLD, stack, "data")
    (old_data / "db").mkdir(parents=True)
    (old_data / "db" / "pages").write_bytes(b"A" * 4096)

    def spoil_the_new_copy() -> None:
        # After the pre-copy: the old host's file changes (so it is sent after the stop),
        # and the new host's copy is damaged the moment that copy lands, keeping its
        # size and time, which only a checksum can tell.
        (old_data / "db" / "pages").write_bytes(b"B" * 4096)
        spoil.append(True)

    spoil: list[bool] = []
    original = DataMove.final_copy

    async def final_copy_then_damage(self: DataMove) -> None:
        await original(self)
        if spoil:
            target = farm.on_host(NEW, stack, "data/db/pages")
            times = target.stat()
            target.write_bytes(b"C" * 4096)
            os.utime(target, ns=(times.st_atime_ns, times.st_mtime_ns))

    DataMove.final_copy = final_copy_then_damage  # type: ignore[method-assign]
    try:
        said = _move(farm, stack, spoil_the_new_copy)
    finally:
        DataMove.final_copy = original  # type: ignore[method-assign]

    assert any("1 file did not match; copying again" in line for line in said), said
    assert farm.on_host(NEW, stack, "data/db/pages").read_bytes() == b"B" * 4096
    assert farm.checksums(NEW, stack, "data") == farm.checksums(OLD, stack, "data")
