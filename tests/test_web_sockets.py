"""The task and log WebSockets (``web/routes/sockets.py``) as a page receives them, no lab.

A task is started on the app's own TaskManager (through the TestClient's event
loop); the log socket runs over an in-memory executor that prints a burst of
lines at once, faster than any page reads, then follows quietly.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from compose_farm.executor import Executor, OutputLine, Result, Runnable
from compose_farm.executor.events import Sink, discard
from compose_farm.web.linequeue import MAX_WAITING
from compose_farm.web.tasks import Task
from tests.support.web import ORIGIN, farm_of, follow_task, web_client, write_config

COMPOSE = "services:\n  app:\n    image: busybox\n    command: [sleep, '3600']\n"
BURST = 3000


def everything(client: TestClient, path: str) -> list[dict[str, Any]]:
    """Every item the socket at ``path`` sends until the server closes it."""
    items: list[dict[str, Any]] = []
    with client.websocket_connect(path, headers={"origin": ORIGIN}) as ws:
        try:
            while True:
                items.append(ws.receive_json())
        except WebSocketDisconnect:
            return items


def start_task(client: TestClient) -> Task:
    """A task that prints two lines and ends well, started in the app's event loop."""

    async def run(sink: Sink) -> tuple[bool, str]:
        for line in ("one", "two"):
            sink(OutputLine(host="h1", stack="app", stream="stdout", line=line))
        return True, "all good"

    async def start() -> Task:
        return farm_of(client).tasks.start("Test", run)

    assert client.portal is not None
    return client.portal.call(start)


def test_a_finished_task_replays_its_lines_and_one_done(tmp_path: Path) -> None:
    with web_client(write_config(tmp_path, {"app": COMPOSE})) as client:
        task = start_task(client)
        live = follow_task(client, task.id)
        assert task.done

        again = everything(client, f"/ws/tasks/{task.id}")

    done = {"type": "done", "ok": True, "summary": "all good"}
    assert [i.get("text") for i in live] == ["one", "two", None]
    assert live[-1] == done
    assert again == live  # reconnecting: the same lines, and the summary once


class Chatty(Executor):
    """Prints ``BURST`` lines at once, then follows forever: a log faster than its reader."""

    async def run(
        self,
        host: str,
        command: Runnable,
        *,
        stack: str | None = None,
        sink: Sink = discard,
        capture: bool = False,
        stdin: str | None = None,
    ) -> Result:
        for n in range(BURST):
            sink(OutputLine(host=host, stack=stack, stream="stdout", line=f"line {n}"))
        await asyncio.Event().wait()  # until the page goes away
        return Result(host=host, stack=stack, exit_status=0)


def test_a_slow_log_reader_gets_the_newest_lines_and_one_notice_of_the_rest(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, {"app": COMPOSE})
    with (
        web_client(config, executor_factory=Chatty) as client,
        client.websocket_connect("/ws/logs/app", headers={"origin": ORIGIN}) as ws,
    ):
        items = [ws.receive_json() for _ in range(MAX_WAITING + 1)]

    dropped = BURST - MAX_WAITING
    assert items[0] == {
        "type": "line",
        "host": "-",
        "stack": "app",
        "stream": "info",
        "text": f"[{dropped} lines dropped]",
    }
    assert [i["text"] for i in items[1:]] == [f"line {n}" for n in range(dropped, BURST)]
