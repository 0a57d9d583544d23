"""WebSockets: follow a task's output and follow logs (terminals: ``routes/terminal.py``).

A WebSocket is accepted only with a live session (a cookie's, or a trusted
proxy's user: ``guard.session_of``) and from the UI's own origin (a browser
sends ``Origin``; a page elsewhere cannot ride the cookie).
A name that is not safe closes the socket with 4400 and says why; an unknown
stack or container closes it with 4404.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from compose_farm.executor import Command, OutputLine, Result, compose, docker
from compose_farm.sops import SopsError, SopsValues, with_secrets
from compose_farm.web.deps import id_refusal, name_refusal
from compose_farm.web.farm import Farm
from compose_farm.web.guard import session_of
from compose_farm.web.linequeue import LineQueue, dropped_text

router = APIRouter()

BAD_NAME = 4400
NOT_FOUND = 4404


async def admit(ws: WebSocket) -> Farm | None:
    """Accept ``ws`` when it carries a live session from the UI's own origin, else close it."""
    farm: Farm = ws.app.state.farm
    session = session_of(farm.auth, ws)
    if session is None or not farm.allowed_hosts.origin_ok(
        ws.headers.get("origin"), ws.headers.get("host")
    ):
        await ws.close(code=4401)
        return None
    await ws.accept()
    return farm


async def refuse_names(
    ws: WebSocket, names: dict[str, str | None], container: str | None = None
) -> bool:
    """Close ``ws`` (4400, with the reason) when a name (what -> value) or the container id is
    not safe; True when it was closed."""
    refusals = [name_refusal(value, what) for what, value in names.items() if value is not None]
    if container is not None:
        refusals.append(id_refusal(container))
    reason = next((r for r in refusals if r is not None), None)
    if reason is None:
        return False
    await ws.close(code=BAD_NAME, reason=close_reason(reason))
    return True


def close_reason(text: str) -> str:
    """``text`` cut to the 123 bytes a WebSocket close frame can carry."""
    return text.encode()[:123].decode("utf-8", "ignore")


@router.websocket("/ws/tasks/{task_id}")
async def task_output(ws: WebSocket, task_id: str) -> None:
    """Everything the task printed so far, then live lines, then a ``done`` item."""
    farm = await admit(ws)
    if farm is None:
        return
    task = farm.tasks.tasks.get(task_id)
    if task is None:
        await ws.send_json({"type": "done", "ok": False, "summary": "no such task"})
        await ws.close()
        return
    # Watch, then copy what was kept, with no await between: every item is in exactly one.
    queue = farm.tasks.watch(task)
    kept, finished = list(task.lines), task.done
    try:
        # ``done`` is sent once, at the end: a finished task kept it among its lines.
        for item in kept:
            if item["type"] != "done":
                await ws.send_json(item)
        if not finished:
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
    container: str | None = None,
    timestamps: bool = False,
) -> None:
    """``docker compose logs -f`` for the stack (or one service, on one host), or
    ``docker logs -f`` for one container by id, until the page closes; with
    ``timestamps``, each line starts with the engine's time for it (``--timestamps``)."""
    farm = await admit(ws)
    if farm is None:
        return
    names = {"stack": stack, "host": host, "service": service}
    if await refuse_names(ws, names, container):
        return
    config = await farm.read_config()
    if stack not in config.stacks:
        await ws.close(code=NOT_FOUND)
        return
    follow: Command | None = None
    if container is not None:
        found = await farm.container(stack, host, container) if host else None
        if found is None:
            await ws.close(code=NOT_FOUND)
            return
        stamps = ("--timestamps",) if timestamps else ()
        follow = docker(
            "logs", "--follow", *stamps, "--tail", str(max(0, min(tail, 5000))), found.id
        )
    hosts = farm.store(config).read().hosts_of(stack) or config.stacks[stack].hosts
    if host is not None:
        hosts = tuple(h for h in hosts if h == host)
    # Bounded: a reader slower than the log misses the oldest lines, and is told so.
    lines = LineQueue(
        lambda n: {
            "type": "line",
            "host": "-",
            "stack": stack,
            "stream": "info",
            "text": dropped_text(n),
        }
    )

    def sink(event: object) -> None:
        if isinstance(event, OutputLine) and event.line.strip():
            text = farm.mask(stack, event.line)
            lines.put({"type": "line", "host": event.host, "stack": stack, "text": text})

    args: tuple[str, ...] = (
        "logs",
        "--follow",
        "--no-color",
        "--tail",
        str(max(0, min(tail, 5000))),
        *(("--timestamps",) if timestamps else ()),
    )
    if service is not None:
        args = (*args, service)
    command = follow or compose(config.stack_dir(stack), *args)
    values: dict[str, str] = {}
    if follow is None:  # Compose interpolates the project: a SOPS stack needs its values
        try:
            values = await asyncio.to_thread(SopsValues(config, farm.environ).of, stack)
        except SopsError as exc:
            item = {"type": "line", "host": "-", "stack": stack, "stream": "error"}
            await ws.send_json({**item, "text": farm.mask(stack, exc.message)})
            await ws.close()
            return
    async with farm.executor_factory(config) as executor:

        def start(on: str) -> Awaitable[Result]:
            if not values:
                return executor.run(on, command, stack=stack, sink=sink)
            wrapped = with_secrets(command, values, watch=not executor.is_local(on))
            return executor.run(on, wrapped.script, stack=stack, sink=sink, stdin=wrapped.stdin)

        await _relay(ws, lines, [asyncio.ensure_future(start(h)) for h in hosts])


async def _relay(
    ws: WebSocket, lines: LineQueue[dict[str, str]], runs: list[asyncio.Future[Result]]
) -> None:
    """Send ``lines`` to the page until it goes away, then stop ``runs``."""
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
