"""WebSockets: follow a task's output, follow logs, and terminals.

A WebSocket is accepted only with a live session cookie and from the UI's own
origin (a browser sends ``Origin``; a page elsewhere cannot ride the cookie).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from compose_farm.errors import HostUnreachableError
from compose_farm.executor import Command, OutputLine, compose
from compose_farm.executor.terminal import Terminal
from compose_farm.names import name_problem
from compose_farm.web.auth import SESSION_COOKIE, same_origin
from compose_farm.web.farm import Farm

router = APIRouter()


async def _admit(ws: WebSocket) -> Farm | None:
    farm: Farm = ws.app.state.farm
    session = farm.auth.session(ws.cookies.get(SESSION_COOKIE))
    if session is None or not same_origin(ws.headers.get("origin"), ws.headers.get("host")):
        await ws.close(code=4401)
        return None
    await ws.accept()
    return farm


@router.websocket("/ws/tasks/{task_id}")
async def task_output(ws: WebSocket, task_id: str) -> None:
    """Everything the task printed so far, then live lines, then a ``done`` item."""
    farm = await _admit(ws)
    if farm is None:
        return
    task = farm.tasks.tasks.get(task_id)
    if task is None:
        await ws.send_json({"type": "done", "ok": False, "summary": "no such task"})
        await ws.close()
        return
    queue = farm.tasks.watch(task)
    try:
        for item in list(task.lines):
            await ws.send_json(item)
        if not task.done:
            while (live := await queue.get()) is not None:
                if live["type"] != "done":
                    await ws.send_json(live)
        await ws.send_json({"type": "done", "ok": task.ok, "summary": task.summary})
        await ws.close()
    except WebSocketDisconnect:
        pass
    finally:
        task.watchers.discard(queue)


@router.websocket("/ws/logs/{stack}")
async def follow_logs(
    ws: WebSocket,
    stack: str,
    tail: int = 100,
    host: str | None = None,
    service: str | None = None,
) -> None:
    """``docker compose logs -f`` for the stack (or one service, on one host) until the page
    closes."""
    farm = await _admit(ws)
    if farm is None:
        return
    config = farm.config()
    names = [stack, *(v for v in (host, service) if v is not None)]
    if any(name_problem(n) is not None for n in names) or stack not in config.stacks:
        await ws.close(code=4404)
        return
    hosts = farm.store(config).read().hosts_of(stack) or config.stacks[stack].hosts
    if host is not None:
        hosts = tuple(h for h in hosts if h == host)
    lines: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    def sink(event: object) -> None:
        if isinstance(event, OutputLine) and event.line.strip():
            text = farm.mask(stack, event.line)
            lines.put_nowait({"type": "line", "host": event.host, "stack": stack, "text": text})

    args: tuple[str, ...] = (
        "logs",
        "--follow",
        "--no-color",
        "--tail",
        str(max(0, min(tail, 5000))),
    )
    if service is not None:
        args = (*args, service)
    async with farm.executor_factory(config) as executor:
        runs = [
            asyncio.ensure_future(
                executor.run(h, compose(config.stack_dir(stack), *args), stack=stack, sink=sink)
            )
            for h in hosts
        ]
        closed = asyncio.ensure_future(_until_closed(ws))
        try:
            while not closed.done():
                getter = asyncio.ensure_future(lines.get())
                await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    await ws.send_json(getter.result())
                else:
                    getter.cancel()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            closed.cancel()
            for run in runs:
                run.cancel()
            for run in runs:
                with contextlib.suppress(BaseException):
                    await run


async def _until_closed(ws: WebSocket) -> None:
    """Return when the page goes away (it sends nothing else on this socket)."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await ws.receive_text()


@router.websocket("/ws/terminal")
async def terminal(
    ws: WebSocket,
    host: str,
    stack: str | None = None,
    container: str | None = None,
    cols: int = 80,
    rows: int = 24,
) -> None:
    """A shell on ``host``, or ``docker exec -it`` into one of a stack's containers.

    Messages from the page: ``{"type": "input", "data": "..."}`` and
    ``{"type": "resize", "cols": N, "rows": N}``; output goes back as binary frames.
    """
    farm = await _admit(ws)
    if farm is None:
        return
    config = farm.config()
    names = [host, *(v for v in (stack, container) if v is not None)]
    if any(name_problem(n) is not None for n in names) or host not in config.hosts:
        await ws.close(code=4400)
        return
    command = None
    if container is not None:
        snap = await farm.snapshot(fresh=True)
        owned = {(c.host, c.name) for c in snap.facts.containers(stack)} if stack else set()
        if (host, container) not in owned:
            await ws.close(code=4404)
            return
        shell = "command -v bash >/dev/null && exec bash || exec sh"
        command = Command(argv=("docker", "exec", "-it", container, "sh", "-c", shell))
    async with farm.executor_factory(config) as executor:
        try:
            term = await executor.open_terminal(host, command, max(cols, 10), max(rows, 5))
        except HostUnreachableError as exc:
            await ws.send_bytes(f"\r\n{exc.message}\r\n".encode())
            await ws.close()
            return
        pump = asyncio.ensure_future(_pump(ws, term))
        try:
            while True:
                message = json.loads(await ws.receive_text())
                if message.get("type") == "input":
                    term.write(str(message.get("data", "")).encode())
                elif message.get("type") == "resize":
                    term.resize(int(message.get("cols", 80)), int(message.get("rows", 24)))
        except (WebSocketDisconnect, RuntimeError, ValueError):
            pass
        finally:
            pump.cancel()
            term.close()


async def _pump(ws: WebSocket, term: Terminal) -> None:
    """Copy terminal output to the page until the session ends."""
    while data := await term.read():
        await ws.send_bytes(data)
    with contextlib.suppress(RuntimeError):
        await ws.close()
