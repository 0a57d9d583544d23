"""What cf started on a host stops when cf hangs up, even a command that ignores TERM.

The executor runs each remote command beside a watcher (``HANG_UP`` in
compose_farm/ssh/pool.py) that stops it when the channel closes: TERM, TERM
again, then KILL. Lab hosts share this machine's pid namespace, so the test reads
/proc to see whether the remote command is still alive.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from compose_farm.config import load_config
from compose_farm.executor.command import Script
from compose_farm.executor.farm import Executor
from tests.support.farm import Farm
from tests.support.procs import pids_where
from tests.support.waiting import WAIT, eventually

pytestmark = pytest.mark.farm(hosts=("h1",))


def _processes_with(marker: str) -> list[int]:
    """Pids whose command line has ``marker`` as one argument."""
    return pids_where(lambda argv, _cwd: marker.encode() in argv)


async def _start_then_hang_up(farm: Farm, script: str, marker: str) -> None:
    """Run ``script`` on h1 through cf's executor; cancel the run once ``marker`` runs."""
    config = load_config(farm.config_path)
    home = Path(farm.lab.env()["HOME"])
    async with Executor(config, home=home) as executor:
        run = asyncio.ensure_future(executor.run("h1", Script(script, (marker,))))
        deadline = asyncio.get_running_loop().time() + WAIT
        while not _processes_with(marker) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert _processes_with(marker), "the remote command never started"
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run


@pytest.mark.parametrize(
    "script",
    [
        pytest.param('exec sleep 3600 "$1"', id="stops-on-term"),
        pytest.param('trap "" TERM; exec sleep 3600 "$1"', id="ignores-term"),
    ],
)
def test_a_cancelled_run_stops_its_remote_command(farm: Farm, script: str) -> None:
    # A unique extra argument finds exactly this run's process; `sleep` adds up its
    # arguments, so it is a number.
    marker = str(3_000_000 + uuid.uuid4().int % 1_000_000)
    asyncio.run(_start_then_hang_up(farm, script, marker))
    # TERM at once; a command that ignores it gets a second TERM at 2 s and KILL at 5 s.
    # Left running, it would sleep an hour.
    assert eventually(lambda: not _processes_with(marker)), _processes_with(marker)
