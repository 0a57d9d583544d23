"""A refusal sent straight from an ASGI middleware, before any route runs.

A WebSocket is closed with ``ws_code`` after its handshake is read; an HTTP request
gets ``status`` and ``body``, never cached and never sniffed as another type. The
middlewares that refuse this way: ``hosts.HostCheck`` (a ``Host`` not allowed) and
``forwardauth.ProxyGate`` (a user header from an address that is not a trusted proxy).
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send


async def refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    ws_code: int,
    status: int,
    body: bytes,
    content_type: bytes,
) -> None:
    """Close the WebSocket (``ws_code``) or answer ``status`` with ``body``."""
    if scope["type"] == "websocket":
        await receive()  # the handshake
        await send({"type": "websocket.close", "code": ws_code, "reason": ""})
        return
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
