"""Task output (``web/tasks.py``) stays bounded: a watcher that does not read holds at most
``MAX_WAITING`` items and is told what it missed; the replay buffer keeps ``MAX_LINES``
lines and ``MAX_KEPT_CHARS`` of text, then one note."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from compose_farm.executor import OutputLine
from compose_farm.executor.events import Sink
from compose_farm.web.linequeue import MAX_WAITING
from compose_farm.web.tasks import MAX_KEPT_CHARS, MAX_LINES, NOT_KEPT, Task, TaskManager, Watcher
from tests.support.web import ORIGIN, farm_of, web_client, write_config

COUNT = 100_000


def line(n: int, text: str | None = None) -> OutputLine:
    return OutputLine(host="h1", stack="app", stream="stdout", line=text or f"line {n}")


def notice(count: int) -> dict[str, Any]:
    return {
        "type": "line",
        "stack": None,
        "host": None,
        "stream": "info",
        "text": f"[{count} lines dropped]",
    }


async def drain(queue: Watcher) -> list[dict[str, Any]]:
    """Everything ``queue`` hands out up to the end (``None``)."""
    items = []
    while (item := await queue.get()) is not None:
        items.append(item)
    return items


def test_a_watcher_that_never_reads_holds_the_cap_and_then_hears_what_it_missed() -> None:
    waiting: list[int] = []

    async def go() -> tuple[Task, list[dict[str, Any]]]:
        manager = TaskManager(mask=lambda _stack, text: text)

        async def run(sink: Sink) -> tuple[bool, str]:
            for n in range(COUNT):
                sink(line(n))
                waiting.append(len(slow))
            return True, "all good"

        task = manager.start("Chatty", run)
        slow = manager.watch(task)
        everything = manager.watch(task, maxsize=COUNT + 2)  # read to know the task ended
        await drain(everything)
        assert task.done and len(slow) == MAX_WAITING
        return task, await drain(slow)

    task, items = asyncio.run(go())

    assert max(waiting) == MAX_WAITING
    dropped = COUNT + 2 - MAX_WAITING  # lines, ``done`` and the end put, less what waits
    assert items[0] == notice(dropped)
    assert [i["text"] for i in items[1:-1]] == [f"line {n}" for n in range(dropped, COUNT)]
    assert items[-1] == {"type": "done", "ok": True, "summary": "all good"}
    assert len(task.lines) == MAX_LINES + 1
    assert task.lines[-1]["text"] == NOT_KEPT
    assert task.lines[MAX_LINES - 1]["text"] == f"line {MAX_LINES - 1}"


def test_long_lines_are_kept_up_to_the_character_budget() -> None:
    text = "x" * 16_384
    fits = MAX_KEPT_CHARS // len(text)

    async def go() -> Task:
        manager = TaskManager(mask=lambda _stack, text: text)

        async def run(sink: Sink) -> tuple[bool, str]:
            for n in range(fits + 10):
                sink(line(n, text))
            return True, "done"

        task = manager.start("Wide", run)
        await drain(manager.watch(task, maxsize=fits + 20))
        return task

    task = asyncio.run(go())

    assert len(task.lines) == fits + 1
    assert sum(len(i["text"]) for i in task.lines[:-1]) <= MAX_KEPT_CHARS
    assert task.lines[-1]["text"] == NOT_KEPT


def test_a_page_that_falls_behind_gets_one_notice_then_the_newest_lines(tmp_path: Path) -> None:
    burst = 3000
    compose = "services:\n  app:\n    image: busybox\n"
    with web_client(write_config(tmp_path, {"app": compose})) as client:
        go = asyncio.Event()

        async def run(sink: Sink) -> tuple[bool, str]:
            sink(line(0, "ready"))
            await go.wait()
            for n in range(burst):  # all at once: the page cannot read in between
                sink(line(n))
            return True, "all good"

        async def start() -> Task:
            return farm_of(client).tasks.start("Burst", run)

        async def release() -> None:
            go.set()

        assert client.portal is not None
        task = client.portal.call(start)
        with client.websocket_connect(f"/ws/tasks/{task.id}", headers={"origin": ORIGIN}) as ws:
            # "ready" arrives once the socket watches the task (it watches, then replays).
            assert ws.receive_json()["text"] == "ready"
            client.portal.call(release)
            items = [ws.receive_json() for _ in range(MAX_WAITING)]

    dropped = burst + 2 - MAX_WAITING  # lines, ``done`` and the end put, less what waited
    assert items[0] == notice(dropped)
    assert [i["text"] for i in items[1:-1]] == [f"line {n}" for n in range(dropped, burst)]
    assert items[-1] == {"type": "done", "ok": True, "summary": "all good"}
