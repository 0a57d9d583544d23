"""The log queue of one WebSocket reader (``web/linequeue.py``): bounded, oldest dropped, the
reader told once per gap, where the gap is."""

from __future__ import annotations

import asyncio

from compose_farm.web.linequeue import Item, LineQueue, dropped_text


def notice(count: int) -> Item:
    return {"text": dropped_text(count)}


def line(n: int) -> Item:
    return {"text": f"line {n}"}


async def take(queue: LineQueue[Item], count: int) -> list[str]:
    return [(await queue.get())["text"] for _ in range(count)]


def test_within_the_bound_nothing_is_dropped() -> None:
    async def go() -> list[str]:
        queue = LineQueue(notice, maxsize=3)
        for n in range(3):
            queue.put(line(n))
        return await take(queue, 3)

    assert asyncio.run(go()) == ["line 0", "line 1", "line 2"]


def test_each_gap_is_one_notice_before_the_lines_after_it() -> None:
    async def go() -> list[str]:
        queue = LineQueue(notice, maxsize=3)
        for n in range(5):  # 0 and 1 dropped
            queue.put(line(n))
        first = await take(queue, 2)  # the notice, then line 2
        for n in range(5, 9):  # 3 is waiting; 3, 4 and 5 dropped
            queue.put(line(n))
        return first + await take(queue, 4)

    assert asyncio.run(go()) == [
        "[2 lines dropped]",
        "line 2",
        "[3 lines dropped]",
        "line 6",
        "line 7",
        "line 8",
    ]


def test_lines_dropped_while_the_reader_waits_are_noticed_before_the_rest() -> None:
    async def go() -> list[str]:
        queue = LineQueue(notice, maxsize=3)
        got: list[str] = []
        first = asyncio.Event()

        async def reader() -> None:
            got.append((await queue.get())["text"])
            first.set()
            got.extend(await take(queue, 4))  # waits in ``get`` before the test goes on

        reading = asyncio.ensure_future(reader())
        queue.put(line(0))
        await first.wait()
        for n in range(1, 6):  # 1 and 2 dropped while the reader is already waiting
            queue.put(line(n))
        await reading
        return got

    assert asyncio.run(go()) == ["line 0", "[2 lines dropped]", "line 3", "line 4", "line 5"]


def test_one_dropped_line_is_one_line() -> None:
    assert dropped_text(1) == "[1 line dropped]"
