"""What running a command produces: output lines as they happen, then a result.

The executor calls a ``Sink`` with every event; the CLI prints them with
``[stack]`` prefixes, the web UI sends them over a WebSocket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Stream = Literal["stdout", "stderr", "info"]


@dataclass(frozen=True)
class OutputLine:
    """One line of output from a command running for ``stack`` on ``host``."""

    host: str
    stack: str | None
    stream: Stream
    line: str


@dataclass(frozen=True)
class Result:
    """How a command ended. ``error`` is set when it never ran (e.g. host unreachable)."""

    host: str
    stack: str | None
    exit_status: int
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    unreachable: bool = False

    @property
    def ok(self) -> bool:
        """True when the command ran and exited 0."""
        return self.exit_status == 0 and self.error is None


def notice(text: str, *, warning: bool = False) -> OutputLine:
    """A line about the farm as a whole, not one stack or host (a notice, a warning)."""
    return OutputLine(host="", stack=None, stream="stderr" if warning else "info", line=text)


Event = OutputLine | Result
Sink = Callable[[Event], None]


def discard(_event: Event) -> None:
    """A sink that drops everything (for commands whose output is parsed, not shown)."""
