"""Shared plumbing for runners: pump a process's output streams into events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator

from compose_farm.executor.events import OutputLine, Sink, Stream


async def pump(
    lines: AsyncIterable[str],
    *,
    host: str,
    stack: str | None,
    stream: Stream,
    sink: Sink,
    keep: list[str] | None,
) -> None:
    """Send each line to ``sink`` as it arrives; also keep it when ``keep`` is a list."""
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if keep is not None:
            keep.append(line)
        sink(OutputLine(host=host, stack=stack, stream=stream, line=line))


async def decoded_lines(reader: asyncio.StreamReader) -> AsyncIterator[str]:
    """Lines of a byte stream as text (undecodable bytes replaced, never an error)."""
    while True:
        raw = await reader.readline()
        if not raw:
            return
        yield raw.decode("utf-8", errors="replace")


def joined(lines: list[str] | None) -> str:
    """Captured lines back as one text."""
    return "\n".join(lines) + "\n" if lines else ""
