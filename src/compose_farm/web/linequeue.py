"""A bounded queue of output lines for one WebSocket reader that may be slower than the output.

``docker logs -f`` (or a long task) can print faster than a browser on a slow
link reads, and an unbounded queue would then grow for as long as the page
stays open. This one keeps the newest ``maxsize`` items, drops the oldest, and
hands the reader one notice saying how many it missed, in the place where they
were missed. The last item put is never dropped by the queue itself, so an
end marker put after everything else always arrives.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

MAX_WAITING = 1000

Item = dict[str, str]
T = TypeVar("T")


def dropped_text(count: int) -> str:
    """What the reader is told in place of ``count`` dropped lines."""
    return f"[{count} line{'' if count == 1 else 's'} dropped]"


class LineQueue(Generic[T]):
    """At most ``maxsize`` items waiting; ``get`` returns ``notice(n)`` first after a drop."""

    def __init__(self, notice: Callable[[int], T], maxsize: int = MAX_WAITING) -> None:
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self._notice = notice
        self.dropped = 0  # since the reader last heard of a drop

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        """Add ``item``; when full, drop the oldest item waiting."""
        if len(self._items) >= self._maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._ready.set()

    async def get(self) -> T:
        """The next item, or the notice of items dropped before it.

        The dropped items are always the oldest waiting, so the notice belongs
        right before whatever is waiting now (looked at after waking, so drops
        made while the reader slept come first too).
        """
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        if self.dropped:
            count, self.dropped = self.dropped, 0
            return self._notice(count)
        return self._items.popleft()
