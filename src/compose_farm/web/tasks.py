"""Background tasks for the UI's actions, with replayable output.

An action (Up, Apply, ...) runs as an asyncio task in the server. Its output
events are masked, kept in memory and pushed to every WebSocket watching it,
so a page reload reconnects to a running task and sees everything so far.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from compose_farm.executor.events import Event, OutputLine, Result

MAX_LINES = 5000
KEEP_FINISHED = 50


@dataclass
class Task:
    """One action's run."""

    id: str
    title: str
    started: float
    lines: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    ok: bool | None = None
    summary: str = ""
    watchers: set[asyncio.Queue[dict[str, Any] | None]] = field(default_factory=set)

    def emit(self, item: dict[str, Any]) -> None:
        """Keep ``item`` and send it to every watcher."""
        if len(self.lines) < MAX_LINES:
            self.lines.append(item)
        for queue in self.watchers:
            queue.put_nowait(item)

    def public(self) -> dict[str, Any]:
        """What the task list shows."""
        return {
            "id": self.id,
            "title": self.title,
            "done": self.done,
            "ok": self.ok,
            "summary": self.summary,
            "started": self.started,
        }


Sink = Callable[[Event], None]
Runner = Callable[[Sink], Awaitable[tuple[bool, str]]]


class TaskManager:
    """Starts tasks and lets WebSockets follow them."""

    def __init__(self, mask: Callable[[str | None, str], str]) -> None:
        self.mask = mask
        self.tasks: dict[str, Task] = {}
        self._running: set[asyncio.Task[None]] = set()

    def start(self, title: str, run: Runner) -> Task:
        """Run ``run(sink)`` in the background; it returns (ok, summary)."""
        task = Task(id=secrets.token_hex(8), title=title, started=time.time())
        self.tasks[task.id] = task
        self._prune()

        def sink(event: Event) -> None:
            if isinstance(event, OutputLine) and event.line.strip():
                task.emit(
                    {
                        "type": "line",
                        "stack": event.stack,
                        "host": event.host,
                        "stream": event.stream,
                        "text": self.mask(event.stack, event.line),
                    }
                )
            elif isinstance(event, Result) and event.error:
                task.emit(
                    {
                        "type": "line",
                        "stack": event.stack,
                        "host": event.host,
                        "stream": "error",
                        "text": self.mask(event.stack, event.error),
                    }
                )

        async def body() -> None:
            try:
                ok, summary = await run(sink)
            except Exception as exc:
                ok, summary = False, f"failed: {exc}"
            task.done, task.ok, task.summary = True, ok, self.mask(None, summary)
            task.emit({"type": "done", "ok": ok, "summary": task.summary})
            for queue in task.watchers:
                queue.put_nowait(None)

        handle = asyncio.get_running_loop().create_task(body())
        self._running.add(handle)
        handle.add_done_callback(self._running.discard)
        return task

    def watch(self, task: Task) -> asyncio.Queue[dict[str, Any] | None]:
        """A queue that gets every future item of ``task`` (``None`` at the end)."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        task.watchers.add(queue)
        return queue

    def running(self) -> list[Task]:
        """Tasks still running, oldest first."""
        return [t for t in self.tasks.values() if not t.done]

    def _prune(self) -> None:
        finished = [t for t in self.tasks.values() if t.done]
        for old in finished[:-KEEP_FINISHED]:
            self.tasks.pop(old.id, None)
