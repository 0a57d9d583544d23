"""How a ``cf`` command ends: its exit status, named, and the one rule from outcomes to it.

| status | meaning |
|---|---|
| 0 ``OK`` | everything asked for was done |
| 1 ``FAILED`` | a stack operation failed (or the user declined) |
| 2 ``USAGE`` | bad config or command line |
| 3 ``STATE`` | the state file cannot be read or written |
| 4 ``UNREACHABLE`` | a host could not be reached, and nothing else failed |
| 130 ``INTERRUPTED`` | Ctrl-C (or SIGTERM) |
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Protocol


class ExitStatus(enum.IntEnum):
    """``cf``'s exit statuses (the README lists them too)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    STATE = 3
    UNREACHABLE = 4
    INTERRUPTED = 130


class Ended(Protocol):
    """What the status is made of: one stack's operation, however it ended."""

    @property
    def ok(self) -> bool: ...

    @property
    def unreachable(self) -> bool: ...


def status_of(outcomes: Iterable[Ended], *, held: bool = False) -> ExitStatus:
    """``FAILED`` when any operation failed for another reason than an unreachable host;
    else ``UNREACHABLE`` when one failed for that reason or work was ``held`` back for an
    unreachable host; else ``OK``."""
    failed = [o for o in outcomes if not o.ok]
    if any(not o.unreachable for o in failed):
        return ExitStatus.FAILED
    if failed or held:
        return ExitStatus.UNREACHABLE
    return ExitStatus.OK
