"""The terminal WebSocket: a shell on a host, or ``docker exec`` into one of a stack's containers.

The page sends JSON text frames, ``{"type": "input", "data": "..."}`` and
``{"type": "resize", "cols": N, "rows": N}``; output goes back as binary
frames. Anything else the page (or a script) sends is ignored: a wrong
message never ends the session or raises, and sizes are kept to 1..1000.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import TypeGuard

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from compose_farm.errors import HostUnreachableError
from compose_farm.executor import Command
from compose_farm.ssh.terminal import Terminal
from compose_farm.web.routes.sockets import NOT_FOUND, admit, close_reason, refuse_names

router = APIRouter()

MIN_SIZE, MAX_SIZE = 1, 1000
SHELL = "command -v bash >/dev/null && exec bash || exec sh"


@dataclass(frozen=True)
class Input:
    """Keystrokes for the terminal."""

    data: str


@dataclass(frozen=True)
class Resize:
    """The page's terminal changed size."""

    cols: int
    rows: int


def clamp(value: int) -> int:
    """A terminal dimension kept to ``MIN_SIZE..MAX_SIZE``."""
    return max(MIN_SIZE, min(value, MAX_SIZE))


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_message(raw: str) -> Input | Resize | None:
    """What a text frame from the page asks for; ``None`` for anything not understood."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    kind = message.get("type")
    if kind == "input":
        data = message.get("data")
        return Input(data) if isinstance(data, str) else None
    if kind == "resize":
        cols, rows = message.get("cols"), message.get("rows")
        if _whole(cols) and _whole(rows):
            return Resize(clamp(cols), clamp(rows))
    return None


@router.websocket("/ws/terminal")
async def terminal(
    ws: WebSocket,
    host: str,
    stack: str | None = None,
    container: str | None = None,
    cols: int = 80,
    rows: int = 24,
) -> None:
    """A shell on ``host``, or ``docker exec -it`` into the stack's container with id
    ``container``."""
    farm = await admit(ws)
    if farm is None:
        return
    if await refuse_names(ws, {"host": host, "stack": stack}, container):
        return
    config = await farm.read_config()
    if host not in config.hosts:
        await ws.close(code=NOT_FOUND, reason=close_reason(f"no host {host!r} in the config"))
        return
    command = None
    if container is not None:
        found = await farm.container(stack, host, container) if stack else None
        if found is None:
            await ws.close(code=NOT_FOUND)
            return
        command = Command(argv=("docker", "exec", "-it", found.id, "sh", "-c", SHELL))
    async with farm.executor_factory(config) as executor:
        try:
            term = await executor.open_terminal(host, command, clamp(cols), clamp(rows))
        except HostUnreachableError as exc:
            await ws.send_bytes(f"\r\n{farm.mask(None, exc.message)}\r\n".encode())
            await ws.close()
            return
        pump = asyncio.ensure_future(_pump(ws, term))
        try:
            await _feed(ws, term)
        finally:
            pump.cancel()
            term.close()


async def _feed(ws: WebSocket, term: Terminal) -> None:
    """Pass the page's keystrokes and sizes to the terminal until the page goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            frame = await ws.receive()
            if frame["type"] == "websocket.disconnect":
                return
            text = frame.get("text")
            message = parse_message(text) if isinstance(text, str) else None
            if isinstance(message, Input):
                term.write(message.data.encode())
            elif isinstance(message, Resize):
                term.resize(message.cols, message.rows)


async def _pump(ws: WebSocket, term: Terminal) -> None:
    """Copy terminal output to the page until the session ends."""
    while data := await term.read():
        await ws.send_bytes(data)
    with contextlib.suppress(RuntimeError):
        await ws.close()
