"""Refusals made from a request's headers alone, before any route reads its body.

FastAPI reads and parses a JSON body before it runs a route's dependencies,
so the login check in ``deps.get_session`` alone would let anyone make the
server read (and parse) a body of any size first. This middleware answers
before that: without a live session, 401 (or, for a page, a redirect to
/login) everywhere but the login itself, logging out, /healthz and static
files; and for everyone, 413 for a declared body over ``MAX_BODY`` and 411 for
a body sent without a ``Content-Length`` (chunked). The routes keep their own
checks: this is the first of two doors, not the only one.

A session is the cookie's, or, for a request a trusted proxy named a user in
(``forwardauth.ProxyGate`` judged that before anything else ran), that user's:
``session_of`` is the one rule, for both doors and the WebSockets.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from compose_farm.web.auth import SESSION_COOKIE, Auth, Session
from compose_farm.web.forwardauth import proxy_user

# The editors hold compose files, .env files and the config: far below this.
MAX_BODY = 2 * 1024 * 1024
# /hooks/git proves itself with the webhook's signature (routes/hooks.py), not a session;
# the body limit below holds for it as for everything else.
PUBLIC_PATHS = frozenset({"/login", "/logout", "/healthz", "/hooks/git"})
PUBLIC_PREFIX = "/static/"
WS_LOGIN_REQUIRED = 4401


def is_public(path: str) -> bool:
    """True for what a browser may reach without a session."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX)


def wants_login_page(method: str, accept: str) -> bool:
    """A browser navigating to a page (answered with a redirect to /login, not a 401)."""
    return method == "GET" and "text/html" in accept


def session_of(auth: Auth, conn: HTTPConnection) -> Session | None:
    """The request's session: its proxy user's when a trusted proxy named one, else its cookie's."""
    user = proxy_user(conn.scope)
    if user is not None:
        return auth.proxy_session(user)
    return auth.session(conn.cookies.get(SESSION_COOKIE))


def body_refusal(conn: HTTPConnection, limit: int) -> Response | None:
    """413, 411 or 400 for a body that must not be read, else ``None``."""
    declared = conn.headers.getlist("content-length")
    if not declared:
        if "transfer-encoding" in conn.headers:
            return JSONResponse({"detail": "send the body with a Content-Length"}, status_code=411)
        return None
    if len(set(declared)) != 1 or not declared[0].strip().isdigit():
        return JSONResponse({"detail": "malformed Content-Length"}, status_code=400)
    if int(declared[0]) > limit:
        return JSONResponse(
            {"detail": f"request body too large: at most {limit} bytes"}, status_code=413
        )
    return None


class Guard:
    """ASGI middleware: the login check and the body limit, before any body is read."""

    def __init__(self, app: ASGIApp, auth: Auth, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.auth = auth
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        logged_in = is_public(conn.url.path) or session_of(self.auth, conn) is not None
        if scope["type"] == "websocket":
            if logged_in:
                await self.app(scope, receive, send)
            else:
                await receive()  # the handshake
                await send({"type": "websocket.close", "code": WS_LOGIN_REQUIRED, "reason": ""})
            return
        refusal: Response | None
        if not logged_in:
            if wants_login_page(scope["method"], conn.headers.get("accept", "")):
                refusal = RedirectResponse("/login", status_code=303)
            else:
                refusal = JSONResponse({"detail": "log in first"}, status_code=401)
        else:
            refusal = body_refusal(conn, self.max_body)
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal(scope, receive, send)
