"""Shared plumbing for runners: pump a process's output streams into events.

Output is read in chunks and cut into lines here, not by the transport's
``readline``: asyncio's raises past 64 KiB (and left the process running),
asyncssh's holds up to a 2 MiB window. A line longer than ``MAX_PIECE`` bytes,
or output with no newline at all, is delivered as it arrives, split into
events of at most ``MAX_PIECE`` bytes each (split, not truncated: nothing is
lost, and no event is an error). Only captured output (``keep``) holds a line
whole: it joins the pieces back into the line they came from, so a long JSON
line still parses. UTF-8 is decoded incrementally, so a character cut between
two pieces stays whole.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from compose_farm.executor.events import OutputLine, Sink, Stream

MAX_PIECE = 16 * 1024  # bytes of one output event, newline included
READ_SIZE = 64 * 1024

Read = Callable[[int], Awaitable[bytes]]


@dataclass(frozen=True)
class Piece:
    """Some text of one output line; ``ends_line`` when a newline (or the end) closes it."""

    text: str
    ends_line: bool


async def pieces(read: Read) -> AsyncIterator[Piece]:
    """The stream ``read(n)`` returns (``b""`` at its end) as pieces of at most ``MAX_PIECE``."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = bytearray()
    open_line = False  # the last piece was cut from a longer line
    while chunk := await read(READ_SIZE):
        pending += chunk
        start = 0
        while True:
            end = pending.find(b"\n", start, start + MAX_PIECE)
            if end >= 0:
                yield Piece(decoder.decode(pending[start : end + 1]), ends_line=True)
                start, open_line = end + 1, False
            elif len(pending) - start >= MAX_PIECE:
                yield Piece(decoder.decode(pending[start : start + MAX_PIECE]), ends_line=False)
                start, open_line = start + MAX_PIECE, True
            else:
                break
        del pending[:start]
    rest = decoder.decode(bytes(pending), final=True)
    if rest or open_line:
        yield Piece(rest, ends_line=True)


async def pump(
    output: AsyncIterable[Piece],
    *,
    host: str,
    stack: str | None,
    stream: Stream,
    sink: Sink,
    keep: list[str] | None,
) -> None:
    """Send each piece to ``sink`` as it arrives; also keep whole lines when ``keep`` is a list."""
    parts: list[str] = []  # the line being read, while it comes in pieces
    continued = False
    async for piece in output:
        text = piece.text.rstrip("\r\n") if piece.ends_line else piece.text
        # The newline after a cut is no line of its own.
        if text or not continued:
            sink(OutputLine(host=host, stack=stack, stream=stream, line=text))
        if keep is not None:
            parts.append(piece.text)
            if piece.ends_line:
                keep.append("".join(parts).rstrip("\r\n"))
        if piece.ends_line:
            parts.clear()
        continued = not piece.ends_line


async def pump_output(
    stdout: Read,
    stderr: Read,
    *,
    host: str,
    stack: str | None,
    sink: Sink,
    keep: tuple[list[str] | None, list[str] | None],
    beside: Coroutine[Any, Any, None] | None = None,
) -> None:
    """Pump a command's stdout and stderr (and run ``beside``, e.g. feeding its stdin) to
    their ends. When one fails, or the caller is cancelled, the others stop too."""
    streams: tuple[tuple[Read, Stream, list[str] | None], ...] = (
        (stdout, "stdout", keep[0]),
        (stderr, "stderr", keep[1]),
    )
    jobs: list[Coroutine[Any, Any, None]] = [
        pump(pieces(read), host=host, stack=stack, stream=name, sink=sink, keep=kept)
        for read, name, kept in streams
    ]
    tasks = [asyncio.ensure_future(job) for job in (*jobs, *([beside] if beside else []))]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


def joined(lines: list[str] | None) -> str:
    """Captured lines back as one text."""
    return "\n".join(lines) + "\n" if lines else ""
