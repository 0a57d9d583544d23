"""The farm lock: the CLI's blocking form and the web's coroutine form exclude each other."""

from __future__ import annotations

import asyncio
from pathlib import Path

from compose_farm.farmlock import farm_lock, farm_lock_async


def test_a_coroutine_waits_for_the_cli_holder_and_says_for_whom(tmp_path: Path) -> None:
    path = tmp_path / "farm.lock"
    said: list[str] = []

    async def main() -> None:
        waiting = asyncio.Event()

        async def web() -> None:
            def told(text: str) -> None:
                said.append(text)
                waiting.set()

            async with farm_lock_async(path, told, "cf web: Apply"):
                said.append("web has it")

        with farm_lock(path, said.append):
            task = asyncio.create_task(web())
            await waiting.wait()  # the web asked, was told to wait, and has not run
            assert "web has it" not in said
        await task

    asyncio.run(main())
    assert said[0].startswith("waiting for cf pid ") and str(path) in said[0]
    assert said[-1] == "web has it"
    assert path.read_text().startswith("cf web: Apply (pid ")


def test_two_web_actions_take_turns_and_a_cancelled_waiter_leaves_no_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "farm.lock"
    order: list[str] = []

    async def main() -> None:
        first_in, second_waits = asyncio.Event(), asyncio.Event()
        release = asyncio.Event()

        async def first() -> None:
            async with farm_lock_async(path, order.append, "first"):
                order.append("first in")
                first_in.set()
                await release.wait()

        async def second() -> None:
            async with farm_lock_async(path, lambda _t: second_waits.set(), "second"):
                order.append("second in")

        one = asyncio.create_task(first())
        await first_in.wait()
        two = asyncio.create_task(second())
        await second_waits.wait()
        two.cancel()  # a page closed while its action waited
        await asyncio.gather(two, return_exceptions=True)
        three = asyncio.create_task(second())
        await second_waits.wait()
        release.set()
        await asyncio.gather(one, three)
        # the lock is free again: a blocking holder gets it at once
        with farm_lock(path, lambda _t: order.append("blocked")):
            order.append("cli in")

    asyncio.run(main())
    assert order == ["first in", "second in", "cli in"]
