"""Background tasks for the UI's actions, with replayable output.

An action (Up, Apply, ...) runs as an asyncio task in the server. Its output
events are masked, kept in memory and pushed to every WebSocket watching it,
so a page reload reconnects to a running task and sees everything so far.

Both are bounded. A task keeps its first ``MAX_LINES`` lines (and at most
``MAX_KEPT_CHARS`` of text) for replay, then one note that later output was
not kept. Each watcher has a ``LineQueue``: a page slower than the task misses
the oldest waiting lines and is told how many.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from compose_farm.executor.events import Event, OutputLine, Result
from compose_farm.web.linequeue import MAX_WAITING, LineQueue, dropped_text

MAX_LINES = 5000
MAX_KEPT_CHARS = 2_000_000  # of line text kept per task (a line is at most 16 KiB: see stream.py)
KEEP_FINISHED = 50
NOT_KEPT = "[later output of this task is not kept: it shows only while the page is open]"

TaskItem = dict[str, Any]
Watcher = LineQueue[TaskItem | None]


def info(text: str) -> TaskItem:
    """A line of the UI's own (not a command's), in the shape of output lines."""
    return {"type": "line", "stack": None, "host": None, "stream": "info", "text": text}


@dataclass
class Task:
    """One action's run."""

    id: str
    title: str
    started: float
    lines: list[TaskItem] = field(default_factory=list)
    done: bool = False
    ok: bool | None = None
    summary: str = ""
    watchers: set[Watcher] = field(default_factory=set)
    kept_chars: int = 0
    full: bool = False  # lines are no longer kept (``NOT_KEPT`` was the last)

    def emit(self, item: TaskItem) -> None:
        """Keep ``item`` (while there is room) and send it to every watcher."""
        self._keep(item)
        for queue in self.watchers:
            queue.put(item)

    def end(self) -> None:
        """Tell every watcher there is nothing more (never dropped: it is put last)."""
        for queue in self.watchers:
            queue.put(None)

    def _keep(self, item: TaskItem) -> None:
        if self.full:
            return
        size = len(item.get("text") or item.get("summary") or "")
        if len(self.lines) < MAX_LINES and self.kept_chars + size <= MAX_KEPT_CHARS:
            self.lines.append(item)
            self.kept_chars += size
        else:
            self.full = True
            self.lines.append(info(NOT_KEPT))

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
            task.end()

        handle = asyncio.get_running_loop().create_task(body())
        self._running.add(handle)
        handle.add_done_callback(self._running.discard)
        return task

    def watch(self, task: Task, maxsize: int = MAX_WAITING) -> Watcher:
        """A queue that gets every future item of ``task`` (``None`` at the end).

        At most ``maxsize`` items wait in it; a reader that falls further behind
        gets a notice of the lines it missed instead.
        """
        queue: Watcher = LineQueue(lambda n: info(dropped_text(n)), maxsize)
        task.watchers.add(queue)
        return queue

    def running(self) -> list[Task]:
        """Tasks still running, oldest first."""
        return [t for t in self.tasks.values() if not t.done]

    def _prune(self) -> None:
        finished = [t for t in self.tasks.values() if t.done]
        for old in finished[:-KEEP_FINISHED]:
            self.tasks.pop(old.id, None)
