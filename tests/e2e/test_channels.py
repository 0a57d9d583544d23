"""More channels asked of one host than its sshd allows: every one is opened in the end.

The lab's sshd keeps OpenSSH's ``MaxSessions 10``. With ``max_channels_per_host: 16``
cf asks for more: sshd refuses the eleventh while ten are open, and cf must use one
channel fewer on that host from then on and try again, for a command
(``SshPool.run``, since an earlier issue) and for a pipe (``open_pipe``, what data
moves copy through) alike. The pipes are the ones that can be held open to make it
happen for sure.
Eight data moves off one host at once once hit a refused pipe here.

The first ten channels stay open until cf shrinks its limit (its ``_shrink``, wrapped
here to say so): the event that says the eleventh was refused (no timing guessed).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from compose_farm.config import load_config
from compose_farm.executor.command import Script
from compose_farm.executor.farm import Executor
from tests.support.farm import Farm
from tests.support.waiting import WAIT

pytestmark = [pytest.mark.lab, pytest.mark.farm(hosts=("h1",))]

ASKED = 16
SSHD_MAX_SESSIONS = 10


async def _many_pipes_at_once(farm: Farm) -> tuple[list[str], int]:
    """``ASKED`` channels on h1 at once (each waits for a line on stdin, then echoes it);
    what each echoed, and cf's channel limit for h1 at the end."""
    config = load_config(farm.config_path)
    home = Path(farm.lab.env()["HOME"])
    async with Executor(config, home=home) as executor:
        pool = executor._pool()
        opened = 0
        refused = asyncio.Event()
        shrink = pool._shrink

        def shrunk(link: Any) -> None:  # sshd refused a channel: cf takes one fewer
            shrink(link)
            refused.set()

        pool._shrink = shrunk  # type: ignore[method-assign]

        async def one(n: int) -> str:
            nonlocal opened
            script = Script('read -r line; echo "$line"')
            async with executor.open_pipe("h1", script) as pipe:
                opened += 1
                if opened <= SSHD_MAX_SESSIONS:  # held until the eleventh was refused
                    await asyncio.wait_for(refused.wait(), WAIT)
                await pipe.write(f"pipe-{n}\n".encode())
                await pipe.close_input()
                out = b""
                while chunk := await pipe.read():
                    out += chunk
                await pipe.finish()
                return out.decode().strip()

        answers = await asyncio.gather(*(one(n) for n in range(ASKED)))
        return list(answers), pool._link("h1").limit


def test_pipes_beyond_sshds_max_sessions_wait_for_a_channel_instead_of_failing(
    farm: Farm,
) -> None:
    farm.settings["ssh"] = {"max_channels_per_host": ASKED}
    farm.write_config()

    answers, limit = asyncio.run(_many_pipes_at_once(farm))

    assert answers == [f"pipe-{n}" for n in range(ASKED)]
    assert limit <= SSHD_MAX_SESSIONS
