"""Waiting for something to happen, never for a fixed time.

A test orders its steps by events: the line cf printed, a process that
appeared, a counter that moved. ``WAIT`` is how long such an event may take on
a machine busy with other work; it only matters when the event never comes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

WAIT = 120.0  # seconds an awaited event may take on a loaded machine (it takes < 2 s idle)


def poll(
    probe: Callable[[], T | None],
    *,
    timeout: float = WAIT,
    what: str,
    interval: float = 0.1,
    tolerate: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``probe`` until it returns something other than None, and return that.

    TimeoutError names ``what`` (and the last ``tolerate``-d error, which counts
    as "not yet") once ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = probe()
        except tolerate as exc:
            result, last_error = None, exc
        if result is not None:
            return result
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise TimeoutError(f"waited {timeout:g} s for {what}{detail}")
        time.sleep(interval)


def eventually(check: Callable[[], object], timeout: float = WAIT) -> bool:
    """True once ``check()`` is truthy; False if ``timeout`` seconds pass first."""
    try:
        poll(lambda: True if check() else None, timeout=timeout, what="a check")
    except TimeoutError:
        return False
    return True
