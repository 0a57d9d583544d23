"""A bounded queue of log lines for one WebSocket reader that may be slower than the log.

``docker logs -f`` can print faster than a browser on a slow link reads, and an
unbounded queue would then grow for as long as the page stays open. This one
keeps the newest ``maxsize`` lines, drops the oldest, and hands the reader one
notice saying how many it missed, in the place where they were missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

MAX_WAITING = 1000

Item = dict[str, str]


def dropped_text(count: int) -> str:
    """What the reader is told in place of ``count`` dropped lines."""
    return f"[{count} line{'' if count == 1 else 's'} dropped]"


class LineQueue:
    """At most ``maxsize`` lines waiting; ``get`` returns ``notice(n)`` first after a drop."""

    def __init__(self, notice: Callable[[int], Item], maxsize: int = MAX_WAITING) -> None:
        self._queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=maxsize)
        self._notice = notice
        self.dropped = 0  # since the reader last heard of a drop

    def put(self, item: Item) -> None:
        """Add ``item``; when full, drop the oldest line waiting."""
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

    async def get(self) -> Item:
        """The next line, or the notice of lines dropped before it.

        The dropped lines are always the oldest waiting, so the notice belongs
        right before whatever is waiting now.
        """
        if self.dropped:
            count, self.dropped = self.dropped, 0
            return self._notice(count)
        return await self._queue.get()
